import Foundation
import OISPEvent
import OISPPluginHost
import XCTest

/// Loads real plugins (compiled here with `cc`, and the Swift reference plugin) through the
/// `oisp` binary, including ones that must be refused.
final class PluginHostTests: XCTestCase {
    var dir: URL!
    var bad: URL!

    override func setUpWithError() throws {
        dir = try TestSupport.tempDir("plugins")
        try TestSupport.compilePlugin([TestSupport.packageRoot.appendingPathComponent("sdk/examples/file_exporter.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-cfile.so"))
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("bad_abi.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-badabi.so"))
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("no_entry.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-noentry.so"))
        bad = try TestSupport.tempDir("worldwritable")
        try TestSupport.compilePlugin([TestSupport.packageRoot.appendingPathComponent("sdk/examples/file_exporter.c").path],
                                      to: bad.appendingPathComponent("liboisp-exporter-unsafe.so"))
        chmod(bad.path, 0o777)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: dir)
        try? FileManager.default.removeItem(at: bad)
    }

    func config(_ out: URL) -> String {
        """
        [plugins]
        dirs = ["\(dir.path)", "\(bad.path)"]

        [export.cfile]
        enabled = true
        path = "\(out.appendingPathComponent("c.jsonl").path)"

        [export.file]
        enabled = true
        path = "\(out.appendingPathComponent("swift.jsonl").path)"

        [export.badabi]
        enabled = true

        [export.noentry]
        enabled = true

        [export.unsafe]
        enabled = true
        path = "\(out.appendingPathComponent("unsafe.jsonl").path)"
        """
    }

    /// Fluent Bit's output name `es` (and `opensearch`) finds the bundled Elasticsearch plugin.
    func testFluentBitOutputNameFindsTheBundledPlugin() throws {
        let out = try TestSupport.tempDir("alias")
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("[export.es]\nenabled = true\nport = 9200\n", to: cfg)
        let r = try TestSupport.run(TestSupport.oisp, ["plugins", "list", "--json", "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let plugins = try XCTUnwrap(try JSONParser.parse(r.stdout)["plugins"]?.arrayValue)
        let es = try XCTUnwrap(plugins.first { $0["name"]?.stringValue == "elasticsearch" }, r.stdout)
        XCTAssertEqual(es["enabled"]?.boolValue, true, "\(es)")
    }

    func testListShowsLoadedAndRefusedWithReasons() throws {
        let out = try TestSupport.tempDir("out")
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write(config(out), to: cfg)
        let r = try TestSupport.run(TestSupport.oisp, ["plugins", "list", "--json", "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try JSONParser.parse(r.stdout)
        let plugins = try XCTUnwrap(doc["plugins"]?.arrayValue)
        func entry(_ name: String) -> JSONValue? { plugins.first { $0["name"]?.stringValue == name } }

        let c = try XCTUnwrap(entry("cfile"), r.stdout)
        XCTAssertEqual(c["status"]?.stringValue, "loaded")
        XCTAssertEqual(c["version"]?.stringValue, "0.1.0")
        XCTAssertEqual(c["abi_version"]?.stringValue, "1.0")
        XCTAssertEqual(c["enabled"]?.boolValue, true)

        let swift = try XCTUnwrap(entry("file"), r.stdout)
        XCTAssertEqual(swift["status"]?.stringValue, "loaded")
        XCTAssertTrue(swift["path"]?.stringValue?.hasSuffix("liboisp-exporter-file.so") == true)

        let badabi = try XCTUnwrap(entry("badabi"), r.stdout)
        XCTAssertEqual(badabi["status"]?.stringValue, "refused")
        XCTAssertTrue(badabi["reason"]?.stringValue?.contains("99.0") == true, "\(badabi)")
        XCTAssertTrue(badabi["reason"]?.stringValue?.contains("host supports \(hostABIMajor).\(hostABIMinor)") == true, "\(badabi)")

        let noentry = try XCTUnwrap(entry("noentry"), r.stdout)
        XCTAssertEqual(noentry["status"]?.stringValue, "refused")
        XCTAssertTrue(noentry["reason"]?.stringValue?.contains("oisp_exporter_entry") == true, "\(noentry)")

        let unsafe = try XCTUnwrap(entry("unsafe"), r.stdout)
        XCTAssertEqual(unsafe["status"]?.stringValue, "refused")
        XCTAssertTrue(unsafe["reason"]?.stringValue?.contains("world-writable") == true, "\(unsafe)")

        // The text form names the refusals too.
        let t = try TestSupport.run(TestSupport.sensor, ["plugins", "list", "-c", cfg.path])
        XCTAssertTrue(t.stdout.contains("refused"), t.stdout)
    }

    func testSensorExportsThroughGoodPluginsDespiteRefusals() throws {
        let out = try TestSupport.tempDir("out")
        defer { try? FileManager.default.removeItem(at: out) }
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write(config(out), to: cfg)
        let demo = out.appendingPathComponent("demo.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-c", cfg.path, "--count", "3", "--output", demo.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("exporter badabi not started"), r.stderr)
        XCTAssertTrue(r.stderr.contains("exporter noentry not started"), r.stderr)
        XCTAssertTrue(r.stderr.contains("exporter unsafe not started"), r.stderr)
        let expected = TestSupport.lines(demo)
        XCTAssertGreaterThan(expected.count, 10)
        XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("c.jsonl")), expected, "C plugin received every event in order")
        XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("swift.jsonl")), expected, "Swift plugin received every event in order")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("unsafe.jsonl").path))
    }

    func testCreateErrorIsReportedAndOthersRun() throws {
        let out = try TestSupport.tempDir("out")
        defer { try? FileManager.default.removeItem(at: out) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("flaky.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-flaky.so"))
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.flaky]
        enabled = true
        fail_create = true
        [export.cfile]
        enabled = true
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-c", cfg.path, "--count", "1", "--output", out.appendingPathComponent("d.jsonl").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("fail_create was set"), r.stderr)
        XCTAssertTrue(r.stderr.contains("key 'path': required"), "C example's own error text is shown: \(r.stderr)")
        XCTAssertFalse(TestSupport.lines(out.appendingPathComponent("d.jsonl")).isEmpty)
    }
}
