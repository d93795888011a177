import Foundation
import OISPEvent
import OISPPipeline
import XCTest

final class SpoolTests: XCTestCase {
    func records(_ n: Int, from: Int = 0) -> [ExportRecord] {
        (from..<(from + n)).map { ExportRecord(eventID: "ev-\($0)", eventType: "ai.request", timestampNs: Int64($0), partitionKey: "h/1",
                                               json: Array(#"{"i":\#($0),"pad":"\#(String(repeating: "x", count: 200))"}"#.utf8)) }
    }

    func drain(_ s: DiskSpool, batch: Int = 7) -> [String] {
        var out: [String] = []
        while let (recs, next) = s.peek(max: batch) { out += recs.map(\.eventID); s.commit(next) }
        return out
    }

    func testOrderRestartAndCursor() throws {
        let dir = try TestSupport.tempDir("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        var s: DiskSpool? = try DiskSpool(dir: dir, maxBytes: 1 << 20, overflow: .dropOldest)
        _ = s!.append(records(10))
        let (first, next) = try XCTUnwrap(s!.peek(max: 4))
        XCTAssertEqual(first.map(\.eventID), ["ev-0", "ev-1", "ev-2", "ev-3"])
        XCTAssertEqual(first[2].json, records(1, from: 2)[0].json)
        s!.commit(next)
        s = nil // "restart"
        let s2 = try DiskSpool(dir: dir, maxBytes: 1 << 20, overflow: .dropOldest)
        XCTAssertEqual(drain(s2), (4..<10).map { "ev-\($0)" }, "delivered in order after restart, from the persisted cursor")
        XCTAssertTrue(s2.isEmpty)
    }

    func testCorruptAndTornRecordsAreSkippedAndCounted() throws {
        let dir = try TestSupport.tempDir("spool-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let s = try DiskSpool(dir: dir, maxBytes: 1 << 20, overflow: .dropOldest)
            _ = s.append(records(20))
        }
        let seg = try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasPrefix("seg-") }!
        let url = dir.appendingPathComponent(seg)
        var bytes = [UInt8](try Data(contentsOf: url))
        let recLen = bytes.count / 20
        for k in 0..<30 { bytes[recLen * 5 + 40 + k] ^= 0xFF }          // flip bytes inside record 5
        bytes.removeLast(recLen / 2)                                      // tear the last record
        try Data(bytes).write(to: url)
        let s = try DiskSpool(dir: dir, maxBytes: 1 << 20, overflow: .dropOldest)
        let got = drain(s)
        XCTAssertFalse(got.contains("ev-5"))
        XCTAssertFalse(got.contains("ev-19"))
        XCTAssertEqual(got.count, 18)
        XCTAssertEqual(got.filter { $0 != "ev-5" && $0 != "ev-19" }, got)
        XCTAssertGreaterThanOrEqual(s.corruptSkipped, 2)
    }

    func testFullSpoolDropsOldestOrNewest() throws {
        let dir = try TestSupport.tempDir("spool-full")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try DiskSpool(dir: dir, maxBytes: 6000, overflow: .dropNewest)
        var refused = 0
        for i in 0..<10 { refused += s.append(records(5, from: i * 5)).refused }
        XCTAssertGreaterThan(refused, 0)
        XCTAssertLessThanOrEqual(s.bytes, 6000)
        XCTAssertEqual(drain(s).first, "ev-0", "drop_newest keeps the oldest")
    }

    /// The sensor itself killed while its backend is down: what reached the spool is delivered
    /// after a restart.
    func testSpooledEventsSurviveSIGKILL() throws {
        let dir = try TestSupport.tempDir("spool-e2e")
        defer { try? FileManager.default.removeItem(at: dir) }
        let python = TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/python").path
        let port = try TestSupport.freePort()
        let spoolDir = dir.appendingPathComponent("spool")
        let cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write("""
        [pipeline]
        spool_dir = "\(spoolDir.path)"
        flush_interval_ms = 50
        [export.http]
        enabled = true
        port = \(port)
        uri = "/ingest"
        format = "json_lines"
        timeout_ms = 300
        retry_on_failure = { initial_interval_ms = 50, max_interval_ms = 100, max_elapsed_ms = 300 }
        """, to: cfg)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["demo", "-n", "200", "--interval-ms", "30", "-c", cfg.path]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        sleep(3)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // what is on disk now
        let spool = try DiskSpool(dir: spoolDir.appendingPathComponent("http"), maxBytes: 1 << 30, overflow: .dropOldest)
        var onDisk: [String] = []
        if let (recs, _) = spool.peek(max: 1_000_000) { onDisk = recs.map(\.eventID) }
        XCTAssertGreaterThan(onDisk.count, 20, "batches moved to the spool while the backend was down")
        // backend up, sensor restarted with nothing new: the spool is delivered
        let out = dir.appendingPathComponent("received.jsonl"), pf = dir.appendingPathComponent("pf")
        let server = Process()
        server.executableURL = URL(fileURLWithPath: python)
        server.arguments = ["-c", """
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                b = self.rfile.read(int(self.headers['Content-Length']))
                open('\(out.path)', 'ab').write(b)
                self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
            def log_message(self, *a): pass
        s = http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), H)
        open('\(pf.path)', 'w').write('ok')
        s.serve_forever()
        """]
        try server.run()
        defer { server.terminate() }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: pf.path) { usleep(50_000) }
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "0", "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("spooled events from an earlier run"), r.stderr)
        let got = Set(TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID })
        XCTAssertTrue(Set(onDisk).isSubset(of: got), "\(Set(onDisk).subtracting(got).count) spooled events missing")
    }
}
