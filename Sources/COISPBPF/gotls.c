/* Go crypto/tls discovery (see include/oisp_gotls.h): build info, symbol table or pclntab, and a
 * linear disassembly of the two functions to list their RET instructions. */
#include "oisp_gotls.h"
#include "oisp_elfscan.h"
#include "elf_common.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GO_WRITE "crypto/tls.(*Conn).Write"
#define GO_READ "crypto/tls.(*Conn).Read"
#define GO_CLOSE "crypto/tls.(*Conn).Close"

/* pclntab header magics (runtime/symtab.go): 1.16/1.17, 1.18/1.19, 1.20+. Older: 0xfffffffb. */
#define PCLN_MAGIC_116 0xfffffffaU
#define PCLN_MAGIC_118 0xfffffff0U
#define PCLN_MAGIC_120 0xfffffff1U

static const char BUILDINFO_MAGIC[] = "\xff Go buildinf:"; /* 14 bytes */

typedef struct gofile {
    const uint8_t *map;
    size_t size;
    Elf *elf;
    GElf_Ehdr eh;
    int have_sections;
} gofile;


static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static const uint8_t *section(gofile *f, const char *name, uint64_t *addr, uint64_t *size) {
    return oisp_elf_section(f->elf, f->map, f->size, name, addr, size);
}

static int vaddr_to_off(gofile *f, uint64_t v, uint64_t *off, uint64_t *avail) {
    return oisp_elf_vaddr_to_off(f->elf, f->size, v, off, avail);
}

/* Go's uvarint-prefixed string (debug/buildinfo, flags bit 2 format). */
static const uint8_t *uvarint_string(const uint8_t *p, const uint8_t *end, uint64_t *len) {
    uint64_t v = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (v > (uint64_t)(end - p)) return NULL;
            *len = v;
            return p;
        }
    }
    return NULL;
}

/* .go.buildinfo: 14-byte magic, pointer size, flags; then either two pointers to Go string
 * headers (runtime.buildVersion, modinfo) or, with flags bit 2 (Go 1.18+), inline strings after
 * the 32-byte header. Without section headers the blob is found by scanning (16-byte aligned). */
static void read_buildinfo(gofile *f, oisp_gotls_info *out) {
    uint64_t size = 0;
    const uint8_t *p = f->have_sections ? section(f, ".go.buildinfo", NULL, &size) : NULL;
    /* only without section headers: a file with sections but no .go.buildinfo is not Go (and
     * may hold the magic as data, as this sensor does) */
    if (!p && !f->have_sections) {
        for (size_t o = 0; o + 32 <= f->size; o += 16)
            if (f->map[o] == 0xff && memcmp(f->map + o, BUILDINFO_MAGIC, 14) == 0) { p = f->map + o; size = f->size - o; break; }
    }
    if (!p || size < 32 || memcmp(p, BUILDINFO_MAGIC, 14) != 0) return;
    out->is_go = 1;
    uint8_t ptrsize = p[14], flags = p[15];
    const uint8_t *s = NULL;
    uint64_t len = 0;
    if (flags & 2) {
        s = uvarint_string(p + 32, p + size, &len);
    } else if (ptrsize == 8 && !(flags & 1)) {
        uint64_t hoff, avail, doff, davail;
        if (vaddr_to_off(f, rd64(p + 16), &hoff, &avail) != 0 || avail < 16) return;
        uint64_t daddr = rd64(f->map + hoff), dlen = rd64(f->map + hoff + 8);
        if (vaddr_to_off(f, daddr, &doff, &davail) != 0 || davail < dlen) return;
        s = f->map + doff;
        len = dlen;
    }
    if (!s || len == 0) return;
    if (len >= sizeof out->go_version) len = sizeof out->go_version - 1;
    memcpy(out->go_version, s, len);
    out->go_version[len] = 0;
    for (size_t i = 0; i < len; i++) /* the file's text, bound for the log: printable only */
        if ((unsigned char)out->go_version[i] < 0x20 || (unsigned char)out->go_version[i] >= 0x7f) out->go_version[i] = '?';
    /* "go1.19.8", "devel go1.23-abcdef …": take the first "go1.N". */
    const char *g = strstr(out->go_version, "go1.");
    if (g) {
        out->go_major = 1;
        out->go_minor = atoi(g + 4);
    }
}

