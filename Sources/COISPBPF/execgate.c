/* The exec gate (see include/oisp_execgate.h): fanotify exec permission events. */
#define _GNU_SOURCE
#include "oisp_execgate.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/vfs.h>
#include <unistd.h>

static void gate_err(char *err, size_t errlen, const char *what, int e) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", what, strerror(e));
}

int oisp_execgate_open(char *err, size_t errlen) {
    int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        gate_err(err, errlen, e == EINVAL ? "fanotify_init (kernel without fanotify permission events?)" : "fanotify_init", e);
        return -e;
    }
    return fd;
}

int oisp_execgate_mark(int gate, const char *path, int fd, char *err, size_t errlen) {
    int r = path ? fanotify_mark(gate, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM, AT_FDCWD, path)
                 : fanotify_mark(gate, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM, fd, NULL);
    if (r != 0) {
        int e = errno;
        char what[512];
        snprintf(what, sizeof what, "fanotify_mark(FAN_OPEN_EXEC_PERM) on the filesystem of %s", path ? path : "an executable");
        gate_err(err, errlen, what, e);
        return -e;
    }
    return 0;
}

int oisp_execgate_read(int gate, int mounts, int *mounts_changed, oisp_exec_request *out, int max, int timeout_ms) {
    struct pollfd p[2] = { { .fd = gate, .events = POLLIN }, { .fd = mounts, .events = POLLPRI } };
    int r = poll(p, mounts >= 0 ? 2 : 1, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : -errno;
    if (mounts >= 0 && mounts_changed && (p[1].revents & (POLLPRI | POLLERR))) *mounts_changed = 1;
    if (!(p[0].revents & POLLIN)) return 0;
    /* a read returns whole events only; `max` bounds how many fit */
    char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
    size_t cap = (size_t)max * sizeof(struct fanotify_event_metadata);
    if (cap > sizeof buf) cap = sizeof buf;
    ssize_t len = read(gate, buf, cap);
    if (len < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
    if (len == 0) return -EPIPE; /* released (oisp_execgate_release): nothing more will come */
    int n = 0;
    for (struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
        if (m->fd < 0) continue; /* queue overflow: nothing is held for it */
        /* not asked for, or not understood: allowed at once, never left waiting */
        if (m->vers != FANOTIFY_METADATA_VERSION || !(m->mask & FAN_OPEN_EXEC_PERM) || n >= max) {
            struct fanotify_response a = { .fd = m->fd, .response = FAN_ALLOW };
            if (m->mask & (FAN_ALL_PERM_EVENTS | FAN_OPEN_EXEC_PERM)) (void)!write(gate, &a, sizeof a);
            close(m->fd);
            continue;
        }
        out[n].fd = m->fd;
        out[n].pid = m->pid;
        n++;
    }
    return n;
}

int oisp_execgate_allow(int gate, int fd, int remember) {
    struct fanotify_response a = { .fd = fd, .response = FAN_ALLOW };
    int r = 0;
    if (write(gate, &a, sizeof a) != (ssize_t)sizeof a) r = -errno;
    if (remember && r == 0)
        (void)fanotify_mark(gate, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_EXEC_PERM, fd, NULL);
    close(fd);
    return r;
}

/* Release: the gate's descriptor is pointed at /dev/null (dup2, async-signal-safe), which drops
 * the fanotify group: the kernel allows every exec still waiting and holds no more. The number
 * stays open, so answers still being written go nowhere instead of to a reused descriptor. */
static int devnull_fd = -1;
static volatile sig_atomic_t guarded_fd = -1;
static struct sigaction previous[NSIG];

int oisp_execgate_release(int gate) {
    if (devnull_fd < 0) devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull_fd < 0) return -errno;
    if (guarded_fd == gate) guarded_fd = -1;
    return dup3(devnull_fd, gate, O_CLOEXEC) < 0 ? -errno : 0;
}

/* A fatal signal in the sensor (its crash reporter then stops every thread and runs a helper
 * program, which this very gate would hold) releases the gate first, then goes on to the handler
 * that was there before. */
static void on_fatal(int sig, siginfo_t *si, void *uc) {
    int fd = guarded_fd;
    if (fd >= 0 && devnull_fd >= 0) {
        guarded_fd = -1;
        dup3(devnull_fd, fd, O_CLOEXEC);
    }
    struct sigaction *p = &previous[sig];
    if (p->sa_flags & SA_SIGINFO) {
        if (p->sa_sigaction) p->sa_sigaction(sig, si, uc);
        return;
    }
    if (p->sa_handler == SIG_IGN) return;
    if (p->sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    p->sa_handler(sig);
}

int oisp_execgate_guard(int gate) {
    if (devnull_fd < 0) devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull_fd < 0) return -errno;
    static int installed;
    if (!installed) {
        installed = 1;
        const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_fatal;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
            sigemptyset(&sa.sa_mask);
            sigaction(sigs[i], &sa, &previous[sigs[i]]);
        }
    }
    guarded_fd = gate;
    return 0;
}

int oisp_execgate_remote_fs(int fd) {
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -errno;
    switch ((unsigned long)fs.f_type) {
    case 0x6969UL:     /* NFS */
    case 0xFF534D42UL: /* CIFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0x517BUL:     /* SMB */
    case 0x00C36400UL: /* Ceph */
    case 0x65735546UL: /* FUSE */
    case 0x0BD00BD0UL: /* Lustre */
        return 1;
    default:
        return 0;
    }
}

long oisp_execgate_fs_magic(int fd) {
    struct statfs fs;
    return fstatfs(fd, &fs) == 0 ? (long)fs.f_type : -errno;
}
