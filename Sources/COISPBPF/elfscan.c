#define _GNU_SOURCE
/* Small ELF facts for `oisp check` / `capture-targets` (does an executable define a symbol) and
 * the helpers the discovery code shares (elf_common.h): sections, addresses, function symbols,
 * a file mapped whole. libelf + mmap. */
#include "oisp_elfscan.h"
#include "elf_common.h"

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

static int same_name(void *ctx, const char *name, const GElf_Sym *sym) {
    (void)sym;
    return strcmp(name, (const char *)ctx) == 0;
}

int oisp_elf_defines(const char *path, const char *name) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (elf_version(EV_CURRENT) == EV_NONE) { close(fd); return -1; }
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    if (!e) { close(fd); return -1; }
    int found = oisp_elf_each_function(e, same_name, (void *)name);
    elf_end(e);
    close(fd);
    return found;
}

int oisp_elf_each_function(Elf *e, int (*fn)(void *ctx, const char *name, const GElf_Sym *sym), void *ctx) {
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || sh.sh_entsize == 0) continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d) continue;
        size_t n = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < n; i++) {
            GElf_Sym s;
            if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || GELF_ST_TYPE(s.st_info) != STT_FUNC) continue;
            const char *sn = elf_strptr(e, sh.sh_link, s.st_name);
            int r = sn ? fn(ctx, sn, &s) : 0;
            if (r) return r;
        }
    }
    return 0;
}

const uint8_t *oisp_elf_section(Elf *e, const uint8_t *map, size_t size, const char *name, uint64_t *addr, uint64_t *len) {
    size_t shstrndx;
    if (elf_getshdrstrndx(e, &shstrndx) != 0) return NULL;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) continue;
        const char *n = elf_strptr(e, shstrndx, sh.sh_name);
        if (!n || strcmp(n, name) != 0) continue;
        if (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset) return NULL;
        if (addr) *addr = sh.sh_addr;
        *len = sh.sh_size;
        return map + sh.sh_offset;
    }
    return NULL;
}

int oisp_elf_vaddr_to_off(Elf *e, size_t size, uint64_t v, uint64_t *off, uint64_t *avail) {
    size_t n;
    if (elf_getphdrnum(e, &n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
        if (v < ph.p_vaddr || v - ph.p_vaddr >= ph.p_filesz) continue;
        uint64_t o = ph.p_offset + (v - ph.p_vaddr);
        if (o >= size) return -1;
        *off = o;
        if (avail) {
            uint64_t a = ph.p_filesz - (v - ph.p_vaddr);
            *avail = a > size - o ? size - o : a;
        }
        return 0;
    }
    return -1;
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
