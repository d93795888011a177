#include "oisp_bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>


#define OISP_MAX_PROGS 96

struct oisp_prog_state {
    char name[64];
    int loaded;
    char reason[400];
};

struct oisp_bpf {
    struct bpf_object *obj;
    struct oisp_prog_state progs[OISP_MAX_PROGS];
    int nprogs;
    int capture_process, capture_network, capture_plain;
    struct ring_buffer *rb;
    struct bpf_link **links;
    uint64_t *owners; /* links[i] was attached for owners[i] (see oisp_bpf_set_owner) */
    uint64_t owner;
    size_t nlinks, caplinks;
    int lost_fd, quiet_fd;
    int noop;
    oisp_bpf_sample_fn fn;
    void *ctx;
};

static __thread char last_libbpf_msg[512];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n')) buf[--n] = 0;
    snprintf(last_libbpf_msg, sizeof last_libbpf_msg, "%s", buf);
    return 0;
}

static void set_err(char *err, size_t errlen, const char *what, int e) {
    if (!err || !errlen) return;
    if (last_libbpf_msg[0])
        snprintf(err, errlen, "%s: %s (libbpf: %s)", what, strerror(e), last_libbpf_msg);
    else
        snprintf(err, errlen, "%s: %s", what, strerror(e));
}

int oisp_bpf_ensure_tracefs(char *err, size_t errlen) {
    struct stat st;
    if (stat("/sys/kernel/tracing/events", &st) == 0) return 0;
    if (stat("/sys/kernel/debug/tracing/events", &st) == 0) return 0;
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0) {
        int e = errno;
        snprintf(err, errlen, "tracefs is not mounted and mounting it at /sys/kernel/tracing failed: %s", strerror(e));
        return -e;
    }
    return 0;
}

static int add_link(oisp_bpf *b, struct bpf_link *l) {
    if (b->nlinks == b->caplinks) {
        size_t n = b->caplinks ? b->caplinks * 2 : 32;
        struct bpf_link **p = realloc(b->links, n * sizeof *p);
        if (!p) return -ENOMEM;
        b->links = p;
        uint64_t *o = realloc(b->owners, n * sizeof *o);
        if (!o) return -ENOMEM;
        b->owners = o;
        b->caplinks = n;
    }
    b->owners[b->nlinks] = b->owner;
    b->links[b->nlinks++] = l;
    return 0;
}

void oisp_bpf_set_owner(oisp_bpf *b, uint64_t owner) { b->owner = owner; }

size_t oisp_bpf_detach_owner(oisp_bpf *b, uint64_t owner) {
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < b->nlinks; i++) {
        if (b->owners[i] == owner) {
            bpf_link__destroy(b->links[i]);
            dropped++;
        } else {
            b->links[kept] = b->links[i];
            b->owners[kept++] = b->owners[i];
        }
    }
    b->nlinks = kept;
    return dropped;
}

/* Detaches the links added since index `first` (undoing a partial attach). */
static void drop_links_from(oisp_bpf *b, size_t first) {
    while (b->nlinks > first) bpf_link__destroy(b->links[--b->nlinks]);
}

static int on_sample(void *ctx, void *data, size_t len) {
    oisp_bpf *b = ctx;
    return b->fn ? b->fn(b->ctx, data, len) : 0;
}

/* Whether this kernel has the sock_send_length / sock_recv_length tracepoints (6.3+). */
static int sock_tracepoints(void) {
    return access("/sys/kernel/tracing/events/sock/sock_send_length", F_OK) == 0 ||
           access("/sys/kernel/debug/tracing/events/sock/sock_send_length", F_OK) == 0;
}

static struct bpf_object *open_object(const char *object_path, const oisp_bpf_options *o, char *err, size_t errlen) {
    struct bpf_object *obj = bpf_object__open_file(object_path, NULL);
    if (!obj) {
        set_err(err, errlen, object_path, errno);
        return NULL;
    }
    struct bpf_map *ring = bpf_object__find_map_by_name(obj, "events");
    if (ring && o->ring_bytes) bpf_map__set_max_entries(ring, o->ring_bytes);
    /* Plain HTTP: the socket tracepoints where the kernel has them (6.3+), else every syscall's
     * entry and exit; the other pair is not loaded (nor listed). */
    int sock_tps = sock_tracepoints();
    /* Connects and accepts: TCP's state changes where the socket tracepoints are (they report the
     * accepting process), else the connect/accept4 syscall tracepoints — which stay loaded there
     * too, attached only if this kernel's verifier refuses net_sock_state (see attach). */
    const char *unused[] = { sock_tps ? "plain_sys_enter" : "plain_sock_send", sock_tps ? "plain_sys_exit" : "plain_sock_recv",
                             sock_tps ? NULL : "net_sock_state" };
    for (int i = 0; i < 3; i++) {
        if (!unused[i]) continue;
        struct bpf_program *p = bpf_object__find_program_by_name(obj, unused[i]);
        if (p) bpf_program__set_autoload(p, false);
    }
    return obj;
}

