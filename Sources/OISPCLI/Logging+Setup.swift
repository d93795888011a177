import Foundation
import Logging
import OISPEvent

/// Log output format (`-f/--format`).
public enum LogFormat: String, CaseIterable, Sendable { case text, json }

/// A swift-log handler writing one line per message to stderr, as text or JSON.
struct StderrLogHandler: LogHandler {
    var label: String
    var format: LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message, explicit = event.metadata
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        let ts = Timestamp.now().rfc3339
        var out: String
        switch format {
        case .json:
            var o = JSONObject()
            o["ts"] = .string(ts)
            o["level"] = .string(level.rawValue)
            o["logger"] = .string(label)
            o["msg"] = .string(message.description)
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { o[k] = .string("\(v)") }
            out = JSONValue.object(o).jsonString()
        case .text:
            out = "\(ts) \(level.rawValue.uppercased()) \(message)"
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { out += " \(k)=\(v)" }
        }
        out += "\n"
        StderrLogHandler.lock.lock()
        FileHandle.standardError.write(out.data(using: .utf8)!)
        StderrLogHandler.lock.unlock()
    }
}

enum LogSetup {
    private static let once = NSLock()
    nonisolated(unsafe) private static var done = false

    /// Bootstraps swift-log once per process.
    static func bootstrap(format: LogFormat, level: Logger.Level) -> Logger {
        once.lock()
        if !done {
            LoggingSystem.bootstrap { label in
                var h = StderrLogHandler(label: label, format: format)
                h.logLevel = level
                return h
            }
            done = true
        }
        once.unlock()
        var l = Logger(label: "oisp-sensor")
        l.logLevel = level
        return l
    }

    static func level(verbosity: Int, configured: String) -> Logger.Level {
        switch verbosity {
        case 0:
            switch configured {
            case "trace": return .trace
            case "debug": return .debug
            case "notice": return .notice
            case "warn", "warning": return .warning
            case "error": return .error
            case "critical": return .critical
            default: return .info
            }
        case 1: return .debug
        default: return .trace
        }
    }
}
