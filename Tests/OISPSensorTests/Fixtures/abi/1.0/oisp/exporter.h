/*
 * oisp/exporter.h — the stable C ABI between the oisp-sensor host and exporter plugins.
 *
 * An exporter is a shared object (liboisp-exporter-<name>.so) that exports ONE symbol,
 * `oisp_exporter_entry`, returning a table of function pointers. This header depends only on
 * <stdint.h> and <stddef.h>; a plugin written in plain C needs nothing else (and may depend on
 * libc only).
 *
 * ---------------------------------------------------------------------------------------------
 * VERSIONING
 *   OISP_EXPORTER_ABI_MAJOR / _MINOR. The plugin reports the ABI it was built against in its
 *   table. The host refuses (and says so, naming both versions) a plugin whose major differs
 *   from its own, or whose minor is NEWER than its own. Within a major, fields are only ever
 *   appended to structs; every struct that crosses the boundary starts with `struct_size`, set
 *   by its producer, and a reader uses a field only if it lies inside `struct_size`.
 *
 * OWNERSHIP (stated once here, repeated on each pointer as "OWNERSHIP:")
 *   - Everything the host passes into a plugin function is owned by the host and valid only
 *     for the duration of that call. Copy what you need to keep.
 *   - Exception: the host API table (`oisp_host_api`) and its `host_ctx` stay valid from
 *     `on_create` until `on_destroy` has returned.
 *   - Everything a plugin returns (strings from `last_error`, the plugin table, its name and
 *     version strings) is owned by the plugin. Strings returned by `last_error` stay valid until
 *     the next call on the same instance or `on_destroy`; the plugin table and its static
 *     strings must stay valid for the life of the process.
 *   - Nothing is ever freed across the boundary.
 *
 * THREADING
 *   - The host never calls `on_export`/`on_flush` concurrently on one instance unless the plugin
 *     sets OISP_EXPORTER_CAP_CONCURRENT_EXPORT in `capabilities`.
 *   - `on_destroy` is called only after every other call on the instance has returned.
 *   - Different instances may be called concurrently from different threads.
 *   - Host API callbacks are thread-safe and may be called from any plugin thread.
 *   - Plugins must not install signal handlers, fork, or call exit().
 *
 * LIFETIME AND TRUST
 *   - Plugins are never unloaded (no dlclose): the Swift runtime cannot unload images, and a
 *     plugin's threads must be stopped in `on_destroy`.
 *   - Plugins run in-process, as root, beside the BPF programs: a crashing plugin takes the
 *     sensor down. This is why the host checks ABI versions, file ownership and permissions
 *     before loading anything, and loads only from root-owned, non-world-writable directories.
 *   - Plugins see only REDACTED event JSON; the host applies redaction before export.
 *
 * RETRIES AND BATCHING belong to the host (one policy for every exporter, like the OpenTelemetry
 * Collector's exporterhelper): a plugin sends one batch per `on_export` call and reports
 * OISP_EXPORT_OK, OISP_EXPORT_RETRY (the host retries the same batch, same `batch_id`, with
 * exponential backoff and jitter, honouring `retry_after_ms`) or OISP_EXPORT_PERMANENT (the
 * batch is dropped, counted and logged).
 * ---------------------------------------------------------------------------------------------
 */
#ifndef OISP_EXPORTER_H
#define OISP_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI major version. A host refuses plugins with a different major. */
#ifndef OISP_EXPORTER_ABI_MAJOR
#define OISP_EXPORTER_ABI_MAJOR 1
#endif
/** ABI minor version. A host refuses plugins whose minor is newer than its own. */
#ifndef OISP_EXPORTER_ABI_MINOR
#define OISP_EXPORTER_ABI_MINOR 0
#endif

/** Name of the one symbol every plugin exports. */
#define OISP_EXPORTER_ENTRY_SYMBOL "oisp_exporter_entry"

/** Result codes of plugin calls. */
typedef enum oisp_export_result {
    /** Success. */
    OISP_EXPORT_OK = 0,
    /** Transient failure (backend down, throttled, timeout): the host retries the batch. */
    OISP_EXPORT_RETRY = 1,
    /** The batch can never succeed (rejected by the backend): the host drops and counts it. */
    OISP_EXPORT_PERMANENT = 2,
    /** `on_create` only: the configuration is invalid; the error text says which key and why. */
    OISP_EXPORT_INVALID_CONFIG = 3
} oisp_export_result;

