import Foundation
import OISPConfig
import OISPEvent
import OISPPipeline
import XCTest

/// SIGTERM ends inside the shutdown budget (`[pipeline] shutdown_timeout_ms`), with everything
/// counted: real sensor processes against a refused port, a peer that accepts and never answers,
/// and the recording OTLP receiver (opentelemetry-proto + grpcio) coming back after restarts.
final class ShutdownTests: XCTestCase {
    var dir: URL!
    var peers: [Process] = []
    /// The budget the tests run with (the default, 20 s, would make them slow).
    static let budgetMs = 3000
    static var python: String { TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/python").path }

    override func setUpWithError() throws {
        dir = try TestSupport.tempDir("shutdown")
        signal(SIGPIPE, SIG_IGN) // a sensor that stops reading its stdin must not end the test process
    }
    override func tearDown() {
        for p in peers where p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    /// About 6,900 recorded events (600 demo scenarios).
    func recorded() throws -> URL {
        let f = dir.appendingPathComponent("in.jsonl")
        if !FileManager.default.fileExists(atPath: f.path) {
            XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "600", "-o", f.path]).status, 0)
        }
        return f
    }

    /// A TCP peer that accepts every connection and never answers (reads and discards).
    func silentPeer() throws -> Int {
        let (p, port) = try TestSupport.silentPeer(dir: dir)
        peers.append(p)
        return port
    }

    func config(_ name: String, endpoint: String, spool: Bool, pipeline: String = "", exporter: String = "") throws -> URL {
        let f = dir.appendingPathComponent(name)
        try TestSupport.write("""
        [pipeline]
        shutdown_timeout_ms = \(Self.budgetMs)
        \(spool ? "spool_dir = \"\(dir.appendingPathComponent("spool").path)\"" : "")
        \(pipeline)
        [export.otlp]
        enabled = true
        endpoint = "\(endpoint)"
        \(exporter)
        """, to: f)
        return f
    }

    /// The value of a counter in a scrape of the metrics endpoint (0 when not there yet).
    func metric(_ port: Int, _ name: String) -> Double {
        guard let r = try? TestSupport.run("/usr/bin/env", ["curl", "-s", "http://127.0.0.1:\(port)/metrics"], timeout: 5) else { return 0 }
        return r.stdout.split(separator: "\n").filter { $0.hasPrefix(name) }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    /// Sends SIGTERM and waits for the exit: seconds from the signal to the exit.
    func terminate(_ p: Process) -> Double {
        let t0 = Date()
        kill(p.processIdentifier, SIGTERM)
        let hard = Date().addingTimeInterval(Double(Self.budgetMs) / 1000 + 30)
        while p.isRunning && Date() < hard { usleep(10_000) }
        let secs = Date().timeIntervalSince(t0)
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); XCTFail("still running 30 s past the budget") }
        p.waitUntilExit()
        return secs
    }

    func lastLine(_ f: URL) -> String { TestSupport.lines(f).last ?? "" }

    /// `delivered`, `spooled` and `dropped` of exporter `name` in a final log line.
    func counts(_ line: String, _ name: String = "otlp") -> (delivered: Int, spooled: Int, dropped: Int)? {
        guard let r = line.range(of: "\(name) delivered=") else { return nil }
        let fields = line[r.lowerBound...].split(separator: " ").prefix(4)
        func value(_ k: String) -> Int? { fields.first { $0.hasPrefix(k + "=") }.flatMap { Int($0.dropFirst(k.count + 1).prefix { $0.isNumber }) } }
        guard let d = value("delivered"), let s = value("spooled"), let x = value("dropped") else { return nil }
        return (d, s, x)
    }

    func spooledOnDisk(_ exporter: String = "otlp") throws -> [String] {
        let s = try DiskSpool(dir: dir.appendingPathComponent("spool/\(exporter)"), maxBytes: 1 << 30, overflow: .dropOldest)
        return s.peek(max: 1_000_000)?.records.map(\.eventID) ?? []
    }

    /// ≥ 5,000 events queued for a dead backend — a refused port, and a peer that accepts and
    /// never answers (the export call itself hangs) — then SIGTERM: the sensor exits within the
    /// budget + 2 s, with and without a spool, and its last line and exit status count everything.
    func testSIGTERMWithDeadBackendExitsWithinBudgetAndCountsEverything() throws {
        let input = try recorded()
        let n = TestSupport.lines(input).count
        XCTAssertGreaterThanOrEqual(n, 5000)
        let data = try Data(contentsOf: input)
        let peersToTry: [(String, Int)] = [("refused port", try TestSupport.freePort()), ("silent peer", try silentPeer())]
        for (peer, port) in peersToTry {
            for spool in [false, true] {
                try? FileManager.default.removeItem(at: dir.appendingPathComponent("spool"))
                let cfg = try config("dead.toml", endpoint: "http://127.0.0.1:\(port)", spool: spool)
                let metricsPort = try TestSupport.freePort()
                let err = dir.appendingPathComponent("dead.err")
                // input on a pipe that stays open: the sensor is still reading when the signal comes
                let stdin = Pipe()
                let p = try TestSupport.startSensor(["replay", "-i", "-", "-c", cfg.path, "--metrics-addr", "127.0.0.1:\(metricsPort)"],
                                                    stderrFile: err, stdin: stdin)
                try? stdin.fileHandleForReading.close()
                let writer = Thread { try? stdin.fileHandleForWriting.write(contentsOf: data) }
                writer.start()
                let fill = Date().addingTimeInterval(30)
                while metric(metricsPort, "oisp_exporter_events_received_total") < Double(n) && Date() < fill { usleep(100_000) }
                XCTAssertTrue(p.isRunning)
                let secs = terminate(p)
                try? stdin.fileHandleForWriting.close()
                let last = lastLine(err)
                let c = counts(last)
                print(String(format: "shutdown: %@, spool %@: %d events queued, SIGTERM → exit %d after %.2f s (budget %.1f s); last line: %@",
                             peer, spool ? "on" : "off", n, p.terminationStatus, secs, Double(Self.budgetMs) / 1000, last))
                XCTAssertLessThan(secs, Double(Self.budgetMs) / 1000 + 2, "\(peer), spool \(spool): exits within budget + 2 s")
                XCTAssertNotNil(c, last)
                XCTAssertEqual(c?.delivered, 0, last)
                if spool {
                    XCTAssertEqual(p.terminationStatus, 0, last)
                    XCTAssertEqual(c?.spooled, n, last)
                    XCTAssertEqual(c?.dropped, 0, last)
                    XCTAssertEqual(try spooledOnDisk().count, n, "the spool on disk holds every event")
                } else {
                    XCTAssertEqual(p.terminationStatus, 75, last)
                    XCTAssertEqual(c?.spooled, 0, last)
                    XCTAssertEqual(c?.dropped, n, last)
                    XCTAssertTrue(last.contains("shutdown=\(n)"), last)
                }
            }
        }
    }

    /// `replay` blocked on a full queue in front of a dead backend stops reading at SIGTERM and
    /// exits within the budget + 2 s; what it read is counted (dropped, reason "shutdown").
    func testReplayBlockedOnFullQueueExitsWithinBudget() throws {
        let input = try recorded()
        let cfg = try config("blocked.toml", endpoint: "http://127.0.0.1:\(try TestSupport.freePort())", spool: false, pipeline: "queue_size = 500")
        let err = dir.appendingPathComponent("blocked.err")
        let p = try TestSupport.startSensor(["replay", "-i", input.path, "-c", cfg.path], stderrFile: err)
        sleep(2)
        XCTAssertTrue(p.isRunning, "blocked on the full queue")
        let secs = terminate(p)
        let last = lastLine(err)
        print(String(format: "shutdown: replay blocked on a full queue (500), SIGTERM → exit %d after %.2f s; last line: %@", p.terminationStatus, secs, last))
        XCTAssertLessThan(secs, Double(Self.budgetMs) / 1000 + 2)
        XCTAssertEqual(p.terminationStatus, 75, last)
        XCTAssertTrue(last.contains("stopped at a signal"), last)
        let read = Int(last.components(separatedBy: " events=").last?.prefix { $0.isNumber } ?? "") ?? -1
        XCTAssertGreaterThan(read, 0, last)
        XCTAssertEqual(counts(last)?.dropped, read, "every event read is counted: \(last)")
    }

    /// A second signal ends the wait at once: with the default budget (20 s) and a dead backend,
    /// SIGTERM then SIGTERM again half a second later, the sensor exits within a second or so.
    func testSecondSignalEndsTheWait() throws {
        let input = try recorded()
        let cfg = dir.appendingPathComponent("second.toml")
        try TestSupport.write("""
        [pipeline]
        queue_size = 500
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:\(try TestSupport.freePort())"
        """, to: cfg)
        let err = dir.appendingPathComponent("second.err")
        let p = try TestSupport.startSensor(["replay", "-i", input.path, "-c", cfg.path], stderrFile: err)
        sleep(1)
        kill(p.processIdentifier, SIGTERM)
        usleep(500_000)
        XCTAssertTrue(p.isRunning, "waiting within the 20 s budget")
        let secs = terminate(p)
        let last = lastLine(err)
        print(String(format: "shutdown: second signal 0.5 s after the first → exit %d after %.2f s; last line: %@", p.terminationStatus, secs, last))
        XCTAssertLessThan(secs, 1.5)
        XCTAssertEqual(p.terminationStatus, 75, last)
        XCTAssertGreaterThan(counts(last)?.dropped ?? 0, 0, last)
    }

    /// `redact` reading an idle pipe stops at SIGTERM and writes what it redacted.
    func testRedactStopsReadingAtSIGTERM() throws {
        let input = try recorded()
        let out = dir.appendingPathComponent("redacted.jsonl")
        let stdin = Pipe()
        let err = dir.appendingPathComponent("redact.err")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["redact", "-i", "-", "-o", out.path]
        p.standardInput = stdin
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        try? stdin.fileHandleForReading.close()
        try stdin.fileHandleForWriting.write(contentsOf: Data(TestSupport.lines(input).prefix(10).joined(separator: "\n").utf8 + [10]))
        sleep(1)
        let secs = terminate(p)
        try? stdin.fileHandleForWriting.close()
        XCTAssertLessThan(secs, 2)
        XCTAssertEqual(p.terminationStatus, 0, TestSupport.lines(err).joined(separator: "\n"))
        XCTAssertEqual(TestSupport.lines(out).count, 10, "what was read is written")
    }

    /// Five restarts in a row (SIGTERM, start again) during an outage, with a spool, events made
    /// all along; then the OTLP receiver comes back: every event is delivered, the spool before
    /// anything new, duplicates at most one batch per restart, none lost. Every exit is within
    /// the budget and counts the spool.
    func testRestartsDuringOutageLoseNothingAndSpoolGoesFirst() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { throw XCTSkip("test peers missing: run `make test-peers`") }
        let port = try TestSupport.freePort()
        let batch = 50
        let exporter = """
        signals = ["logs"]
        batch_size = \(batch)
        timeout_ms = 1000
        retry_on_failure = { initial_interval_ms = 200, max_interval_ms = 1000 }
        """
        let cfg = try config("restarts.toml", endpoint: "http://127.0.0.1:\(port)", spool: true, pipeline: "flush_interval_ms = 100", exporter: exporter)
        var made: [[String]] = []
        let restarts = 5
        for k in 0..<restarts {
            let produced = dir.appendingPathComponent("produced-\(k).jsonl"), err = dir.appendingPathComponent("run-\(k).err")
            let p = try TestSupport.startSensor(["demo", "-n", "100000", "--interval-ms", "20", "-c", cfg.path, "-o", produced.path], stderrFile: err)
            usleep(1_500_000)
            let secs = terminate(p)
            made.append(TestSupport.lines(produced).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID })
            let last = lastLine(err), c = counts(last)
            let total = made.reduce(0) { $0 + $1.count }
            print(String(format: "restart %d: %d events made, SIGTERM → exit %d after %.2f s; spooled %d of %d so far; last line: %@",
                         k + 1, made[k].count, p.terminationStatus, secs, c?.spooled ?? -1, total, last))
            XCTAssertLessThan(secs, Double(Self.budgetMs) / 1000 + 2)
            XCTAssertEqual(p.terminationStatus, 0, last)
            XCTAssertEqual(c?.dropped, 0, last)
            XCTAssertEqual(c?.spooled, total, "the spool holds every event made so far: \(last)")
            XCTAssertGreaterThan(made[k].count, 0)
        }
        // the backend comes back; the next start sends the spool first, then what it makes
        let out = dir.appendingPathComponent("received.jsonl"), ports = dir.appendingPathComponent("ports")
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: Self.python)
        receiver.arguments = [TestSupport.fixtures.appendingPathComponent("otlp_receiver.py").path, out.path, ports.path, "--grpc-port", "\(port)"]
        receiver.standardError = FileHandle.nullDevice
        try receiver.run()
        peers.append(receiver)
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: ports.path) { usleep(50_000) }
        let final = dir.appendingPathComponent("produced-final.jsonl")
        let up = try config("up.toml", endpoint: "http://127.0.0.1:\(port)", spool: true, exporter: exporter)
        var text = try String(contentsOf: up, encoding: .utf8)
        text = text.replacingOccurrences(of: "shutdown_timeout_ms = \(Self.budgetMs)", with: "shutdown_timeout_ms = 60000")
        try TestSupport.write(text, to: up)
        let t0 = Date()
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "20", "-c", up.path, "-o", final.path], timeout: 90)
        let fresh = TestSupport.lines(final).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let got = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }.flatMap { req in
            (req["request"]?["resource_logs"]?.arrayValue ?? []).flatMap { ($0["scope_logs"]?.arrayValue ?? []).flatMap { $0["log_records"]?.arrayValue ?? [] } }
        }.compactMap { $0["body"]?["string_value"]?.stringValue }.compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let earlier = made.flatMap { $0 }
        let dupes = got.count - Set(got).count
        let finalLine = String(r.stderr.split(separator: "\n").last ?? "")
        print(String(format: "restarts: %d restarts, %d events made during the outage + %d after; receiver got %d (%d unique, %d duplicates) in %.1f s; last line: %@",
                     restarts, earlier.count, fresh.count, got.count, Set(got).count, dupes, Date().timeIntervalSince(t0), finalLine))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("spooled events from an earlier run will be delivered first"), r.stderr)
        XCTAssertTrue(finalLine.contains("otlp delivered=\(earlier.count + fresh.count) spooled=0 dropped=0"), finalLine)
        XCTAssertEqual(Set(earlier + fresh).subtracting(got), [], "none lost")
        XCTAssertLessThanOrEqual(dupes, restarts * batch, "duplicates: at most one batch per restart")
        // order: everything spooled during the outage arrives before any event of the new run
        // order: everything spooled during the outage arrives before any event of the new run,
        // and each run's events before the next run's
        let runs = made + [fresh]
        for k in 1..<runs.count {
            let before = Set(runs[..<k].flatMap { $0 }), after = Set(runs[k])
            let lastOld = got.lastIndex { before.contains($0) } ?? -1
            let firstNew = got.firstIndex { after.contains($0) } ?? got.count
            XCTAssertLessThan(lastOld, firstNew, "run \(k + 1)'s events came after the spool of runs 1–\(k)")
        }
    }

    /// One budget, stated alike everywhere: the config default, the DaemonSet's grace period
    /// (budget + 10 s), every config shipped in deploy/, the systemd unit and the docs.
    func testGracePeriodMatchesShutdownBudget() throws {
        let budget = SensorConfig.Pipeline.defaultShutdownTimeoutMs
        let grace = SensorConfig.Pipeline.terminationGracePeriodSeconds(shutdownTimeoutMs: budget)
        XCTAssertEqual(SensorConfig(file: "x").pipeline.shutdownTimeoutMs, budget)
        XCTAssertEqual(try SensorConfig.parse(SensorConfig.embeddedDefault, file: "<embedded default>", env: [:]).pipeline.shutdownTimeoutMs, budget)
        XCTAssertLessThanOrEqual(grace, 30, "the budget fits Kubernetes' default grace period")
        let deploy = TestSupport.packageRoot.appendingPathComponent("deploy")
        var graces: [String: [Int]] = [:]
        var configs: [(String, String)] = [("config.toml", try String(contentsOf: deploy.appendingPathComponent("config.toml"), encoding: .utf8))]
        for case let rel as String in FileManager.default.enumerator(atPath: deploy.path)! where rel.hasSuffix(".yaml") {
            let text = try String(contentsOf: deploy.appendingPathComponent(rel), encoding: .utf8)
            for l in text.split(separator: "\n") where l.trimmingCharacters(in: .whitespaces).hasPrefix("terminationGracePeriodSeconds:") {
                graces[rel, default: []].append(Int(l.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? -1)
            }
            // a ConfigMap's config.toml: the block under `config.toml: |`, indented
            if let r = text.range(of: "config.toml: |\n") {
                let body = text[r.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
                    .prefix { $0.isEmpty || $0.hasPrefix("    ") }.map { $0.dropFirst(min(4, $0.count)) }
                configs.append((rel, body.joined(separator: "\n")))
            }
        }
        XCTAssertEqual(graces["base/daemonset.yaml"], [grace], "deploy/base/daemonset.yaml: terminationGracePeriodSeconds = budget + 10 s")
        for (f, g) in graces { XCTAssertEqual(g, [grace], "\(f) sets another grace period") }
        XCTAssertGreaterThanOrEqual(configs.count, 5)
        for (f, text) in configs {
            let c = try SensorConfig.parse(text, file: f, env: ["NODE_NAME": "n"])
            XCTAssertEqual(SensorConfig.Pipeline.terminationGracePeriodSeconds(shutdownTimeoutMs: c.pipeline.shutdownTimeoutMs), grace,
                           "\(f): shutdown_timeout_ms \(c.pipeline.shutdownTimeoutMs) does not fit the grace period of \(grace) s")
            XCTAssertNotNil(c.pipeline.spoolDir, "\(f): a restart or a rolling upgrade keeps what is queued only with a spool")
        }
        let unit = try String(contentsOf: deploy.appendingPathComponent("systemd/oisp-sensor.service"), encoding: .utf8)
        XCTAssertTrue(unit.contains("TimeoutStopSec=\(grace)\n"), "systemd: TimeoutStopSec=\(grace)")
        let daemonset = try String(contentsOf: deploy.appendingPathComponent("base/daemonset.yaml"), encoding: .utf8)
        XCTAssertTrue(daemonset.contains("maxSurge: 0"), "the new pod starts after the old one has spooled and exited")
        let docs = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        XCTAssertTrue(docs.contains("shutdown_timeout_ms = \(budget)"), "docs/configuration.md states the default")
        XCTAssertTrue(docs.contains("`terminationGracePeriodSeconds` is \(grace)"), "docs/configuration.md states the grace period")
    }

    /// `[pipeline] shutdown_timeout_ms` is validated like every `[pipeline]` key: a wrong type or
    /// range names file, line and key; a misspelling is warned about with its line.
    func testShutdownTimeoutIsValidatedWithLineAndKey() throws {
        XCTAssertEqual(try SensorConfig.parse("[pipeline]\nshutdown_timeout_ms = 5000\n", file: "c.toml", env: [:]).pipeline.shutdownTimeoutMs, 5000)
        for bad in ["\"20s\"", "-1", "7200000"] {
            XCTAssertThrowsError(try SensorConfig.parse("[pipeline]\nbatch_size = 10\nshutdown_timeout_ms = \(bad)\n", file: "c.toml", env: [:])) { err in
                let e = err as! ConfigError
                XCTAssertEqual(e.line, 3, "\(e)")
                XCTAssertEqual(e.key, "pipeline.shutdown_timeout_ms")
                XCTAssertTrue(e.description.hasPrefix("c.toml:3"), e.description)
            }
        }
        let c = try SensorConfig.parse("[pipeline]\nshutdown_timeout = 5000\n", file: "c.toml", env: [:])
        XCTAssertTrue(c.warnings.contains { $0.key == "pipeline.shutdown_timeout" && $0.line == 2 }, "\(c.warnings)")
        XCTAssertEqual(c.pipeline.shutdownTimeoutMs, SensorConfig.Pipeline.defaultShutdownTimeoutMs)
    }

    /// The README states the same budget and grace period (see `readmeSentence`).
    func testREADMEStatesTheShutdownBudget() throws {
        let budget = SensorConfig.Pipeline.defaultShutdownTimeoutMs
        let grace = SensorConfig.Pipeline.terminationGracePeriodSeconds(shutdownTimeoutMs: budget)
        let readme = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let needles = ["`shutdown_timeout_ms` (default \(budget / 1000) s)", "`terminationGracePeriodSeconds` is \(grace)"]
        let missing = needles.filter { !readme.contains($0) }
        XCTAssertEqual(missing, [], "README.md must say \(missing.joined(separator: " and ")); e.g. add: \(Self.readmeSentence(budget: budget, grace: grace))")
    }

    static func readmeSentence(budget: Int, grace: Int) -> String {
        "SIGTERM: exporters get `shutdown_timeout_ms` (default \(budget / 1000) s) to deliver what the sensor holds; what is still "
            + "queued then goes to the disk spool (sent first on the next start), or without one is counted as dropped, and the "
            + "last log line gives delivered / spooled / dropped per exporter. The DaemonSet's `terminationGracePeriodSeconds` "
            + "is \(grace) (the budget + 10 s)."
    }
}
