/* The exporter ABI's layout, checked at compile time (host side; plugins never need this file).
 *
 * Within a major, fields are only appended: every field a 1.0 or 1.1 plugin was built with must
 * stay at the offset it had, or every plugin built then reads garbage. These assertions fail the
 * build of the sensor if an edit of oisp/exporter.h moves one (LP64: Linux x86-64 and arm64). */
#include <stddef.h>
#include "oisp/exporter.h"

#define AT(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field " moved: the ABI allows appending only")

#if UINTPTR_MAX == 0xffffffffffffffffu
/* ABI 1.0 */
AT(oisp_exporter_plugin, struct_size, 0);
AT(oisp_exporter_plugin, abi_major, 8);
AT(oisp_exporter_plugin, abi_minor, 12);
AT(oisp_exporter_plugin, name, 16);
AT(oisp_exporter_plugin, version, 24);
AT(oisp_exporter_plugin, description, 32);
AT(oisp_exporter_plugin, config_schema, 40);
AT(oisp_exporter_plugin, capabilities, 48);
AT(oisp_exporter_plugin, on_create, 56);
AT(oisp_exporter_plugin, on_export, 64);
AT(oisp_exporter_plugin, on_flush, 72);
AT(oisp_exporter_plugin, on_destroy, 80);
AT(oisp_exporter_plugin, last_error, 88); /* the 1.0 and 1.1 table is 96 bytes */
AT(oisp_record, struct_size, 0);
AT(oisp_record, event_type, 8);
AT(oisp_record, timestamp_ns, 16);
AT(oisp_record, partition_key, 24);
AT(oisp_record, event_id, 40);
AT(oisp_record, flags, 56);
AT(oisp_record, json, 64);
AT(oisp_batch, batch_id, 8);
AT(oisp_batch, attempt, 16);
AT(oisp_batch, records, 24);
AT(oisp_batch, count, 32);
AT(oisp_export_status, accepted, 8);
AT(oisp_export_status, retry_after_ms, 16);
AT(oisp_exporter_config, instance_name, 8);
AT(oisp_exporter_config, json, 16);
AT(oisp_exporter_config, json_len, 24);
AT(oisp_exporter_config, entries, 32);
AT(oisp_exporter_config, entry_count, 40);
AT(oisp_host_api, host_ctx, 8);
AT(oisp_host_api, callback_log, 16);
AT(oisp_host_api, callback_counter_add, 24);
AT(oisp_host_api, callback_now_ns, 32);
/* ABI 1.1 */
AT(oisp_export_status, rejected, 24);
/* ABI 1.2 */
AT(oisp_exporter_plugin, min_host_abi, 96);
AT(oisp_batch, record_offset, 40);
#endif

_Static_assert(OISP_RECORD_FLAG_TRUNCATED == 1 && OISP_RECORD_FLAG_REDACTED == 2, "record flag values are ABI");
_Static_assert(OISP_EXPORTER_CAP_CONCURRENT_EXPORT == 1, "capability values are ABI");
_Static_assert(OISP_EXPORT_OK == 0 && OISP_EXPORT_RETRY == 1 && OISP_EXPORT_PERMANENT == 2 && OISP_EXPORT_INVALID_CONFIG == 3,
               "result codes are ABI");