/* ---- pclntab ---- */

typedef struct pcln {
    const uint8_t *base;  /* the header */
    uint64_t size;        /* bytes available from base */
    uint32_t magic;
    uint64_t nfunc;
    uint64_t text_start;  /* 1.18+: base of entry offsets */
    const uint8_t *funcnametab;
    const uint8_t *functab; /* also the base for funcoff */
    uint64_t functab_bytes;
} pcln;

static int pcln_parse(const uint8_t *p, uint64_t size, pcln *t) {
    if (size < 8 + 8 * 8) return -1;
    uint32_t magic = rd32(p);
    if (magic != PCLN_MAGIC_116 && magic != PCLN_MAGIC_118 && magic != PCLN_MAGIC_120) return -1;
    if (p[4] != 0 || p[5] != 0 || (p[6] != 1 && p[6] != 2 && p[6] != 4) || p[7] != 8) return -1;
    memset(t, 0, sizeof *t);
    t->base = p;
    t->size = size;
    t->magic = magic;
    const uint8_t *w = p + 8; /* header words, pointer-sized */
    t->nfunc = rd64(w);
    uint64_t nameoff, functaboff;
    if (magic == PCLN_MAGIC_116) {
        /* nfunc, nfiles, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset */
        nameoff = rd64(w + 2 * 8);
        functaboff = rd64(w + 6 * 8);
    } else {
        /* nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset */
        t->text_start = rd64(w + 2 * 8);
        nameoff = rd64(w + 3 * 8);
        functaboff = rd64(w + 7 * 8);
    }
    uint64_t field = magic == PCLN_MAGIC_116 ? 8 : 4;
    if (t->nfunc == 0 || t->nfunc > (1u << 24) || nameoff >= size || functaboff >= size) return -1;
    t->functab_bytes = (t->nfunc * 2 + 1) * field;
    if (t->functab_bytes > size - functaboff) return -1;
    t->funcnametab = p + nameoff;
    t->functab = p + functaboff;
    return 0;
}

/* Finds a function by exact name; entry and end as link-time virtual addresses. */
static int pcln_find(const pcln *t, const char *name, uint64_t *entry, uint64_t *end) {
    const int wide = t->magic == PCLN_MAGIC_116;
    const uint64_t field = wide ? 8 : 4;
    const uint8_t *limit = t->base + t->size;
    size_t nlen = strlen(name);
    for (uint64_t i = 0; i < t->nfunc; i++) {
        const uint8_t *e = t->functab + i * 2 * field;
        uint64_t funcoff = wide ? rd64(e + 8) : rd32(e + 4);
        const uint8_t *fn = t->functab + funcoff;
        if (fn < t->functab || fn + 16 > limit) return -1;
        int32_t nameoff;
        memcpy(&nameoff, fn + (wide ? 8 : 4), 4);
        const uint8_t *s = t->funcnametab + nameoff;
        if (nameoff < 0 || s + nlen + 1 > limit) continue;
        if (memcmp(s, name, nlen) != 0 || s[nlen] != 0) continue;
        uint64_t a = wide ? rd64(e) : rd32(e);
        uint64_t b = wide ? rd64(e + 2 * field) : rd32(e + 2 * field); /* next entry, or the end PC */
        if (!wide) { a += t->text_start; b += t->text_start; }
        if (b <= a) return -1;
        *entry = a;
        *end = b;
        return 0;
    }
    return 1;
}

/* The pclntab: its section (".gopclntab", or ".data.rel.ro.gopclntab" in PIE builds), else a scan
 * of the file for a header that parses — only when there are no section headers or the build
 * info already says Go, so other programs and libraries are not read through. */
static int find_pclntab(gofile *f, pcln *t, int known_go) {
    uint64_t size = 0;
    const uint8_t *p = NULL;
    if (f->have_sections) {
        p = section(f, ".gopclntab", NULL, &size);
        if (!p) p = section(f, ".data.rel.ro.gopclntab", NULL, &size);
        if (p && pcln_parse(p, size, t) == 0) return 0;
        if (!known_go) return -1;
    }
    for (size_t o = 0; o + 72 <= f->size; o += 8) {
        uint32_t m = rd32(f->map + o);
        if ((m == PCLN_MAGIC_116 || m == PCLN_MAGIC_118 || m == PCLN_MAGIC_120) && pcln_parse(f->map + o, f->size - o, t) == 0)
            return 0;
    }
    return -1;
}

