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
 *   OISP_EXPORTER_ABI_MAJOR / _MINOR are this header's version, fixed (never redefine them). The
 *   plugin reports the ABI it was built against in its table (`abi_major`/`abi_minor`) and the
 *   oldest host it runs on (`min_host_abi`, ABI 1.2; Falco's required-API-version rule). The
 *   host refuses (and says so, naming both versions, also in `oisp plugins list`) a plugin
 *   whose major differs from its own or whose `min_host_abi` is newer than the host. Within a
 *   major, fields are only ever appended to structs; every struct that crosses the boundary
 *   starts with `struct_size`, set by its producer, and a reader uses a field only if it lies
 *   inside `struct_size`: the host reads a 1.0 plugin's shorter table only up to its
 *   `struct_size` and defaults the rest (zero), and refuses only a table smaller than 1.0's; a
 *   plugin reads `status->rejected`, `batch->record_offset` or `batch->fields` only when the
 *   host's `struct_size` covers them (`oisp_batch_field` does that check). Records are an array
 *   and keep the 1.0 layout: what later minors add about a record goes in the batch.
 *
 * OWNERSHIP (stated once here, repeated on each pointer as "OWNERSHIP:")
 *   - Everything the host passes into a plugin function is owned by the host and valid only
 *     for the duration of that call. Copy what you need to keep.
 *   - Exception: the host API table (`oisp_host_api`) and its `host_ctx` stay valid from
 *     `on_create` until `on_destroy` has returned.
 *   - Everything a plugin returns (strings from `last_error`, the plugin table, its name and
 *     version strings) is owned by the plugin. A string returned by `last_error` need stay valid
 *     only until the next call on the same instance from the same thread, or `on_destroy` (the
 *     host copies it at once); the plugin table and its static strings must stay valid for the
 *     life of the process.
 *   - Nothing is ever freed across the boundary.
 *
 * THREADING (every rule in one place)
 *   - The host never calls `on_export`/`on_flush` concurrently on one instance unless the plugin
 *     sets OISP_EXPORTER_CAP_CONCURRENT_EXPORT in `capabilities`. With that bit, up to
 *     `max_in_flight` (host config, default 4) `on_export` calls run at once on different
 *     threads (batches may then complete out of order); `on_flush` and `on_destroy` still never
 *     overlap a call the host is waiting for.
 *   - Calls move between threads: consecutive calls on one instance (on_create, each on_export,
 *     on_flush, on_destroy) may each come from a different host thread. Keep no per-thread state
 *     across calls; thread-local storage is right only for what lives within one call, such as
 *     the `last_error` text (read on the SAME thread right after the call: see `last_error`).
 *   - `on_destroy` is called only after every other call on the instance has returned. An
 *     instance with an abandoned call (TIMEOUTS) is never flushed or destroyed: it is left to
 *     process exit.
 *   - Different instances (two `[export.*]` tables using one plugin) may be called concurrently
 *     from different threads: keep no mutable global state, or guard it.
 *   - Host API callbacks are thread-safe and may be called from any plugin thread.
 *   - Plugins must not install signal handlers, fork, or call exit().
 *
 * TIMEOUTS
 *   - `on_export` must return within the exporter's `timeout_ms` (passed in the config; default
 *     30000): give your client that timeout. The host waits timeout_ms plus a grace of
 *     min(5 s, max(1 s, timeout_ms)); a call still running then is ABANDONED, not cancelled (the
 *     host cannot stop a thread inside a plugin): the host counts the batch as a RETRY and PARKS
 *     the instance — it makes no further call on it (each attempt meanwhile counts as a RETRY,
 *     "plugin hung", without calling the plugin) until the abandoned call returns, which the
 *     host notices on its next attempt; the instance then resumes.
 *   - Whatever the abandoned call finally returns is ignored. If it did deliver, the host's retry
 *     delivers the same batch again: see DELIVERY.
 *   - At shutdown the host waits for in-flight calls only up to its shutdown deadline, then exits
 *     without flushing or destroying an instance whose call has not returned.
 *   - `on_flush` gets its own `timeout_ms` argument (what is left of the shutdown budget, at most
 *     the exporter's timeout_ms); the host waits for it at most timeout_ms plus 5 s.
 *
 * DELIVERY: AT-LEAST-ONCE
 *   - A batch the plugin was handed may reach the backend more than once: after a RETRY the
 *     plugin did not fully report (a backend that stored the data and then timed out), after an
 *     abandoned call that delivered late, after a crash. Nothing is lost that the host did not
 *     count as dropped (PERMANENT, rejected, retries exhausted, queue full, shutdown).
 *   - So a sink can de-duplicate: `batch_id` is the same on every attempt of a batch, including
 *     the attempts after a park, and unique per exporter instance and process start;
 *     `attempt` counts from 1; (batch_id, record_offset + i) names record i of the batch across
 *     attempts, also after a partial success (`status->accepted`) shortened it (ABI 1.2). Every
 *     record also carries its `event_id` (a ULID, unique per event and the same wherever the event
 *     goes): with a disk spool, a failed batch is written to disk and re-sent from there as a
 *     new batch (a new batch_id, possibly cut differently), and after a restart everything is
 *     new, so across the spool and restarts de-duplicate on `event_id`.
 *   - Batches of a concurrent plugin may complete out of order; within one non-concurrent
 *     instance, batches are sent in order and a batch is not followed by the next until it is
 *     settled (delivered, dropped or spooled).
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
 * batch is dropped, counted and logged). A result code the ABI does not define counts as
 * PERMANENT and is logged once per instance. Records the backend refuses for good while taking the
 * rest (too large, refused by a mapping) are reported in `status->rejected` (ABI 1.1) instead of
 * failing their whole batch: one bad record then costs only itself.
 * ---------------------------------------------------------------------------------------------
 */
