#define _GNU_SOURCE
/* rustls discovery (see include/oisp_rustls.h): the symbol tables for Writer::write and
 * Reader::read, their file offsets, and the calling convention read from their first loads. */
#include "oisp_rustls.h"
#include "oisp_elfscan.h"
#include "elf_common.h"

#include <capstone/capstone.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define RUSTLS_MODULE "rustls..conn.."
#define RUSTLS_WRITE "Writer$u20$as$u20$std..io..Write$GT$5write17h"
#define RUSTLS_READ "Reader$u20$as$u20$std..io..Read$GT$4read17h"
#define RUSTLS_WRITEV "Writer$u20$as$u20$std..io..Write$GT$14write_vectored17h"

typedef struct rfile {
    const uint8_t *map;
    size_t size;
    Elf *elf;
} rfile;

/* Adds a function once (aliases share an address); returns 0, or -1 when the list is full. */
static int add_func(uint64_t *list, uint32_t *n, uint64_t *vaddrs, uint64_t vaddr, uint64_t off) {
    for (uint32_t i = 0; i < *n; i++)
        if (vaddrs[i] == vaddr) return 0;
    if (*n == OISP_RUSTLS_MAX) return -1;
    vaddrs[*n] = vaddr;
    list[(*n)++] = off;
    return 0;
}

/* Which argument register `self` is in: the first 8-byte load through rdi or rsi at offset 0
 * (a Writer's sink pointer, a Reader's buffer pointer) among the first instructions. Returns
 * OISP_RUSTLS_ABI_*, or -1 when no such load is found. */
static int self_register(rfile *f, uint64_t vaddr, uint64_t off, uint64_t avail) {
    csh cs;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) return -1;
    cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn *insn = cs_malloc(cs);
    const uint8_t *code = f->map + off;
    size_t left = avail < 256 ? (size_t)avail : 256;
    uint64_t addr = vaddr;
    int abi = -1;
    for (int i = 0; i < 40 && abi < 0 && cs_disasm_iter(cs, &code, &left, &addr, insn); i++) {
        cs_x86 *x = &insn->detail->x86;
        if (insn->id == X86_INS_RET || insn->id == X86_INS_JMP || insn->id == X86_INS_CALL) {
            /* control leaves before self was read: only a tail call through a loaded pointer
             * counts (it was read above); otherwise unknown */
            if (insn->id != X86_INS_JMP || x->op_count != 1 || x->operands[0].type != X86_OP_REG) break;
            continue;
        }
        if (insn->id != X86_INS_MOV || x->op_count != 2) continue;
        cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
        if (dst->type != X86_OP_REG || src->type != X86_OP_MEM || src->size != 8) continue;
        if (src->mem.index != X86_REG_INVALID || src->mem.disp != 0 || src->mem.segment != X86_REG_INVALID) continue;
        if (src->mem.base == X86_REG_RDI) abi = OISP_RUSTLS_ABI_REGISTERS;
        else if (src->mem.base == X86_REG_RSI) abi = OISP_RUSTLS_ABI_SRET;
    }
    cs_free(insn, 1);
    cs_close(&cs);
    return abi;
}

typedef struct found_funcs {
    rfile *f;
    uint64_t *offs[3];
    uint32_t *counts[3];
    uint64_t vaddrs[3][OISP_RUSTLS_MAX], avails[3][OISP_RUSTLS_MAX];
} found_funcs;

/* One function symbol: kept when it is one of the three, at its file offset. */
static int note_function(void *ctx, const char *nm, const GElf_Sym *s) {
    static const char *const names[3] = { RUSTLS_WRITE, RUSTLS_READ, RUSTLS_WRITEV };
    found_funcs *ff = ctx;
    if (s->st_value == 0 || nm[0] != '_' || nm[1] != 'Z' || nm[2] != 'N' || !strstr(nm, RUSTLS_MODULE)) return 0;
    int kind = 0;
    while (kind < 3 && !strstr(nm, names[kind])) kind++;
    if (kind == 3) return 0;
    uint64_t off, avail;
    if (oisp_elf_vaddr_to_off(ff->f->elf, ff->f->size, s->st_value, &off, &avail) != 0) return 0;
    uint32_t k = *ff->counts[kind];
    /* more copies than OISP_RUSTLS_MAX: the first ones */
    if (add_func(ff->offs[kind], ff->counts[kind], ff->vaddrs[kind], s->st_value, off) == 0 && *ff->counts[kind] > k)
        ff->avails[kind][k] = avail;
    return 0;
}

/* Whether the bytes hold a path into rustls's sources, "rustls-<version>/src/" (what a panic
 * location keeps). Matched in parts, so this file's own strings never match themselves. */
