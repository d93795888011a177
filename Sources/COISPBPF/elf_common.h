/* ELF helpers shared by the discovery code (elfscan.c, gotls.c, rustls.c): sections, addresses
 * and function symbols of a file mapped whole. Private to COISPBPF. */
#ifndef OISP_ELF_COMMON_H
#define OISP_ELF_COMMON_H
#include <gelf.h>
#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

/** The file bytes of section `name` (first match), NULL when absent or outside the file; its
 *  link-time address in *addr (when asked) and its length in *len. */
const uint8_t *oisp_elf_section(Elf *e, const uint8_t *map, size_t size, const char *name, uint64_t *addr, uint64_t *len);

/** Link-time virtual address → file offset through the PT_LOAD segment holding it; *avail (when
 *  asked) is how many bytes of the segment follow in the file. 0, or -1 when outside. */
int oisp_elf_vaddr_to_off(Elf *e, size_t size, uint64_t v, uint64_t *off, uint64_t *avail);

/** Calls fn for every defined function symbol of .symtab and .dynsym (name, symbol) until it
 *  returns non-zero; returns that value, or 0. */
int oisp_elf_each_function(Elf *e, int (*fn)(void *ctx, const char *name, const GElf_Sym *sym), void *ctx);

#endif