#ifndef OISP_EXPORTER_H
#define OISP_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI major version of this header. A host refuses plugins with a different major. Fixed:
 *  never define it yourself (to run on older hosts, set `min_host_abi` in your table). */
#define OISP_EXPORTER_ABI_MAJOR 1
/** ABI minor version of this header. 1.1 added `oisp_export_status.rejected`; 1.2 added
 *  `oisp_exporter_plugin.min_host_abi`, `oisp_batch.record_offset`, the enum constants below and
 *  the per-thread `last_error` rule; 1.3 added `oisp_batch.fields` (each record's fields, so an
 *  exporter needs no JSON parser for a span, a label or a key), and later the call fields
 *  (OISP_EXPORTER_CAP_CALL_FIELDS, negotiated by that bit: no layout changed). Fixed, like the
 *  major. */
#define OISP_EXPORTER_ABI_MINOR 3

/** Marks the entry symbol as exported from the shared object, also when the plugin is built
 *  with -fvisibility=hidden (recommended: then nothing else of the plugin is visible). */
#if defined(_WIN32)
#define OISP_EXPORT_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define OISP_EXPORT_API __attribute__((visibility("default")))
#else
#define OISP_EXPORT_API
#endif

/** Name of the one symbol every plugin exports. */
#define OISP_EXPORTER_ENTRY_SYMBOL "oisp_exporter_entry"

/** Result codes of plugin calls. Any other value is a plugin bug: the host treats it as
 *  OISP_EXPORT_PERMANENT (the batch is dropped and counted as "permanent"; from on_create: the
 *  exporter is not started) and logs the unknown code once per instance. */
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

/** Record flags: bits of `oisp_record.flags` (a uint32_t). Enum constants (ABI 1.2; the values
 *  are those of the 1.0 macros), so Swift and other FFIs import them by name. */
typedef enum oisp_record_flag {
    OISP_RECORD_FLAG_TRUNCATED = 1u << 0, /**< payload was truncated at capture */
    OISP_RECORD_FLAG_REDACTED = 1u << 1   /**< redaction replaced content */
} oisp_record_flag;

/** Plugin capability bits: bits of `oisp_exporter_plugin.capabilities` (a uint64_t). Enum
 *  constants since ABI 1.2 (the value is that of the 1.0 macro). */
typedef enum oisp_exporter_capability {
    /** `on_export` is thread-safe: the host may run up to `max_in_flight` calls at once on one
     *  instance (see THREADING). */
    OISP_EXPORTER_CAP_CONCURRENT_EXPORT = 1u << 0,
    /** ABI 1.3: the plugin reads `oisp_batch.fields`. The host fills them only for plugins that
     *  set this bit (making them costs every record something); without it `fields` is NULL. */
    OISP_EXPORTER_CAP_RECORD_FIELDS = 1u << 1,
    /** With OISP_EXPORTER_CAP_RECORD_FIELDS, the fields also carry the call fields (see
     *  oisp_field): everything an OpenTelemetry GenAI span, its resource and the GenAI metrics of
     *  a call read, so such an exporter parses no JSON for AI events. A host that has them marks
     *  every record it hands over with the field `oisp.call_fields`: "1" when they are whole,
     *  "0" when the fields of scanned text (*) were left out (an older host ignores the bit: no
     *  mark). Read the JSON unless it says "1". Without this bit a plugin gets the 1.3 names. */
    OISP_EXPORTER_CAP_CALL_FIELDS = 1u << 2
} oisp_exporter_capability;

