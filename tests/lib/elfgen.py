"""elfgen.py DIR — writes crafted ELF files into DIR for tests/test_run_elfcheck.sh, and
prints one line per file: NAME ELF CLASS MACHINE INTERP GO SANITIZER, the facts
netcore-elfcheck must find in it (tools/elf.h). Well-formed programs of each kind netcore run
decides on, and malformed ones whose offsets, sizes and counts point past the file, wrap
around, or exceed the checker's caps."""
import os
import struct
import sys

PT_LOAD, PT_INTERP, PT_NOTE = 1, 3, 4
SHT_STRTAB, SHT_DYNAMIC, SHT_NOTE = 3, 6, 7
INTERP = b"/lib64/ld-linux-x86-64.so.2\0"


def note(owner, ntype, desc, le=True):
    name = owner + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III" if le else ">III", len(name), len(desc), ntype) + pad(name) + \
        pad(desc)


GO_NOTE = note(b"Go", 4, b"buildid-of-a-go-program")
GNU_NOTE = note(b"GNU", 3, bytes(20))


def elf(cls=2, le=True, machine=62, phdrs=(), shdrs=(), blobs=(), hdr=None, tail=b""):
    """An ELF file: header, program headers, section headers, then the blobs. A header
    entry is (type, blob index or None, link); hdr overrides header fields by name."""
    e = "<" if le else ">"
    w = "Q" if cls == 2 else "I"
    ehsize, phent, shent = (64, 56, 64) if cls == 2 else (52, 32, 40)
    phoff = ehsize
    shoff = phoff + phent * len(phdrs)
    data = shoff + shent * len(shdrs)
    offs = []
    for b in blobs:
        offs.append(data)
        data += len(b)
    f = dict(phoff=phoff if phdrs else 0, shoff=shoff if shdrs else 0, phent=phent,
             phnum=len(phdrs), shent=shent, shnum=len(shdrs))
    f.update(hdr or {})
    ident = b"\x7fELF" + bytes([cls, 1 if le else 2, 1]) + bytes(9)
    out = ident + struct.pack(e + "HHI" + w + w + w + "IHHHHHH", 3, machine, 1, 0, f["phoff"],
                              f["shoff"], 0, ehsize, f["phent"], f["phnum"], f["shent"],
                              f["shnum"], 0)
    def where(i):
        return (offs[i], len(blobs[i])) if i is not None else (0, 0)
    for t, i, _ in phdrs:
        o, n = where(i)
        if cls == 2:
            out += struct.pack(e + "IIQQQQQQ", t, 4, o, 0, 0, n, n, 8)
        else:
            out += struct.pack(e + "IIIIIIII", t, o, 0, 0, n, n, 4, 4)
    for t, i, link in shdrs:
        o, n = where(i)
        if cls == 2:
            out += struct.pack(e + "IIQQQQIIQQ", 0, t, 0, 0, o, n, link, 0, 8, 0)
        else:
            out += struct.pack(e + "IIIIIIIIII", 0, t, 0, 0, o, n, link, 0, 4, 0)
    return out + b"".join(blobs) + tail


def dynamic(cls, le, needed):
    """A string table and a dynamic section naming needed (DT_NEEDED) then DT_NULL."""
    strtab = b"\0"
    ents = b""
    fmt = ("<" if le else ">") + ("QQ" if cls == 2 else "II")
    for n in needed:
        ents += struct.pack(fmt, 1, len(strtab))
        strtab += n + b"\0"
    return strtab, ents + struct.pack(fmt, 0, 0)


