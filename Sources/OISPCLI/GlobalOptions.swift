import ArgumentParser
import Foundation
import Logging
import OISPConfig

/// Options shared by every subcommand.
public struct GlobalOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Path to config.toml (default: $OISP_CONFIG, then /etc/oisp/config.toml, then the embedded default).")
    var config: String?

    @Flag(name: .short, help: "More verbose logging (-v debug, -vv trace).")
    var verbose: Int

    @Option(name: [.short, .long], help: "Log format: text or json.")
    var format: String = "text"

    @Option(name: .long, help: "Serve /metrics, /healthz and /readyz on this host:port (overrides [metrics] addr; enables it).")
    var metricsAddr: String?

    public init() {}

    public func validate() throws {
        guard LogFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be 'text' or 'json', not '\(format)'")
        }
    }

    /// Loads the config, printing warnings; a bad config exits non-zero with file, line and key.
    func loadConfig() throws -> SensorConfig {
        do {
            var c = try SensorConfig.resolve(explicitPath: config)
            if let a = metricsAddr { c.metrics.addr = a; c.metrics.enabled = true }
            return c
        } catch let e as ConfigError {
            FileHandle.standardError.write("error: \(e)\n".data(using: .utf8)!)
            throw ExitCode(78) // EX_CONFIG
        }
    }

    func logger(for config: SensorConfig) -> Logger {
        let l = LogSetup.bootstrap(format: LogFormat(rawValue: format) ?? .text,
                                   level: LogSetup.level(verbosity: verbose, configured: config.sensor.logLevel))
        for w in config.warnings { l.warning("config: \(w)") }
        return l
    }
}

/// Capture and redaction options familiar to users of the reference OISP sensor.
public struct CaptureOptions: ParsableArguments {
    @Option(name: .long, help: "Redaction mode: safe, full or minimal (overrides [redaction] mode).")
    var redaction: String?

    @Flag(name: .customLong("no-ssl"), help: "Do not capture TLS plaintext.")
    var noSSL = false

    @Flag(name: .customLong("no-process"), help: "Do not capture process exec/exit.")
    var noProcess = false

    @Option(name: [.short, .customLong("process")], help: "Only capture processes with this name (repeatable).")
    var process: [String] = []

    @Option(name: .customLong("pid"), help: "Only capture this pid (repeatable).")
    var pid: [Int64] = []

    @Option(name: .long, help: "Serve the event stream on this unix socket for `oisp top` (root-only; overrides [sensor] events_socket).")
    var eventsSocket: String?

    public init() {}

    public func validate() throws {
        if let r = redaction, SensorConfig.Redaction.Mode(rawValue: r) == nil {
            throw ValidationError("--redaction must be safe, full or minimal, not '\(r)'")
        }
    }

    func apply(to c: inout SensorConfig) {
        if let r = redaction, let m = SensorConfig.Redaction.Mode(rawValue: r) { c.redaction.mode = m }
        if noSSL { c.capture.ssl = false }
        if noProcess { c.capture.process = false }
        if !process.isEmpty { c.capture.processFilter = process }
        if !pid.isEmpty { c.capture.pidFilter = pid }
        if let e = eventsSocket { c.sensor.eventsSocket = e }
    }
}

func OISPConfigMode(_ s: String) -> SensorConfig.Redaction.Mode? { SensorConfig.Redaction.Mode(rawValue: s) }
