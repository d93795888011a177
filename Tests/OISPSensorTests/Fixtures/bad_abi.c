/* Test fixture: a plugin that claims ABI major 99. The host must refuse it, naming both versions. */
#include "oisp/exporter.h"
static oisp_export_result c(const oisp_exporter_config *a, const oisp_host_api *b, oisp_exporter_instance **o) { (void)a; (void)b; *o = 0; return OISP_EXPORT_OK; }
static oisp_export_result e(oisp_exporter_instance *i, const oisp_batch *b, oisp_export_status *s) { (void)i; (void)b; (void)s; return OISP_EXPORT_OK; }
static void d(oisp_exporter_instance *i) { (void)i; }
static const char *l(oisp_exporter_instance *i) { (void)i; return 0; }
static const oisp_exporter_plugin t = { sizeof(oisp_exporter_plugin), 99, 0, "badabi", "9.9.9", 0, 0, 0, c, e, 0, d, l };
const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) { (void)ma; (void)mi; return &t; }
