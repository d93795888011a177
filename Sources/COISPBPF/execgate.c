/* The exec gate (see include/oisp_execgate.h): fanotify exec permission events. */
#define _GNU_SOURCE
#include "oisp_execgate.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
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
    int n = 0;
    for (struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
        if (m->vers != FANOTIFY_METADATA_VERSION) return -EPROTO;
        if (m->fd < 0) continue; /* queue overflow: nothing is held for it */
        if (!(m->mask & FAN_OPEN_EXEC_PERM) || n >= max) { /* not asked for; never left waiting */
            struct fanotify_response a = { .fd = m->fd, .response = FAN_ALLOW };
            if (m->mask & FAN_ALL_PERM_EVENTS) (void)!write(gate, &a, sizeof a);
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
