import Foundation
import OISPEvent
import XCTest

/// Operating the sensor: metrics, health, config reload, deploy/ manifests, Prometheus.
final class OperationsTests: XCTestCase {
    var dir: URL!
    var procs: [Process] = []
    static var venv: String { TestSupport.packageRoot.appendingPathComponent(".build/venv/bin").path }
    static var deploy: URL { TestSupport.packageRoot.appendingPathComponent("deploy") }

    override func setUpWithError() throws { dir = try TestSupport.tempDir("ops") }
    override func tearDown() {
        for p in procs where p.isRunning { p.interrupt(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }


    func get(_ url: String) throws -> (Int, String) {
        let r = try TestSupport.run("/usr/bin/env", ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", url])
        var lines = r.stdout.components(separatedBy: "\n")
        let code = Int(lines.removeLast()) ?? 0
        return (code, lines.joined(separator: "\n"))
    }

    func launch(_ args: [String], env: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        let err = dir.appendingPathComponent("sensor-\(procs.count).err")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        procs.append(p)
        return p
    }

    func waitFor(_ url: String, timeout: TimeInterval = 15) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline { if let (c, _) = try? get(url), c == 200 { return }; usleep(100_000) }
    }

    func sample(_ text: String, _ name: String) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(name) }.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    func testMetricsMoveDuringReplayAndPassPromtool() throws {
        let port = try TestSupport.freePort()
        let input = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "300", "-o", input.path]).status, 0)
        let p = try launch(["demo", "-n", "300", "--interval-ms", "10", "-o", dir.appendingPathComponent("o.jsonl").path,
                            "--metrics-addr", "127.0.0.1:\(port)"])
        waitFor("http://127.0.0.1:\(port)/healthz")
        let (c1, m1) = try get("http://127.0.0.1:\(port)/metrics")
        usleep(700_000)
        let (_, m2) = try get("http://127.0.0.1:\(port)/metrics")
        XCTAssertEqual(c1, 200)
        XCTAssertGreaterThan(sample(m2, "oisp_events_total"), sample(m1, "oisp_events_total"), "counters move")
        XCTAssertGreaterThan(sample(m2, "oisp_exporter_events_exported_total"), 0)
        XCTAssertTrue(m2.contains("oisp_exporter_batch_duration_seconds_bucket"))
        XCTAssertEqual(try get("http://127.0.0.1:\(port)/healthz").0, 200)
        XCTAssertEqual(try get("http://127.0.0.1:\(port)/readyz").0, 200)
        XCTAssertEqual(try get("http://127.0.0.1:\(port)/nope").0, 404)
        let f = dir.appendingPathComponent("m.txt")
        try TestSupport.write(m2, to: f)
        let check = try TestSupport.run("/bin/sh", ["-c", "promtool check metrics < \(f.path)"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        p.interrupt(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    /// The PrometheusRule passes promtool, and every metric its alerts and the Grafana dashboard's
    /// panels use is in a live scrape of `record`.
    func testAlertRulesAreValidAndUseRealMetrics() throws {
        let rules = dir.appendingPathComponent("rules.yaml")
        let ex = try TestSupport.run("\(Self.venv)/python", ["-c", """
        import yaml, sys
        doc = yaml.safe_load(open("\(Self.deploy.appendingPathComponent("monitoring/prometheusrule.yaml").path)"))
        yaml.safe_dump({"groups": doc["spec"]["groups"]}, open("\(rules.path)", "w"))
        """])
        XCTAssertEqual(ex.status, 0, ex.stderr)
        let check = try TestSupport.run("/usr/bin/env", ["promtool", "check", "rules", rules.path])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        // the alerts' metrics and the Grafana dashboard's
        let text = try String(contentsOf: rules, encoding: .utf8)
            + String(contentsOf: Self.deploy.appendingPathComponent("monitoring/grafana-dashboard.json"), encoding: .utf8)
        let names = Set(text.matches(of: try Regex("oisp_[a-z_]+")).map { String(text[$0.range]) })
        XCTAssertTrue(names.contains("oisp_exporter_spool_bytes") && names.contains("oisp_redaction_findings_total"), "\(names)")
        let port = try TestSupport.freePort()
        let p = try launch(["record", "--metrics-addr", "127.0.0.1:\(port)", "--output", dir.appendingPathComponent("r.jsonl").path, "--no-ssl"])
        waitFor("http://127.0.0.1:\(port)/readyz", timeout: 30)
        let (_, live) = try get("http://127.0.0.1:\(port)/metrics")
        p.interrupt(); p.waitUntilExit()
        for n in names {
            XCTAssertTrue(live.contains("\n\(n){") || live.contains("\n\(n) ") || live.hasPrefix(n), "an alert or panel uses \(n), which the sensor does not export")
        }
    }

    func testRealPrometheusScrapesTheSensor() throws {
        let port = try TestSupport.freePort(), promPort = try TestSupport.freePort()
        _ = try launch(["demo", "-n", "1000", "--interval-ms", "20", "-o", "/dev/null", "--metrics-addr", "127.0.0.1:\(port)"])
        waitFor("http://127.0.0.1:\(port)/healthz")
        let cfg = dir.appendingPathComponent("prometheus.yml")
        try TestSupport.write("""
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: oisp-sensor
            static_configs:
              - targets: ["127.0.0.1:\(port)"]
        """, to: cfg)
        let prom = Process()
        prom.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prom.arguments = ["--config.file=\(cfg.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("tsdb").path)",
                          "--web.listen-address=127.0.0.1:\(promPort)"]
        prom.standardError = FileHandle.nullDevice
        prom.standardOutput = FileHandle.nullDevice
        try prom.run()
        procs.append(prom)
        var value: String?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && value == nil {
            if let (c, body) = try? get("http://127.0.0.1:\(promPort)/api/v1/query?query=sum(oisp_events_total)"), c == 200,
               let v = try? JSONParser.parse(body)["data"]?["result"]?.arrayValue?.first?["value"]?.arrayValue?.last?.stringValue {
                value = v
            }
            usleep(500_000)
        }
        XCTAssertNotNil(value, "Prometheus's query API returns the sensor's metric")
        XCTAssertGreaterThan(Double(value ?? "0") ?? 0, 0)
    }

    func testManifestsValidateAndShippedConfigsPassConfigCheck() throws {
        let lint = try TestSupport.run("\(Self.venv)/yamllint", ["-c", Self.deploy.appendingPathComponent(".yamllint").path, Self.deploy.path])
        XCTAssertEqual(lint.status, 0, lint.stdout + lint.stderr)
        // complete core-kind resources (strategic-merge patches are partial by design)
        let core = ["base/namespace.yaml", "base/rbac.yaml", "base/configmap.yaml", "base/daemonset.yaml", "base/service.yaml",
                    "overlays/otel-collector/otel-collector.yaml", "overlays/otel-collector/sensor-config.yaml",
                    "overlays/kafka-strimzi/sensor-config.yaml", "overlays/fluent-bit-sidecar/fluent-bit-config.yaml",
                    "overlays/in-sensor-exporters/sensor-config.yaml"].map { Self.deploy.appendingPathComponent($0).path }
        let kv = try TestSupport.run("\(Self.venv)/kubernetes-validate", ["--strict"] + core)
        XCTAssertEqual(kv.status, 0, kv.stdout + kv.stderr)
        XCTAssertFalse(kv.stdout.contains("ERROR"), kv.stdout)
        // the custom resources (Strimzi Kafka/KafkaTopic, ServiceMonitor, PrometheusRule) against
        // their CRD schemas — and the check bites: typical mistakes are refused, each named
        let crs = ["overlays/kafka-strimzi/kafka.yaml", "monitoring/servicemonitor.yaml", "monitoring/prometheusrule.yaml"]
            .map { Self.deploy.appendingPathComponent($0).path }
        let validator = Self.deploy.appendingPathComponent("schemas/validate.py").path
        let cr = try TestSupport.run("\(Self.venv)/python", [validator] + crs)
        XCTAssertEqual(cr.status, 0, cr.stdout + cr.stderr)
        XCTAssertTrue(cr.stdout.contains("5 custom resources checked, 0 errors"), cr.stdout)
        let mistakes: [(file: String, from: String, to: String, error: String)] = [
            (crs[0], "partitions: 12", "partitions: \"12\"", "partitions"),
            (crs[0], "compression.type: snappy", "compression.type: snapy", "compression.type"),
            (crs[0], "type: internal", "type: internl", "listeners/0/type"),
            (crs[1], "interval: 30s", "interval: 30 seconds", "interval"),
            (crs[1], "selector:", "selectr:", "selectr"),
            (crs[2], "for: 5m", "for: five minutes", "for"),
        ]
        for m in mistakes {
            let text = try String(contentsOfFile: m.file, encoding: .utf8)
            XCTAssertTrue(text.contains(m.from), "\(m.file) no longer has \(m.from)")
            let f = dir.appendingPathComponent(UUID().uuidString + ".yaml")
            try TestSupport.write(text.replacingOccurrences(of: m.from, with: m.to), to: f)
            let r = try TestSupport.run("\(Self.venv)/python", [validator, f.path])
            XCTAssertNotEqual(r.status, 0, "\(m.to) passed")
            XCTAssertTrue(r.stdout.contains("ERROR") && r.stdout.contains(m.error), "\(m.to): \(r.stdout)")
        }
        // every config.toml shipped in a ConfigMap passes `oisp config check`
        for f in core where f.hasSuffix("configmap.yaml") || f.hasSuffix("sensor-config.yaml") {
            let out = dir.appendingPathComponent(UUID().uuidString + ".toml")
            let ex = try TestSupport.run("\(Self.venv)/python", ["-c", "import yaml; open('\(out.path)','w').write(yaml.safe_load(open('\(f)'))['data']['config.toml'])"])
            XCTAssertEqual(ex.status, 0, ex.stderr)
            let r = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", out.path], env: ["NODE_NAME": "node-1", "LOG_TOKEN": "x"])
            XCTAssertEqual(r.status, 0, "\(f): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("k8s-node-1"), r.stdout)
            XCTAssertFalse(r.stderr.contains("unknown key"), "\(f): \(r.stderr)")
        }
    }

    /// SIGHUP swaps exporters while events flow: every event reaches the old exporter or the new
    /// one (a real HTTP peer); a broken file is rejected and the sensor keeps running.
    func testSIGHUPReloadsExportersWithoutLoss() throws {
        let ports = dir.appendingPathComponent("lokiport"), lokiOut = dir.appendingPathComponent("loki.jsonl")
        let loki = Process()
        loki.executableURL = URL(fileURLWithPath: "\(Self.venv)/python")
        loki.arguments = [TestSupport.fixtures.appendingPathComponent("loki_receiver.py").path, lokiOut.path, ports.path]
        try loki.run()
        procs.append(loki)
        var lokiPort = ""
        for _ in 0..<100 where lokiPort.isEmpty { lokiPort = (try? String(contentsOf: ports, encoding: .utf8)) ?? ""; usleep(50_000) }
        let fileOut = dir.appendingPathComponent("before.jsonl"), all = dir.appendingPathComponent("all.jsonl")
        let cfg = dir.appendingPathComponent("live.toml")
        try TestSupport.write("[pipeline]\nflush_interval_ms = 50\n[export.jsonl]\nenabled = true\npath = \"\(fileOut.path)\"\n", to: cfg)
        let p = try launch(["demo", "-n", "80", "--interval-ms", "40", "-c", cfg.path, "-o", all.path])
        sleep(1)
        try TestSupport.write("[pipeline]\nflush_interval_ms = 50\n[export.loki]\nenabled = true\nport = \(lokiPort)\nlabels = \"job=oisp, event_id\"\n", to: cfg)
        kill(p.processIdentifier, SIGHUP)
        sleep(1)
        try TestSupport.write("[export.loki\nbroken", to: cfg)
        kill(p.processIdentifier, SIGHUP)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let log = (try? String(contentsOf: dir.appendingPathComponent("sensor-1.err"), encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("config reloaded"), log)
        XCTAssertTrue(log.contains("config reload rejected"), log)
        let every = TestSupport.lines(all).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let before = Set(TestSupport.lines(fileOut).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID })
        let after = Set(TestSupport.lines(lokiOut).compactMap { try? JSONParser.parse($0)["line"]?.stringValue }.map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID })
        XCTAssertFalse(before.isEmpty); XCTAssertFalse(after.isEmpty)
        XCTAssertEqual(Set(every).subtracting(before).subtracting(after), [], "no event lost across the reload")
    }
}
