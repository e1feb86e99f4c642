/*
 * elf.h — what `netcore run` needs to know of an ELF file to tell whether LD_PRELOAD can reach
 * the program in it (tools/elf.c). The file is untrusted input: the reader is handed its size
 * and never asked for bytes past it.
 */
#ifndef NETCORE_TOOLS_ELF_H
#define NETCORE_TOOLS_ELF_H

#include <stddef.h>
#include <stdint.h>

/* What nc__elf_inspect found; all zero for a file that is no ELF file. */
struct nc_elf_facts {
    unsigned elf;        /* 1: the ELF magic and a whole e_ident + e_type + e_machine */
    unsigned cls;        /* EI_CLASS as in the file: 1 is 32-bit, 2 is 64-bit */
    unsigned machine;    /* e_machine, in the file's byte order */
    unsigned interp;     /* 1: a PT_INTERP program header names a dynamic loader */
    unsigned go;         /* 1: a note (segment or section) is Go's build ID (owner "Go", 4) */
    unsigned sanitizer;  /* 1: a DT_NEEDED names libasan.so or libubsan.so */
};

/*
 * Reads up to len bytes at offset off of the file into buf; returns the count read (fewer
 * only at the end of the file) or -1 on an error. nc__elf_inspect asks only for offsets
 * below the size it was given.
 */
typedef long (*nc_elf_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/*
 * Fills *f with the facts of the file of size bytes that rd reads. Malformed headers (offsets
 * or sizes past the file, absurd counts, truncation anywhere) are not errors: what cannot be
 * read is not there. Returns 0, or -EIO when rd fails.
 */
int nc__elf_inspect(nc_elf_read_fn rd, void *ctx, uint64_t size, struct nc_elf_facts *f);

#endif /* NETCORE_TOOLS_ELF_H */
