/* BoringSSL discovery in stripped executables (see include/oisp_boringssl.h): the ssl_lib.cc
 * error-location string, the ERR_put_error sites loading it, the functions holding them, and
 * SSL_write / SSL_read told apart by the reason codes BoringSSL's source gives them. */
#define _GNU_SOURCE /* memmem */
#include "oisp_boringssl.h"
#include "oisp_elfscan.h"

#include <capstone/capstone.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
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
#include <time.h>
#include <unistd.h>

/* BoringSSL's include/openssl/err.h and ssl.h (stable: the numbers are part of its ABI). */
#define B_ERR_LIB_SSL 16
#define B_SHOULD_NOT_HAVE_BEEN_CALLED 66 /* ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED = 2 | ERR_R_FATAL */
#define B_BAD_LENGTH 111                 /* SSL_R_BAD_LENGTH */
#define B_HANDSHAKE_FAILURE 215          /* SSL_R_SSL_HANDSHAKE_FAILURE */
#define B_UNINITIALIZED 226              /* SSL_R_UNINITIALIZED */

#define SOURCE_SUFFIX_REVERSED "cc.bil_lss/lss" /* "ssl/ssl_lib.cc", reversed (see find_sources) */
#define MAX_SOURCES 4
#define MAX_SITES 2048
#define MAX_BACK (64 * 1024)   /* furthest a function entry is looked for before a site */
#define MAX_BODY (16 * 1024)   /* most bytes of a function body decoded */
#define MAX_SEGS 16

typedef struct seg {
    uint64_t vaddr, off, size; /* file-backed part of an executable PT_LOAD */
} seg;

typedef struct site {
    uint64_t va;
    uint32_t reason, line;
    int fn; /* index into funcs, -1 when unresolved */
} site;

typedef struct func {
    uint64_t entry;      /* resolved entry */
    uint32_t callers;
    uint32_t has;        /* bit per reason: 1 = 66, 2 = 111, 4 = 215, 8 = 226 */
    uint32_t line66, line226;
} func;

typedef struct bfile {
    const uint8_t *map;
    size_t size;
    Elf *elf;
    seg text[MAX_SEGS];
    int ntext;
    csh cs;
    cs_insn *insn;
} bfile;


static const uint8_t *code_at(const bfile *f, uint64_t va, uint64_t *avail, uint64_t *fileoff) {
    for (int i = 0; i < f->ntext; i++) {
        const seg *s = &f->text[i];
        if (va < s->vaddr || va - s->vaddr >= s->size) continue;
        if (avail) *avail = s->size - (va - s->vaddr);
        if (fileoff) *fileoff = s->off + (va - s->vaddr);
        return f->map + s->off + (va - s->vaddr);
    }
    return NULL;
}

static int is_padding(const bfile *f, uint64_t va) {
    const uint8_t *p = code_at(f, va, NULL, NULL);
    return p && *p == 0xcc;
}

/* ---- 1. the error-location string ---- */

typedef struct source {
    uint64_t lo, hi; /* vaddrs a reference may point at: the string start .. the suffix */
} source;

/* One pass over the read-only data for "ssl/ssl_lib.c": followed by "c" and a NUL it is
 * BoringSSL's error-location string (each place recorded in src); followed by a NUL it is
 * OpenSSL's, which only sets *openssl (a static libssl: named when its symbols are gone). The
 * prefix is put together at run time: this file's own object (linked into the sensor) must not
 * hold it, or the sensor would find "BoringSSL" in itself. */
static int find_sources(bfile *f, source *src, oisp_boringssl_info *out, int *openssl) {
    size_t n;
    *openssl = 0;
    if (elf_getphdrnum(f->elf, &n) != 0) return 0;
    int found = 0;
    char needle[sizeof SOURCE_SUFFIX_REVERSED - 2]; /* "ssl/ssl_lib.c", no NUL */
    for (size_t k = 0; k < sizeof needle; k++) needle[k] = SOURCE_SUFFIX_REVERSED[sizeof SOURCE_SUFFIX_REVERSED - 2 - k];
    const size_t boring_len = sizeof needle + 1; /* "ssl/ssl_lib.cc" */
    for (size_t i = 0; i < n && found < MAX_SOURCES; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_LOAD || (ph.p_flags & PF_X)) continue;
        if (ph.p_offset > f->size || ph.p_filesz > f->size - ph.p_offset) continue;
        const uint8_t *base = f->map + ph.p_offset, *end = base + ph.p_filesz, *p = base;
        while (found < MAX_SOURCES && (p = memmem(p, (size_t)(end - p), needle, sizeof needle)) != NULL) {
            const uint8_t *after = p + sizeof needle;
            int boring = end - after >= 2 && after[0] == 'c' && after[1] == 0;
            int ossl = end - after >= 1 && after[0] == 0;
            const uint8_t *s = p;
            while (s > base && s[-1] >= 0x20 && s[-1] < 0x7f && p - s < 256) s--;
            int whole = (s == p || p[-1] == '/') && (s == base || s[-1] == 0);
            if (whole && ossl) *openssl = 1;
            if (whole && boring) {
                src[found].lo = ph.p_vaddr + (uint64_t)(s - base);
                src[found].hi = ph.p_vaddr + (uint64_t)(p - base);
                if (!found) {
                    size_t len = (size_t)(p - s) + boring_len;
                    if (len >= sizeof out->source) len = sizeof out->source - 1;
                    memcpy(out->source, s, len);
                    out->source[len] = 0;
                    out->source_vaddr = src[found].lo;
                }
                found++;
            }
            p = after;
        }
    }
    return found;
}

