/* Event records shared by the BPF programs (oisp.bpf.c) and the user-space loader.
 * Fixed-width fields, explicit padding, no bool. */
#ifndef OISP_BPF_H
#define OISP_BPF_H

#define OISP_COMM_LEN 16
#define OISP_PATH_LEN 256
#define OISP_CHUNK_MAX 16384      /* bytes of plaintext per ring-buffer record */
#define OISP_MAX_CHUNKS 16        /* per SSL call: up to 256 KiB before marking truncation */
#define OISP_TAIL_CHUNKS 4        /* of a call over max_capture_bytes, its last quarter of the limit (64 KiB at most) is kept too */

enum oisp_ev_kind {
    OISP_EV_SSL_DATA = 1,
    OISP_EV_EXEC = 2,
    OISP_EV_EXIT = 3,
    OISP_EV_CONNECT = 4,
    OISP_EV_ACCEPT = 5,   /* same layout as oisp_connect; addr/port are the peer's */
};

enum oisp_direction {
    OISP_DIR_WRITE = 0, /* application → network (request) */
    OISP_DIR_READ = 1,  /* network → application (response) */
};

#define OISP_FLAG_TRUNCATED 1u
#define OISP_FLAG_CLOSED 2u /* no data: the connection ended (SSL_free, gnutls_deinit, PR_Close) */
#define OISP_FLAG_TAIL 4u   /* on a cut's empty record: the call's last bytes follow (their offset ends the gap) */

/* Which TLS implementation (or plain socket layer) a oisp_ssl_data record came from. */
enum oisp_stack {
    OISP_STACK_OPENSSL = 0,
    OISP_STACK_GO = 1,        /* Go crypto/tls: `ssl` is the *tls.Conn */
    OISP_STACK_GNUTLS = 2,
    OISP_STACK_NSS = 3,
    OISP_STACK_BORINGSSL = 4,
    OISP_STACK_PLAIN = 5,
    OISP_STACK_RUSTLS = 6,    /* rustls (Rust): `ssl` is the ConnectionCommon's address */
};

struct oisp_ev_header {
    __u32 kind;
    __u32 pid;   /* tgid */
    __u32 tid;
    __u32 uid;
    __u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
    char comm[OISP_COMM_LEN];
};

struct oisp_ssl_data {
    struct oisp_ev_header h;
    __u64 ssl;        /* connection identity inside the process: the SSL*, or Go's *tls.Conn */
    __u32 direction;  /* enum oisp_direction */
    __u32 flags;      /* OISP_FLAG_* */
    __u32 total_len;  /* bytes the call transferred */
    __u32 offset;     /* offset of this chunk within the call */
    __u32 len;        /* bytes in data[] */
    __u32 stack;      /* enum oisp_stack */
    __u8 data[OISP_CHUNK_MAX];
};

struct oisp_exec {
    struct oisp_ev_header h;
    __u32 ppid;
    __u32 pad;
    char filename[OISP_PATH_LEN];
};

struct oisp_exit {
    struct oisp_ev_header h;
    __u32 ppid;
    __s32 exit_code; /* raw wait status: code << 8 | signal */
};

struct oisp_connect {
    struct oisp_ev_header h;
    __s32 fd;
    __s32 ret;    /* 0, or -errno (EINPROGRESS for non-blocking connects) */
    __u16 family; /* AF_INET / AF_INET6 */
    __u16 port;   /* host byte order */
    __u32 pad;
    __u8 addr[16];
};

/* Load-time settings, written by user space into the `oisp_cfg` array map before attach. */
struct oisp_config {
    __u32 max_capture_bytes; /* per SSL call; beyond it data is cut and flagged truncated */
    __u32 target_pid;        /* 0 = every process */
    __u32 capture_ssl;
    __u32 capture_process;
    __u32 capture_network;
    __u32 wakeup_bytes;      /* force a consumer wake-up once this much data is pending */
    __u32 capture_plain;     /* plain HTTP on the ports in the plain_ports map */
    __u32 bind_sockets;      /* the socket send and state programs are attached: TLS connections
                              * without a close probe are bound to their socket (sock_of_tls) */
};

#endif
