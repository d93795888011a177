/* rustls discovery: finds where to put uprobes in a Rust executable so the BPF programs in
 * bpf/rustls.bpf.h see the plaintext of rustls's Writer::write and Reader::read.
 *
 * rustls is compiled into each program, with Rust-mangled names and no stable ABI, so this works
 * only where the program kept its symbol table and the two functions were not inlined away:
 *   _ZN…rustls..conn..…Writer$u20$as$u20$std..io..Write$GT$5write17h…E
 *   _ZN…rustls..conn..…Reader$u20$as$u20$std..io..Read$GT$4read17h…E
 * and Writer::write_vectored (…Write$GT$14write_vectored…) where the program uses it
 * (the legacy mangling rustc uses by default; several copies — two rustls versions in one
 * program — are all probed). A stripped program, or one whose LTO inlined both functions, is
 * reported as not covered, never probed at a guess.
 *
 * How the io::Result<usize> returns is read from the code (capstone): the first load through
 * `self` (`mov reg, [rdi]` or `mov reg, [rsi]`) says whether self is the first argument (result
 * in rax:rdx) or the second (the first is the caller's result slot). Every function found must
 * agree. amd64 only. */
#ifndef OISP_RUSTLS_H
#define OISP_RUSTLS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OISP_RUSTLS_MAX 4

enum oisp_rustls_status {
    OISP_RUSTLS_OK = 0,
    OISP_RUSTLS_ERR_IO = -1,         /* cannot open/read the file */
    OISP_RUSTLS_ERR_NOT_ELF = -2,
    OISP_RUSTLS_ERR_NO_RUSTLS = -3,  /* no rustls in this file */
    OISP_RUSTLS_ERR_NO_SYMBOLS = -4, /* rustls, but Writer::write / Reader::read not in a symbol table */
    OISP_RUSTLS_ERR_ABI = -5,        /* the calling convention could not be told for certain */
    OISP_RUSTLS_ERR_ARCH = -6,       /* not x86_64 */
};

enum oisp_rustls_abi {
    OISP_RUSTLS_ABI_REGISTERS = 0, /* self, buf, len in rdi, rsi, rdx; io::Result in rax:rdx */
    OISP_RUSTLS_ABI_SRET = 1,      /* result slot in rdi, then self, buf, len */
};

typedef struct oisp_rustls_info {
    uint32_t nwrite, nread, nwritev, pad0;
    uint64_t write[OISP_RUSTLS_MAX];  /* file offsets of Writer::write entries */
    uint64_t read[OISP_RUSTLS_MAX];   /* file offsets of Reader::read entries */
    uint64_t writev[OISP_RUSTLS_MAX]; /* Writer::write_vectored, where the program uses it */
    uint32_t abi;                    /* enum oisp_rustls_abi */
    uint32_t pad;
    char compiler[64];               /* "rustc version …" from .comment, when present */
} oisp_rustls_info;

/** Inspects an executable; OISP_RUSTLS_OK with `out` filled, or a status with the reason in err. */
int oisp_rustls_inspect(const char *path, oisp_rustls_info *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