/* The last lines of a verifier log, joined with " | " (the rejection is at the end). */
static void log_tail(const char *log, char *out, size_t outlen, int lines) {
    size_t n = strlen(log);
    while (n && (log[n - 1] == '\n' || log[n - 1] == ' ')) n--;
    size_t start = n;
    int seen = 0;
    while (start > 0) {
        if (log[start - 1] == '\n' && ++seen == lines) break;
        start--;
    }
    size_t k = 0;
    for (size_t i = start; i < n && k + 4 < outlen; i++) {
        if (log[i] == '\n') { out[k++] = ' '; out[k++] = '|'; out[k++] = ' '; } else out[k++] = log[i];
    }
    out[k] = 0;
}

/* Loads one program of the object alone (with the maps): 0 when the kernel takes it, else -errno
 * with the verifier's last lines in `why`. */
static int diagnose_program(const char *object_path, const oisp_bpf_options *o, const char *name, char *why, size_t whylen) {
    char err[256] = "";
    struct bpf_object *obj = open_object(object_path, o, err, sizeof err);
    if (!obj) { snprintf(why, whylen, "%s", err); return -EINVAL; }
    struct bpf_program *p, *target = NULL;
    bpf_object__for_each_program(p, obj) {
        int me = strcmp(bpf_program__name(p), name) == 0;
        bpf_program__set_autoload(p, me);
        if (me) target = p;
    }
    size_t loglen = 4 << 20;
    char *log = target ? calloc(1, loglen) : NULL;
    if (log) {
        bpf_program__set_log_buf(target, log, loglen);
        bpf_program__set_log_level(target, 1);
    }
    last_libbpf_msg[0] = 0;
    int rc = target ? bpf_object__load(obj) : -ENOENT;
    if (rc == -ENOSPC && log) { /* the log outgrew the buffer, not the program: verify without it */
        bpf_object__close(obj);
        free(log);
        log = NULL;
        obj = open_object(object_path, o, err, sizeof err);
        if (!obj) { snprintf(why, whylen, "%s", err); return -EINVAL; }
        bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, strcmp(bpf_program__name(p), name) == 0);
        rc = bpf_object__load(obj);
    }
    if (rc) {
        char tail[300] = "";
        if (log && log[0]) log_tail(log, tail, sizeof tail, 3);
        snprintf(why, whylen, "%s%s%s", strerror(-rc), tail[0] ? ": " : "", tail[0] ? tail : last_libbpf_msg);
    }
    free(log);
    bpf_object__close(obj);
    return rc;
}

int oisp_bpf_program_count(const oisp_bpf *b) { return b->nprogs; }
const char *oisp_bpf_program_name(const oisp_bpf *b, int i) { return i >= 0 && i < b->nprogs ? b->progs[i].name : ""; }
int oisp_bpf_program_loaded(const oisp_bpf *b, int i) { return i >= 0 && i < b->nprogs && b->progs[i].loaded; }
const char *oisp_bpf_program_reason(const oisp_bpf *b, int i) { return i >= 0 && i < b->nprogs ? b->progs[i].reason : ""; }

/* The program by name, if the kernel took it. */
static struct bpf_program *loaded_program(oisp_bpf *b, const char *name) {
    struct bpf_program *p = bpf_object__find_program_by_name(b->obj, name);
    return p && bpf_program__fd(p) >= 0 ? p : NULL;
}

