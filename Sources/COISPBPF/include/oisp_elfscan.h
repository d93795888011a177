/* ELF facts used to name a process's TLS stack (see elfscan.c). */
#ifndef OISP_ELFSCAN_H
#define OISP_ELFSCAN_H
#ifdef __cplusplus
extern "C" {
#endif
/** 1 when the file defines function `name` (.symtab or .dynsym), 0 when not, -1 on error. */
int oisp_elf_defines(const char *path, const char *name);
/** 1 when the file's bytes contain `needle`, 0 when not, -1 on error. */
int oisp_file_contains(const char *path, const char *needle);
#ifdef __cplusplus
}
#endif
#endif
