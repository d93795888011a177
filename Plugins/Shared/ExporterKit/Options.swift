// The option table of an exporter (Fluent Bit's config_map): each key once, with its type,
// default and help. The kit turns it into the plugin's `config_schema` — closed (the host warns
// about any other key, with file:line and "did you mean"), typed (the host refuses a value of the
// wrong type with file:line, the key and what was expected, at `config check`, start and reload)
// and documented (`oisp plugins describe NAME` prints key, type, default and help from it).
import OISPJSON

/// One option an exporter takes.
public struct Option {
    public enum Kind {
        /// true/false or On/Off (any case); anything else is an error.
        case bool
        /// An integer, at least `min` when given.
        case int(min: Int?)
        /// `100M`, `512K`, `1G` or a byte count.
        case size
        /// `500ms`, `30s`, `1m`, `1h` or a number of seconds.
        case duration
        case string
        /// One of these strings.
        case choice([String])
        /// A TOML array, or its items comma-separated in one string.
        case list
        /// A table with these members (closed: any other member is warned about).
        case table([Option])
        /// A table with any members (header names, pass-through properties).
        case openTable
        /// `true`/`false`, or a table with these members (Fluent Bit's `tls`).
        case boolOrTable([Option])
        /// A table with any members, or a list of strings (Fluent Bit's `header "Name Value"`).
        case openTableOrList
    }
    public var key: String
    public var kind: Kind
    /// The value used when the key is absent, as written in config.toml (nil: none / derived).
    public var defaultValue: String?
    public var required: Bool
    public var help: String

    public init(_ key: String, _ kind: Kind, default d: String? = nil, required: Bool = false, _ help: String) {
        self.key = key; self.kind = kind; self.defaultValue = d; self.required = required; self.help = help
    }

    var schema: JSONValue {
        var o = JSONObject()
        func members(_ ms: [Option]) {
            o["additionalProperties"] = .bool(false)
            o["properties"] = .object(optionProperties(ms))
        }
        switch kind {
        case .bool: o["type"] = .string("boolean")
        case .int(let min):
            o["type"] = .string("integer")
            if let min { o["minimum"] = .int(Int64(min)) }
        case .size: o["format"] = .string("size")
        case .duration: o["format"] = .string("duration")
        case .string: o["type"] = .string("string")
        case .choice(let values):
            o["type"] = .string("string")
            o["enum"] = .array(values.map(JSONValue.string))
        case .list: o["type"] = .array([.string("array"), .string("string")])
        case .table(let ms): o["type"] = .string("object"); members(ms)
        case .openTable: o["type"] = .string("object")
        case .boolOrTable(let ms): o["type"] = .array([.string("boolean"), .string("object")]); members(ms)
        case .openTableOrList: o["type"] = .array([.string("object"), .string("array")])
        }
        if let d = defaultValue { o["default"] = .string(d) }
        o["description"] = .string(help)
        return .object(o)
    }
}

func optionProperties(_ options: [Option]) -> JSONObject {
    var p = JSONObject()
    for opt in options { p[opt.key] = opt.schema }
    return p
}

/// The `config_schema` for an option table: a closed, typed, documented JSON Schema.
public func optionsSchema(_ options: [Option]) -> String {
    var o = JSONObject()
    o["type"] = .string("object")
    let required = options.filter(\.required).map { JSONValue.string($0.key) }
    if !required.isEmpty { o["required"] = .array(required) }
    o["additionalProperties"] = .bool(false)
    o["properties"] = .object(optionProperties(options))
    return JSONValue.object(o).jsonString()
}

/// Fluent Bit's booleans, the one rule of every bundled exporter and of the host's check:
/// true/false or On/Off, any case. "yes", "1" and the like are errors, never a silent false.
public func parseBool(_ key: String, _ v: String) throws -> Bool {
    switch v.lowercased() {
    case "true", "on": return true
    case "false", "off": return false
    default: throw ConfigError(key, "expected a boolean (true/false or On/Off), got '\(v)'")
    }
}

/// The one compression setting of the HTTP-based exporters: gzip or none.
public let compressionValues = ["gzip", "none"]

/// The compression option (`compress` in Fluent Bit's outputs, `compression` in OTLP and S3).
public func compressionOption(_ key: String = "compress", default d: String = "none") -> Option {
    Option(key, .choice(compressionValues), default: d, "Request body compression")
}

/// The TLS table members every HTTP-based exporter takes (`tls = { verify = false, ... }`).
public let tlsTableOptions = [
    Option("verify", .bool, default: "true", "Verify the server's certificate"),
    Option("ca_file", .string, "CA bundle (PEM) to verify the server with"),
    Option("crt_file", .string, "Client certificate (PEM) for mutual TLS"),
    Option("key_file", .string, "Client private key (PEM) for mutual TLS"),
]

/// The connection options `baseURL` and `httpOptions` read (Fluent Bit's names).
public func httpConnectionOptions(defaultPort: Int) -> [Option] {
    [
        Option("host", .string, default: "127.0.0.1", "Server host name or address"),
        Option("port", .int(min: 1), default: String(defaultPort), "Server port"),
        Option("tls", .boolOrTable(tlsTableOptions), default: "false", "Use HTTPS (true), or a table of TLS settings"),
    ] + httpClientOptions
}

/// The TLS, timeout and auth options `httpOptions` reads (an exporter with its own endpoint, as
/// S3, takes these without host/port).
public let httpClientOptions: [Option] = [
    Option("tls_verify", .bool, default: "true", "Verify the server's certificate"),
    Option("ca_file", .string, "CA bundle (PEM) to verify the server with"),
    Option("crt_file", .string, "Client certificate (PEM) for mutual TLS"),
    Option("key_file", .string, "Client private key (PEM) for mutual TLS"),
    Option("timeout_ms", .int(min: 1), default: "30000", "Request timeout in milliseconds (also the host's export timeout)"),
    Option("http_user", .string, "Basic auth user"),
    Option("http_passwd", .string, "Basic auth password (use ${ENV})"),
]
