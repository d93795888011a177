extension SensorConfig {
    /// The configuration used when no file is given and /etc/oisp/config.toml does not exist.
    public static let embeddedDefault = """
    # oisp-sensor embedded default configuration
    [sensor]
    name = "${NODE_NAME:-oisp-sensor}"
    log_level = "info"

    [capture]
    ssl = true
    process = true
    network = true
    file = false

    [redaction]
    mode = "safe"

    [pipeline]
    batch_size = 512
    flush_interval_ms = 1000
    queue_size = 65536

    [metrics]
    addr = "127.0.0.1:9464"
    """
}
