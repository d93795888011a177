/* Go crypto/tls discovery: finds where to put uprobes in a Go executable so the BPF programs in
 * bpf/gotls.bpf.h see the plaintext of crypto/tls.(*Conn).Write and (*Conn).Read.
 *
 * Go moves goroutine stacks, so uretprobes (which rewrite the return address on the stack) are
 * not usable; instead a uprobe goes on the function entry and one on every RET instruction of
 * the function, found by disassembling it (capstone). Functions are located through the ELF
 * symbol table, or, in stripped binaries (-ldflags='-s -w'), through Go's own pclntab.
 * amd64 with Go's register ABI (Go 1.17+) only. */
#ifndef OISP_GOTLS_H
#define OISP_GOTLS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OISP_GOTLS_MAX_RETS 64

/* oisp_gotls_inspect's return value: 0, or one of these (negative). */
enum oisp_gotls_status {
    OISP_GOTLS_OK = 0,
    OISP_GOTLS_ERR_IO = -1,          /* cannot open/read the file */
    OISP_GOTLS_ERR_NOT_ELF = -2,
    OISP_GOTLS_ERR_NOT_GO = -3,      /* no Go build info and no pclntab */
    OISP_GOTLS_ERR_ARCH = -4,        /* Go, but not x86_64 */
    OISP_GOTLS_ERR_TOO_OLD = -5,     /* Go < 1.17 (stack-based calling convention) or version unknown */
    OISP_GOTLS_ERR_NO_SYMBOLS = -6,  /* no symbol table and no usable pclntab */
    OISP_GOTLS_ERR_NO_TLS = -7,      /* a Go program that does not link crypto/tls's Conn.Read/Write */
    OISP_GOTLS_ERR_FORMAT = -8,      /* malformed pclntab/build info, or code outside the file */
    OISP_GOTLS_ERR_DISASM = -9,      /* capstone failed, no RET found, or too many RETs */
};

typedef struct oisp_gotls_func {
    uint64_t vaddr;      /* link-time virtual address of the entry */
    uint64_t size;       /* bytes disassembled (symbol size, or up to the next function) */
    uint64_t entry;      /* file offset of the entry: what a uprobe needs */
    uint32_t nrets;
    uint32_t pad;
    uint64_t rets[OISP_GOTLS_MAX_RETS]; /* file offsets of every RET in the function */
} oisp_gotls_func;

typedef struct oisp_gotls_info {
    int is_go;             /* 1 when the file is a Go executable (even if the result is an error) */
    int go_major, go_minor;/* from the version string; 0 when unknown */
    char go_version[48];   /* "go1.19.8" from .go.buildinfo, "" when absent */
    char found_via[8];     /* "symtab" or "pclntab" */
    oisp_gotls_func write; /* crypto/tls.(*Conn).Write */
    oisp_gotls_func read;  /* crypto/tls.(*Conn).Read */
    uint64_t close_entry;  /* file offset of crypto/tls.(*Conn).Close (entry only), 0 when not found */
} oisp_gotls_info;

/** Inspects an executable. Returns OISP_GOTLS_OK with `out` filled, or a negative
 *  oisp_gotls_status with a readable reason in err (out->is_go / go_version are still set
 *  when known). */
int oisp_gotls_inspect(const char *path, oisp_gotls_info *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