/** An ABI version (major, minor). */
typedef struct oisp_abi_version {
    uint32_t major;
    uint32_t minor;
} oisp_abi_version;

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

/** ABI 1.3: one field of an event: what a span, a stream label or a message key most often needs,
 *  handed over beside the JSON so an exporter can build one without a JSON parser. The value is
 *  the one the record's (redacted) JSON holds, as UTF-8 text: numbers in decimal.
 *  Names (OpenTelemetry's where it has one), and where each comes from:
 *    oisp.request_id                 data.request_id
 *    gen_ai.provider.name            data.provider.name
 *    gen_ai.request.model            data.model.id of an ai.request
 *    gen_ai.response.model           data.model.id of any other event (ai.response, ...)
 *    gen_ai.response.id              data.provider_request_id
 *    gen_ai.usage.input_tokens       data.usage.prompt_tokens
 *    gen_ai.usage.output_tokens      data.usage.completion_tokens
 *    gen_ai.response.finish_reasons  data.finish_reason
 *    gen_ai.usage.cost.amount        ext["oisp.cost"].amount, when priced
 *    gen_ai.usage.cost.currency      ext["oisp.cost"].currency, when priced
 *    host.name                       host.hostname
 *    process.pid                     process.pid
 *    process.executable.name         process.name
 *    container.id                    process.container_id
 *    k8s.namespace.name              ext["oisp.k8s"].namespace
 *    k8s.pod.name                    ext["oisp.k8s"].pod_name
 *    trace_id, span_id               trace_context.trace_id, .span_id (hex)
 *    http.response.status_code       data.status_code
 *  Call fields (only with OISP_EXPORTER_CAP_CALL_FIELDS; `oisp.call_fields` first on every
 *  record: "1" whole, "0" without the (*) ones), of ai.* events:
 *    oisp.request_type               data.request_type (*)
 *    url.full                        data.provider.endpoint
 *    gen_ai.usage.total_tokens       data.usage.total_tokens
 *    oisp.total_tokens               data.total_tokens (ai.embedding)
 *    gen_ai.request.temperature, gen_ai.request.max_tokens, gen_ai.request.top_p
 *                                    data.parameters.temperature, .max_tokens, .top_p
 *    oisp.streaming, oisp.success    data.streaming, data.success ("true" / "false")
 *    oisp.time_to_first_token_ms     data.time_to_first_token_ms
 *    oisp.latency_ms                 data.latency_ms
 *    gen_ai.conversation.id          data.conversation.id (*)
 *    error.type, oisp.error.message  data.error.type, data.error.message (*)
 *    oisp.choice.finish_reason       data.choices[i].finish_reason: one entry per choice
 *    oisp.cost.status                ext["oisp.cost"].status (priced, unpriced, ...)
 *    gen_ai.usage.cost.source        ext["oisp.cost"].price.source, when priced
 *    oisp.cost.unpriced_reason       ext["oisp.cost"].reason, when not priced
 *    oisp.cost.tokens.input, oisp.cost.tokens.output, gen_ai.usage.cache_read.input_tokens,
 *    gen_ai.usage.cache_creation.input_tokens, gen_ai.usage.reasoning.output_tokens
 *                                    ext["oisp.cost"].tokens.input, .output, .cache_read,
 *                                    .cache_write, .reasoning
 *  and of every event:
 *    process.executable.path         process.exe
 *    oisp.sensor.name                source.sensor_host
 *    k8s.pod.uid, k8s.container.name, k8s.node.name
 *                                    ext["oisp.k8s"].pod_uid, .container_name, .node_name
 *    oisp.k8s.container_image        ext["oisp.k8s"].container_image
 *    oisp.k8s.workload_kind, oisp.k8s.workload_name, oisp.k8s.owner_kind, oisp.k8s.owner_name
 *                                    ext["oisp.k8s"].workload_kind, ... (Deployment, Job, ...)
 *    oisp.k8s.service_account.name   ext["oisp.k8s"].service_account
 *    k8s.pod.label                   ext["oisp.k8s"].labels: one entry per label, "key=value"
 *  A name may appear more than once only where it says "one entry per" (read them all with a
 *  loop over `items`; oisp_batch_field gives the first). (*): text the redactor scans, so it is
 *  left out of a record in which the redactor replaced a finding (`oisp.call_fields` = "0"):
 *  read the JSON for those. A field the event does not have is left out; names may be added in
 *  later minors. */