/* 1.18+ entries are offsets from runtime.text. The header's textStart may be left unrelocated
 * (0) in PIE files; then .text's address stands in for it, as debug/gosym does. */
static int pcln_text_start(gofile *f, pcln *t) {
    if (t->magic == PCLN_MAGIC_116 || t->text_start) return 0;
    uint64_t addr = 0, size = 0;
    if (f->have_sections && section(f, ".text", &addr, &size)) { t->text_start = addr; return 0; }
    return -1;
}

/* ---- disassembly ---- */

static int list_rets(gofile *f, oisp_gotls_func *fn, const char *name, char *err, size_t errlen) {
    uint64_t avail = 0;
    if (vaddr_to_off(f, fn->vaddr, &fn->entry, &avail) != 0 || fn->size == 0 || fn->size > avail || fn->size > (1u << 20))
        return oisp_errorf(err, errlen, OISP_GOTLS_ERR_FORMAT, "%s at 0x%llx (size %llu) is not inside a loaded segment", name,
                    (unsigned long long)fn->vaddr, (unsigned long long)fn->size);
    csh cs;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
        return oisp_errorf(err, errlen, OISP_GOTLS_ERR_DISASM, "capstone: cannot open an x86-64 disassembler");
    cs_option(cs, CS_OPT_SKIPDATA, CS_OPT_ON); /* keep going over undecodable bytes (padding) */
    cs_insn *insn = cs_malloc(cs);
    const uint8_t *code = f->map + fn->entry;
    size_t left = fn->size;
    uint64_t addr = fn->vaddr;
    int rc = OISP_GOTLS_OK;
    fn->nrets = 0;
    while (cs_disasm_iter(cs, &code, &left, &addr, insn)) {
        if (insn->id != X86_INS_RET) continue;
        if (fn->nrets == OISP_GOTLS_MAX_RETS) {
            rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_DISASM, "%s has more than %d RET instructions", name, OISP_GOTLS_MAX_RETS);
            break;
        }
        fn->rets[fn->nrets++] = fn->entry + (insn->address - fn->vaddr);
    }
    if (rc == OISP_GOTLS_OK && left != 0)
        rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_DISASM, "capstone stopped %zu bytes before the end of %s", left, name);
    if (rc == OISP_GOTLS_OK && fn->nrets == 0)
        rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_DISASM, "no RET instruction in %s", name);
    cs_free(insn, 1);
    cs_close(&cs);
    return rc;
}

/* ---- symbols ---- */

static int symtab_find(gofile *f, oisp_gotls_info *out) {
    Elf_Scn *scn = NULL;
    int found = 0;
    while ((scn = elf_nextscn(f->elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || sh.sh_entsize == 0) continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d) continue;
        size_t n = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < n && found != 3; i++) {
            GElf_Sym s;
            if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0) continue;
            const char *nm = elf_strptr(f->elf, sh.sh_link, s.st_name);
            if (!nm || nm[0] != 'c') continue;
            oisp_gotls_func *fn = strcmp(nm, GO_WRITE) == 0 ? &out->write : strcmp(nm, GO_READ) == 0 ? &out->read : NULL;
            if (!fn) continue;
            fn->vaddr = s.st_value;
            fn->size = s.st_size; /* 0 → taken from the pclntab below */
            found |= fn == &out->write ? 1 : 2;
        }
    }
    return found;
}

