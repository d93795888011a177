/* The exec gate: new executables are looked at before they run.
 *
 * A fanotify group of class FAN_CLASS_CONTENT marks whole filesystems for FAN_OPEN_EXEC_PERM
 * (Linux 5.0+, CONFIG_FANOTIFY_ACCESS_PERMISSIONS): every execve (and its ELF interpreter) then
 * waits in the kernel until the sensor answers. The sensor probes what the file needs (Go
 * crypto/tls, static BoringSSL or OpenSSL) and answers FAN_ALLOW — always allow: the gate never
 * refuses an exec — so a short-lived program is captured from its first instruction. An inode that
 * was answered gets an ignore mark, so its later execs are not held at all (the mark goes when the
 * file is modified). If the sensor exits, the kernel allows whatever was waiting. */
#ifndef OISP_EXECGATE_H
#define OISP_EXECGATE_H
#include <stddef.h>

typedef struct {
    int fd;   /* the file being exec'd, open read-only: answer it, which closes it */
    int pid;  /* the process exec'ing it */
} oisp_exec_request;

/* A new gate: its fd, or -errno with the reason in err. */
int oisp_execgate_open(char *err, size_t errlen);

/* Marks the filesystem holding `path` (or, with path NULL, the file open as `fd`): 0 or -errno. */
int oisp_execgate_mark(int gate, const char *path, int fd, char *err, size_t errlen);

/* Waits up to timeout_ms for requests: how many were stored in out (0 on timeout), or -errno.
 * `mounts` (or -1): an open /proc/<pid>/mountinfo; *mounts_changed is set when its mount table
 * changed (a new filesystem to mark: a container's root is mounted before its first exec). */
int oisp_execgate_read(int gate, int mounts, int *mounts_changed, oisp_exec_request *out, int max, int timeout_ms);

/* Allows the exec and closes the request's fd; with `remember`, later execs of the same file are
 * not held (an ignore mark on its inode). 0 or -errno (the fd is closed either way). */
int oisp_execgate_allow(int gate, int fd, int remember);

/* 1 when the file open as `fd` is on a filesystem served by another process or machine (NFS,
 * SMB, Ceph, FUSE, Lustre): the kernel opens each held file for the gate, and a stalled server
 * would stall it, so such filesystems are not marked. 0, or -errno. */
int oisp_execgate_remote_fs(int fd);

/* The statfs f_type of the file open as `fd`, or -errno. */
long oisp_execgate_fs_magic(int fd);

/* Drops the gate (every waiting exec is allowed, none is held again) without freeing its
 * descriptor number, which then reads as end of file (oisp_execgate_read: -EPIPE). 0 or -errno. */
int oisp_execgate_release(int gate);

/* Releases the gate on a fatal signal, before the handler installed before it runs (a crash
 * reporter that starts a program would otherwise wait on this gate forever). 0 or -errno. */
int oisp_execgate_guard(int gate);
#endif
