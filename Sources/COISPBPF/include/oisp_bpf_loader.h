/* User-space side of the BPF programs in bpf/oisp.bpf.c: open → configure → load → attach →
 * poll → close, with one cleanup path (libbpf-bootstrap's lifecycle). */
#ifndef OISP_BPF_LOADER_H
#define OISP_BPF_LOADER_H
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
/* The record layouts shared with the kernel side (bpf/oisp.h). */
#include "../../../bpf/oisp.h"
#include "oisp_gotls.h"
#include "oisp_elfscan.h"
#include "oisp_boringssl.h"
#include "oisp_execgate.h"
#include "oisp_rustls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oisp_bpf oisp_bpf;

typedef struct oisp_bpf_options {
    uint32_t max_capture_bytes;
    uint32_t target_pid;
    uint32_t capture_ssl;
    uint32_t capture_process;
    uint32_t capture_network;
    uint32_t wakeup_bytes;
    uint32_t ring_bytes;      /* ring buffer size, power of two; 0 = 16 MiB */
    uint32_t noop_ssl_probes; /* attach programs that return at once (benchmark baseline) */
    uint32_t capture_plain;   /* plain HTTP on plain_ports (socket syscalls) */
    uint32_t nplain_ports;
    uint16_t plain_ports[32];
} oisp_bpf_options;

/* What a library or executable is probed as: which functions, with which programs. */
typedef enum oisp_tls_lib {
    OISP_LIB_OPENSSL = 0, /* SSL_write/SSL_read/_ex (libssl, static OpenSSL/BoringSSL with symbols) */
    OISP_LIB_GNUTLS = 1,  /* gnutls_record_send/recv (libgnutls) */
    OISP_LIB_NSS = 2,     /* PR_Write/PR_Read/PR_Send/PR_Recv on SSL-layered fds (libnspr4) */
} oisp_tls_lib;

/** Makes sure tracefs is mounted at /sys/kernel/tracing. Returns 0 or -errno. */
int oisp_bpf_ensure_tracefs(char *err, size_t errlen);

/** Opens and loads the BPF object file. NULL on error, with the reason in err. */
oisp_bpf *oisp_bpf_open(const char *object_path, const oisp_bpf_options *opts, char *err, size_t errlen);

/** Attaches the tracepoints the options ask for: exec/exit (process), connect/accept (network
 *  or plain), the socket data syscalls and close (plain). A program the kernel rejected is
 *  skipped (see oisp_bpf_program_*). Returns how many were attached, or -errno. */
int oisp_bpf_attach_tracepoints(oisp_bpf *b, char *err, size_t errlen);

/** Programs in the object: how many, each one's name, whether the kernel took it, and if not,
 *  why (the verifier's last lines, or libbpf's message). */
int oisp_bpf_program_count(const oisp_bpf *b);
const char *oisp_bpf_program_name(const oisp_bpf *b, int i);
int oisp_bpf_program_loaded(const oisp_bpf *b, int i);
const char *oisp_bpf_program_reason(const oisp_bpf *b, int i);

/** Attaches the probes of `lib` in a library or executable (all processes mapping it).
 *  Returns how many functions were found and attached (0 when the file has none), or -errno. */
int oisp_bpf_attach_lib(oisp_bpf *b, const char *path, oisp_tls_lib lib, char *err, size_t errlen);

/** Links attached from now on belong to `owner` (0 by default): a file's probes, detached
 *  together by oisp_bpf_detach_owner when the file is rewritten in place. */
void oisp_bpf_set_owner(oisp_bpf *b, uint64_t owner);
/** Detaches every link of `owner`; returns how many. */
size_t oisp_bpf_detach_owner(oisp_bpf *b, uint64_t owner);

/** Adds a plain-HTTP connection opened before the sensor started (pid, fd). 0 or -errno. */
int oisp_bpf_plain_add(oisp_bpf *b, uint32_t pid, int32_t fd);

/** Attaches uprobe+uretprobe on SSL_write, SSL_read, SSL_write_ex, SSL_read_ex in a library or
 *  an executable (all processes mapping it). Returns how many of the 4 functions were found
 *  and attached (0 when the file has none), or -errno. */
int oisp_bpf_attach_ssl(oisp_bpf *b, const char *binary_path, char *err, size_t errlen);

/** Attaches the Go crypto/tls uprobes to a Go executable (all processes running it): one on the
 *  entry of (*tls.Conn).Write and Read and one on each of their RET instructions, at the file
 *  offsets from oisp_gotls_inspect. With the noop option every probe runs noop_enter. Returns
 *  the number of probes attached, or -errno (nothing stays attached on error). */
int oisp_bpf_attach_go(oisp_bpf *b, const char *binary_path, const oisp_gotls_info *info, char *err, size_t errlen);

/** Attaches uprobe + uretprobe on the write and read functions of a stripped executable (all
 *  processes running it) at the file offsets from oisp_boringssl_inspect. `library` says which:
 *  OISP_TLS_LIBRARY_BORINGSSL (SSL_write, SSL_read: BoringSSL entry programs, stack
 *  OISP_STACK_BORINGSSL, OpenSSL's exit programs) or OISP_TLS_LIBRARY_OPENSSL
 *  (ssl_write_internal, ssl_read_internal: the SSL_write_ex/SSL_read_ex programs, or
 *  ssl_write_ex2_enter when `write_args` is 5); noop_enter/noop_exit with the noop option.
 *  Returns 2 (functions attached) or -errno (nothing stays attached on error). */
int oisp_bpf_attach_offsets(oisp_bpf *b, const char *binary_path, uint64_t write_off, uint64_t read_off, uint32_t library,
                            uint32_t write_args, char *err, size_t errlen);

/** Attaches uprobe + uretprobe on every rustls Writer::write and Reader::read of an executable
 *  (all processes running it) at the file offsets from oisp_rustls_inspect, with the entry
 *  programs of its calling convention; noop_enter/noop_exit with the noop option. Returns the
 *  number of functions attached or -errno (nothing stays attached on error). */
int oisp_bpf_attach_rustls(oisp_bpf *b, const char *binary_path, const oisp_rustls_info *info, char *err, size_t errlen);

/** One ring-buffer record; return non-zero to stop the current poll. */
typedef int (*oisp_bpf_sample_fn)(void *ctx, const void *data, size_t len);

/** Waits up to timeout_ms for a wake-up, then consumes everything pending (records submitted
 *  without a wake-up included). Returns records consumed or -errno. */
int oisp_bpf_poll(oisp_bpf *b, int timeout_ms, oisp_bpf_sample_fn fn, void *ctx);

/** Records the kernel side could not write (ring buffer full), summed over CPUs. */
uint64_t oisp_bpf_lost(oisp_bpf *b);

/** Marks a connection (process, handle of its records) quiet: its plaintext is no longer sent
 *  until a write on it starts an HTTP request. 0 or -errno. */
int oisp_bpf_quiet(oisp_bpf *b, uint32_t tgid, uint64_t handle);

/** Plaintext records not sent because their connection was quiet, summed over CPUs. */
uint64_t oisp_bpf_quieted(oisp_bpf *b);

/** Detaches and frees everything. */
void oisp_bpf_close(oisp_bpf *b);

/** libbpf version string. */
const char *oisp_bpf_libbpf_version(void);

#ifdef __cplusplus
}
#endif
#endif
