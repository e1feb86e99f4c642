/*
 * The ELF facts `netcore run` decides by (tools/elf.h): class, machine, a PT_INTERP (else no
 * dynamic loader runs and nothing reads LD_PRELOAD), a Go build ID note (Go makes its own
 * system calls), and, for the library, a sanitizer runtime among its DT_NEEDED (which then
 * has to be preloaded before it).
 *
 * The file is untrusted: every offset and size comes from it. Each read goes through get(),
 * which reads only below the file's size and zero-fills the rest, so a field past the end
 * reads as 0, exactly as the script's od(1) fallback (netcore, elf_sh_facts) reads it; the
 * two must agree, and tests/test_run_elfcheck.sh checks that they do. Memory is bounded by
 * the same caps as there: at most 256 program headers and 1024 section headers are looked
 * at, and a note or dynamic region larger than 64 KiB is skipped (real ones are a few
 * hundred bytes; Go's build ID note is 100).
 */
#include "elf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_PHNUM 256
#define MAX_SHNUM 1024
#define MAX_REGION 65536   /* bytes of a note or dynamic region */
#define MAX_NAME 256       /* bytes of a DT_NEEDED name looked at */

#define PT_INTERP 3
#define PT_NOTE 4
#define SHT_DYNAMIC 6
#define SHT_NOTE 7
#define DT_NULL 0
#define DT_NEEDED 1
#define NT_GO_BUILDID 4

struct src {
    nc_elf_read_fn rd;
    void *ctx;
    uint64_t size;
    int le;               /* the file's byte order: EI_DATA 2 is big-endian, all else little */
    int wide;             /* EI_CLASS 2: 64-bit layouts */
    unsigned char *region;  /* MAX_REGION bytes for a note or dynamic region */
};

/* Reads len bytes at off into buf, the part past the end of the file as zeros. */
static int get(struct src *s, uint64_t off, void *buf, size_t len)
{
    memset(buf, 0, len);
    if (off >= s->size)
        return 0;
    if (len > s->size - off)
        len = (size_t)(s->size - off);
    size_t done = 0;
    while (done < len) {
        long n = s->rd(s->ctx, off + done, (unsigned char *)buf + done, len - done);
        if (n < 0)
            return -EIO;
        if (n == 0)
            break;   /* the file shrank under us: the rest reads as zeros */
        done += (size_t)n;
    }
    return 0;
}

/* The unsigned n-byte integer at p in the file's byte order. */
static uint64_t uint_at(const struct src *s, const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[s->le ? n - 1 - i : i];
    return v;
}

/* A word-sized field (4 bytes in 32-bit files, 8 in 64-bit ones) at the offsets given. */
static uint64_t word_at(const struct src *s, const unsigned char *p, int off32, int off64)
{
    return s->wide ? uint_at(s, p + off64, 8) : uint_at(s, p + off32, 4);
}

static uint64_t align4(uint64_t n)
{
    return (n + 3) / 4 * 4;
}

/* Whether the notes in size bytes at off hold Go's build ID (owner "Go", type 4). */
static int has_go_note(struct src *s, uint64_t off, uint64_t size, int *go)
{
    if (size > MAX_REGION)
        return 0;
    int rc = get(s, off, s->region, (size_t)size);
    if (rc < 0)
        return rc;
    /* The part of the region inside the file: what the script's od reads. */
    uint64_t n = off < s->size ? s->size - off : 0;
    if (n > size)
        n = size;
    for (uint64_t p = 0; p + 12 <= n;) {
        const unsigned char *h = s->region + p;
        uint64_t namesz = uint_at(s, h, 4), descsz = uint_at(s, h + 4, 4);
        uint64_t type = uint_at(s, h + 8, 4);
        if ((namesz == 3 || namesz == 4) && type == NT_GO_BUILDID && p + 15 <= n &&
            memcmp(h + 12, "Go", 3) == 0) {
            *go = 1;
            return 0;
        }
        p += 12 + align4(namesz) + align4(descsz);
    }
    return 0;
}

/*
 * Whether the dynamic section of size bytes at off, whose names are in the string table of
 * strsize bytes at stroff, needs a sanitizer runtime (a DT_NEEDED naming libasan.so or
 * libubsan.so, as the script's `ldd | awk '/lib(asan|ubsan)\.so/'` found them).
 */