typedef struct oisp_field { /* never grows: it is an element of an array */
    /** OWNERSHIP: host, NUL-terminated, static (compare with strcmp, or keep the pointer). */
    const char *name;
    /** OWNERSHIP: host, call duration. */
    oisp_bytes value;
} oisp_field;

/** ABI 1.3: the fields of one record (`oisp_batch.fields[i]` belongs to `records[i]`). This
 *  struct never grows: it is an element of an array. */
typedef struct oisp_record_fields {
    /** OWNERSHIP: host; `items[0..count)` valid only during the call. */
    const oisp_field *items;
    size_t count;
} oisp_record_fields;

/** A batch of records handed to `on_export`. */
typedef struct oisp_batch {
    /** sizeof(oisp_batch) as the host knows it. */
    size_t struct_size;
    /** Stable across retries of the same batch (also after the instance was parked: see
     *  TIMEOUTS), unique per exporter instance and process start, so a sink can de-duplicate
     *  (see DELIVERY). */
    uint64_t batch_id;
    /** 1 for the first try, 2 for the first retry, ... */
    uint32_t attempt;
    uint32_t reserved0;
    /** OWNERSHIP: host; `records[0..count)` valid only during the call. */
    const oisp_record *records;
    size_t count;
    /** ABI 1.2. Position of records[0] in the batch as first sent: 0 on the first attempt, and
     *  after a RETRY with `status->accepted` = n the retry carries only the records from n on, so
     *  (batch_id, record_offset + i) names record i across every attempt. Read it only when
     *  `struct_size` covers it (older hosts: treat as 0). */
    size_t record_offset;
    /** ABI 1.3. `fields[0..count)`, one entry per record, in the order of `records`, for a
     *  plugin that sets OISP_EXPORTER_CAP_RECORD_FIELDS (else NULL); read it with
     *  oisp_batch_field below, which checks `struct_size`. OWNERSHIP: host, call duration. */
    const oisp_record_fields *fields;
} oisp_batch;

/** ABI 1.3: the value of field `name` (see oisp_field) of `batch->records[i]`, or {NULL, 0}
 *  when the record has no such field, the plugin did not ask for fields
 *  (OISP_EXPORTER_CAP_RECORD_FIELDS) or the host is older than 1.3. */
static inline oisp_bytes oisp_batch_field(const oisp_batch *batch, size_t i, const char *name) {
    oisp_bytes none = {0, 0};
    if (!name || batch->struct_size < offsetof(oisp_batch, fields) + sizeof(batch->fields) || !batch->fields || i >= batch->count)
        return none;
    const oisp_record_fields *f = &batch->fields[i];
    for (size_t k = 0; k < f->count; k++) {
        const char *a = f->items[k].name, *b = name;
        while (*a && *a == *b) { a++; b++; }
        if (*a == *b) return f->items[k].value;
    }
    return none;
}

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
    /** ABI 1.1. With OISP_EXPORT_OK: how many records of the batch the backend refused for good
     *  while taking the rest (a message over the broker's size limit, a document the index
     *  mapping refuses); with OISP_EXPORT_RETRY: how many of the `accepted` prefix were refused.
     *  The plugin logs why; the host counts them as dropped (reason "rejected"), not exported,
     *  and never resends them. One bad record then costs itself, not its whole batch.
     *  Write it only when `struct_size` covers it (a 1.0 host does not have it). */
    size_t rejected;
} oisp_export_status;

/** One configuration entry rendered as text: scalars as written (booleans "true"/"false"),
 *  arrays of scalars comma-joined, nested tables flattened to "parent.child" keys. */
typedef struct oisp_config_entry {
    /** OWNERSHIP: host, NUL-terminated, call duration (on_create). */
    const char *key;
    /** OWNERSHIP: host, NUL-terminated, call duration (on_create). */
    const char *value;
} oisp_config_entry;

/** The exporter's own configuration: its `[export.<name>]` table, `${ENV}` already expanded,
 *  without the keys only the host uses (enabled, plugin, queue_size, queue_max_bytes, max_in_flight,
 *  retry_on_failure, spool). batch_size, flush_interval_ms and timeout_ms are applied by the
 *  host and also passed through, so a plugin can size its own buffers and timeouts. */