/* ---- 2. ERR_put_error sites ---- */

static int refers(const source *src, int nsrc, uint64_t target) {
    for (int i = 0; i < nsrc; i++)
        if (target >= src[i].lo && target <= src[i].hi) return 1;
    return 0;
}

/* Decodes from a candidate site: the load of the string must be an instruction here, followed
 * (before any call, jump or return) by EDI = ERR_LIB_SSL, EDX = reason, R8D = line. */
static int decode_site(bfile *f, uint64_t va, site *out) {
    uint64_t avail;
    const uint8_t *code = code_at(f, va, &avail, NULL);
    if (!code) return 0;
    size_t left = avail < 96 ? avail : 96;
    uint64_t addr = va;
    int64_t lib = -1, reason = -1, line = -1;
    for (int k = 0; k < 12 && cs_disasm_iter(f->cs, &code, &left, &addr, f->insn); k++) {
        cs_insn *in = f->insn;
        if (k == 0 && in->id != X86_INS_LEA && in->id != X86_INS_MOV) return 0;
        if (in->id == X86_INS_CALL || in->id == X86_INS_JMP || in->id == X86_INS_RET) break;
        cs_x86 *x = &in->detail->x86;
        if (in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_REG || x->operands[1].type != X86_OP_IMM)
            continue;
        int64_t imm = x->operands[1].imm;
        switch (x->operands[0].reg) {
        case X86_REG_EDI: lib = imm; break;
        case X86_REG_EDX: reason = imm; break;
        case X86_REG_R8D: line = imm; break;
        default: break;
        }
    }
    if (lib != B_ERR_LIB_SSL || reason <= 0 || reason > 0xffff || line <= 0 || line > 1000000) return 0;
    out->va = va;
    out->reason = (uint32_t)reason;
    out->line = (uint32_t)line;
    out->fn = -1;
    return 1;
}

/* Word-at-a-time pre-filter: whether any of the 8 bytes at p, masked with `mask`, equals `want`
 * (the classic has-zero-byte test), so runs of code without a candidate opcode are skipped. */
static inline int any_byte(const uint8_t *p, uint64_t mask, uint64_t want) {
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t x = (w & mask) ^ want;
    return ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) != 0;
}
#define BYTES(b) (0x0101010101010101ull * (uint8_t)(b))

/* Every instruction loading an address in [lo, hi] into a register: RIP-relative LEA, or (in a
 * non-PIE file, where [lo, hi] lies below 2 GiB) MOV r32, imm32. A word-at-a-time pre-filter
 * skips runs without either opcode. `hit(ctx, va, target)` is called for each; it returns
 * non-zero to stop the scan. Shared by the BoringSSL and the OpenSSL searches. */
static void scan_loads(bfile *f, uint64_t lo, uint64_t hi, int (*hit)(void *ctx, uint64_t va, uint64_t target), void *ctx) {
    const int abs32 = hi < 0x80000000ull; /* non-PIE: MOV r32, imm32 can load it */
    for (int s = 0; s < f->ntext; s++) {
        const uint8_t *t = f->map + f->text[s].off;
        const uint64_t base = f->text[s].vaddr, size = f->text[s].size;
        for (uint64_t i = 0; i + 7 <= size; i++) {
            if ((i & 7) == 0 && i + 16 <= size && !any_byte(t + i + 1, BYTES(0xff), BYTES(0x8d)) &&
                (!abs32 || !any_byte(t + i, BYTES(0xf8), BYTES(0xb8)))) {
                i += 7; /* no LEA opcode at i+1..i+8 (nor MOV r32, imm32 at i..i+7) */
                continue;
            }
            uint64_t target, va;
            /* LEA r64, [RIP + disp32]: REX.W (48/4C) 8D, ModRM mod=00 rm=101 */
            if (t[i + 1] == 0x8d && (t[i] & 0xfb) == 0x48 && (t[i + 2] & 0xc7) == 0x05) {
                int32_t d;
                memcpy(&d, t + i + 3, 4);
                target = base + i + 7 + (int64_t)d;
                va = base + i;
            } else if (abs32 && (t[i] & 0xf8) == 0xb8) { /* MOV r32, imm32 (B8+r, REX.B as 41) */
                uint32_t v;
                memcpy(&v, t + i + 1, 4);
                target = v;
                va = base + i - (i > 0 && t[i - 1] == 0x41);
            } else {
                continue;
            }
            if (target - lo <= hi - lo && hit(ctx, va, target)) return;
        }
    }
}

typedef struct sites_ctx {
    bfile *f;
    const source *src;
    int nsrc, n;
    site *sites;
} sites_ctx;

static int site_hit(void *ctx, uint64_t va, uint64_t target) {
    sites_ctx *c = ctx;
    if (refers(c->src, c->nsrc, target) && c->n < MAX_SITES && decode_site(c->f, va, &c->sites[c->n])) c->n++;
    return 0;
}