static int needs_sanitizer(struct src *s, uint64_t off, uint64_t size, uint64_t stroff,
                           uint64_t strsize, unsigned *san)
{
    size_t ent = s->wide ? 16 : 8;
    char name[MAX_NAME + 1];
    if (size > MAX_REGION)
        return 0;
    int rc = get(s, off, s->region, (size_t)size);
    if (rc < 0)
        return rc;
    for (size_t p = 0; p + ent <= size; p += ent) {
        uint64_t tag = uint_at(s, s->region + p, (int)ent / 2);
        uint64_t val = uint_at(s, s->region + p + ent / 2, (int)ent / 2);
        if (tag == DT_NULL)
            break;
        if (tag != DT_NEEDED || val >= strsize || stroff + val < stroff)
            continue;
        size_t len = strsize - val < MAX_NAME ? (size_t)(strsize - val) : MAX_NAME;
        rc = get(s, stroff + val, name, len);
        if (rc < 0)
            return rc;
        name[len] = '\0';
        if (strstr(name, "libasan.so") != NULL || strstr(name, "libubsan.so") != NULL) {
            *san = 1;
            return 0;
        }
    }
    return 0;
}

/* The program headers: PT_INTERP, and the notes of PT_NOTE segments. */
static int scan_segments(struct src *s, uint64_t phoff, uint64_t phent, uint64_t phnum,
                         struct nc_elf_facts *f)
{
    unsigned char ph[56];
    int go = 0;
    if (phnum > MAX_PHNUM || phent < 32)
        return 0;
    for (uint64_t i = 0; i < phnum; i++) {
        uint64_t at = phoff + i * phent;
        if (at < phoff)
            break;   /* wrapped: past any file */
        int rc = get(s, at, ph, phent < sizeof(ph) ? (size_t)phent : sizeof(ph));
        if (rc < 0)
            return rc;
        uint64_t type = uint_at(s, ph, 4);
        if (type == PT_INTERP)
            f->interp = 1;
        if (type == PT_NOTE && !go) {
            rc = has_go_note(s, word_at(s, ph, 4, 8), word_at(s, ph, 16, 32), &go);
            if (rc < 0)
                return rc;
        }
    }
    f->go |= (unsigned)go;
    return 0;
}

/* The section headers: SHT_NOTE sections (a note need not be in a PT_NOTE segment) and
 * SHT_DYNAMIC ones with the string table their sh_link names. */
static int scan_sections(struct src *s, uint64_t shoff, uint64_t shent, uint64_t shnum,
                         struct nc_elf_facts *f)
{
    unsigned char sh[64], link[64];
    int go = 0;
    if (shnum > MAX_SHNUM || shent < 40 || shoff == 0)
        return 0;
    size_t len = shent < sizeof(sh) ? (size_t)shent : sizeof(sh);
    for (uint64_t i = 0; i < shnum; i++) {
        uint64_t at = shoff + i * shent;
        if (at < shoff)
            break;
        int rc = get(s, at, sh, len);
        if (rc < 0)
            return rc;
        uint64_t type = uint_at(s, sh + 4, 4);
        uint64_t off = word_at(s, sh, 16, 24), size = word_at(s, sh, 20, 32);
        if (type == SHT_NOTE && !go)
            rc = has_go_note(s, off, size, &go);
        if (type == SHT_DYNAMIC && !f->sanitizer) {
            uint64_t l = uint_at(s, sh + (s->wide ? 40 : 24), 4);
            if (l < shnum && shoff + l * shent >= shoff &&
                (rc = get(s, shoff + l * shent, link, len)) == 0)
                rc = needs_sanitizer(s, off, size, word_at(s, link, 16, 24),
                                     word_at(s, link, 20, 32), &f->sanitizer);
        }
        if (rc < 0)
            return rc;
    }
    f->go |= (unsigned)go;
    return 0;
}

int nc__elf_inspect(nc_elf_read_fn rd, void *ctx, uint64_t size, struct nc_elf_facts *f)
{
    struct src s = { .rd = rd, .ctx = ctx, .size = size };
    unsigned char eh[64];
    int rc;

    memset(f, 0, sizeof(*f));
    if (size < 20)
        return 0;
    rc = get(&s, 0, eh, sizeof(eh));   /* a short file's missing fields read as 0 */
    if (rc < 0)
        return rc;
    if (memcmp(eh, "\177ELF", 4) != 0)
        return 0;
    s.le = eh[5] != 2;
    s.wide = eh[4] == 2;
    f->elf = 1;
    f->cls = eh[4];
    f->machine = (unsigned)uint_at(&s, eh + 18, 2);

    /* mmap, not malloc: the library runs this inside execve, where the caller may be a
     * vfork child or a signal handler that interrupted malloc (preload/reach.c). */
    s.region = mmap(NULL, MAX_REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s.region == MAP_FAILED)
        return -ENOMEM;
    rc = scan_segments(&s, word_at(&s, eh, 28, 32), uint_at(&s, eh + (s.wide ? 54 : 42), 2),
                       uint_at(&s, eh + (s.wide ? 56 : 44), 2), f);
    if (rc < 0)
        goto fail;
    rc = scan_sections(&s, word_at(&s, eh, 32, 40), uint_at(&s, eh + (s.wide ? 58 : 46), 2),
                       uint_at(&s, eh + (s.wide ? 60 : 48), 2), f);
fail:
    munmap(s.region, MAX_REGION);
    return rc;
}
