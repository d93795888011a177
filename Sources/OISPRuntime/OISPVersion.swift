/// The sensor's version, shown by `version` and in `source.collector_version`.
public enum OISPVersion {
    public static let current = "0.1.0"
}