static int find_sites(bfile *f, const source *src, int nsrc, site *sites) {
    uint64_t lo = src[0].lo, hi = src[0].hi;
    for (int i = 1; i < nsrc; i++) {
        if (src[i].lo < lo) lo = src[i].lo;
        if (src[i].hi > hi) hi = src[i].hi;
    }
    sites_ctx c = { .f = f, .src = src, .nsrc = nsrc, .n = 0, .sites = sites };
    scan_loads(f, lo, hi, site_hit, &c);
    return c.n;
}

/* ---- 3. function entries ---- */

/* The first instruction of a function that calls others: push, sub rsp, or endbr64 then those. */
static int looks_like_entry(bfile *f, uint64_t va) {
    uint64_t avail;
    const uint8_t *code = code_at(f, va, &avail, NULL);
    if (!code) return 0;
    size_t left = avail < 32 ? avail : 32;
    uint64_t addr = va;
    for (int k = 0; k < 2 && cs_disasm_iter(f->cs, &code, &left, &addr, f->insn); k++) {
        cs_insn *in = f->insn;
        if (in->id == X86_INS_ENDBR64 && k == 0) continue;
        if (in->id == X86_INS_PUSH) return 1;
        cs_x86 *x = &in->detail->x86;
        if (in->id == X86_INS_SUB && x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
            x->operands[0].reg == X86_REG_RSP)
            return 1;
        return 0;
    }
    return 0;
}

/* Linear disassembly from `start` must land on `target`; collects the 16-byte aligned
 * addresses following a return, jump, trap, call or NOP padding on the way (where a function laid out
 * without padding could begin). 1 when it lands, 0 otherwise. */
