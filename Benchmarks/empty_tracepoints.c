/* "Empty probes" for the plain-HTTP row: attaches a BPF program that only returns 0 to each
 * tracepoint the sensor's plain-HTTP capture uses on this kernel — sock_send_length and
 * sock_recv_length (BTF tracepoints, 6.3+) where the kernel has them, else the syscall
 * tracepoints (sys_enter/exit of write, read, sendto, recvfrom, connect, accept4;
 * sys_enter_close) — writes the ready file given as argv[1] and waits for SIGINT/SIGTERM
 * (closing the descriptors detaches everything). The kernel's cost of having those tracepoints
 * on, as `record --noop-probes` gives it for uprobes.
 * Build: cc -O2 -o empty_tracepoints empty_tracepoints.c -lbpf   (run as root) */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *events[] = {
    "sys_enter_write", "sys_exit_write", "sys_enter_read", "sys_exit_read",
    "sys_enter_sendto", "sys_exit_sendto", "sys_enter_recvfrom", "sys_exit_recvfrom",
    "sys_enter_connect", "sys_exit_connect", "sys_enter_accept4", "sys_exit_accept4",
    "sys_enter_close",
};

static long tracepoint_id(const char *ev) {
    static const char *roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
    char p[256];
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "%s/events/syscalls/%s/id", roots[i], ev);
            FILE *f = fopen(p, "r");
            if (!f) continue;
            long id = -1;
            if (fscanf(f, "%ld", &id) != 1) id = -1;
            fclose(f);
            return id;
        }
        mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL); /* then try again */
    }
    return -1;
}

static void on_signal(int sig) { (void)sig; }

static const struct bpf_insn nop[] = {
    { .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
    { .code = 0x95 },                         /* exit */
};

/* An empty BTF tracepoint program on `name`; the descriptor keeps it attached. */
static int attach_btf_tracepoint(const char *name) {
    static struct btf *vmlinux;
    if (!vmlinux) vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) { fprintf(stderr, "no vmlinux BTF\n"); return -1; }
    char type[128];
    snprintf(type, sizeof type, "btf_trace_%s", name);
    int id = btf__find_by_name_kind(vmlinux, type, BTF_KIND_TYPEDEF);
    if (id < 0) { fprintf(stderr, "no BTF type %s\n", type); return -1; }
    LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_TRACE_RAW_TP, .attach_btf_id = (__u32)id);
    int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "oisp_bench_nop", "GPL", nop, 2, &o);
    if (prog < 0) { fprintf(stderr, "bpf_prog_load %s: %s\n", name, strerror(errno)); return -1; }
    int fd = bpf_raw_tracepoint_open(NULL, prog);
    if (fd < 0) { fprintf(stderr, "attaching to %s: %s\n", name, strerror(errno)); return -1; }
    return fd;
}

int main(int argc, char **argv) {
    mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL); /* if not mounted yet */
    if (access("/sys/kernel/tracing/events/sock/sock_send_length", F_OK) == 0) {
        if (attach_btf_tracepoint("sock_send_length") < 0 || attach_btf_tracepoint("sock_recv_length") < 0) return 1;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (argc > 1) { FILE *f = fopen(argv[1], "w"); if (f) fclose(f); }
        pause();
        return 0;
    }
    struct bpf_insn insns[] = {
        { .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
        { .code = 0x95 },                         /* exit */
    };
    int prog = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "oisp_bench_nop", "GPL", insns, 2, NULL);
    if (prog < 0) { fprintf(stderr, "bpf_prog_load: %s\n", strerror(errno)); return 1; }
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        long id = tracepoint_id(events[i]);
        if (id < 0) { fprintf(stderr, "no tracepoint syscalls/%s\n", events[i]); return 1; }
        struct perf_event_attr a = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof a, .config = (unsigned long long)id,
                                     .sample_period = 1, .wakeup_events = 1 };
        int fd = (int)syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0 || ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
            fprintf(stderr, "attaching to syscalls/%s: %s\n", events[i], strerror(errno));
            return 1;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (argc > 1) { FILE *f = fopen(argv[1], "w"); if (f) fclose(f); }
    pause();
    return 0;
}
