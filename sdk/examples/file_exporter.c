/*
 * A complete oisp-sensor exporter in plain C, built against oisp/exporter.h alone:
 *
 *   cc -shared -fPIC -O2 -I sdk/include -o liboisp-exporter-cfile.so sdk/examples/file_exporter.c
 *
 * It appends each event as one JSON line to `path` (config key), and shows the whole ABI:
 * the entry symbol, the plugin table, create/export/flush/destroy, last_error, the host's
 * logging and counters, and the RETRY / PERMANENT result codes. It depends on libc only.
 *
 * The file only ever holds whole lines: a write that fails half-way through a line (disk full)
 * is cut back to the end of the last whole line before RETRY is returned, so the host's retry
 * (which resends from the first record not written) never leaves a torn line. A run that died
 * half-way through a line (killed, or another plugin crashed the process) leaves one behind: its
 * record was never acknowledged, so on_create cuts it off (a last line starting with '{'; other
 * text without a final newline is kept and ended with one) and the host sends the record again.
 * This assumes the exporter is the file's only writer.
 *
 *   [export.cfile]
 *   enabled = true
 *   path = "/var/log/oisp/c-events.jsonl"
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oisp/exporter.h"

struct oisp_exporter_instance {
    int fd;
    /* The file's length after the last whole line: where a failed write is cut back to. */
    off_t end;
    /* A cut-back failed: the file may end in a torn line until the next export cuts it. */
    int torn;
    /* The static out-of-memory instance below (never freed). */
    int is_static;
    const oisp_host_api *host; /* valid until on_destroy returns */
    char error[512];
};

/* Handed back when the instance itself cannot be allocated: the ABI asks on_create for an
 * instance even on failure, so the host can read why. Read-only; destroy leaves it alone. */
static oisp_exporter_instance out_of_memory = {
    .fd = -1, .is_static = 1, .error = "out of memory: cannot allocate the exporter instance",
};