static int reaches(bfile *f, uint64_t start, uint64_t target, uint64_t *splits, int *nsplits, int maxsplits) {
    uint64_t avail;
    const uint8_t *code = code_at(f, start, &avail, NULL);
    if (!code || target - start > avail) return 0;
    size_t left = (size_t)(target - start) + 16;
    uint64_t addr = start;
    int n = 0;
    while (addr < target && cs_disasm_iter(f->cs, &code, &left, &addr, f->insn)) {
        unsigned id = f->insn->id;
        if (id == X86_INS_INT3 || id == X86_INS_INVALID) return 0;
        if ((id == X86_INS_RET || id == X86_INS_JMP || id == X86_INS_UD2 || id == X86_INS_HLT || id == X86_INS_CALL ||
             id == X86_INS_NOP) &&
            (addr & 15) == 0 && addr < target && n < maxsplits)
            splits[n++] = addr;
    }
    if (addr != target) return 0;
    *nsplits = n;
    return 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Counts direct CALL rel32 / JMP rel32 instructions targeting each of the sorted addresses
 * (one pass over the executable bytes; a byte pattern, so an over-count is possible, never an
 * under-count). */
static void count_callers(bfile *f, const uint64_t *targets, uint32_t *counts, int n) {
    if (n == 0) return;
    uint64_t lo = targets[0], hi = targets[n - 1];
    for (int s = 0; s < f->ntext; s++) {
        const uint8_t *t = f->map + f->text[s].off;
        const uint64_t base = f->text[s].vaddr, size = f->text[s].size;
        for (uint64_t i = 0; i + 5 <= size; i++) {
            if ((i & 7) == 0 && i + 16 <= size && !any_byte(t + i, BYTES(0xfe), BYTES(0xe8))) {
                i += 7;
                continue;
            }
            if ((t[i] & 0xfe) != 0xe8) continue; /* E8 call, E9 jmp */
            int32_t d;
            memcpy(&d, t + i + 1, 4);
            uint64_t target = base + i + 5 + (int64_t)d;
            if (target < lo || target > hi) continue;
            int a = 0, b = n - 1;
            while (a <= b) {
                int m = (a + b) / 2;
                if (targets[m] == target) { counts[m]++; break; }
                if (targets[m] < target) a = m + 1; else b = m - 1;
            }
        }
    }
}

/* Padded start of the function holding `va`: the nearest 16-aligned address after int3 padding
 * that starts like a function and from which the disassembly reaches `va`. */
static uint64_t padded_start(bfile *f, uint64_t va, uint64_t *splits, int *nsplits, int maxsplits) {
    for (uint64_t p = va & ~15ull; p + MAX_BACK > va && p >= 16; p -= 16) {
        if (!is_padding(f, p - 1) || is_padding(f, p)) continue;
        if (looks_like_entry(f, p) && reaches(f, p, va, splits, nsplits, maxsplits)) return p;
    }
    return 0;
}

/* ---- 4. function bodies ---- */

typedef struct body {
    int calls_target;     /* a direct call to `target` */
    int heap_writes;      /* stores through a base other than RSP/RBP */
} body;

static void scan_body(bfile *f, uint64_t entry, uint64_t target, body *b) {
    memset(b, 0, sizeof *b);
    uint64_t avail;
    const uint8_t *code = code_at(f, entry, &avail, NULL);
    if (!code) return;
    size_t left = avail < MAX_BODY ? avail : MAX_BODY;
    uint64_t addr = entry;
    while (cs_disasm_iter(f->cs, &code, &left, &addr, f->insn)) {
        cs_insn *in = f->insn;
        if (in->id == X86_INS_INT3) {
            if ((addr & 15) == 0 || is_padding(f, addr)) break; /* padding up to the next function */
            continue;
        }
        cs_x86 *x = &in->detail->x86;
        if (in->id == X86_INS_CALL && x->op_count == 1 && x->operands[0].type == X86_OP_IMM &&
            (uint64_t)x->operands[0].imm == target)
            b->calls_target = 1;
        for (int i = 0; i < x->op_count; i++) {
            cs_x86_op *o = &x->operands[i];
            if (o->type != X86_OP_MEM || !(o->access & CS_AC_WRITE)) continue;
            if (o->mem.base == X86_REG_RSP || o->mem.base == X86_REG_RBP || o->mem.base == X86_REG_RIP ||
                o->mem.base == X86_REG_INVALID)
                continue;
            b->heap_writes++;
        }
    }
}

static int build_id(bfile *f, char *out, size_t outlen) {
    size_t n;
    out[0] = 0;
    if (elf_getphdrnum(f->elf, &n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_NOTE) continue;
        if (ph.p_offset > f->size || ph.p_filesz > f->size - ph.p_offset) continue;
        const uint8_t *p = f->map + ph.p_offset, *end = p + ph.p_filesz;
        while (p + 12 <= end) {
            uint32_t nsz, dsz, type;
            memcpy(&nsz, p, 4);
            memcpy(&dsz, p + 4, 4);
            memcpy(&type, p + 8, 4);
            const uint8_t *name = p + 12, *desc = name + ((nsz + 3) & ~3u);
            if (desc + dsz > end || desc < name) break;
            if (type == NT_GNU_BUILD_ID && nsz == 4 && memcmp(name, "GNU", 4) == 0) {
                size_t k = 0;
                for (uint32_t j = 0; j < dsz && k + 3 <= outlen; j++, k += 2) snprintf(out + k, 3, "%02x", desc[j]);
                return 0;
            }
            p = desc + ((dsz + 3) & ~3u);
        }
    }
    return -1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *reason_name(uint32_t r) {
    switch (r) {
    case B_SHOULD_NOT_HAVE_BEEN_CALLED: return "ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED";
    case B_BAD_LENGTH: return "SSL_R_BAD_LENGTH";
    case B_HANDSHAKE_FAILURE: return "SSL_R_SSL_HANDSHAKE_FAILURE";
    case B_UNINITIALIZED: return "SSL_R_UNINITIALIZED";
    default: return "";
    }
}

static uint32_t reason_bit(uint32_t r) {
    switch (r) {
    case B_SHOULD_NOT_HAVE_BEEN_CALLED: return 1;
    case B_BAD_LENGTH: return 2;
    case B_HANDSHAKE_FAILURE: return 4;
    case B_UNINITIALIZED: return 8;
    default: return 0;
    }
}

/* ---- static OpenSSL 3 without symbols ---- */

/* OpenSSL 3's include/openssl/err.h and sslerr.h (stable: part of its ABI). */
#define O_ERR_LIB_SSL 20
#define O_UNINITIALIZED 276         /* SSL_R_UNINITIALIZED */
#define O_UNSUPPORTED_WRITE_FLAG 412 /* SSL_R_UNSUPPORTED_WRITE_FLAG: ssl_write_internal's `flags`, 3.3+ */
#define O_MAX_REFS 64

/* Where a "name\0" string lies in the read-only data: at most `max` addresses. The name is put
 * together by the caller at run time (see find_sources). */
static int find_cstring(bfile *f, const char *name, uint64_t *at, int max) {
    size_t n, len = strlen(name) + 1; /* with its NUL */
    int found = 0;
    if (elf_getphdrnum(f->elf, &n) != 0) return 0;
    for (size_t i = 0; i < n && found < max; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_LOAD || (ph.p_flags & PF_X)) continue;
        if (ph.p_offset > f->size || ph.p_filesz > f->size - ph.p_offset) continue;
        const uint8_t *base = f->map + ph.p_offset, *end = base + ph.p_filesz, *p = base;
        while (found < max && (p = memmem(p, (size_t)(end - p), name, len)) != NULL) {
            at[found++] = ph.p_vaddr + (uint64_t)(p - base);
            p += len;
        }
    }
    return found;
}

/* One ERR_raise(ERR_LIB_SSL, reason) site of OpenSSL 3: the function's name loaded into RDX
 * (ERR_set_debug(file, line, func)), a call, then EDI = 20 and ESI = reason before the next call
 * (ERR_set_error(lib, reason, fmt)). The reason, or -1 when the code there is not that. */
static int64_t raise_site(bfile *f, uint64_t va) {
    uint64_t avail;
    const uint8_t *code = code_at(f, va, &avail, NULL);
    if (!code) return -1;
    size_t left = avail < 96 ? avail : 96;
    uint64_t addr = va;
    int calls = 0;
    int64_t lib = -1, reason = -1;
    for (int k = 0; k < 16 && calls < 2 && cs_disasm_iter(f->cs, &code, &left, &addr, f->insn); k++) {
        cs_insn *in = f->insn;
        cs_x86 *x = &in->detail->x86;
        if (k == 0) {
            if ((in->id != X86_INS_LEA && in->id != X86_INS_MOV) || x->op_count != 2 || x->operands[0].type != X86_OP_REG ||
                (x->operands[0].reg != X86_REG_RDX && x->operands[0].reg != X86_REG_EDX))
                return -1;
            continue;
        }
        if (in->id == X86_INS_CALL) { calls++; continue; }
        if (in->id == X86_INS_JMP || in->id == X86_INS_RET) return -1;
        if (calls != 1 || in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_REG ||
            x->operands[1].type != X86_OP_IMM)
            continue;
        if (x->operands[0].reg == X86_REG_EDI) lib = x->operands[1].imm;
        if (x->operands[0].reg == X86_REG_ESI) reason = x->operands[1].imm;
    }
    if (calls != 2 || lib != O_ERR_LIB_SSL || reason <= 0) return -1;
    return reason & 0x7fffff; /* ERR_RFLAGS above */
}

/* The loads of a set of addresses (each name's copies), by which name they load, up to
 * O_MAX_REFS a name; one pass over the code for all of them. */
typedef struct loads_ctx {
    const uint64_t *at;
    const int *name; /* at[k] is a copy of name[k] */
    int nat;
    uint64_t sites[2][O_MAX_REFS];
    int n[2];
} loads_ctx;

static int load_hit(void *ctx, uint64_t va, uint64_t target) {
    loads_ctx *c = ctx;
    for (int k = 0; k < c->nat; k++) {
        if (target != c->at[k]) continue;
        int w = c->name[k];
        if (c->n[w] < O_MAX_REFS) c->sites[w][c->n[w]] = va;
        c->n[w]++; /* counted past the cap: more loads than looked at */
        break;
    }
    return 0;
}

/* The start of the function whose code holds `va`, from the unwind tables every x86-64 ELF keeps
 * when stripped (.eh_frame_hdr's sorted table of FDE starts; the FDE itself through libdw): 0
 * when no FDE covers it, or the FDE there is not a function's entry (a hot/cold split part, whose
 * frame is already set up: its CFA is not RSP+8). */
static uint64_t function_start(bfile *f, Dwarf_CFI *cfi, uint64_t va) {
    size_t n;
    if (!cfi || elf_getphdrnum(f->elf, &n) != 0) return 0;
    Dwarf_Frame *fr = NULL;
    if (dwarf_cfi_addrframe(cfi, va, &fr) != 0) return 0; /* no FDE covers it */
    free(fr);
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_GNU_EH_FRAME) continue;
        if (ph.p_offset > f->size || ph.p_filesz > f->size - ph.p_offset || ph.p_filesz < 12) return 0;
        const uint8_t *h = f->map + ph.p_offset;
        /* version 1, the pointer to .eh_frame pcrel sdata4, the count udata4, the table datarel
         * sdata4: what GNU ld, gold and lld write (anything else is not read) */
        if (h[0] != 1 || h[1] != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) || h[2] != DW_EH_PE_udata4 ||
            h[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
            return 0;
        size_t at = 8; /* after the 4 bytes of the pointer */
        uint32_t count;
        memcpy(&count, h + at, 4);
        at += 4;
        if (count == 0 || (uint64_t)count * 8 > ph.p_filesz - at) return 0;
        const uint8_t *tab = h + at;
        /* the greatest FDE start at or below va (entries sorted by start) */
        int64_t lo = 0, hi = (int64_t)count - 1, best = -1;
        while (lo <= hi) {
            int64_t mid = (lo + hi) / 2;
            int32_t rel;
            memcpy(&rel, tab + mid * 8, 4);
            uint64_t start = ph.p_vaddr + (int64_t)rel;
            if (start <= va) { best = (int64_t)start; lo = mid + 1; } else hi = mid - 1;
        }
        if (best < 0) return 0;
        uint64_t start = (uint64_t)best;
        Dwarf_Op *ops;
        size_t nops;
        if (dwarf_cfi_addrframe(cfi, start, &fr) != 0) return 0;
        int entry = dwarf_frame_cfa(fr, &ops, &nops) == 0 && nops == 1 && ops[0].atom == DW_OP_bregx && ops[0].number == 7 /* RSP */ &&
                    ops[0].number2 == 8;
        free(fr);
        return entry ? start : 0;
    }
    return 0;
}