oisp_bpf *oisp_bpf_open(const char *object_path, const oisp_bpf_options *o, char *err, size_t errlen) {
    libbpf_set_print(libbpf_print);
    last_libbpf_msg[0] = 0;
    oisp_bpf *b = calloc(1, sizeof *b);
    if (!b) { set_err(err, errlen, "out of memory", ENOMEM); return NULL; }
    b->lost_fd = -1;
    b->quiet_fd = -1;
    b->noop = o->noop_ssl_probes != 0;
    b->capture_process = o->capture_process != 0;
    b->capture_network = o->capture_network != 0;
    b->capture_plain = o->capture_plain != 0;
    b->obj = open_object(object_path, o, err, errlen);
    if (!b->obj) { free(b); return NULL; }
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, b->obj) {
        if (b->nprogs >= OISP_MAX_PROGS) break;
        if (!bpf_program__autoload(prog)) continue; /* the other kernel's variant */
        snprintf(b->progs[b->nprogs].name, sizeof b->progs[0].name, "%s", bpf_program__name(prog));
        b->nprogs++;
    }
    int rc = bpf_object__load(b->obj);
    if (rc) {
        /* Some program was rejected: find which, one at a time (each verified alone, with the
         * verifier's log), then load the others. Capture degrades per program, never silently. */
        int rejected = 0;
        for (int i = 0; i < b->nprogs; i++) {
            if (diagnose_program(object_path, o, b->progs[i].name, b->progs[i].reason, sizeof b->progs[0].reason) != 0) {
                rejected++;
                struct bpf_program *p = bpf_object__find_program_by_name(b->obj, b->progs[i].name);
                if (p) bpf_program__set_autoload(p, false);
            }
        }
        bpf_object__close(b->obj);
        b->obj = NULL;
        if (rejected == 0 || rejected == b->nprogs) {
            set_err(err, errlen, "loading BPF programs into the kernel failed", -rc);
            oisp_bpf_close(b);
            return NULL;
        }
        b->obj = open_object(object_path, o, err, errlen);
        if (!b->obj) { oisp_bpf_close(b); return NULL; }
        for (int i = 0; i < b->nprogs; i++) {
            struct bpf_program *p = bpf_object__find_program_by_name(b->obj, b->progs[i].name);
            if (p && b->progs[i].reason[0]) bpf_program__set_autoload(p, false);
        }
        last_libbpf_msg[0] = 0;
        rc = bpf_object__load(b->obj);
        if (rc) {
            set_err(err, errlen, "loading BPF programs into the kernel failed", -rc);
            oisp_bpf_close(b);
            return NULL;
        }
    }
    for (int i = 0; i < b->nprogs; i++) {
        struct bpf_program *p = bpf_object__find_program_by_name(b->obj, b->progs[i].name);
        b->progs[i].loaded = p && bpf_program__fd(p) >= 0;
    }
    struct oisp_config cfg = {
        .max_capture_bytes = o->max_capture_bytes ? o->max_capture_bytes : 16384,
        .target_pid = o->target_pid,
        .capture_ssl = o->capture_ssl,
        .capture_process = o->capture_process,
        .capture_network = o->capture_network,
        .wakeup_bytes = o->wakeup_bytes ? o->wakeup_bytes : 256 * 1024,
        .capture_plain = o->capture_plain,
    };
    if (cfg.max_capture_bytes > OISP_CHUNK_MAX * OISP_MAX_CHUNKS) cfg.max_capture_bytes = OISP_CHUNK_MAX * OISP_MAX_CHUNKS;
    int cfd = bpf_object__find_map_fd_by_name(b->obj, "oisp_cfg");
    __u32 zero = 0;
    if (cfd < 0 || bpf_map_update_elem(cfd, &zero, &cfg, BPF_ANY) != 0) {
        set_err(err, errlen, "writing the BPF config map failed", errno ? errno : EINVAL);
        oisp_bpf_close(b);
        return NULL;
    }
    int bfd = bpf_object__find_map_fd_by_name(b->obj, "plain_port_set");
    if (bfd >= 0 && o->nplain_ports) {
        uint64_t *bits = calloc(1024, sizeof *bits);
        if (!bits) { set_err(err, errlen, "out of memory", ENOMEM); oisp_bpf_close(b); return NULL; }
        for (uint32_t i = 0; i < o->nplain_ports && i < 32; i++) bits[o->plain_ports[i] >> 6] |= 1ULL << (o->plain_ports[i] & 63);
        __u32 zero = 0;
        int r = bpf_map_update_elem(bfd, &zero, bits, BPF_ANY);
        int e = errno;
        free(bits);
        if (r != 0) { set_err(err, errlen, "writing the plain-HTTP port set failed", e); oisp_bpf_close(b); return NULL; }
    }
    int pfd = bpf_object__find_map_fd_by_name(b->obj, "plain_ports");
    for (uint32_t i = 0; pfd >= 0 && i < o->nplain_ports && i < 32; i++) {
        __u16 port = o->plain_ports[i];
        __u8 one = 1;
        if (bpf_map_update_elem(pfd, &port, &one, BPF_ANY) != 0) {
            set_err(err, errlen, "writing the plain-HTTP port map failed", errno);
            oisp_bpf_close(b);
            return NULL;
        }
    }
    b->lost_fd = bpf_object__find_map_fd_by_name(b->obj, "lost");
    b->quiet_fd = bpf_object__find_map_fd_by_name(b->obj, "quiet_conns");
    int efd = bpf_object__find_map_fd_by_name(b->obj, "events");
    b->rb = ring_buffer__new(efd, on_sample, b, NULL);
    if (!b->rb) {
        set_err(err, errlen, "creating the ring buffer consumer failed", errno);
        oisp_bpf_close(b);
        return NULL;
    }
    return b;
}