static int crate_path(const uint8_t *p, uint64_t n) {
    const uint8_t *end = p + n;
    while (p < end) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), "rustls-", 7);
        if (!hit) return 0;
        const uint8_t *q = hit + 7;
        int digits = 0;
        while (q < end && ((*q >= '0' && *q <= '9') || *q == '.')) { digits += *q != '.'; q++; }
        if (digits > 0 && end - q >= 5 && memcmp(q, "/src/", 5) == 0) return 1;
        p = hit + 7;
    }
    return 0;
}

int oisp_rustls_inspect(const char *path, oisp_rustls_info *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    rfile f = { 0 };
    void *m = NULL;
    char why[128] = "";
    int mr = oisp_map_file(path, &m, &f.size, why, sizeof why);
    if (mr == -2) return oisp_errorf(err, errlen, OISP_RUSTLS_ERR_NOT_ELF, "%s: not a regular ELF file", path);
    if (mr != 0) return oisp_errorf(err, errlen, OISP_RUSTLS_ERR_IO, "%s: %s", path, why);
    f.map = m;
    int rc = OISP_RUSTLS_OK;
    GElf_Ehdr eh;
    elf_version(EV_CURRENT);
    f.elf = elf_memory((char *)m, f.size);
    if (!f.elf || elf_kind(f.elf) != ELF_K_ELF || !gelf_getehdr(f.elf, &eh)) {
        rc = oisp_errorf(err, errlen, OISP_RUSTLS_ERR_NOT_ELF, "%s: not an ELF file", path);
        goto out;
    }
    /* kind 0: Writer::write, 1: Reader::read, 2: Writer::write_vectored */
    found_funcs ff = { .f = &f, .offs = { out->write, out->read, out->writev }, .counts = { &out->nwrite, &out->nread, &out->nwritev } };
    oisp_elf_each_function(f.elf, note_function, &ff);
    uint64_t csize = 0;
    const uint8_t *comment = oisp_elf_section(f.elf, f.map, f.size, ".comment", NULL, &csize);
    if (comment) {
        const uint8_t *v = memmem(comment, csize, "rustc version ", 14);
        if (v) {
            size_t k = 0;
            while (k + 1 < sizeof out->compiler && v + k < comment + csize && v[k] >= 0x20 && v[k] < 0x7f && v[k] != '(') { out->compiler[k] = (char)v[k]; k++; } /* printable only: it is the file's text, and goes to the log */
            while (k > 0 && out->compiler[k - 1] == ' ') k--;
            out->compiler[k] = 0;
        }
    }
    if (out->nwrite == 0 || out->nread == 0) {
        /* rustls's own source paths, which its panic locations keep in stripped builds too: the
         * crate, not a mere mention of the word */
        uint64_t rsize = 0;
        const uint8_t *ro = oisp_elf_section(f.elf, f.map, f.size, ".rodata", NULL, &rsize);
        if (!ro) { ro = f.map; rsize = f.size; }
        int mentions = crate_path(ro, rsize);
        if (!mentions && out->nwrite == 0 && out->nread == 0) {
            rc = oisp_errorf(err, errlen, OISP_RUSTLS_ERR_NO_RUSTLS, "%s: no rustls", path);
        } else {
            rc = oisp_errorf(err, errlen, OISP_RUSTLS_ERR_NO_SYMBOLS,
                             "%s: rustls without a symbol for %s (a stripped build, or LTO inlined it): rustls is probed only where Writer::write and Reader::read are in the symbol table",
                             path, out->nwrite == 0 && out->nread == 0 ? "Writer::write and Reader::read" : out->nwrite == 0 ? "Writer::write" : "Reader::read");
        }
        goto out;
    }
    if (eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
        rc = oisp_errorf(err, errlen, OISP_RUSTLS_ERR_ARCH, "%s: rustls in a program for ELF machine %u; only x86_64 is supported", path, eh.e_machine);
        goto out;
    }
    static const char *const labels[3] = { "Writer::write", "Reader::read", "Writer::write_vectored" };
    int abi = -1;
    for (int kind = 0; kind < 3; kind++) {
        for (uint32_t j = 0; j < *ff.counts[kind]; j++) {
            int a = self_register(&f, ff.vaddrs[kind][j], ff.offs[kind][j], ff.avails[kind][j]);
            if (a < 0 || (abi >= 0 && a != abi)) {
                rc = oisp_errorf(err, errlen, OISP_RUSTLS_ERR_ABI, "%s: rustls %s at 0x%llx: %s", path, labels[kind],
                                 (unsigned long long)ff.vaddrs[kind][j],
                                 a < 0 ? "no load through self found in its first instructions: calling convention unknown"
                                       : "calling convention differs from the other functions'");
                goto out;
            }
            abi = a;
        }
    }
    out->abi = (uint32_t)abi;
out:
    if (f.elf) elf_end(f.elf);
    munmap(m, f.size);
    return rc;
}
