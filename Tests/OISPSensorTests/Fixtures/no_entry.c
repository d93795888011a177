/* Test fixture: a shared object without the oisp_exporter_entry symbol. */
int some_other_function(void) { return 42; }
