/* ELF facts used to name a process's TLS stack (see elfscan.c). */
#ifndef OISP_ELFSCAN_H
#define OISP_ELFSCAN_H
#ifdef __cplusplus
extern "C" {
#endif
/** 1 when the file defines function `name` (.symtab or .dynsym), 0 when not, -1 on error. */
int oisp_elf_defines(const char *path, const char *name);
/** Maps a whole regular file private and writable (libelf may convert data in place; the file
 *  is never written). 0 with *map and *size set; -1 when it cannot be opened or mapped (the
 *  reason in why); -2 when it is not a regular file of 64 bytes or more. */
#include <stddef.h>
int oisp_map_file(const char *path, void **map, size_t *size, char *why, size_t whylen);
/** Writes a formatted reason into err (when given) and returns code: the discovery code's errors. */
int oisp_errorf(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#ifdef __cplusplus
}
#endif
#endif