int oisp_bpf_attach_tracepoints(oisp_bpf *b, char *err, size_t errlen) {
    /* name, category, event, wanted for: 1 process, 2 network, 4 plain */
    static const struct { const char *prog, *cat, *event; int want; } tps[] = {
        { "handle_exec", "sched", "sched_process_exec", 1 },
        { "handle_exit", "sched", "sched_process_exit", 1 },
        { "handle_connect_enter", "syscalls", "sys_enter_connect", 2 | 4 },
        { "handle_connect_exit", "syscalls", "sys_exit_connect", 2 | 4 },
        { "handle_accept_enter", "syscalls", "sys_enter_accept4", 2 | 4 },
        { "handle_accept_exit", "syscalls", "sys_exit_accept4", 2 | 4 },
        /* raw tracepoints (category NULL): every syscall's entry and exit, filtered by number */
        { "plain_sys_enter", NULL, "sys_enter", 4 },
        { "plain_sys_exit", NULL, "sys_exit", 4 },
        /* BTF tracepoints (category "tp_btf"): every socket send and receive (6.3+): plain HTTP,
         * and the accepting process of an accepted connection */
        { "plain_sock_send", "tp_btf", "sock_send_length", 2 | 4 },
        { "plain_sock_recv", "tp_btf", "sock_recv_length", 2 | 4 },
        /* TCP state changes: connects and accepts where the socket tracepoints are, and the end
         * of a plain-HTTP connection */
        { "net_sock_state", "tp_btf", "inet_sock_set_state", 2 | 4 },
    };
    int want = (b->capture_process ? 1 : 0) | (b->capture_network ? 2 : 0) | (b->capture_plain ? 4 : 0);
    /* Any syscall tracepoint puts every syscall of every process on the kernel's slow path: with
     * the socket tracepoints (6.3+) none is attached (the connect/accept4 programs are loaded, and
     * attached only if net_sock_state or the socket programs were refused); without them,
     * connect/accept4 serve network events and plain HTTP's marks. */
    int net_state = loaded_program(b, "net_sock_state") != NULL && loaded_program(b, "plain_sock_send") != NULL &&
                    loaded_program(b, "plain_sock_recv") != NULL;
    int sock_plain = loaded_program(b, "plain_sock_send") != NULL;
    int attached = 0, sock_send = 0, sock_state = 0;
    for (size_t i = 0; i < sizeof tps / sizeof tps[0]; i++) {
        int w = tps[i].want;
        if (strncmp(tps[i].prog, "handle_", 7) == 0) {
            if (net_state) w &= ~2;  /* network events from TCP's state changes */
            if (sock_plain) w &= ~4; /* plain HTTP needs no connect/accept4 marks */
        }
        if (!net_state && strcmp(tps[i].prog, "net_sock_state") == 0) w = 0;
        if (!net_state && strncmp(tps[i].prog, "plain_sock_", 11) == 0) w &= ~2;
        if (!(w & want)) continue;
        struct bpf_program *p = loaded_program(b, tps[i].prog);
        if (!p) continue; /* rejected by this kernel: reported through oisp_bpf_program_* */
        last_libbpf_msg[0] = 0;
        int btf = tps[i].cat && strcmp(tps[i].cat, "tp_btf") == 0;
        struct bpf_link *l = btf ? bpf_program__attach_trace(p)
                           : tps[i].cat ? bpf_program__attach_tracepoint(p, tps[i].cat, tps[i].event)
                                        : bpf_program__attach_raw_tracepoint(p, tps[i].event);
        if (!l) {
            int e = errno;
            char what[128];
            snprintf(what, sizeof what, "attaching %stracepoint %s/%s", btf ? "BTF " : tps[i].cat ? "" : "raw ",
                     btf ? "sock" : tps[i].cat ? tps[i].cat : "", tps[i].event);
            set_err(err, errlen, what, e);
            return -e;
        }
        add_link(b, l);
        attached++;
        if (strcmp(tps[i].prog, "plain_sock_send") == 0) sock_send = 1;
        if (strcmp(tps[i].prog, "net_sock_state") == 0) sock_state = 1;
    }
    /* TLS connections without a close probe (static BoringSSL, rustls) are bound to their socket
     * only where both the socket's sends and its state changes are seen */
    if (sock_send && sock_state) {
        int cfd = bpf_object__find_map_fd_by_name(b->obj, "oisp_cfg");
        __u32 zero = 0;
        struct oisp_config cfg;
        if (cfd >= 0 && bpf_map_lookup_elem(cfd, &zero, &cfg) == 0) {
            cfg.bind_sockets = 1;
            bpf_map_update_elem(cfd, &zero, &cfg, BPF_ANY);
        }
    }
    return attached;
}