/* ssl_write_internal and ssl_read_internal of a static OpenSSL 3 whose symbols are gone. Every
 * ERR_raise passes __func__ (OPENSSL_FUNC) to ERR_set_debug, so the functions' own names are
 * strings, loaded by their own error paths only: the one function holding every such load of
 * "ssl_write_internal" (and reporting SSL_R_UNINITIALIZED, as its source does) is it. Its entry
 * comes from the unwind tables (no padding or prologue heuristics: GCC's layout has neither).
 * ssl_read_internal has SSL_read_ex's signature; ssl_write_internal SSL_write_ex's, with a
 * `flags` argument before `written` since 3.3 (when it reports SSL_R_UNSUPPORTED_WRITE_FLAG). */
static int inspect_openssl(bfile *f, const char *path, oisp_boringssl_info *out, char *err, size_t errlen) {
    char names[2][24];
    snprintf(names[0], sizeof names[0], "ssl_%s_internal", "write");
    snprintf(names[1], sizeof names[1], "ssl_%s_internal", "read");
    out->library = OISP_TLS_LIBRARY_OPENSSL;
    snprintf(out->source, sizeof out->source, "ssl/ssl_lib.c");
    Elf *elf = f->elf;
    Dwarf_CFI *cfi = dwarf_getcfi_elf(elf);
    int rc = OISP_BORINGSSL_OK;
    uint64_t entries[2] = { 0, 0 };
    /* where each name lies (a copy or two), then every load of any of them in one pass */
    uint64_t at[8];
    int name[8], nat = 0;
    for (int k = 0; k < 2 && rc == OISP_BORINGSSL_OK; k++) {
        int found = find_cstring(f, names[k], at + nat, 4);
        if (found == 0)
            rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_STATIC_OPENSSL,
                             "%s: static OpenSSL without symbols (ssl/ssl_lib.c linked in, no SSL_write/SSL_read in the symbol table), "
                             "and no \"%s\" error-location name (OpenSSL before 3.0 or built without them, or a BoringSSL from before 2017): not probed",
                             path, names[k]);
        for (int j = 0; j < found; j++) name[nat + j] = k;
        nat += found;
    }
    loads_ctx *loads = rc == OISP_BORINGSSL_OK ? calloc(1, sizeof *loads) : NULL;
    if (rc == OISP_BORINGSSL_OK && !loads) rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_IO, "out of memory");
    if (loads) {
        uint64_t lo = at[0], hi = at[0];
        for (int i = 1; i < nat; i++) {
            if (at[i] < lo) lo = at[i];
            if (at[i] > hi) hi = at[i];
        }
        loads->at = at;
        loads->name = name;
        loads->nat = nat;
        scan_loads(f, lo, hi, load_hit, loads);
    }
    for (int k = 0; k < 2 && rc == OISP_BORINGSSL_OK; k++) {
        const uint64_t *sites = loads->sites[k];
        int nsites = loads->n[k] < O_MAX_REFS ? loads->n[k] : O_MAX_REFS;
        uint64_t start = 0;
        int raises = 0, uninit = 0, flags = 0, elsewhere = 0;
        /* every load of the name counts for the one-function rule (a copy inlined into a
         * caller, or a clone with other arguments, makes it ambiguous); the raise sites among
         * them give the reasons */
        for (int i = 0; i < nsites; i++) {
            uint64_t s = function_start(f, cfi, sites[i]);
            if (s == 0 || (start && s != start)) { elsewhere++; continue; }
            start = s;
            int64_t reason = raise_site(f, sites[i]);
            if (reason < 0) continue;
            raises++;
            uninit |= reason == O_UNINITIALIZED;
            flags |= reason == O_UNSUPPORTED_WRITE_FLAG;
        }
        if (loads->n[k] > O_MAX_REFS) elsewhere++; /* more loads than looked at */
        out->sites += (uint32_t)raises;
        if (raises == 0 || start == 0 || elsewhere || !uninit) {
            rc = oisp_errorf(err, errlen, elsewhere ? OISP_BORINGSSL_ERR_AMBIGUOUS : OISP_BORINGSSL_ERR_NOT_FOUND,
                             "%s: static OpenSSL without symbols: %s not found by its error reports (%d ERR_raise sites name it, "
                             "%d outside one function entry in the unwind tables, SSL_R_UNINITIALIZED %s): not probed",
                             path, names[k], raises, elsewhere, uninit ? "reported" : "not reported");
            break;
        }
        entries[k] = start;
        if (k == 0) out->write_args = flags ? 5 : 4;
    }
    if (cfi) dwarf_cfi_end(cfi);
    free(loads);
    if (rc != OISP_BORINGSSL_OK) return rc;
    out->functions = 2;
    /* each must be an entry something calls (SSL_write, SSL_read_ex, …) */
    uint64_t sorted[2] = { entries[0] < entries[1] ? entries[0] : entries[1], entries[0] < entries[1] ? entries[1] : entries[0] };
    uint32_t counts[2] = { 0, 0 };
    if (sorted[0] == sorted[1])
        return oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_AMBIGUOUS, "%s: %s and %s found in one function: not probed", path, names[0], names[1]);
    count_callers(f, sorted, counts, 2);
    for (int k = 0; k < 2; k++) {
        oisp_boringssl_func *o = k == 0 ? &out->write : &out->read;
        uint64_t off;
        uint32_t callers = counts[entries[k] == sorted[0] ? 0 : 1];
        /* SSL_write and SSL_write_ex (SSL_read and SSL_read_ex) both call it: fewer direct
         * callers means it was inlined somewhere, and the copy found may not be the one used */
        if (callers < 2 || !code_at(f, entries[k], NULL, &off))
            return oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_ENTRY, "%s: %s candidate at 0x%llx has %u direct callers (SSL_%s and SSL_%s_ex call it)",
                               path, names[k], (unsigned long long)entries[k], callers, k == 0 ? "write" : "read", k == 0 ? "write" : "read");
        o->vaddr = entries[k];
        o->entry = off;
        o->callers = callers;
    }
    return OISP_BORINGSSL_OK;
}

