import Foundation
import OISPEvent
import OISPExporterKit
import XCTest

/// Every bundled exporter's option table (its `config_schema`): `plugins describe` prints it,
/// and a value of the wrong type for ANY option — generated from the table itself, so a new
/// option is covered the day it is added — is an error at `config check` and at start naming
/// file:line, the key, what was expected and what was given.
final class ExporterOptionsTests: XCTestCase {
    static let bundled = ["file", "kafka", "otlp", "http", "elasticsearch", "loki", "s3"]
    /// Keys the host reads itself (the config loader checks them; plugins see them too).
    static let hostKeys: Set<String> = ["batch_size", "flush_interval_ms", "timeout_ms"]

    /// An empty config: the bundled plugins are found beside the binary.
    static let emptyConfig: String = {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-empty-\(UUID().uuidString.prefix(8)).toml")
        try? TestSupport.write("", to: u)
        return u.path
    }()

    func describe(_ plugin: String) throws -> [(key: String, type: String, defaultValue: String?, help: String?)] {
        let r = try TestSupport.run(TestSupport.oisp, ["plugins", "describe", plugin, "--json", "-c", Self.emptyConfig])
        XCTAssertEqual(r.status, 0, r.stderr)
        let opts = try XCTUnwrap(try JSONParser.parse(r.stdout)["options"]?.arrayValue, r.stdout)
        return opts.map { ($0["key"]!.stringValue!, $0["type"]!.stringValue!, $0["default"]?.stringValue, $0["help"]?.stringValue) }
    }

    /// A TOML value of the wrong type for an option of `type` (nil: the type takes anything).
    static func wrongValue(_ type: String) -> String? {
        switch type {
        case "bool", "bool or table": return "\"yes\""
        case "int", "size": return "\"ten\""
        case "duration": return "\"forever\""
        case "string", "list or string", "table or list": return "5"
        case "table": return "\"x\""
        case "any": return nil
        default: return type.hasPrefix("one of ") ? "\"zip\"" : nil
        }
    }

    func testDescribePrintsTypesDefaultsAndHelpOfEveryBundledExporter() throws {
        for p in Self.bundled {
            let opts = try describe(p)
            XCTAssertFalse(opts.isEmpty, p)
            for o in opts {
                XCTAssertNotEqual(o.type, "any", "\(p).\(o.key) has no type")
                XCTAssertFalse((o.help ?? "").isEmpty, "\(p).\(o.key) has no help")
            }
        }
        let s3 = try describe("s3")
        let size = try XCTUnwrap(s3.first { $0.key == "total_file_size" })
        XCTAssertEqual(size.type, "size"); XCTAssertEqual(size.defaultValue, "100M")
        let otlp = try describe("otlp")
        XCTAssertEqual(otlp.first { $0.key == "insecure" }?.type, "bool")
        XCTAssertEqual(otlp.first { $0.key == "compression" }?.type, "one of gzip, none")
        XCTAssertEqual(otlp.first { $0.key == "tls.verify" }?.type, "bool", "table members are described too")
        let text = try TestSupport.run(TestSupport.oisp, ["plugins", "describe", "elasticsearch", "-c", Self.emptyConfig])
        XCTAssertTrue(text.stdout.contains("| `compress` | one of gzip, none | `none` | Request body compression |"), text.stdout)
    }