/** Log levels for `oisp_host_api.callback_log`. */
typedef enum oisp_log_level {
    OISP_LOG_TRACE = 0,
    OISP_LOG_DEBUG = 1,
    OISP_LOG_INFO = 2,
    OISP_LOG_WARN = 3,
    OISP_LOG_ERROR = 4
} oisp_log_level;

/** Record flags. */
#define OISP_RECORD_FLAG_TRUNCATED ((uint32_t)1u << 0) /**< payload was truncated at capture */
#define OISP_RECORD_FLAG_REDACTED ((uint32_t)1u << 1)  /**< redaction replaced content */

/** Plugin capability bits (`oisp_exporter_plugin.capabilities`). */
#define OISP_EXPORTER_CAP_CONCURRENT_EXPORT ((uint64_t)1u << 0) /**< on_export is thread-safe */

/** A byte string that is NOT NUL-terminated. */
typedef struct oisp_bytes {
    /** OWNERSHIP: host; valid only during the call it is passed to. May be NULL when len == 0. */
    const uint8_t *ptr;
    size_t len;
} oisp_bytes;

/** One event, already redacted, serialised as one OISP JSON object (no trailing newline). */
typedef struct oisp_record {
    /** sizeof(oisp_record) as the host knows it. */
    size_t struct_size;
    /** Event type, e.g. "ai.request". OWNERSHIP: host, NUL-terminated, call duration. */
    const char *event_type;
    /** Event timestamp, nanoseconds since the Unix epoch (UTC). */
    int64_t timestamp_ns;
    /** Partition key (stable per host+process, so one process's events stay in order).
     *  OWNERSHIP: host, call duration. */
    oisp_bytes partition_key;
    /** Event id (ULID, 26 chars) for de-duplication. OWNERSHIP: host, call duration. */
    oisp_bytes event_id;
    /** OISP_RECORD_FLAG_* bits. */
    uint32_t flags;
    uint32_t reserved0;
    /** The event JSON. OWNERSHIP: host, call duration. */
    oisp_bytes json;
} oisp_record;

/** A batch of records handed to `on_export`. */
typedef struct oisp_batch {
    /** sizeof(oisp_batch) as the host knows it. */
    size_t struct_size;
    /** Stable across retries of the same batch, unique per exporter instance and process start,
     *  so a sink can de-duplicate. */
    uint64_t batch_id;
    /** 1 for the first try, 2 for the first retry, ... */
    uint32_t attempt;
    uint32_t reserved0;
    /** OWNERSHIP: host; `records[0..count)` valid only during the call. */
    const oisp_record *records;
    size_t count;
} oisp_batch;

/** Result details an `on_export` call may fill in (the host zeroes it before the call). */
typedef struct oisp_export_status {
    /** sizeof(oisp_export_status) as the host knows it. */
    size_t struct_size;
    /** With OISP_EXPORT_RETRY: how many leading records of the batch were accepted and must not
     *  be resent (partial success). The host retries only records[accepted..count). */
    size_t accepted;
    /** With OISP_EXPORT_RETRY: the backend's Retry-After in milliseconds, or 0 for "use the
     *  host's backoff". */
    uint64_t retry_after_ms;
} oisp_export_status;

/** One top-level scalar configuration entry, rendered as text (booleans "true"/"false"). */
typedef struct oisp_config_entry {
    /** OWNERSHIP: host, NUL-terminated, call duration (on_create). */
    const char *key;
    /** OWNERSHIP: host, NUL-terminated, call duration (on_create). */
    const char *value;
} oisp_config_entry;

/** The exporter's own configuration: its `[export.<name>]` table, `${ENV}` already expanded,
 *  without the keys the host owns (enabled, plugin, batch_size, flush_interval_ms,
 *  queue_size, retry_on_failure, timeout_ms is passed through). */
typedef struct oisp_exporter_config {
    /** sizeof(oisp_exporter_config) as the host knows it. */
    size_t struct_size;
    /** The instance name: the `<name>` of `[export.<name>]`. OWNERSHIP: host, NUL-terminated,
     *  call duration. */
    const char *instance_name;
    /** The whole table as a JSON object. OWNERSHIP: host, NUL-terminated, call duration. */
    const char *json;
    size_t json_len;
    /** Top-level scalar keys, for plugins that would rather not parse JSON.
     *  OWNERSHIP: host, call duration. */
    const oisp_config_entry *entries;
    size_t entry_count;
} oisp_exporter_config;

