#define _GNU_SOURCE
/* Small ELF facts for `oisp check` / `capture-targets`: does an executable define a symbol, does
 * it contain a byte string (a TLS library's name in a static build). libelf + mmap. */
#include "oisp_elfscan.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int oisp_elf_defines(const char *path, const char *name) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (elf_version(EV_CURRENT) == EV_NONE) { close(fd); return -1; }
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    if (!e) { close(fd); return -1; }
    int found = 0;
    Elf_Scn *scn = NULL;
    while (!found && (scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || sh.sh_entsize == 0) continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d) continue;
        size_t n = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < n; i++) {
            GElf_Sym s;
            if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || GELF_ST_TYPE(s.st_info) != STT_FUNC) continue;
            const char *sn = elf_strptr(e, sh.sh_link, s.st_name);
            if (sn && strcmp(sn, name) == 0) { found = 1; break; }
        }
    }
    elf_end(e);
    close(fd);
    return found;
}

int oisp_file_contains(const char *path, const char *needle) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) { close(fd); return -1; }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    int found = memmem(m, (size_t)st.st_size, needle, strlen(needle)) != NULL;
    munmap(m, (size_t)st.st_size);
    return found;
}

int oisp_map_file(const char *path, void **map, size_t *size, char *why, size_t whylen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(why, whylen, "%s", strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 64) { close(fd); return -2; }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) { snprintf(why, whylen, "mmap: %s", strerror(e)); return -1; }
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}

int oisp_errorf(char *err, size_t errlen, int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