    /// For each bundled exporter, one config with every option wrong (each on its own line), then
    /// one with every table member wrong: `config check` names each with file:line and exits 78.
    func testEveryOptionOfEveryBundledExporterRefusesTheWrongType() throws {
        let dir = try TestSupport.tempDir("opts")
        defer { try? FileManager.default.removeItem(at: dir) }
        for p in Self.bundled {
            let opts = try describe(p).filter { !Self.hostKeys.contains($0.key) }
            for members in [false, true] {
                var lines = ["[export.\(p)]", "enabled = true"]
                var want: [(line: Int, key: String)] = []
                for o in opts where o.key.contains(".") == members {
                    guard let bad = Self.wrongValue(o.type) else { continue }
                    lines.append("\(o.key) = \(bad)")
                    want.append((lines.count, o.key))
                }
                if want.isEmpty { continue }
                let cfg = dir.appendingPathComponent("\(p)-\(members).toml")
                try TestSupport.write(lines.joined(separator: "\n") + "\n", to: cfg)
                let r = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path])
                XCTAssertEqual(r.status, 78, "\(p): \(r.stderr)")
                for w in want {
                    XCTAssertTrue(r.stderr.contains("\(cfg.path):\(w.line): key 'export.\(p).\(w.key)': the \(p) exporter expects"),
                                  "\(p).\(w.key) at line \(w.line) not named: \(r.stderr)")
                }
            }
        }
    }

    /// The issue's examples, word for word: what was expected and what was given.
    func testTheIssuesExamplesAreErrorsNotSilentDefaults() throws {
        let dir = try TestSupport.tempDir("opts")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [export.elasticsearch]
        enabled = true
        compress = "zip"
        [export.otlp]
        enabled = true
        insecure = "yes"
        [export.s3]
        enabled = true
        bucket = "b"
        total_file_size = "ten"
        [export.kafka]
        enabled = true
        brokers = ["127.0.0.1:9"]
        compression = "zip"
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path])
        XCTAssertEqual(r.status, 78, r.stderr)
        for line in ["\(cfg.path):3: key 'export.elasticsearch.compress': the elasticsearch exporter expects one of gzip, none, got 'zip'",
                     "\(cfg.path):6: key 'export.otlp.insecure': the otlp exporter expects a boolean (true/false or On/Off), got 'yes'",
                     "\(cfg.path):10: key 'export.s3.total_file_size': the s3 exporter expects a size like 100M, 512K, 1G or a byte count, got 'ten'",
                     "\(cfg.path):14: key 'export.kafka.compression': the kafka exporter expects one of snappy, gzip, lz4, zstd, none, got 'zip'"] {
            XCTAssertTrue(r.stderr.contains(line), "missing \(line)\n\(r.stderr)")
        }
    }

    /// At start the same check refuses the one exporter (not started, the error placed in the
    /// file) and the sensor runs the others; On/Off is a boolean.
    func testWrongTypeAtStartStopsOnlyThatExporter() throws {
        let dir = try TestSupport.tempDir("opts")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("config.toml")
        let good = dir.appendingPathComponent("good.jsonl")
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:9"
        insecure = "yes"
        [export.file]
        enabled = true
        path = "\(good.path)"
        """, to: cfg)
        let demo = dir.appendingPathComponent("demo.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-c", cfg.path, "--count", "2", "--output", demo.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("exporter otlp not started") &&
                      r.stderr.contains("\(cfg.path):4: key 'export.otlp.insecure': the otlp exporter expects a boolean (true/false or On/Off), got 'yes'"), r.stderr)
        XCTAssertEqual(TestSupport.lines(good), TestSupport.lines(demo))

        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:9"
        insecure = "On"
        compression = "none"
        """, to: cfg)
        let ok = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)

        // a secret of the wrong type is named by key, its value never shown
        try TestSupport.write("""
        [export.http]
        enabled = true
        http_passwd = 918273645
        """, to: cfg)
        let secret = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path])
        XCTAssertEqual(secret.status, 78, secret.stderr)
        XCTAssertTrue(secret.stderr.contains("\(cfg.path):3: key 'export.http.http_passwd': the http exporter expects a string, got a value not shown (secret key)"), secret.stderr)
        XCTAssertFalse(secret.stderr.contains("918273645") || secret.stdout.contains("918273645"), secret.stderr + secret.stdout)
    }

    /// docs/exporter-options.md is made from the plugins' own option tables (`plugins describe
    /// --markdown`): this fails when they drift. OISP_UPDATE_DOCS=1 rewrites the file.
    func testExporterOptionsDocIsMadeFromTheOptionTables() throws {
        var doc = """
        # Exporter options

        Generated from each bundled exporter's option table (`oisp plugins describe NAME --markdown`;
        `ExporterOptionsTests` fails when this file and the tables drift — run it with
        `OISP_UPDATE_DOCS=1` to rewrite). The host's own keys of every `[export.<name>]` section
        (`enabled`, `plugin`, `batch_size`, `flush_interval_ms`, `timeout_ms`, `queue_size`,
        `queue_max_bytes`, `max_in_flight`, `retry_on_failure`, `spool`) are in the main configuration
        reference.


        """
        for p in Self.bundled {
            let r = try TestSupport.run(TestSupport.oisp, ["plugins", "describe", p, "--markdown", "-c", Self.emptyConfig])
            XCTAssertEqual(r.status, 0, r.stderr)
            doc += r.stdout
        }
        let file = TestSupport.packageRoot.appendingPathComponent("docs/exporter-options.md")
        if ProcessInfo.processInfo.environment["OISP_UPDATE_DOCS"] == "1" { try TestSupport.write(doc, to: file) }
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), doc,
                       "docs/exporter-options.md drifted from the option tables: run ExporterOptionsTests with OISP_UPDATE_DOCS=1")
    }

    /// The kit reads a value or the option table's default (a default is written once), with the
    /// one boolean rule; an option the table lacks a default for is an exporter bug, said so.
    func testKitConfigTakesDefaultsFromTheOptionTable() throws {
        let table = [Option("on", .bool, default: "Off", "b"), Option("n", .int(min: 2), default: "5", "i"),
                     Option("size", .size, default: "1M", "s"), Option("wait", .duration, default: "1m", "d"),
                     Option("mode", .choice(["a", "b"]), default: "b", "c"), Option("name", .string, "no default"),
                     Option("tls", .boolOrTable([Option("verify", .bool, default: "true", "v")]), default: "false", "t")]
        let empty = OISPExporterKit.Config(entries: [], json: [:], options: table)
        XCTAssertEqual(try empty.bool("on"), false)
        XCTAssertEqual(try empty.int("n"), 5)
        XCTAssertEqual(try empty.size("size"), 1 << 20)
        XCTAssertEqual(try empty.duration("wait"), 60_000)
        XCTAssertEqual(try empty.choice("mode"), "b")
        XCTAssertEqual(try empty.bool("tls.verify"), true, "a table member's default")
        XCTAssertThrowsError(try empty.setting("name")) { XCTAssertTrue("\($0)".contains("no default"), "\($0)") }
        let set = OISPExporterKit.Config(entries: [("on", "ON"), ("n", "1"), ("mode", "c"), ("tls.verify", "yes")], json: [:], options: table)
        XCTAssertEqual(try set.bool("on"), true, "On/Off in any case")
        XCTAssertThrowsError(try set.int("n")) { XCTAssertTrue("\($0)".contains("at least 2"), "\($0)") }
        XCTAssertThrowsError(try set.choice("mode")) { XCTAssertTrue("\($0)".contains("expected one of a, b, got 'c'"), "\($0)") }
        XCTAssertThrowsError(try set.bool("tls.verify")) { XCTAssertTrue("\($0)".contains("got 'yes'"), "\($0)") }
    }

    /// The kit keeps error text per calling thread (the ABI's last_error rule): threads failing at
    /// once each read back their own text.
    func testKitErrorTextIsPerThread() {
        let n = 8
        var seen = [String?](repeating: nil, count: n)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: n) { i in
            setThreadError("failure \(i)")
            for _ in 0..<1000 { _ = threadErrorText() } // let the others write theirs meanwhile
            let t = threadErrorText()
            lock.lock(); seen[i] = t; lock.unlock()
            setThreadError(nil)
        }
        XCTAssertEqual(seen, (0..<n).map { "failure \($0)" })
    }
}