int oisp_bpf_plain_add(oisp_bpf *b, uint32_t pid, int32_t fd) {
    int mfd = bpf_object__find_map_fd_by_name(b->obj, "plain_fds");
    if (mfd < 0) return -ENOENT;
    struct { __u32 tgid; __s32 fd; } k = { pid, fd };
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    __u64 handle = (((__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec) << 16) | ((__u64)fd & 0xffff);
    return bpf_map_update_elem(mfd, &k, &handle, BPF_NOEXIST) == 0 || errno == EEXIST ? 0 : -errno;
}

int oisp_bpf_attach_lib(oisp_bpf *b, const char *path, oisp_tls_lib lib, char *err, size_t errlen) {
    /* function, entry program, exit program (the exits are shared: the entry records the stack).
     * Reads before writes, each exit before its entry: a process that runs while its probes go on
     * (a binary probed on exec) never has a request captured without its answer, and never an
     * entry whose exit is missing (a stale entry would pair with a later call's exit). */
    static const char *openssl[][3] = {
        { "SSL_read", "ssl_read_enter", "ssl_read_exit" },
        { "SSL_read_ex", "ssl_read_ex_enter", "ssl_read_ex_exit" },
        { "SSL_write", "ssl_write_enter", "ssl_write_exit" },
        { "SSL_write_ex", "ssl_write_ex_enter", "ssl_write_ex_exit" },
    };
    static const char *gnutls[][3] = {
        { "gnutls_record_recv", "gnutls_recv_enter", "ssl_read_exit" },
        { "gnutls_record_send", "gnutls_send_enter", "ssl_write_exit" },
    };
    static const char *nss[][3] = {
        { "PR_Read", "nss_read_enter", "ssl_read_exit" },
        { "PR_Recv", "nss_read_enter", "ssl_read_exit" },
        { "PR_Write", "nss_write_enter", "ssl_write_exit" },
        { "PR_Send", "nss_write_enter", "ssl_write_exit" },
    };
    const char *(*funcs)[3] = lib == OISP_LIB_GNUTLS ? gnutls : lib == OISP_LIB_NSS ? nss : openssl;
    size_t nfuncs = lib == OISP_LIB_GNUTLS ? 2 : 4;
    int attached = 0;
    int last_err = 0;
    char failed[200] = ""; /* functions found but not attached (other than "not in this file") */
    if (err && errlen) err[0] = 0;
    for (size_t i = 0; i < nfuncs; i++) {
        size_t first = b->nlinks;
        for (int ret = 1; ret >= 0; ret--) {
            const char *pname = b->noop ? (ret ? "noop_exit" : "noop_enter") : funcs[i][1 + ret];
            struct bpf_program *p = loaded_program(b, pname);
            if (!p) { drop_links_from(b, first); last_err = ENOENT; break; } /* rejected by this kernel */
            LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = funcs[i][0], .retprobe = ret != 0);
            last_libbpf_msg[0] = 0;
            struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, path, 0, &uo);
            if (!l) {
                int e = errno;
                drop_links_from(b, first);
                if (e != ENOENT && e != ESRCH) {
                    last_err = e;
                    size_t k = strlen(failed);
                    snprintf(failed + k, sizeof failed - k, "%s%s", k ? ", " : "", funcs[i][0]);
                }
                break; /* symbol not in this file, or the attach failed */
            }
            add_link(b, l);
            if (ret == 0) attached++;
        }
    }
    /* The connection's end (entry only; not counted: capture works without it, the decoder then
     * learns of a connection's end at its process's exit or its idle sweep). */
    if (attached > 0) {
        const char *fn = lib == OISP_LIB_GNUTLS ? "gnutls_deinit" : lib == OISP_LIB_NSS ? "PR_Close" : "SSL_free";
        const char *prog = b->noop ? "noop_enter" : lib == OISP_LIB_GNUTLS ? "gnutls_deinit_enter" : lib == OISP_LIB_NSS ? "nss_close_enter" : "ssl_free_enter";
        struct bpf_program *p = loaded_program(b, prog);
        if (p) {
            LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = fn, .retprobe = false);
            last_libbpf_msg[0] = 0;
            struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, path, 0, &uo);
            if (l && add_link(b, l) != 0) bpf_link__destroy(l);
        }
    }
    if (failed[0]) {
        /* EINVAL here is the kernel refusing a second uprobe at an address another tool probed
         * with a different ref_ctr_offset (BCC's sslsniff does): dmesg says "ref_ctr_offset
         * mismatch". Reported even when other functions attached: capture has a hole. */
        char what[400];
        snprintf(what, sizeof what, "attaching TLS uprobes to %s: %s not attached%s", path, failed,
                 last_err == EINVAL ? " (another tool holds uprobes there with a different ref_ctr_offset, e.g. BCC's sslsniff; see dmesg)" : "");
        set_err(err, errlen, what, last_err);
        if (attached == 0) return -last_err;
    }
    return attached;
}

