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

    /// A config finding plugins in `dir` and enabling each of `names` with a `path` under `out`.
    func pathConfig(_ names: [String], out: URL) throws -> URL {
        var text = "[plugins]\ndir = \"\(dir.path)\"\n"
        for n in names { text += "[export.\(n)]\nenabled = true\npath = \"\(out.appendingPathComponent("\(n).jsonl").path)\"\n" }
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write(text, to: cfg)
        return cfg
    }

    /// `oisp plugins list --json`: each plugin's entry by name, and the output.
    func listed(_ cfg: URL) throws -> (entry: (String) -> JSONValue?, output: String) {
        let l = try TestSupport.run(TestSupport.oisp, ["plugins", "list", "--json", "-c", cfg.path])
        XCTAssertEqual(l.status, 0, l.stderr)
        let plugins = try XCTUnwrap(try JSONParser.parse(l.stdout)["plugins"]?.arrayValue, l.stdout)
        return ({ name in plugins.first { $0["name"]?.stringValue == name } }, l.stdout)
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
        XCTAssertEqual(c["abi_version"]?.stringValue, "\(hostABIMajor).\(hostABIMinor)", "built with this header, fixed version")
        XCTAssertEqual(c["min_host_abi"]?.stringValue, "1.0", "the C example needs nothing newer than 1.0")
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

    /// Plugins built by a vendor against the OLD headers (1.0, 1.1 and 1.2, kept byte for byte under
    /// Fixtures/abi) load and export every event, their tables read only as far as their own
    /// `struct_size` (each sits at the end of a page followed by an inaccessible one: one byte of
    /// over-read would crash the sensor); a table smaller than 1.0's is refused naming both sizes,
    /// and the sensor keeps exporting through the others.
    func testOldABIPluginsLoadAndExportAndShortTablesAreRefused() throws {
        let out = try TestSupport.tempDir("oldabi")
        defer { try? FileManager.default.removeItem(at: out) }
        let src = TestSupport.fixtures.appendingPathComponent("old_abi.c").path
        for v in ["1.0", "1.1", "1.2"] {
            let name = "old" + v.replacingOccurrences(of: ".", with: "")
            try TestSupport.compilePlugin([src], to: dir.appendingPathComponent("liboisp-exporter-\(name).so"),
                                          include: TestSupport.fixtures.appendingPathComponent("abi/\(v)").path,
                                          extraFlags: ["-DPLUGIN_NAME=\"\(name)\""])
        }
        try TestSupport.compilePlugin([src], to: dir.appendingPathComponent("liboisp-exporter-short.so"),
                                      include: TestSupport.fixtures.appendingPathComponent("abi/1.0").path,
                                      extraFlags: ["-DPLUGIN_NAME=\"short\"", "-DTABLE_SIZE=40"])
        let cfg = try pathConfig(["old10", "old11", "old12", "short"], out: out)
        let (entry, listing) = try listed(cfg)
        for (name, abi) in [("old10", "1.0"), ("old11", "1.1"), ("old12", "1.2")] {
            let p = try XCTUnwrap(entry(name), listing)
            XCTAssertEqual(p["status"]?.stringValue, "loaded", "\(p)")
            XCTAssertEqual(p["abi_version"]?.stringValue, abi, "\(p)")
        }
        let short = try XCTUnwrap(entry("short"), listing)
        XCTAssertEqual(short["status"]?.stringValue, "refused", "\(short)")
        let reason = short["reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("40 bytes") && reason.contains("ABI 1.0 table (\(PluginLoader.pluginTableSize10) bytes)"), reason)

        let demo = out.appendingPathComponent("demo.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-c", cfg.path, "--count", "3", "--output", demo.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("exporter short not started"), r.stderr)
        let expected = TestSupport.lines(demo)
        XCTAssertGreaterThan(expected.count, 10)
        XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("old10.jsonl")), expected, "ABI 1.0 plugin got every event in order")
        XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("old11.jsonl")), expected, "ABI 1.1 plugin got every event in order")
        XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("old12.jsonl")), expected, "ABI 1.2 plugin (its batch has no fields) got every event in order")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("short.jsonl").path))
    }

    /// ABI 1.2: a plugin states the oldest host it runs on (Falco's rule). One built with this
    /// header that needs 1.3 is refused, naming both versions, in `plugins list` and at start;
    /// one that needs 1.0 loads. Every bundled plugin loads and says what it needs.
    func testPluginNeedingANewerHostIsRefusedNamingBoth() throws {
        let out = try TestSupport.tempDir("needs")
        defer { try? FileManager.default.removeItem(at: out) }
        let src = TestSupport.fixtures.appendingPathComponent("old_abi.c").path
        try TestSupport.compilePlugin([src], to: dir.appendingPathComponent("liboisp-exporter-future.so"),
                                      extraFlags: ["-DPLUGIN_NAME=\"future\"", "-DNEEDS_MINOR=\(hostABIMinor + 1)"])
        try TestSupport.compilePlugin([src], to: dir.appendingPathComponent("liboisp-exporter-modest.so"),
                                      extraFlags: ["-DPLUGIN_NAME=\"modest\"", "-DNEEDS_MINOR=0"])
        let cfg = try pathConfig(["future", "modest"], out: out)
        let (entry, listing) = try listed(cfg)
        let future = try XCTUnwrap(entry("future"), listing)
        XCTAssertEqual(future["status"]?.stringValue, "refused", "\(future)")
        let want = "plugin needs host ABI \(hostABIMajor).\(hostABIMinor + 1) or newer (built for ABI \(hostABIMajor).\(hostABIMinor), declares min_host_abi \(hostABIMajor).\(hostABIMinor + 1)); this host is ABI \(hostABIMajor).\(hostABIMinor)"
        XCTAssertEqual(future["reason"]?.stringValue, want)
        let modest = try XCTUnwrap(entry("modest"), listing)
        XCTAssertEqual(modest["status"]?.stringValue, "loaded", "\(modest)")
        XCTAssertEqual(modest["min_host_abi"]?.stringValue, "1.0")
        // every bundled plugin (beside the oisp binary) loads under this host
        for name in ["file", "kafka", "otlp", "http", "elasticsearch", "loki", "s3"] {
            let p = try XCTUnwrap(entry(name), "\(name) missing: \(listing)")
            XCTAssertEqual(p["status"]?.stringValue, "loaded", "\(p)")
            XCTAssertNotNil(p["min_host_abi"]?.stringValue, "\(p)")
        }
        let t = try TestSupport.run(TestSupport.sensor, ["plugins", "list", "-c", cfg.path])
        XCTAssertTrue(t.stdout.contains("refused \(dir.appendingPathComponent("liboisp-exporter-future.so").path): \(want)"), t.stdout)

        let demo = out.appendingPathComponent("demo.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-c", cfg.path, "--count", "2", "--output", demo.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("exporter future not started") && r.stderr.contains(want), r.stderr)
        XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("modest.jsonl")), TestSupport.lines(demo))
    }

    /// A result code outside the ABI counts as PERMANENT (the batch is dropped and counted, the
    /// plugin's error text shown) and is logged once per instance, however many batches return it.
    func testUnknownResultCodeIsPermanentAndLoggedOnce() throws {
        let out = try TestSupport.tempDir("garbage")
        defer { try? FileManager.default.removeItem(at: out) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("flaky.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-flaky.so"))
        let input = out.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "4", "-o", input.path]).status, 0)
        let events = TestSupport.lines(input).count
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.flaky]
        enabled = true
        path = "\(out.appendingPathComponent("x.jsonl").path)"
        mode = "garbage"
        batch_size = 3
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", input.path, "-c", cfg.path])
        let once = r.stderr.components(separatedBy: "result code the ABI does not define").count - 1
        XCTAssertEqual(once, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("code=42") || r.stderr.contains("code: 42") || r.stderr.contains("42"), r.stderr)
        let drops = r.stderr.components(separatedBy: "rejected batch permanently").count - 1
        XCTAssertEqual(drops, (events + 2) / 3, "every batch dropped as PERMANENT: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("UNKNOWN(42): plugin bug"), r.stderr)
    }

    /// The header's TIMEOUTS and DELIVERY contract, end to end: a first export call that stalls
    /// past timeout_ms + grace is abandoned and the instance parked; when the call finally
    /// delivers, the host's retry delivers the same batch again with the same batch_id (a later
    /// attempt, record_offset 0), so the backend holds it twice — and de-duplicating by event id
    /// gives exactly the input, in order.
    func testAbandonedCallMeansAtLeastOnceWithStableBatchIDs() throws {
        let out = try TestSupport.tempDir("park")
        defer { try? FileManager.default.removeItem(at: out) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("slow_sink.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-slowsink.so"), extraFlags: ["-pthread"])
        let input = out.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "2", "-o", input.path]).status, 0)
        let ids = TestSupport.lines(input).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let sink = out.appendingPathComponent("sink.jsonl")
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.slowsink]
        enabled = true
        path = "\(sink.path)"
        stall_ms = 2500
        timeout_ms = 200
        retry_on_failure = { initial_interval_ms = 100, max_interval_ms = 200, max_elapsed_ms = 20000 }
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", input.path, "-c", cfg.path, "--shutdown-timeout", "20"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("did not return within timeout_ms"), r.stderr)
        XCTAssertTrue(r.stderr.contains("hung export call returned; exporter resumes"), r.stderr)

        // calls: "batch_id attempt record_offset count thread"
        let calls = TestSupport.lines(URL(fileURLWithPath: sink.path + ".calls")).map { $0.split(separator: " ").map(String.init) }
        XCTAssertGreaterThanOrEqual(calls.count, 2, "\(calls)")
        let first = try XCTUnwrap(calls.first)
        XCTAssertEqual(first[1], "1", "\(calls)")
        let again = calls.dropFirst().filter { $0[0] == first[0] }
        XCTAssertEqual(again.count, 1, "the stalled batch was sent once more, with the same batch_id: \(calls)")
        XCTAssertGreaterThan(Int(again.first?[1] ?? "0") ?? 0, 1, "as a later attempt: \(calls)")
        XCTAssertEqual(again.first?[2], "0", "from its first record: \(calls)")
        XCTAssertEqual(again.first?[3], first[3], "the whole batch: \(calls)")

        // the backend got the first batch twice; de-duplicated by event id it is the input
        let got = TestSupport.lines(sink).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        XCTAssertEqual(got.count, ids.count + (Int(first[3]) ?? 0), "first batch delivered twice")
        var seen = Set<String>()
        XCTAssertEqual(got.filter { seen.insert($0).inserted }, ids)
    }

    /// The C example under the faults a disk gives (driven by a harness whose write/fsync/calloc
    /// replace libc's for the plugin): a write that stops half-way through a record and fails
    /// returns RETRY with the whole lines accepted and leaves no torn line, and the host's retry
    /// completes the file with every record once; an fsync failure is an error WITH its text; a
    /// calloc failure in on_create still hands back an instance whose last_error says so.
    func testCExampleLeavesNoTornLineAndExplainsEveryFailure() throws {
        let work = try TestSupport.tempDir("cfaults")
        defer { try? FileManager.default.removeItem(at: work) }
        let so = work.appendingPathComponent("liboisp-exporter-cfile.so")
        try TestSupport.compilePlugin([TestSupport.packageRoot.appendingPathComponent("sdk/examples/file_exporter.c").path], to: so)
        let harness = work.appendingPathComponent("example_faults")
        let cc = try TestSupport.run("/usr/bin/env", ["cc", "-O1", "-Wall", "-rdynamic", "-I", TestSupport.sdkInclude, "-o", harness.path,
                                                      TestSupport.fixtures.appendingPathComponent("example_faults.c").path, "-ldl"])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let r = try TestSupport.run(harness.path, [so.path, work.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let oks = r.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }
        XCTAssertEqual(oks.count, 6, r.stdout)
        XCTAssertFalse(r.stdout.contains("FAIL"), r.stdout)

        // the Swift reference plugin, on the shared kit's table glue and per-thread errors, the same
        // (it allocates through the Swift runtime: no calloc check)
        let swiftFile = TestSupport.binDir.appendingPathComponent("liboisp-exporter-file.so")
        let swiftDir = work.appendingPathComponent("swift")
        try FileManager.default.createDirectory(at: swiftDir, withIntermediateDirectories: true)
        let s = try TestSupport.run(harness.path, [swiftFile.path, swiftDir.path, "--no-calloc"])
        XCTAssertEqual(s.status, 0, s.stdout + s.stderr)
        XCTAssertEqual(s.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count, 5, s.stdout)
    }

    /// A run that died half-way through a line (SIGKILL, or another plugin's crash) leaves a torn
    /// last line whose record was never acknowledged: both file plugins cut it off at start, say
    /// so, and the next run's lines are whole (a torn tail glued to the next line lost an event in
    /// PluginCrashTests' restart loop).
    func testFilePluginsCutATornLineLeftByADeadRun() throws {
        let out = try TestSupport.tempDir("torntail")
        defer { try? FileManager.default.removeItem(at: out) }
        let cfg = try pathConfig(["cfile", "file"], out: out)
        let input = out.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "4", "-o", input.path]).status, 0)
        let events = TestSupport.lines(input)
        let earlier = Array(events.prefix(2)), torn = String(events[2].prefix(events[2].utf8.count / 2))
        for n in ["cfile", "file"] {
            try TestSupport.write(earlier.joined(separator: "\n") + "\n" + torn, to: out.appendingPathComponent("\(n).jsonl"))
        }
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", input.path, "-c", cfg.path], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        for n in ["cfile", "file"] {
            let got = TestSupport.lines(out.appendingPathComponent("\(n).jsonl"))
            XCTAssertEqual(got, earlier + events, "\(n): the torn tail is gone and every line is whole")
            XCTAssertEqual(got.filter { (try? OISPEvent(jsonBytes: Array($0.utf8))) == nil }, [], n)
        }
        XCTAssertEqual(r.stderr.components(separatedBy: "cut a torn last line").count - 1, 2, r.stderr)
        // someone else's text without a final newline is kept, and ended before the first event
        for n in ["cfile", "file"] { try TestSupport.write("a note, not an event", to: out.appendingPathComponent("\(n).jsonl")) }
        let again = try TestSupport.run(TestSupport.sensor, ["replay", "-i", input.path, "-c", cfg.path], timeout: 60)
        XCTAssertEqual(again.status, 0, again.stderr)
        for n in ["cfile", "file"] {
            XCTAssertEqual(TestSupport.lines(out.appendingPathComponent("\(n).jsonl")), ["a note, not an event"] + events, n)
        }
        XCTAssertEqual(again.stderr.components(separatedBy: "did not end with a newline").count - 1, 2, again.stderr)
    }

    /// `oisp plugins test`, the harness a vendor runs against their .so: the C example and the
    /// Swift file plugin pass every check (events written as whole lines); a plugin that tears
    /// lines, one that returns a code the ABI does not define, and one that hangs are each
    /// reported as such, with exit status 1 — the hung one within timeout_ms + grace.
    func testPluginsTestHarnessPassesGoodPluginsAndNamesBadOnes() throws {
        let out = try TestSupport.tempDir("ptest")
        defer { try? FileManager.default.removeItem(at: out) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("torn.c").path], to: dir.appendingPathComponent("liboisp-exporter-torn.so"))
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("flaky.c").path], to: dir.appendingPathComponent("liboisp-exporter-flaky.so"))
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [export.cfile]
        path = "\(out.appendingPathComponent("c.jsonl").path)"
        [export.file]
        path = "\(out.appendingPathComponent("s.jsonl").path)"
        [export.torn]
        path = "\(out.appendingPathComponent("t.jsonl").path)"
        [export.flaky]
        path = "\(out.appendingPathComponent("f.jsonl").path)"
        mode = "garbage"
        [export.hang]
        path = "\(out.appendingPathComponent("h.jsonl").path)"
        mode = "hang"
        timeout_ms = 300
        """, to: cfg)
        func test(_ so: String, _ extra: [String] = []) throws -> (status: Int32, stdout: String) {
            let r = try TestSupport.run(TestSupport.oisp, ["plugins", "test", so, "-c", cfg.path] + extra, timeout: 30)
            return (r.status, r.stdout + r.stderr)
        }
        for (so, file) in [(dir.appendingPathComponent("liboisp-exporter-cfile.so").path, "c.jsonl"), ("file", "s.jsonl")] {
            let r = try test(so)
            XCTAssertEqual(r.status, 0, r.stdout)
            XCTAssertTrue(r.stdout.contains("all checks passed"), r.stdout)
            XCTAssertFalse(r.stdout.contains("FAIL"), r.stdout)
            let lines = TestSupport.lines(out.appendingPathComponent(file))
            XCTAssertGreaterThan(lines.count, 10, r.stdout)
            XCTAssertTrue(r.stdout.contains("every line is whole JSON (\(lines.count) lines)"), r.stdout)
            XCTAssertTrue(r.stdout.contains("all checks passed (\(lines.count) events delivered)"), r.stdout)
        }
        let torn = try test(dir.appendingPathComponent("liboisp-exporter-torn.so").path)
        XCTAssertEqual(torn.status, 1, torn.stdout)
        XCTAssertTrue(torn.stdout.contains("FAIL  \(out.appendingPathComponent("t.jsonl").path): torn or invalid line(s)"), torn.stdout)
        let garbage = try test(dir.appendingPathComponent("liboisp-exporter-flaky.so").path)
        XCTAssertEqual(garbage.status, 1, garbage.stdout)
        XCTAssertTrue(garbage.stdout.contains("a result code the ABI does not define — UNKNOWN(42): plugin bug"), garbage.stdout)
        let start = Date()
        let hang = try test(dir.appendingPathComponent("liboisp-exporter-flaky.so").path, ["--exporter", "hang"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 15)
        XCTAssertEqual(hang.status, 1, hang.stdout)
        XCTAssertTrue(hang.stdout.contains("HUNG — no return within timeout_ms 300 + grace (1300 ms)"), hang.stdout)
    }

    /// A partial success (RETRY with status->accepted = 3) is retried with the rest only, under the
    /// same batch_id and with record_offset 3 (ABI 1.2), so (batch_id, record_offset + i) names a
    /// record across attempts; every event arrives once, in order.
    func testPartialSuccessRetryCarriesTheRestWithItsRecordOffset() throws {
        let out = try TestSupport.tempDir("offset")
        defer { try? FileManager.default.removeItem(at: out) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("slow_sink.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-slowsink.so"), extraFlags: ["-pthread"])
        let input = out.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "1", "-o", input.path]).status, 0)
        let sink = out.appendingPathComponent("sink.jsonl")
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.slowsink]
        enabled = true
        path = "\(sink.path)"
        accept_first = 3
        retry_on_failure = { initial_interval_ms = 10, max_interval_ms = 20 }
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", input.path, "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let calls = TestSupport.lines(URL(fileURLWithPath: sink.path + ".calls")).map { $0.split(separator: " ").map(String.init) }
        XCTAssertGreaterThanOrEqual(calls.count, 2, "\(calls)")
        let (first, second) = (calls[0], calls[1])
        XCTAssertEqual(second[0], first[0], "same batch_id: \(calls)")
        XCTAssertEqual(second[1], "2", "attempt 2: \(calls)")
        XCTAssertEqual(first[2], "0"); XCTAssertEqual(second[2], "3", "record_offset 3: \(calls)")
        XCTAssertEqual(Int(second[3]), Int(first[3])! - 3, "only the rest: \(calls)")
        XCTAssertEqual(TestSupport.lines(sink), TestSupport.lines(input), "every event once, in order")
    }

    /// ABI 1.3: each record's fields come beside its JSON, so a C exporter builds its output with
    /// no JSON parser; every field says what the record's (redacted) JSON says at its source,
    /// and every source the JSON has gives its field.
    func testRecordFieldsMatchTheJSONTheyComeFrom() throws {
        let out = try TestSupport.tempDir("fields")
        defer { try? FileManager.default.removeItem(at: out) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("fields_sink.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-fieldsink.so"))
        // the same plugin without OISP_EXPORTER_CAP_RECORD_FIELDS: its batches carry none
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("fields_sink.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-nofields.so"),
                                      extraFlags: ["-DNO_FIELDS_CAP", "-DPLUGIN_NAME=\"nofields\""])
        let input = out.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "3", "-o", input.path]).status, 0)
        // one event with Kubernetes attribution and a trace context
        var k = OISPEvent(eventType: "ai.request", host: .init(hostname: "node-7"), process: .init(pid: 42, name: "agent", containerID: "c0ffee"),
                          ext: ["oisp.k8s": ["namespace": "team-a", "pod_name": "agent-7d9f"]],
                          traceContext: .init(traceID: String(repeating: "ab", count: 16), spanID: String(repeating: "cd", count: 8), traceFlags: 1),
                          data: ["request_id": "req_k8s", "provider": ["name": "openai"], "model": ["id": "gpt-4o"]])
        k.eventID = ULID.make()
        try TestSupport.write(String(decoding: try Data(contentsOf: input), as: UTF8.self) + k.jsonString() + "\n", to: input)
        let sink = out.appendingPathComponent("sink.txt"), plain = out.appendingPathComponent("plain.txt")
        let cfg = out.appendingPathComponent("config.toml")
        try TestSupport.write("[plugins]\ndir = \"\(dir.path)\"\n[export.fieldsink]\nenabled = true\npath = \"\(sink.path)\"\n"
                              + "[export.nofields]\nenabled = true\npath = \"\(plain.path)\"\n", to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", input.path, "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        func text(_ v: JSONValue?) -> String? {
            switch v {
            case .string(let s)?: return s.isEmpty ? nil : s
            case .int(let i)?: return String(i)
            case .double(let d)?: return "\(d)"
            default: return nil
            }
        }
        var lines = 0, fieldsChecked = 0, names = Set<String>()
        for l in TestSupport.lines(sink) {
            let parts = l.components(separatedBy: "\t")
            let e = try OISPEvent(jsonBytes: Array(parts.last!.utf8))
            let j = try JSONParser.parse(Array(parts.last!.utf8))
            var got: [String: String] = [:]
            for p in parts.dropLast() where !p.isEmpty {
                let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
                got[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
            let ai = e.eventType.hasPrefix("ai."), d = j["data"]
            let priced = j["ext"]?["oisp.cost"]?["status"]?.stringValue == "priced"
            var want: [String: String?] = [
                "host.name": text(j["host"]?["hostname"]), "process.pid": text(j["process"]?["pid"]),
                "process.executable.name": text(j["process"]?["name"]), "container.id": text(j["process"]?["container_id"]),
                "k8s.namespace.name": text(j["ext"]?["oisp.k8s"]?["namespace"]), "k8s.pod.name": text(j["ext"]?["oisp.k8s"]?["pod_name"]),
                "trace_id": text(j["trace_context"]?["trace_id"]), "span_id": text(j["trace_context"]?["span_id"])]
            if ai {
                want["oisp.request_id"] = text(d?["request_id"]); want["gen_ai.provider.name"] = text(d?["provider"]?["name"])
                want[e.eventType == "ai.request" ? "gen_ai.request.model" : "gen_ai.response.model"] = text(d?["model"]?["id"])
                want["gen_ai.response.id"] = text(d?["provider_request_id"])
                want["gen_ai.usage.input_tokens"] = text(d?["usage"]?["prompt_tokens"])
                want["gen_ai.usage.output_tokens"] = text(d?["usage"]?["completion_tokens"])
                want["gen_ai.response.finish_reasons"] = text(d?["finish_reason"])
                want["http.response.status_code"] = text(d?["status_code"])
                want["gen_ai.usage.cost.amount"] = priced ? text(j["ext"]?["oisp.cost"]?["amount"]) : nil
                want["gen_ai.usage.cost.currency"] = priced ? text(j["ext"]?["oisp.cost"]?["currency"]) : nil
            }
            let expected = want.compactMapValues { $0 }
            XCTAssertEqual(got, expected, "\(e.eventType) \(e.eventID)")
            fieldsChecked += got.count
            names.formUnion(got.keys)
            lines += 1
        }
        XCTAssertEqual(lines, TestSupport.lines(input).count)
        XCTAssertGreaterThan(fieldsChecked, lines * 3)
        let plainLines = TestSupport.lines(plain)
        XCTAssertEqual(plainLines.count, lines)
        XCTAssertTrue(plainLines.allSatisfy { $0.hasPrefix("-\t{") }, "a plugin that did not ask gets no fields")
        for n in ["oisp.request_id", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.usage.input_tokens",
                  "gen_ai.usage.output_tokens", "gen_ai.usage.cost.amount", "host.name", "process.pid", "k8s.namespace.name", "k8s.pod.name",
                  "trace_id", "span_id", "container.id"] {
            XCTAssertTrue(names.contains(n), "no record carried \(n): \(names.sorted())")
        }
    }
}