typedef struct oisp_exporter_config {
    /** sizeof(oisp_exporter_config) as the host knows it. */
    size_t struct_size;
    /** The instance name: the `<name>` of `[export.<name>]`. OWNERSHIP: host, NUL-terminated,
     *  call duration. */
    const char *instance_name;
    /** The whole table as a JSON object. OWNERSHIP: host, NUL-terminated, call duration. */
    const char *json;
    size_t json_len;
    /** The same table flattened to key/value text, for plugins that would rather not parse
     *  JSON. OWNERSHIP: host, call duration. */
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
    /** The ABI the plugin was built against: set to OISP_EXPORTER_ABI_MAJOR / _MINOR (it tells
     *  the host how to read this table; `min_host_abi` says which hosts may load it). */
    uint32_t abi_major;
    uint32_t abi_minor;
    /** Short name, e.g. "kafka". OWNERSHIP: plugin, static. Required. */
    const char *name;
    /** Plugin version, e.g. "1.2.0". OWNERSHIP: plugin, static. Required. */
    const char *version;
    /** One line for `oisp plugins list`. OWNERSHIP: plugin, static. Optional (NULL). */
    const char *description;
    /** JSON Schema of the plugin's config. OWNERSHIP: plugin, static. Optional (NULL). With
     *  "additionalProperties": false the host warns (file:line, key) about any key of the
     *  exporter's section not in "properties" — members of a table property closed the same
     *  way are checked too; the host's own keys (batch_size, flush_interval_ms, timeout_ms)
     *  always pass. */
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
     *  timeout (`timeout_ms` of the config) fires; a call past timeout_ms plus the host's grace
     *  is abandoned and the instance parked (see TIMEOUTS), and the batch may then be delivered
     *  twice (see DELIVERY). May run on a different thread from the previous call. `status` (OWNERSHIP: host, call duration) is zeroed by the host and may
     *  be filled in. */
    oisp_export_result (*on_export)(oisp_exporter_instance *instance, const oisp_batch *batch,
                                    oisp_export_status *status);
    /** Flush anything the plugin buffers internally. Optional (NULL: nothing to flush). Called
     *  on shutdown and config reload after the last on_export. */
    oisp_export_result (*on_flush)(oisp_exporter_instance *instance, uint32_t timeout_ms);
    /** Destroy the instance, stopping any threads it started. Required. */
    void (*on_destroy)(oisp_exporter_instance *instance);
    /** The text of the failure the calling thread's last call on this instance reported, or
     *  NULL. Required. When the host calls it, exactly: on the SAME thread, right after (with no
     *  other call on that thread in between) any on_create, on_export or on_flush that returned
     *  anything but OISP_EXPORT_OK, and after an on_export that returned OISP_EXPORT_OK with
     *  `status->rejected` > 0 (then: why records were refused). Never after a plain OK, so its
     *  value then does not matter. A plugin that runs concurrent exports should keep the text
     *  per thread (thread-local); one that does not may keep it per instance.
     *  OWNERSHIP: plugin; the host copies the text at once, and it need stay valid only until the
     *  next call on this instance from the same thread, or on_destroy. */
    const char *(*last_error)(oisp_exporter_instance *instance);

    /* ---- ABI 1.2 (a 1.0/1.1 plugin's table ends above; the host reads these as zero) ---- */

    /** The oldest host ABI this plugin runs on (Falco's required_api_version). The host refuses
     *  the plugin, naming both versions (also in `oisp plugins list`), when its own major differs
     *  or its own minor is older. {0, 0} — or a table too short to hold it — means "the ABI I was
     *  built against" (abi_major.abi_minor). A plugin built with this header that needs nothing
     *  newer than 1.0 sets {1, 0} and loads into every 1.2+ host (1.0 and 1.1 hosts check
     *  abi_minor instead and refuse it). */
    oisp_abi_version min_host_abi;
} oisp_exporter_plugin;

/**
 * The one exported entry symbol. Required.
 * Arguments: the host's ABI version.
 * Returns the plugin table (OWNERSHIP: plugin, process lifetime), or NULL if the plugin cannot
 * serve a host of that version.
 */
typedef const oisp_exporter_plugin *(*oisp_exporter_entry_fn)(uint32_t host_abi_major,
                                                              uint32_t host_abi_minor);

/** Declaration for plugins: define this function in exactly one file of the plugin, with
 *  OISP_EXPORT_API in front so it stays visible under -fvisibility=hidden. */
OISP_EXPORT_API const oisp_exporter_plugin *oisp_exporter_entry(uint32_t host_abi_major, uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* OISP_EXPORTER_H */
