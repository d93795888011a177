/* BoringSSL discovery in stripped executables: finds the entries of SSL_write and SSL_read in a
 * program that links BoringSSL (or AWS-LC) statically and has no symbols for them — Chromium,
 * Bun, Electron apps — so uprobes can be put at their file offsets.
 *
 * BoringSSL reports errors with OPENSSL_PUT_ERROR(SSL, reason), which passes the source file's
 * name and line to ERR_put_error(ERR_LIB_SSL, 0, reason, __FILE__, __LINE__). Every error path of
 * ssl/ssl_lib.cc therefore loads the address of one string ("…/ssl/ssl_lib.cc") next to
 * immediates for the library (16), the reason code and the line. The inspection:
 *
 *   1. finds that string in the file's read-only data (no string: not BoringSSL);
 *   2. scans the executable segments for instructions that load its address (RIP-relative LEA,
 *      or MOV r32, imm32 in non-PIE files) with a byte-level filter, then decodes each hit with
 *      capstone and keeps it only when it is an ERR_put_error call site: EDI = 16 (ERR_LIB_SSL),
 *      EDX = reason, R8D = line;
 *   3. finds the function holding each call site: the nearest 16-byte aligned address before it
 *      that follows int3 padding, from which a linear disassembly reaches the site exactly, moved
 *      forward to any direct call target on an instruction boundary after a return or jump in
 *      between (a function laid out without padding); the entry must be the target of at least
 *      one direct CALL/JMP in the file and start like a function (push, sub rsp or endbr64);
 *   4. identifies the functions by what BoringSSL's source says they report:
 *        SSL_write  — the one function reporting SSL_R_UNINITIALIZED, SSL_R_SSL_HANDSHAKE_FAILURE
 *                     and SSL_R_BAD_LENGTH (SSL_write alone checks num < 0);
 *        ssl_read_impl — reports SSL_R_UNINITIALIZED and SSL_R_SSL_HANDSHAKE_FAILURE, not BAD_LENGTH;
 *        SSL_peek / SSL_read — report ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED (the QUIC check of
 *                     SSL_peek) and call ssl_read_impl directly, without reporting UNINITIALIZED
 *                     themselves. The compiler inlines SSL_peek into SSL_read, so one or two
 *                     such functions exist; SSL_read is the one that writes to memory other than
 *                     its stack (it consumes ssl->s3->pending_app_data, SSL_peek only copies).
 *   5. cross-checks: exactly one SSL_write and one SSL_read, distinct, SSL_peek's line before
 *      SSL_write's (source order of ssl_lib.cc).
 * Anything else is an error with the reason; no offset is ever guessed.
 *
 * A static OpenSSL 3 without symbols (found by its "ssl/ssl_lib.c" string) is searched for too:
 * OpenSSL 3's ERR_raise passes the function's own name (__func__) to ERR_set_debug, so the loads
 * of "ssl_write_internal" and "ssl_read_internal" that are ERR_raise(ERR_LIB_SSL, …) sites (EDX =
 * the name, then EDI = 20, ESI = reason) lie in those functions alone; each must sit in one FDE of
 * the unwind tables whose start is a function entry (CFA = RSP+8, not a cold part), report
 * SSL_R_UNINITIALIZED, and be called directly. They take SSL_read_ex's and SSL_write_ex's
 * arguments (ssl_write_internal gained `flags` before `written` in 3.3, when it began reporting
 * SSL_R_UNSUPPORTED_WRITE_FLAG: write_args says 4 or 5). OpenSSL 1.1 (no function names) is
 * reported, not searched.
 *
 * Supported: x86-64 ELF, BoringSSL since ssl_read_impl/SSL_peek (2017) built with error file
 * names (the default), functions aligned to 16 with int3 padding (clang + lld, as Chromium, Bun,
 * Electron and Node-less Rust/C++ programs are built). */
#ifndef OISP_BORINGSSL_H
#define OISP_BORINGSSL_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* oisp_boringssl_inspect's return value: 0, or one of these (negative). */
enum oisp_boringssl_status {
    OISP_BORINGSSL_OK = 0,
    OISP_BORINGSSL_ERR_IO = -1,           /* cannot open/read the file */
    OISP_BORINGSSL_ERR_NOT_ELF = -2,
    OISP_BORINGSSL_ERR_ARCH = -3,         /* not x86-64 little-endian ELF64 */
    OISP_BORINGSSL_ERR_NO_BORINGSSL = -4, /* no ssl/ssl_lib.cc string: BoringSSL not linked in */
    OISP_BORINGSSL_ERR_NO_SITES = -5,     /* the string, but no ERR_put_error site loading it */
    OISP_BORINGSSL_ERR_NOT_FOUND = -6,    /* SSL_write or SSL_read has no matching function */
    OISP_BORINGSSL_ERR_AMBIGUOUS = -7,    /* more than one function matches */
    OISP_BORINGSSL_ERR_ENTRY = -8,        /* a function's entry failed validation */
    OISP_BORINGSSL_ERR_DISASM = -9,       /* capstone unavailable or failed */
    OISP_BORINGSSL_ERR_STATIC_OPENSSL = -10, /* no BoringSSL, but a static OpenSSL libssl (ssl/ssl_lib.c) without symbols */
};

/* oisp_boringssl_info.library */
enum oisp_tls_library {
    OISP_TLS_LIBRARY_BORINGSSL = 0,
    OISP_TLS_LIBRARY_OPENSSL = 1, /* write/read are ssl_write_internal/ssl_read_internal */
};

typedef struct oisp_boringssl_func {
    uint64_t vaddr;   /* link-time virtual address of the entry */
    uint64_t entry;   /* file offset of the entry: what a uprobe needs */
    uint32_t line;    /* __LINE__ of the ERR_put_error site that identified it */
    uint32_t callers; /* direct CALL/JMP instructions targeting the entry */
} oisp_boringssl_func;

typedef struct oisp_boringssl_info {
    char source[128];        /* the error-location string found, e.g. "../../third_party/boringssl/src/ssl/ssl_lib.cc" */
    uint64_t source_vaddr;
    char build_id[41];       /* hex GNU build id ("" when absent): a cache key with the file's identity */
    uint32_t sites;          /* ERR_put_error sites of ssl_lib.cc found */
    uint32_t functions;      /* distinct functions holding them */
    uint32_t peek_copies;    /* functions with SSL_peek's body (1: inlined into SSL_read only; 2: SSL_read + SSL_peek) */
    oisp_boringssl_func write; /* SSL_write */
    oisp_boringssl_func read;  /* SSL_read */
    uint64_t text_bytes;     /* executable bytes scanned */
    double elapsed_ms;       /* time the inspection took */
    uint32_t library;        /* enum oisp_tls_library */
    uint32_t write_args;     /* OpenSSL: ssl_write_internal's arguments, 4 (written 4th) or 5 (3.3+: flags, written) */
} oisp_boringssl_info;

/** Inspects an executable or shared object. Returns OISP_BORINGSSL_OK with `out` filled, or a
 *  negative oisp_boringssl_status with a readable reason in err (out->source is set when the
 *  BoringSSL string was found). Reads the file only (mmap); the result depends on the file's
 *  bytes alone, so it can be cached per file identity (dev:inode:mtime, or build id). */
int oisp_boringssl_inspect(const char *path, oisp_boringssl_info *out, char *err, size_t errlen);

/** The file's hex GNU build id (0), or -1 when it has none: read from its notes alone, so a copy
 *  of a binary already inspected (another path, another container's layer) needs no search. */
int oisp_boringssl_build_id(const char *path, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
