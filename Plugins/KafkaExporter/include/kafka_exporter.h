/* The Kafka exporter has no public API: it exports only oisp_exporter_entry (oisp/exporter.h). */