int oisp_bpf_attach_ssl(oisp_bpf *b, const char *path, char *err, size_t errlen) {
    return oisp_bpf_attach_lib(b, path, OISP_LIB_OPENSSL, err, errlen);
}


/* Go crypto/tls: a uprobe on each function's entry and one on each of its RET instructions, at the
 * file offsets oisp_gotls_inspect found (func_name NULL: the offset is used as is). */
int oisp_bpf_attach_go(oisp_bpf *b, const char *path, const oisp_gotls_info *info, char *err, size_t errlen) {
    struct {
        const oisp_gotls_func *fn;
        const char *enter, *ret;
    } funcs[2] = { /* Read before Write, its RETs before its entry (see oisp_bpf_attach_lib) */
        { &info->read, "go_tls_read_enter", "go_tls_read_ret" },
        { &info->write, "go_tls_write_enter", NULL }, /* Write: its entry alone (see gotls.bpf.h) */
    };
    size_t first = b->nlinks;
    int attached = 0;
    for (size_t i = 0; i < 2; i++) {
        const oisp_gotls_func *fn = funcs[i].fn;
        if (fn->nrets == 0 || fn->nrets > OISP_GOTLS_MAX_RETS) {
            set_err(err, errlen, "Go TLS function without RET offsets", EINVAL);
            drop_links_from(b, first);
            return -EINVAL;
        }
        uint32_t nprobes = funcs[i].ret ? fn->nrets : 0;
        for (uint32_t k = 0; k <= nprobes; k++) {
            uint32_t r = nprobes - k; /* the RETs, then r == 0: the entry */
            const char *pname = b->noop ? "noop_enter" : (r == 0 ? funcs[i].enter : funcs[i].ret);
            size_t off = (size_t)(r == 0 ? fn->entry : fn->rets[r - 1]);
            struct bpf_program *p = bpf_object__find_program_by_name(b->obj, pname);
            int e = 0;
            struct bpf_link *l = NULL;
            if (!p) {
                e = ENOENT;
            } else {
                LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = NULL, .retprobe = false);
                last_libbpf_msg[0] = 0;
                l = bpf_program__attach_uprobe_opts(p, -1, path, off, &uo);
                if (!l) e = errno ? errno : EINVAL;
                else if (add_link(b, l) != 0) { bpf_link__destroy(l); e = ENOMEM; }
            }
            if (e) {
                char what[400];
                snprintf(what, sizeof what, "attaching Go TLS uprobe %s at offset 0x%zx of %s", pname, off, path);
                set_err(err, errlen, what, e);
                drop_links_from(b, first);
                return -e;
            }
            attached++;
        }
    }
    if (info->close_entry) { /* optional, not counted: the decoder otherwise learns of the end at exit */
        struct bpf_program *p = bpf_object__find_program_by_name(b->obj, b->noop ? "noop_enter" : "go_tls_close_enter");
        if (p && bpf_program__fd(p) >= 0) {
            LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = NULL, .retprobe = false);
            last_libbpf_msg[0] = 0;
            struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, path, (size_t)info->close_entry, &uo);
            if (l && add_link(b, l) != 0) bpf_link__destroy(l);
        }
    }
    return attached;
}

