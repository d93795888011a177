import Foundation
import OISPConfig
import XCTest

/// #25's fault suite, item 1: 200,000 events through `replay` into a dead backend — a refused
/// port, a peer that accepts and never replies, and a backend that dies mid-run — for the http
/// and the otlp exporters: the sensor's peak RSS (VmHWM, polled) stays within `queue_max_bytes`
/// + 32 MiB, the log names the exporter, the peer and what state it is in, and the exit status
/// (75) and last line say how many events were lost.
final class DeadBackendTests: XCTestCase {
    static let events = 200_000
    static var inputURL: URL?
    var dir: URL!
    var peers: [Process] = []

    override func setUpWithError() throws { dir = try TestSupport.tempDir("dead") }
    override func tearDown() {
        for p in peers where p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }
    override class func tearDown() {
        if let u = inputURL { try? FileManager.default.removeItem(at: u.deletingLastPathComponent()) }
        inputURL = nil
    }

    /// 200k recorded events (about 220 MB): `bench make-input` writes 20k, repeated 10 times
    /// (made once for the class).
    func input() throws -> URL {
        if let u = Self.inputURL { return u }
        let d = try TestSupport.tempDir("dead-input")
        let base = d.appendingPathComponent("20k.jsonl"), all = d.appendingPathComponent("200k.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["bench", "make-input", "-o", base.path, "--count", "\(Self.events / 10)"]).status, 0)
        let chunk = try Data(contentsOf: base)
        FileManager.default.createFile(atPath: all.path, contents: nil)
        let h = try FileHandle(forWritingTo: all)
        for _ in 0..<10 { try h.write(contentsOf: chunk) }
        try h.close()
        XCTAssertEqual(TestSupport.lines(all).count, Self.events)
        Self.inputURL = all
        return all
    }

    /// An HTTP ingest that takes `requests` POSTs (200) and then dies: the port is refused from then on.
    func dyingBackend(requests: Int) throws -> (Int, URL) {
        let portFile = dir.appendingPathComponent("dying.port"), got = dir.appendingPathComponent("dying.jsonl")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
        import http.server, os
        n = 0
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                global n
                b = self.rfile.read(int(self.headers['Content-Length']))
                open('\(got.path)', 'ab').write(b)
                self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
                self.wfile.flush()
                n += 1
                if n >= \(requests): os._exit(0)
            def log_message(self, *a): pass
        s = http.server.HTTPServer(('127.0.0.1', 0), H)
        open('\(portFile.path)', 'w').write(str(s.server_address[1]))
        s.serve_forever()
        """]
        try p.run()
        peers.append(p)
        for _ in 0..<100 {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(s) { return (port, got) }
            usleep(50_000)
        }
        throw XCTSkip("dying backend did not start")
    }

    struct Outcome { var status: Int32; var peakMiB: Double; var seconds: Double; var stderr: String; var last: String }

    func replay(_ exporter: String, port: Int, label: String) throws -> Outcome {
        let cfg = dir.appendingPathComponent("\(exporter).toml")
        let target = exporter == "otlp" ? "endpoint = \"http://127.0.0.1:\(port)\"" : "port = \(port)\nformat = \"json_lines\""
        // the defaults (queue_max_bytes 64 MiB, batch_size 512), one attempt per batch and a
        // 50 ms timeout, so a dead backend costs each batch one timeout, not minutes of retries
        try TestSupport.write("""
        [pipeline]
        timeout_ms = 50
        shutdown_timeout_ms = 2000
        retry_on_failure = { enabled = false }
        [export.\(exporter)]
        enabled = true
        timeout_ms = 50
        \(target)
        """, to: cfg)
        let err = dir.appendingPathComponent("\(exporter)-\(label).err")
        let t0 = Date()
        let p = try TestSupport.startSensor(["replay", "-i", try input().path, "-c", cfg.path], stderrFile: err)
        let peak = TestSupport.peakRSSKiB(p)
        let text = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        return Outcome(status: p.terminationStatus, peakMiB: Double(peak) / 1024, seconds: Date().timeIntervalSince(t0), stderr: text,
                       last: String(text.split(separator: "\n").last ?? ""))
    }

    func counts(_ last: String, _ name: String) -> (delivered: Int, dropped: Int)? {
        guard let r = last.range(of: "\(name) delivered=") else { return nil }
        let f = last[r.lowerBound...].split(separator: " ")
        func v(_ k: String) -> Int? { f.first { $0.hasPrefix(k + "=") }.flatMap { Int($0.dropFirst(k.count + 1).prefix { $0.isNumber }) } }
        guard let d = v("delivered"), let x = v("dropped") else { return nil }
        return (d, x)
    }

    func check(_ exporter: String, _ label: String, _ o: Outcome, peer: String, state: [String], delivered: Int? = nil) {
        let bound = Double(ExportPolicy().queueMaxBytes >> 20) + 32
        let c = counts(o.last, exporter)
        print(String(format: "dead backend: %@ → %@: %d events, exit %d in %.1f s, peak RSS %.1f MiB (bound: queue_max_bytes %d MiB + 32 MiB = %.0f MiB); last line: %@",
                     exporter, label, Self.events, o.status, o.seconds, o.peakMiB, ExportPolicy().queueMaxBytes >> 20, bound, o.last))
        XCTAssertGreaterThan(o.peakMiB, 0, "peak RSS was read")
        XCTAssertLessThanOrEqual(o.peakMiB, bound, "\(exporter) → \(label): peak RSS")
        XCTAssertEqual(o.status, 75, "events were lost, and the exit status says so: \(o.last)")
        XCTAssertNotNil(c, o.last)
        if let c {
            XCTAssertEqual(c.delivered + c.dropped, Self.events, "every event delivered or counted as lost: \(o.last)")
            XCTAssertGreaterThan(c.dropped, 0)
            if let d = delivered { XCTAssertEqual(c.delivered, d, "the peer got what the sensor counts as delivered") }
        }
        // the log names the exporter, the peer and its state, on one line
        let named = o.stderr.split(separator: "\n").first { l in
            l.contains("exporter=\(exporter)") && l.contains(peer) && state.contains { l.lowercased().contains($0) }
        }
        XCTAssertNotNil(named, "no log line names exporter \(exporter), peer \(peer) and one of \(state): \(o.stderr.suffix(1500))")
        if let named { print("dead backend: \(exporter) → \(label): logged: \(named.prefix(400))") }
    }

    func testHTTPExporterIntoDeadBackends() throws {
        let refused = try TestSupport.freePort()
        check("http", "refused port", try replay("http", port: refused, label: "refused"), peer: "127.0.0.1 port \(refused)",
              state: ["couldn't connect", "connection refused"])
        let (silent, sport) = try TestSupport.silentPeer(dir: dir)
        peers.append(silent)
        check("http", "silent peer", try replay("http", port: sport, label: "silent"), peer: "127.0.0.1:\(sport)", state: ["timed out", "timeout"])
        let (dport, got) = try dyingBackend(requests: 3)
        let o = try replay("http", port: dport, label: "dies")
        let received = TestSupport.lines(got).count
        check("http", "backend dies after 3 requests", o, peer: "127.0.0.1 port \(dport)", state: ["couldn't connect", "connection refused"],
              delivered: received)
        XCTAssertEqual(received, 3 * 512, "the backend took 3 batches before it died")
    }

    func testOTLPExporterIntoDeadBackends() throws {
        let refused = try TestSupport.freePort()
        check("otlp", "refused port", try replay("otlp", port: refused, label: "refused"), peer: "127.0.0.1 port \(refused)",
              state: ["couldn't connect", "connection refused"])
        let (silent, sport) = try TestSupport.silentPeer(dir: dir)
        peers.append(silent)
        check("otlp", "silent peer", try replay("otlp", port: sport, label: "silent"), peer: "127.0.0.1:\(sport)", state: ["timed out", "timeout"])
    }
}
