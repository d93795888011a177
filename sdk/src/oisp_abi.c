/* Host-side helpers for the exporter ABI. Plugins never need this file. */
#include "oisp/exporter.h"

const char *oisp_export_result_name(int result) {
    switch (result) {
    case OISP_EXPORT_OK: return "OK";
    case OISP_EXPORT_RETRY: return "RETRY";
    case OISP_EXPORT_PERMANENT: return "PERMANENT";
    case OISP_EXPORT_INVALID_CONFIG: return "INVALID_CONFIG";
    default: return "UNKNOWN";
    }
}