/* BoringSSL or OpenSSL in a stripped executable: uprobe + uretprobe on the write and read
 * functions at the file offsets oisp_boringssl_inspect found (func_name NULL: the offset is used
 * as is). BoringSSL's entries record OISP_STACK_BORINGSSL; the exits are OpenSSL's (same signature
 * and return value). OpenSSL's ssl_*_internal take SSL_*_ex's arguments. */
int oisp_bpf_attach_offsets(oisp_bpf *b, const char *path, uint64_t write_off, uint64_t read_off, uint32_t library,
                            uint32_t write_args, char *err, size_t errlen) {
    const int ossl = library == OISP_TLS_LIBRARY_OPENSSL;
    const char *lib = ossl ? "OpenSSL" : "BoringSSL";
    /* reads before writes, exits before entries (see oisp_bpf_attach_lib) */
    typedef struct { uint64_t off; const char *fn, *enter, *exit; } probe_fn;
    const probe_fn funcs[2] = {
        ossl ? (probe_fn){ read_off, "ssl_read_internal", "ssl_read_ex_enter", "ssl_read_ex_exit" }
             : (probe_fn){ read_off, "SSL_read", "boringssl_read_enter", "ssl_read_exit" },
        ossl ? (probe_fn){ write_off, "ssl_write_internal", write_args == 5 ? "ssl_write_ex2_enter" : "ssl_write_ex_enter", "ssl_write_ex_exit" }
             : (probe_fn){ write_off, "SSL_write", "boringssl_write_enter", "ssl_write_exit" },
    };
    if (ossl && write_args != 4 && write_args != 5) {
        set_err(err, errlen, "OpenSSL ssl_write_internal: unknown argument count", EINVAL);
        return -EINVAL;
    }
    if (write_off == 0 || read_off == 0 || write_off == read_off) {
        set_err(err, errlen, ossl ? "OpenSSL offsets missing or equal" : "BoringSSL offsets missing or equal", EINVAL);
        return -EINVAL;
    }
    size_t first = b->nlinks;
    int attached = 0;
    for (size_t i = 0; i < 2; i++) {
        for (int ret = 1; ret >= 0; ret--) {
            const char *pname = b->noop ? (ret ? "noop_exit" : "noop_enter") : (ret ? funcs[i].exit : funcs[i].enter);
            struct bpf_program *p = loaded_program(b, pname);
            int e = 0;
            if (!p) {
                e = ENOENT; /* rejected by this kernel (see oisp_bpf_program_*) */
            } else {
                LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = NULL, .retprobe = ret != 0);
                last_libbpf_msg[0] = 0;
                struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, path, (size_t)funcs[i].off, &uo);
                if (!l) e = errno ? errno : EINVAL;
                else if (add_link(b, l) != 0) { bpf_link__destroy(l); e = ENOMEM; }
            }
            if (e) {
                char what[400];
                snprintf(what, sizeof what, "attaching %s %s %s at offset 0x%llx of %s", lib, funcs[i].fn,
                         ret ? "uretprobe" : "uprobe", (unsigned long long)funcs[i].off, path);
                set_err(err, errlen, what, e);
                drop_links_from(b, first);
                return -e;
            }
        }
        attached++;
    }
    return attached;
}

/* rustls: uprobe + uretprobe on each Writer::write and Reader::read at the file offsets
 * oisp_rustls_inspect found, with the entry programs of the program's calling convention. */