def main():
    d = sys.argv[1]
    cases = []
    def add(name, data, facts):
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(data)
        cases.append((name, facts))

    add("dyn64", elf(phdrs=[(PT_INTERP, 0, 0), (PT_LOAD, None, 0)], blobs=[INTERP]),
        "1 2 62 1 0 0")
    add("static64", elf(phdrs=[(PT_LOAD, None, 0), (PT_NOTE, 0, 0)], blobs=[GNU_NOTE]),
        "1 2 62 0 0 0")
    add("go_segment", elf(phdrs=[(PT_INTERP, 0, 0), (PT_NOTE, 1, 0)],
                          blobs=[INTERP, GNU_NOTE + GO_NOTE]), "1 2 62 1 1 0")
    add("go_section", elf(phdrs=[(PT_INTERP, 0, 0), (PT_NOTE, 1, 0)],
                          shdrs=[(0, None, 0), (SHT_NOTE, 1, 0), (SHT_NOTE, 2, 0)],
                          blobs=[INTERP, GNU_NOTE, GO_NOTE]), "1 2 62 1 1 0")
    add("go_static", elf(shdrs=[(SHT_NOTE, 0, 0)], blobs=[GO_NOTE]), "1 2 62 0 1 0")
    add("go_namesz4", elf(phdrs=[(PT_NOTE, 0, 0)], blobs=[note(b"Go\0", 4, b"x" * 8)]),
        "1 2 62 0 1 0")
    add("go_wrong_type", elf(phdrs=[(PT_INTERP, 0, 0), (PT_NOTE, 1, 0)],
                             blobs=[INTERP, note(b"Go", 3, b"x" * 8)]), "1 2 62 1 0 0")
    add("go_wrong_owner", elf(phdrs=[(PT_NOTE, 0, 0)], blobs=[note(b"Gx", 4, b"")]),
        "1 2 62 0 0 0")
    s, dyn = dynamic(2, True, [b"libc.so.6", b"libasan.so.8"])
    add("asan64", elf(phdrs=[(PT_INTERP, 0, 0)],
                      shdrs=[(0, None, 0), (SHT_DYNAMIC, 1, 2), (SHT_STRTAB, 2, 0)],
                      blobs=[INTERP, dyn, s]), "1 2 62 1 0 1")
    s, dyn = dynamic(2, True, [b"libc.so.6", b"libevent-2.1.so.7"])
    add("plain_needed", elf(phdrs=[(PT_INTERP, 0, 0)],
                            shdrs=[(0, None, 0), (SHT_DYNAMIC, 1, 2), (SHT_STRTAB, 2, 0)],
                            blobs=[INTERP, dyn, s]), "1 2 62 1 0 0")
    s, dyn = dynamic(1, True, [b"libubsan.so.1"])
    add("ubsan32", elf(cls=1, machine=3, phdrs=[(PT_INTERP, 0, 0)],
                       shdrs=[(SHT_DYNAMIC, 1, 1), (SHT_STRTAB, 2, 0)],
                       blobs=[b"/lib/ld-linux.so.2\0", dyn, s]), "1 1 3 1 0 1")
    add("san_link_out", elf(shdrs=[(SHT_DYNAMIC, 0, 999)], blobs=[dyn]), "1 2 62 0 0 0")
    s, dyn = dynamic(2, True, [b"libasan.so.8"])
    add("san_strtab_past_eof",
        elf(shdrs=[(SHT_DYNAMIC, 0, 1), (SHT_STRTAB, None, 0)], blobs=[dyn],
            tail=b""), "1 2 62 0 0 0")
    add("be_ppc64_go", elf(le=False, machine=21, phdrs=[(PT_INTERP, 0, 0), (PT_NOTE, 1, 0)],
                           blobs=[INTERP, note(b"Go", 4, b"buildid", le=False)]),
        "1 2 21 1 1 0")
    add("elf32_i386", b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack(
        "<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0, 52, 32, 0, 40, 0, 0), "1 1 3 0 0 0")
    add("aarch64", elf(machine=183, phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP]), "1 2 183 1 0 0")
    add("class0", elf(cls=2, phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP])[:4] + b"\0" +
        elf(cls=2, phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP])[5:], "1 0 62 0 0 0")
    add("ident20", elf(phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP])[:20], "1 2 62 0 0 0")
    add("short19", elf(phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP])[:19], "0 0 0 0 0 0")
    add("empty", b"", "0 0 0 0 0 0")
    add("script", b"#!/bin/sh\nexit 0\n", "0 0 0 0 0 0")
    add("phoff_past_eof", elf(phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP],
                              hdr=dict(phoff=1 << 40)), "1 2 62 0 0 0")
    add("phoff_wraps", elf(phdrs=[(PT_INTERP, 0, 0), (PT_INTERP, 0, 0)], blobs=[INTERP],
                           hdr=dict(phoff=(1 << 64) - 8)), "1 2 62 0 0 0")
    add("shoff_wraps", elf(shdrs=[(SHT_NOTE, 0, 0)] * 3, blobs=[GO_NOTE],
                           hdr=dict(shoff=(1 << 64) - 16)), "1 2 62 0 0 0")
    add("phnum_257", elf(phdrs=[(PT_INTERP, 0, 0)] * 257, blobs=[INTERP]), "1 2 62 0 0 0")
    add("phnum_256", elf(phdrs=[(PT_INTERP, 0, 0)] * 256, blobs=[INTERP]), "1 2 62 1 0 0")
    add("phnum_ffff", elf(phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP],
                          hdr=dict(phnum=0xFFFF)), "1 2 62 0 0 0")
    add("phent_31", elf(phdrs=[(PT_INTERP, 0, 0)], blobs=[INTERP], hdr=dict(phent=31)),
        "1 2 62 0 0 0")
    add("phent_big", elf(phdrs=[(PT_INTERP, 0, 0)] * 3, blobs=[INTERP], hdr=dict(phent=0xFFFF)),
        "1 2 62 1 0 0")
    add("shnum_1025", elf(shdrs=[(SHT_NOTE, 0, 0)] * 1025, blobs=[GO_NOTE]), "1 2 62 0 0 0")
    add("shent_39", elf(shdrs=[(SHT_NOTE, 0, 0)], blobs=[GO_NOTE], hdr=dict(shent=39)),
        "1 2 62 0 0 0")
    huge = struct.pack("<III", 0xFFFFFFFF, 0xFFFFFFFF, 4) + b"Go\0\0"
    add("note_sizes_huge", elf(phdrs=[(PT_NOTE, 0, 0), (PT_NOTE, 1, 0)], blobs=[huge, GO_NOTE]),
        "1 2 62 0 1 0")
    big = GNU_NOTE * (65536 // len(GNU_NOTE) + 1) + GO_NOTE
    add("note_region_64k", elf(phdrs=[(PT_NOTE, 0, 0)], blobs=[big]), "1 2 62 0 0 0")
    add("note_truncated", elf(phdrs=[(PT_NOTE, 0, 0)], blobs=[GO_NOTE])[:-len(GO_NOTE) + 14],
        "1 2 62 0 0 0")
    add("note_past_eof", elf(phdrs=[(PT_NOTE, 0, 0)], blobs=[GO_NOTE])[:-len(GO_NOTE)],
        "1 2 62 0 0 0")
    for name, facts in cases:
        print(name, facts)


main()