static int inspect(bfile *f, const char *path, oisp_boringssl_info *out, char *err, size_t errlen) {
    source src[MAX_SOURCES];
    int openssl = 0;
    int nsrc = find_sources(f, src, out, &openssl);
    if (nsrc == 0) {
        /* called for executables without SSL_write in their symbols: OpenSSL's libssl linked in
         * and stripped is named, not left unseen */
        if (openssl) return inspect_openssl(f, path, out, err, errlen);
        return oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_NO_BORINGSSL, "%s: no BoringSSL (no ssl_lib.cc error-location string)", path);
    }

    site *sites = calloc(MAX_SITES, sizeof *sites);
    func *funcs = calloc(MAX_SITES, sizeof *funcs);
    const int maxsplits = 64;
    uint64_t *cands = calloc((size_t)MAX_SITES * (maxsplits + 1), sizeof *cands);
    uint32_t *counts = NULL;
    int rc = OISP_BORINGSSL_OK;
    if (!sites || !funcs || !cands) { rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_IO, "out of memory"); goto out; }

    int nsites = find_sites(f, src, nsrc, sites);
    out->sites = (uint32_t)nsites;
    if (nsites == 0) {
        rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_NO_SITES, "%s: \"%s\" present but no ERR_put_error(ERR_LIB_SSL, …) site loads it",
                  path, out->source);
        goto out;
    }

    /* Entries of the functions that can matter: those holding the four reasons. */
    uint64_t *pad = calloc((size_t)nsites, sizeof *pad);
    int *nspl = calloc((size_t)nsites, sizeof *nspl);
    if (!pad || !nspl) { free(pad); free(nspl); rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_IO, "out of memory"); goto out; }
    int ncand = 0;
    for (int i = 0; i < nsites; i++) {
        if (!reason_bit(sites[i].reason)) continue;
        uint64_t *spl = cands + (size_t)ncand + 1;
        pad[i] = padded_start(f, sites[i].va, spl, &nspl[i], maxsplits);
        if (!pad[i]) continue;
        cands[ncand] = pad[i];
        ncand += 1 + nspl[i];
    }
    /* One pass over the code: which candidate entries are called directly. */
    uint64_t *sorted = malloc((size_t)(ncand ? ncand : 1) * sizeof *sorted);
    counts = calloc((size_t)(ncand ? ncand : 1), sizeof *counts);
    if (!sorted || !counts) { free(pad); free(nspl); free(sorted); rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_IO, "out of memory"); goto out; }
    memcpy(sorted, cands, (size_t)ncand * sizeof *sorted);
    qsort(sorted, (size_t)ncand, sizeof *sorted, cmp_u64);
    int nu = 0;
    for (int i = 0; i < ncand; i++)
        if (nu == 0 || sorted[nu - 1] != sorted[i]) sorted[nu++] = sorted[i];
    count_callers(f, sorted, counts, nu);

    /* Each site's function: the last called split point before it, else the padded start. */
    int nfuncs = 0;
    ncand = 0;
    for (int i = 0; i < nsites; i++) {
        if (!reason_bit(sites[i].reason) || !pad[i]) continue;
        uint64_t entry = pad[i];
        uint64_t *spl = cands + (size_t)ncand + 1;
        for (int k = 0; k < nspl[i]; k++) {
            uint64_t *hit = bsearch(&spl[k], sorted, (size_t)nu, sizeof *sorted, cmp_u64);
            if (hit && counts[hit - sorted] > 0 && looks_like_entry(f, spl[k])) entry = spl[k];
        }
        ncand += 1 + nspl[i];
        uint64_t *hit = bsearch(&entry, sorted, (size_t)nu, sizeof *sorted, cmp_u64);
        uint32_t callers = hit ? counts[hit - sorted] : 0;
        int fi;
        for (fi = 0; fi < nfuncs && funcs[fi].entry != entry; fi++) {}
        if (fi == nfuncs) { funcs[nfuncs].entry = entry; funcs[nfuncs].callers = callers; nfuncs++; }
        sites[i].fn = fi;
        funcs[fi].has |= reason_bit(sites[i].reason);
        if (sites[i].reason == B_SHOULD_NOT_HAVE_BEEN_CALLED && !funcs[fi].line66) funcs[fi].line66 = sites[i].line;
        if (sites[i].reason == B_UNINITIALIZED && !funcs[fi].line226) funcs[fi].line226 = sites[i].line;
    }
    free(pad);
    free(nspl);
    free(sorted);
    out->functions = (uint32_t)nfuncs;

    /* SSL_write: UNINITIALIZED + HANDSHAKE_FAILURE + BAD_LENGTH. ssl_read_impl: the first two only. */
    int w = -1, nw = 0, r = -1, nr = 0;
    for (int i = 0; i < nfuncs; i++) {
        if ((funcs[i].has & 14) == 14) { w = i; nw++; }
        if ((funcs[i].has & 14) == 12) { r = i; nr++; }
    }
    if (nw != 1) {
        rc = oisp_errorf(err, errlen, nw ? OISP_BORINGSSL_ERR_AMBIGUOUS : OISP_BORINGSSL_ERR_NOT_FOUND,
                  "%s: BoringSSL (%s) but %d functions report %s, %s and %s (SSL_write needs exactly one)", path, out->source,
                  nw, reason_name(B_UNINITIALIZED), reason_name(B_HANDSHAKE_FAILURE), reason_name(B_BAD_LENGTH));
        goto out;
    }
    if (nr != 1) {
        rc = oisp_errorf(err, errlen, nr ? OISP_BORINGSSL_ERR_AMBIGUOUS : OISP_BORINGSSL_ERR_NOT_FOUND,
                  "%s: BoringSSL (%s) but %d functions look like ssl_read_impl (%s and %s, no %s)", path, out->source, nr,
                  reason_name(B_UNINITIALIZED), reason_name(B_HANDSHAKE_FAILURE), reason_name(B_BAD_LENGTH));
        goto out;
    }
    /* SSL_peek's body: the QUIC check (66), no UNINITIALIZED of its own, a direct call to
     * ssl_read_impl. SSL_read is the copy that also consumes the data (writes the SSL state). */
    int peeks = 0, rd = -1, nrd = 0;
    for (int i = 0; i < nfuncs; i++) {
        if ((funcs[i].has & 1) == 0 || (funcs[i].has & 8) || i == w) continue;
        body b;
        scan_body(f, funcs[i].entry, funcs[r].entry, &b);
        if (!b.calls_target) continue;
        peeks++;
        if (b.heap_writes > 0) { rd = i; nrd++; }
    }
    out->peek_copies = (uint32_t)peeks;
    if (peeks == 0 || peeks > 2 || nrd != 1) {
        rc = oisp_errorf(err, errlen, peeks > 2 || nrd > 1 ? OISP_BORINGSSL_ERR_AMBIGUOUS : OISP_BORINGSSL_ERR_NOT_FOUND,
                  "%s: BoringSSL (%s): %d functions with SSL_peek's body, %d of them consuming data (SSL_read needs exactly "
                  "one; SSL_read calling a separate SSL_peek is not supported)",
                  path, out->source, peeks, nrd);
        goto out;
    }
    if (rd == w || funcs[rd].line66 >= funcs[w].line226) {
        rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_AMBIGUOUS, "%s: SSL_read candidate (line %u) does not precede SSL_write (line %u)",
                  path, funcs[rd].line66, funcs[w].line226);
        goto out;
    }
    const struct { int fi; oisp_boringssl_func *o; const char *name; uint32_t line; } pick[2] = {
        { w, &out->write, "SSL_write", funcs[w].line226 },
        { rd, &out->read, "SSL_read", funcs[rd].line66 },
    };
    for (int k = 0; k < 2; k++) {
        const func *fn = &funcs[pick[k].fi];
        uint64_t off;
        if (fn->callers == 0 || !looks_like_entry(f, fn->entry) || !code_at(f, fn->entry, NULL, &off)) {
            rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_ENTRY, "%s: %s candidate at 0x%llx is not a called function entry (%u callers)",
                      path, pick[k].name, (unsigned long long)fn->entry, fn->callers);
            goto out;
        }
        pick[k].o->vaddr = fn->entry;
        pick[k].o->entry = off;
        pick[k].o->line = pick[k].line;
        pick[k].o->callers = fn->callers;
    }