int oisp_bpf_attach_rustls(oisp_bpf *b, const char *path, const oisp_rustls_info *info, char *err, size_t errlen) {
    int sret = info->abi == OISP_RUSTLS_ABI_SRET;
    if (info->nread == 0 || info->nwrite == 0 || info->nread > OISP_RUSTLS_MAX || info->nwrite > OISP_RUSTLS_MAX) {
        set_err(err, errlen, "rustls offsets missing", EINVAL);
        return -EINVAL;
    }
    size_t first = b->nlinks;
    int attached = 0;
    if (info->nwritev > OISP_RUSTLS_MAX) {
        set_err(err, errlen, "rustls offsets missing", EINVAL);
        return -EINVAL;
    }
    /* reads before writes, exits before entries (see oisp_bpf_attach_lib) */
    for (uint32_t i = 0; i < info->nread + info->nwrite + info->nwritev; i++) {
        int w = i >= info->nread, v = i >= info->nread + info->nwrite;
        uint64_t off = v ? info->writev[i - info->nread - info->nwrite] : w ? info->write[i - info->nread] : info->read[i];
        const char *enter = v ? (sret ? "rustls_writev_enter_sret" : "rustls_writev_enter")
                          : w ? (sret ? "rustls_write_enter_sret" : "rustls_write_enter")
                              : (sret ? "rustls_read_enter_sret" : "rustls_read_enter");
        const char *exit = w ? "rustls_write_exit" : "rustls_read_exit";
        /* write_vectored is optional: where this kernel rejected its program, the others go on */
        if (v && !b->noop && !loaded_program(b, enter)) continue;
        for (int ret = 1; ret >= 0; ret--) {
            const char *pname = b->noop ? (ret ? "noop_exit" : "noop_enter") : (ret ? exit : enter);
            struct bpf_program *p = loaded_program(b, pname);
            int e = 0;
            if (!p) {
                char what[400];
                snprintf(what, sizeof what, "attaching rustls %s to %s: this kernel rejected the program %s (`oisp check` says why)",
                         v ? "Writer::write_vectored" : w ? "Writer::write" : "Reader::read", path, pname);
                if (err && errlen) snprintf(err, errlen, "%s", what);
                drop_links_from(b, first);
                return -ENOENT;
            } else {
                LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = NULL, .retprobe = ret != 0);
                last_libbpf_msg[0] = 0;
                struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, path, (size_t)off, &uo);
                if (!l) e = errno ? errno : EINVAL;
                else if (add_link(b, l) != 0) { bpf_link__destroy(l); e = ENOMEM; }
            }
            if (e) {
                char what[400];
                snprintf(what, sizeof what, "attaching rustls %s %s at offset 0x%llx of %s", v ? "Writer::write_vectored" : w ? "Writer::write" : "Reader::read",
                         ret ? "uretprobe" : "uprobe", (unsigned long long)off, path);
                set_err(err, errlen, what, e);
                drop_links_from(b, first);
                return -e;
            }
        }
        attached++;
    }
    return attached;
}

int oisp_bpf_poll(oisp_bpf *b, int timeout_ms, oisp_bpf_sample_fn fn, void *ctx) {
    b->fn = fn;
    b->ctx = ctx;
    int n = ring_buffer__poll(b->rb, timeout_ms);
    if (n < 0 && n != -EINTR) return n;
    /* Records submitted with BPF_RB_NO_WAKEUP are consumed here even without a wake-up. */
    int m = ring_buffer__consume(b->rb);
    if (m < 0 && m != -EINTR) return m;
    return (n > 0 ? n : 0) + (m > 0 ? m : 0);
}

static uint64_t counter(oisp_bpf *b, __u32 index) {
    if (b->lost_fd < 0) return 0;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    uint64_t *vals = calloc((size_t)ncpu, sizeof *vals);
    if (!vals) return 0;
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(b->lost_fd, &index, vals) == 0)
        for (int i = 0; i < ncpu; i++) sum += vals[i];
    free(vals);
    return sum;
}

uint64_t oisp_bpf_lost(oisp_bpf *b) { return counter(b, 0); }

uint64_t oisp_bpf_quieted(oisp_bpf *b) { return counter(b, 1); }

int oisp_bpf_quiet(oisp_bpf *b, uint32_t tgid, uint64_t handle) {
    if (b->quiet_fd < 0) return -ENOENT;
    struct { __u32 tgid, pad; __u64 handle; } k = { tgid, 0, handle };
    __u8 one = 1;
    return bpf_map_update_elem(b->quiet_fd, &k, &one, BPF_ANY) == 0 ? 0 : -errno;
}

void oisp_bpf_close(oisp_bpf *b) {
    if (!b) return;
    for (size_t i = 0; i < b->nlinks; i++) bpf_link__destroy(b->links[i]);
    free(b->links);
    free(b->owners);
    if (b->rb) ring_buffer__free(b->rb);
    if (b->obj) bpf_object__close(b->obj);
    free(b);
}

const char *oisp_bpf_libbpf_version(void) { return libbpf_version_string(); }