/** Services the host offers a plugin instance. Valid from on_create until on_destroy returns.
 *  All callbacks are thread-safe. */
typedef struct oisp_host_api {
    /** sizeof(oisp_host_api) as the host knows it. */
    size_t struct_size;
    /** Opaque; pass back to every callback. OWNERSHIP: host, instance lifetime. */
    void *host_ctx;
    /** Log a message through the sensor's logger. `msg` need not be NUL-terminated.
     *  Never log secrets. Required (never NULL). */
    void (*callback_log)(void *host_ctx, oisp_log_level level, const char *msg, size_t msg_len);
    /** Add `delta` to a plugin counter named `name` (NUL-terminated, [a-z0-9_]), exposed as
     *  oisp_plugin_<name>_total{exporter="<instance>"}. Required (never NULL). */
    void (*callback_counter_add)(void *host_ctx, const char *name, uint64_t delta);
    /** Wall-clock time, nanoseconds since the Unix epoch. Required (never NULL). */
    int64_t (*callback_now_ns)(void *host_ctx);
} oisp_host_api;

/** Opaque plugin instance. */
typedef struct oisp_exporter_instance oisp_exporter_instance;

/** The plugin's table, returned by `oisp_exporter_entry`. */
typedef struct oisp_exporter_plugin {
    /** sizeof(oisp_exporter_plugin) as the plugin knows it. */
    size_t struct_size;
    /** The ABI the plugin was built against: set to OISP_EXPORTER_ABI_MAJOR / _MINOR. */
    uint32_t abi_major;
    uint32_t abi_minor;
    /** Short name, e.g. "kafka". OWNERSHIP: plugin, static. Required. */
    const char *name;
    /** Plugin version, e.g. "1.2.0". OWNERSHIP: plugin, static. Required. */
    const char *version;
    /** One line for `oisp plugins list`. OWNERSHIP: plugin, static. Optional (NULL). */
    const char *description;
    /** JSON Schema of the plugin's config. OWNERSHIP: plugin, static. Optional (NULL). */
    const char *config_schema;
    /** OISP_EXPORTER_CAP_* bits. */
    uint64_t capabilities;

    /** Create an instance. Required.
     *  Arguments: `config` (OWNERSHIP: host, call duration), `host` (OWNERSHIP: host, valid until
     *  on_destroy returns), `out_instance` receives the instance.
     *  Returns OISP_EXPORT_OK, or an error code. On error the plugin SHOULD still store an
     *  instance in *out_instance so the host can read `last_error`; the host then calls
     *  on_destroy on it. */
    oisp_export_result (*on_create)(const oisp_exporter_config *config, const oisp_host_api *host,
                                    oisp_exporter_instance **out_instance);
    /** Send one batch. Required. Blocks until the backend has answered or the plugin's own
     *  timeout fires. `status` (OWNERSHIP: host, call duration) is zeroed by the host and may
     *  be filled in. */
    oisp_export_result (*on_export)(oisp_exporter_instance *instance, const oisp_batch *batch,
                                    oisp_export_status *status);
    /** Flush anything the plugin buffers internally. Optional (NULL: nothing to flush). Called
     *  on shutdown and config reload after the last on_export. */
    oisp_export_result (*on_flush)(oisp_exporter_instance *instance, uint32_t timeout_ms);
    /** Destroy the instance, stopping any threads it started. Required. */
    void (*on_destroy)(oisp_exporter_instance *instance);
    /** The last error of this instance as text, or NULL. OWNERSHIP: plugin; valid until the
     *  next call on the instance or on_destroy. Required. */
    const char *(*last_error)(oisp_exporter_instance *instance);
} oisp_exporter_plugin;

/**
 * The one exported entry symbol. Required.
 * Arguments: the host's ABI version.
 * Returns the plugin table (OWNERSHIP: plugin, process lifetime), or NULL if the plugin cannot
 * serve a host of that version.
 */
typedef const oisp_exporter_plugin *(*oisp_exporter_entry_fn)(uint32_t host_abi_major,
                                                              uint32_t host_abi_minor);

/** Declaration for plugins: define this function in exactly one file of the plugin. */
const oisp_exporter_plugin *oisp_exporter_entry(uint32_t host_abi_major, uint32_t host_abi_minor);

/** Host-side helper (not for plugins; plugins must depend on libc only): the name of a result
 *  code, e.g. "RETRY". */
const char *oisp_export_result_name(int result);

#ifdef __cplusplus
}
#endif

#endif /* OISP_EXPORTER_H */