int oisp_gotls_inspect(const char *path, oisp_gotls_info *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    gofile f = { 0 };
    void *m = NULL;
    char why[128] = "";
    int mr = oisp_map_file(path, &m, &f.size, why, sizeof why);
    if (mr == -2) return oisp_errorf(err, errlen, OISP_GOTLS_ERR_NOT_ELF, "%s: not a regular ELF file", path);
    if (mr != 0) return oisp_errorf(err, errlen, OISP_GOTLS_ERR_IO, "%s: %s", path, why);
    f.map = m;
    int rc;
    elf_version(EV_CURRENT);
    f.elf = elf_memory((char *)m, f.size);
    if (!f.elf || elf_kind(f.elf) != ELF_K_ELF || !gelf_getehdr(f.elf, &f.eh)) {
        rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_NOT_ELF, "%s: not an ELF file", path);
        goto out;
    }
    size_t shnum = 0;
    f.have_sections = elf_getshdrnum(f.elf, &shnum) == 0 && shnum > 1;

    read_buildinfo(&f, out);
    pcln t;
    int have_pcln = find_pclntab(&f, &t, out->is_go) == 0;
    if (have_pcln) out->is_go = 1;
    if (!out->is_go) { rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_NOT_GO, "%s: not a Go program (no build info, no pclntab)", path); goto out; }
    if (f.eh.e_machine != EM_X86_64 || f.eh.e_ident[EI_CLASS] != ELFCLASS64 || f.eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_ARCH, "%s: Go program for ELF machine %u; only x86_64 is supported", path, f.eh.e_machine);
        goto out;
    }
    /* The register ABI (arguments in RAX, RBX, RCX, …; g in R14) arrived in Go 1.17 on amd64. A
     * 1.18+ pclntab implies 1.18+ even without build info; 0xfffffffa covers 1.16 and 1.17. */
    if (out->go_major == 0 && have_pcln && t.magic != PCLN_MAGIC_116) { out->go_major = 1; out->go_minor = 18; }
    if (out->go_major == 0 || (out->go_major == 1 && out->go_minor < 17)) {
        rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_TOO_OLD, "%s: Go %s uses the stack-based calling convention (need 1.17+)", path,
                  out->go_version[0] ? out->go_version : "(version unknown, pre-1.18 pclntab)");
        goto out;
    }

    int found = f.have_sections ? symtab_find(&f, out) : 0;
    if (found == 3) {
        snprintf(out->found_via, sizeof out->found_via, "symtab");
    } else if (!have_pcln) {
        rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_NO_SYMBOLS, "%s: Go program without a symbol table or a readable pclntab", path);
        goto out;
    } else {
        snprintf(out->found_via, sizeof out->found_via, "pclntab");
    }
    if (have_pcln && pcln_text_start(&f, &t) != 0) {
        if (found != 3) {
            rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_FORMAT, "%s: pclntab without a text start and no .text section", path);
            goto out;
        }
        have_pcln = 0;
    }
    /* Functions without a symbol (or without a size) come from the pclntab: the end is the next
     * function's entry. */
    oisp_gotls_func *fns[2] = { &out->write, &out->read };
    const char *names[2] = { GO_WRITE, GO_READ };
    for (int i = 0; i < 2; i++) {
        if (fns[i]->vaddr && fns[i]->size) continue;
        uint64_t entry = 0, end = 0;
        int r = have_pcln ? pcln_find(&t, names[i], &entry, &end) : 1;
        if (r < 0) { rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_FORMAT, "%s: malformed pclntab", path); goto out; }
        if (r > 0) { rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_NO_TLS, "%s: Go %s program without %s", path, out->go_version, names[i]); goto out; }
        if (fns[i]->vaddr && fns[i]->vaddr != entry) {
            rc = oisp_errorf(err, errlen, OISP_GOTLS_ERR_FORMAT, "%s: symbol table and pclntab disagree on %s", path, names[i]);
            goto out;
        }
        fns[i]->vaddr = entry;
        fns[i]->size = end - entry;
    }
    for (int i = 0; i < 2; i++)
        if ((rc = list_rets(&f, fns[i], names[i], err, errlen)) != OISP_GOTLS_OK) goto out;
    /* Close (optional: a connection's end, its entry alone) */
    uint64_t centry = 0, cend = 0, coff = 0, cavail = 0;
    if (have_pcln && pcln_find(&t, GO_CLOSE, &centry, &cend) == 0 && vaddr_to_off(&f, centry, &coff, &cavail) == 0)
        out->close_entry = coff;
    rc = OISP_GOTLS_OK;
out:
    if (f.elf) elf_end(f.elf);
    munmap(m, f.size);
    return rc;
}