static void set_error(oisp_exporter_instance *in, const char *what, const char *detail) {
    snprintf(in->error, sizeof in->error, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

static void host_log(oisp_exporter_instance *in, oisp_log_level level, const char *msg) {
    in->host->callback_log(in->host->host_ctx, level, msg, strlen(msg));
}

/* Writes all of buf, or fails. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The file's length up to and including its last newline (0 if it has none). */
static off_t last_whole_line(int fd, off_t size) {
    char buf[4096];
    while (size > 0) {
        off_t from = size > (off_t)sizeof buf ? size - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(size - from), from);
        if (n <= 0) return -1;
        for (ssize_t i = n - 1; i >= 0; i--)
            if (buf[i] == '\n') return from + i + 1;
        size = from;
    }
    return 0;
}

/* Cuts the file back to the end of its last whole line. */
static int cut_back(oisp_exporter_instance *in) {
    if (ftruncate(in->fd, in->end) != 0) {
        in->torn = 1;
        return -1;
    }
    in->torn = 0;
    return 0;
}

static oisp_export_result cfile_create(const oisp_exporter_config *config, const oisp_host_api *host,
                                       oisp_exporter_instance **out) {
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    if (!in) {
        *out = &out_of_memory; /* still an instance, so the host can show the error */
        return OISP_EXPORT_PERMANENT;
    }
    in->fd = -1;
    in->host = host;
    *out = in; /* handed back even on failure, so the host can read last_error */

    const char *path = NULL;
    for (size_t i = 0; i < config->entry_count; i++)
        if (strcmp(config->entries[i].key, "path") == 0) path = config->entries[i].value;
    if (!path || !*path) {
        set_error(in, "key 'path': required (the file to append events to)", NULL);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    in->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int readable = in->fd >= 0;
    if (in->fd < 0 && errno == EACCES) /* may append but not read: no repair of the last line */
        in->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (in->fd < 0) {
        set_error(in, path, strerror(errno));
        return OISP_EXPORT_INVALID_CONFIG;
    }
    in->end = lseek(in->fd, 0, SEEK_END);
    if (in->end < 0) {
        set_error(in, path, strerror(errno));
        return OISP_EXPORT_INVALID_CONFIG;
    }
    off_t whole = readable ? last_whole_line(in->fd, in->end) : in->end;
    char first = 0;
    if (whole >= 0 && whole < in->end && pread(in->fd, &first, 1, whole) != 1) whole = -1;
    if (whole < 0) {
        set_error(in, path, strerror(errno));
        return OISP_EXPORT_INVALID_CONFIG;
    }
    if (whole < in->end && first == '{') {
        /* a torn event from a run that died mid-write (killed, or another plugin crashed the
         * process): never acknowledged, so the host sends it again */
        char msg[128];
        snprintf(msg, sizeof msg, "cut a torn last line (%lld bytes) left by a run that died mid-write",
                 (long long)(in->end - whole));
        in->end = whole;
        if (cut_back(in) != 0) {
            set_error(in, "cannot cut a torn last line off the file", strerror(errno));
            return OISP_EXPORT_INVALID_CONFIG;
        }
        host_log(in, OISP_LOG_WARN, msg);
    } else if (whole < in->end) {
        /* someone else's text without a final newline: kept, and ended so our lines are whole */
        if (write_all(in->fd, "\n", 1) != 0) {
            set_error(in, "cannot end the file's last line", strerror(errno));
            return OISP_EXPORT_INVALID_CONFIG;
        }
        in->end += 1;
        host_log(in, OISP_LOG_WARN, "the file did not end with a newline: one was added before the first event");
    }
    host_log(in, OISP_LOG_INFO, "C file exporter ready");
    return OISP_EXPORT_OK;
}


static oisp_export_result cfile_export(oisp_exporter_instance *in, const oisp_batch *batch,
                                       oisp_export_status *status) {
    if (in->torn && cut_back(in) != 0) { /* the last failure's partial line is still there */
        set_error(in, "cannot cut a partial line off the file", strerror(errno));
        return OISP_EXPORT_RETRY; /* nothing of this batch written (accepted stays 0) */
    }
    for (size_t i = 0; i < batch->count; i++) {
        const oisp_record *r = &batch->records[i];
        if (write_all(in->fd, (const char *)r->json.ptr, r->json.len) != 0 || write_all(in->fd, "\n", 1) != 0) {
            char why[128];
            snprintf(why, sizeof why, "%s", strerror(errno));
            if (cut_back(in) != 0) {
                char both[384];
                snprintf(both, sizeof both, "%s; cutting the partial line off failed too: %s", why, strerror(errno));
                set_error(in, "write failed", both);
            } else {
                set_error(in, "write failed", why);
            }
            status->accepted = i; /* the first i records are whole lines; resend the rest */
            if (i > 0) in->host->callback_counter_add(in->host->host_ctx, "lines_written", i);
            return OISP_EXPORT_RETRY;
        }
        in->end += (off_t)r->json.len + 1;
    }
    in->host->callback_counter_add(in->host->host_ctx, "lines_written", batch->count);
    return OISP_EXPORT_OK;
}

static oisp_export_result cfile_flush(oisp_exporter_instance *in, uint32_t timeout_ms) {
    (void)timeout_ms;
    if (fsync(in->fd) != 0) {
        set_error(in, "fsync failed", strerror(errno)); /* the host logs last_error with the RETRY */
        return OISP_EXPORT_RETRY;
    }
    return OISP_EXPORT_OK;
}

static void cfile_destroy(oisp_exporter_instance *in) {
    if (!in || in->is_static) return;
    if (in->fd >= 0) close(in->fd);
    free(in);
}

static const char *cfile_last_error(oisp_exporter_instance *in) {
    return in && in->error[0] ? in->error : NULL;
}

static const oisp_exporter_plugin plugin = {
    .struct_size = sizeof(oisp_exporter_plugin),
    .abi_major = OISP_EXPORTER_ABI_MAJOR,
    .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = "cfile",
    .version = "0.1.0",
    .description = "Appends each event as one JSON line to a file (plain-C example)",
    /* The option table as JSON Schema: the host warns about any other key (closed), refuses a
     * value of the wrong type with file:line, and `oisp plugins describe` prints it. */
    .config_schema = "{\"type\":\"object\",\"required\":[\"path\"],\"additionalProperties\":false,\"properties\":{"
                     "\"path\":{\"type\":\"string\",\"description\":\"File to append events to, one JSON line each\"}}}",
    .capabilities = 0,
    .on_create = cfile_create,
    .on_export = cfile_export,
    .on_flush = cfile_flush,
    .on_destroy = cfile_destroy,
    .last_error = cfile_last_error,
    /* It needs nothing newer than ABI 1.0, so every 1.2+ host loads it (1.0/1.1 hosts check
     * abi_minor instead and refuse it). */
    .min_host_abi = {1, 0},
};

OISP_EXPORT_API const oisp_exporter_plugin *oisp_exporter_entry(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_minor; /* min_host_abi says what we need */
    return host_abi_major == OISP_EXPORTER_ABI_MAJOR ? &plugin : NULL;
}
