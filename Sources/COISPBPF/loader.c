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


struct oisp_bpf {
    struct bpf_object *obj;
    struct ring_buffer *rb;
    struct bpf_link **links;
    size_t nlinks, caplinks;
    int lost_fd;
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
        b->caplinks = n;
    }
    b->links[b->nlinks++] = l;
    return 0;
}

static int on_sample(void *ctx, void *data, size_t len) {
    oisp_bpf *b = ctx;
    return b->fn ? b->fn(b->ctx, data, len) : 0;
}

oisp_bpf *oisp_bpf_open(const char *object_path, const oisp_bpf_options *o, char *err, size_t errlen) {
    libbpf_set_print(libbpf_print);
    last_libbpf_msg[0] = 0;
    oisp_bpf *b = calloc(1, sizeof *b);
    if (!b) { set_err(err, errlen, "out of memory", ENOMEM); return NULL; }
    b->lost_fd = -1;
    b->noop = o->noop_ssl_probes != 0;
    b->obj = bpf_object__open_file(object_path, NULL);
    if (!b->obj) {
        int e = errno;
        set_err(err, errlen, object_path, e);
        free(b);
        return NULL;
    }
    struct bpf_map *ring = bpf_object__find_map_by_name(b->obj, "events");
    if (ring && o->ring_bytes) bpf_map__set_max_entries(ring, o->ring_bytes);
    int rc = bpf_object__load(b->obj);
    if (rc) {
        set_err(err, errlen, "loading BPF programs into the kernel failed", -rc);
        oisp_bpf_close(b);
        return NULL;
    }
    struct oisp_config cfg = {
        .max_capture_bytes = o->max_capture_bytes ? o->max_capture_bytes : 16384,
        .target_pid = o->target_pid,
        .capture_ssl = o->capture_ssl,
        .capture_process = o->capture_process,
        .capture_network = o->capture_network,
        .wakeup_bytes = o->wakeup_bytes ? o->wakeup_bytes : 256 * 1024,
    };
    if (cfg.max_capture_bytes > OISP_CHUNK_MAX * OISP_MAX_CHUNKS) cfg.max_capture_bytes = OISP_CHUNK_MAX * OISP_MAX_CHUNKS;
    int cfd = bpf_object__find_map_fd_by_name(b->obj, "oisp_cfg");
    __u32 zero = 0;
    if (cfd < 0 || bpf_map_update_elem(cfd, &zero, &cfg, BPF_ANY) != 0) {
        set_err(err, errlen, "writing the BPF config map failed", errno ? errno : EINVAL);
        oisp_bpf_close(b);
        return NULL;
    }
    b->lost_fd = bpf_object__find_map_fd_by_name(b->obj, "lost");
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
    static const char *progs[][3] = {
        { "handle_exec", "sched", "sched_process_exec" },
        { "handle_exit", "sched", "sched_process_exit" },
        { "handle_connect_enter", "syscalls", "sys_enter_connect" },
        { "handle_connect_exit", "syscalls", "sys_exit_connect" },
        { "handle_accept_enter", "syscalls", "sys_enter_accept4" },
        { "handle_accept_exit", "syscalls", "sys_exit_accept4" },
    };
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
        struct bpf_program *p = bpf_object__find_program_by_name(b->obj, progs[i][0]);
        if (!p) { set_err(err, errlen, progs[i][0], ENOENT); return -ENOENT; }
        last_libbpf_msg[0] = 0;
        struct bpf_link *l = bpf_program__attach_tracepoint(p, progs[i][1], progs[i][2]);
        if (!l) {
            int e = errno;
            char what[128];
            snprintf(what, sizeof what, "attaching tracepoint %s/%s", progs[i][1], progs[i][2]);
            set_err(err, errlen, what, e);
            return -e;
        }
        add_link(b, l);
    }
    return 0;
}

int oisp_bpf_attach_ssl(oisp_bpf *b, const char *path, char *err, size_t errlen) {
    static const char *funcs[][3] = {
        { "SSL_write", "ssl_write_enter", "ssl_write_exit" },
        { "SSL_read", "ssl_read_enter", "ssl_read_exit" },
        { "SSL_write_ex", "ssl_write_ex_enter", "ssl_write_ex_exit" },
        { "SSL_read_ex", "ssl_read_ex_enter", "ssl_read_ex_exit" },
    };
    int attached = 0;
    int last_err = 0;
    for (size_t i = 0; i < 4; i++) {
        for (int ret = 0; ret <= 1; ret++) {
            const char *pname = b->noop ? (ret ? "noop_exit" : "noop_enter") : funcs[i][1 + ret];
            struct bpf_program *p = bpf_object__find_program_by_name(b->obj, pname);
            if (!p) return -ENOENT;
            LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = funcs[i][0], .retprobe = ret != 0);
            last_libbpf_msg[0] = 0;
            struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, path, 0, &uo);
            if (!l) {
                last_err = errno;
                if (ret == 0) break; /* symbol not in this file */
                continue;
            }
            add_link(b, l);
            if (ret == 1) attached++;
        }
    }
    if (attached == 0 && last_err && last_err != ENOENT && last_err != ESRCH) {
        char what[300];
        snprintf(what, sizeof what, "attaching SSL uprobes to %s", path);
        set_err(err, errlen, what, last_err);
        return -last_err;
    }
    return attached;
}

/* Detaches the links added since index `first` (undoing a partial attach). */
static void drop_links_from(oisp_bpf *b, size_t first) {
    while (b->nlinks > first) bpf_link__destroy(b->links[--b->nlinks]);
}

/* Go crypto/tls: a uprobe on each function's entry and one on each of its RET instructions, at the
 * file offsets oisp_gotls_inspect found (func_name NULL: the offset is used as is). */
int oisp_bpf_attach_go(oisp_bpf *b, const char *path, const oisp_gotls_info *info, char *err, size_t errlen) {
    struct {
        const oisp_gotls_func *fn;
        const char *enter, *ret;
    } funcs[2] = {
        { &info->write, "go_tls_write_enter", "go_tls_write_ret" },
        { &info->read, "go_tls_read_enter", "go_tls_read_ret" },
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
        for (uint32_t r = 0; r <= fn->nrets; r++) { /* r == 0: the entry; then the RETs */
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

uint64_t oisp_bpf_lost(oisp_bpf *b) {
    if (b->lost_fd < 0) return 0;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    uint64_t *vals = calloc((size_t)ncpu, sizeof *vals);
    if (!vals) return 0;
    __u32 zero = 0;
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(b->lost_fd, &zero, vals) == 0)
        for (int i = 0; i < ncpu; i++) sum += vals[i];
    free(vals);
    return sum;
}

void oisp_bpf_close(oisp_bpf *b) {
    if (!b) return;
    for (size_t i = 0; i < b->nlinks; i++) bpf_link__destroy(b->links[i]);
    free(b->links);
    if (b->rb) ring_buffer__free(b->rb);
    if (b->obj) bpf_object__close(b->obj);
    free(b);
}

const char *oisp_bpf_libbpf_version(void) { return libbpf_version_string(); }