out:
    free(sites);
    free(funcs);
    free(cands);
    free(counts);
    return rc;
}

int oisp_boringssl_inspect(const char *path, oisp_boringssl_info *out, char *err, size_t errlen) {
    double t0 = now_ms();
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    bfile f = { 0 };
    void *m = NULL;
    char why[128] = "";
    int mr = oisp_map_file(path, &m, &f.size, why, sizeof why);
    if (mr == -2) return oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_NOT_ELF, "%s: not a regular ELF file", path);
    if (mr != 0) return oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_IO, "%s: %s", path, why);
    f.map = m;
    int rc;
    GElf_Ehdr eh;
    size_t nph = 0;
    elf_version(EV_CURRENT);
    f.elf = elf_memory((char *)m, f.size);
    if (!f.elf || elf_kind(f.elf) != ELF_K_ELF || !gelf_getehdr(f.elf, &eh) || elf_getphdrnum(f.elf, &nph) != 0) {
        rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_NOT_ELF, "%s: not an ELF file", path);
        goto done;
    }
    if (eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_ARCH, "%s: ELF machine %u; only x86_64 is supported", path, eh.e_machine);
        goto done;
    }
    for (size_t i = 0; i < nph && f.ntext < MAX_SEGS; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(f.elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
        if (ph.p_offset > f.size || ph.p_filesz > f.size - ph.p_offset) continue;
        f.text[f.ntext++] = (seg){ .vaddr = ph.p_vaddr, .off = ph.p_offset, .size = ph.p_filesz };
        out->text_bytes += ph.p_filesz;
        madvise((void *)((uintptr_t)(f.map + ph.p_offset) & ~(uintptr_t)4095), ph.p_filesz + 4096, MADV_SEQUENTIAL);
    }
    build_id(&f, out->build_id, sizeof out->build_id);
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &f.cs) != CS_ERR_OK) {
        rc = oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_DISASM, "capstone: cannot open an x86-64 disassembler");
        goto done;
    }
    cs_option(f.cs, CS_OPT_DETAIL, CS_OPT_ON);
    f.insn = cs_malloc(f.cs);
    rc = f.insn ? inspect(&f, path, out, err, errlen)
                : oisp_errorf(err, errlen, OISP_BORINGSSL_ERR_DISASM, "capstone: out of memory");
    if (f.insn) cs_free(f.insn, 1);
    cs_close(&f.cs);
done:
    if (f.elf) elf_end(f.elf);
    munmap(m, f.size);
    out->elapsed_ms = now_ms() - t0;
    return rc;
}

int oisp_boringssl_build_id(const char *path, char *out, size_t outlen) {
    if (!out || outlen < 3) return -1;
    out[0] = 0;
    bfile f = { 0 };
    void *m = NULL;
    char why[128];
    if (oisp_map_file(path, &m, &f.size, why, sizeof why) != 0) return -1;
    f.map = m;
    elf_version(EV_CURRENT);
    f.elf = elf_memory((char *)m, f.size);
    int rc = (f.elf && elf_kind(f.elf) == ELF_K_ELF) ? build_id(&f, out, outlen) : -1;
    if (f.elf) elf_end(f.elf);
    munmap(m, f.size);
    return rc;
}
