import Foundation
import OISPEvent
import OISPPipeline
import XCTest

/// #25's fault suite, item 3: the spool on a full filesystem — a real 2 MiB tmpfs, mounted by the
/// test (root) — behind a dead backend, with a budget (`spool_max_bytes`, 1 GiB) the disk cannot
/// hold. Each `spool_overflow` policy does what it says: `drop_oldest` keeps the newest events,
/// `drop_newest` the oldest, `block` holds `replay` back until the backend is up again and loses
/// nothing. Losses are counted by reason (`disk_full`), the error names the directory and its
/// free space, and the sensor never crashes.
final class FullDiskTests: XCTestCase {
    var dir: URL!
    var mountPoint: URL!
    var peers: [Process] = []
    static let fsBytes = 2 << 20

    override func setUpWithError() throws {
        guard geteuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root") }
        dir = try TestSupport.tempDir("fulldisk")
        mountPoint = dir.appendingPathComponent("fs")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let r = try TestSupport.run("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=\(Self.fsBytes),mode=0755", "tmpfs", mountPoint.path])
        guard r.status == 0 else { throw XCTSkip("cannot mount a tmpfs: \(r.stderr)") }
    }

    override func tearDown() {
        for p in peers where p.isRunning { p.terminate(); p.waitUntilExit() }
        if let m = mountPoint { _ = try? TestSupport.run("/usr/bin/env", ["umount", m.path]) }
        if let d = dir { try? FileManager.default.removeItem(at: d) }
    }

    /// About 4.5 MB of recorded events: more than the filesystem holds.
    func input() throws -> (URL, [String]) {
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["bench", "make-input", "-o", f.path, "--count", "4000"]).status, 0)
        return (f, TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID })
    }

    func config(_ policy: String, port: Int, pipeline: String = "shutdown_timeout_ms = 2000") throws -> URL {
        let cfg = dir.appendingPathComponent("\(policy).toml")
        try TestSupport.write("""
        [pipeline]
        spool_dir = "\(mountPoint.appendingPathComponent("spool").path)"
        spool_overflow = "\(policy)"
        flush_interval_ms = 50
        \(pipeline)
        retry_on_failure = { initial_interval_ms = 100, max_interval_ms = 200 }
        [export.http]
        enabled = true
        port = \(port)
        uri = "/ingest"
        format = "json_lines"
        timeout_ms = 300
        """, to: cfg)
        return cfg
    }

    func spooled() throws -> [String] {
        let s = try DiskSpool(dir: mountPoint.appendingPathComponent("spool/http"), maxBytes: 1 << 30, overflow: .dropOldest)
        return s.peek(max: 1_000_000)?.records.map(\.eventID) ?? []
    }

    func counts(_ last: String) -> (delivered: Int, spooled: Int, dropped: Int, diskFull: Int)? {
        guard let r = last.range(of: "http delivered=") else { return nil }
        let f = last[r.lowerBound...].split(separator: " ")
        func v(_ k: String) -> Int? {
            f.first { $0.hasPrefix(k + "=") || $0.hasPrefix("(" + k + "=") }
                .flatMap { Int($0.drop { $0 != "=" }.dropFirst().prefix { $0.isNumber }) }
        }
        guard let d = v("delivered"), let s = v("spooled"), let x = v("dropped") else { return nil }
        return (d, s, x, v("disk_full") ?? 0)
    }

    /// The error line for the full disk: it names the directory and the free space.
    func diskError(_ stderr: String) -> String? {
        stderr.split(separator: "\n").first { $0.contains("spool write failed") }.map(String.init)
    }

    func testDropOldestAndDropNewestOnAFullFilesystem() throws {
        let (input, ids) = try input()
        let spoolDir = mountPoint.appendingPathComponent("spool/http").path
        for policy in ["drop_oldest", "drop_newest"] {
            _ = try? TestSupport.run("/usr/bin/env", ["rm", "-rf", mountPoint.appendingPathComponent("spool").path])
            // the metrics endpoint stays up a moment after the last line, for the final counters
            let metricsPort = try TestSupport.freePort(), errFile = dir.appendingPathComponent("\(policy).err")
            let p = try TestSupport.startSensor(["replay", "-i", input.path, "-c", try config(policy, port: try TestSupport.freePort()).path,
                                                 "--metrics-addr", "127.0.0.1:\(metricsPort)"], stderrFile: errFile, env: ["OISP_METRICS_LINGER_MS": "3000"])
            var scraped = ""
            let until = Date().addingTimeInterval(60)
            while p.isRunning && Date() < until { // the last scrape before the exit holds the final counters
                let m = (try? TestSupport.run("/usr/bin/env", ["curl", "-s", "http://127.0.0.1:\(metricsPort)/metrics"], timeout: 5))?.stdout ?? ""
                if m.contains("oisp_exporter_events_dropped_total") { scraped = m }
                usleep(100_000)
            }
            p.waitUntilExit()
            let r = TestSupport.Result(status: p.terminationStatus, stdout: "", stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
            let metricLine = scraped.split(separator: "\n").first { $0.hasPrefix("oisp_exporter_events_dropped_total") && $0.contains("disk_full") }.map(String.init) ?? ""
            let last = String(r.stderr.split(separator: "\n").last ?? "")
            let c = counts(last), onDisk = try spooled()
            let err = diskError(r.stderr) ?? ""
            print("full disk: \(policy): \(ids.count) events (~\(try Data(contentsOf: input).count >> 20) MB) into a \(Self.fsBytes >> 20) MiB tmpfs, exit \(r.status); "
                  + "\(onDisk.count) on disk (first \(ids.firstIndex(of: onDisk.first ?? "") ?? -1), last \(ids.firstIndex(of: onDisk.last ?? "") ?? -1)); "
                  + "\(DiskSpool.freeSpace(mountPoint.path)); last line: \(last)")
            print("full disk: \(policy): logged: \(err.prefix(400))")
            XCTAssertEqual(r.status, 75, "events were lost to the full disk: the exit status says so. \(last)")
            XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Segmentation"), "no crash")
            XCTAssertNotNil(c, last)
            XCTAssertGreaterThan(c?.diskFull ?? 0, 0, "the loss is counted as disk_full: \(last)")
            XCTAssertEqual(c?.dropped, c?.diskFull, "every loss here is for the disk: \(last)")
            XCTAssertEqual(c?.spooled, onDisk.count, "the last line counts what is on disk")
            XCTAssertEqual((c?.spooled ?? 0) + (c?.dropped ?? 0), ids.count, "every event is on disk or counted as lost: \(last)")
            XCTAssertTrue(err.contains(spoolDir) && err.contains("no space left on device") && err.contains("free ") && err.contains(" bytes"),
                          "the error names the directory and the free space: \(err)")
            XCTAssertTrue(err.contains("spool_overflow=\(policy)"), err)
            print("full disk: \(policy): metrics: \(metricLine)")
            XCTAssertEqual(Int(Double(metricLine.split(separator: " ").last ?? "") ?? -1), c?.diskFull, "the metric counts the same loss by reason: \(metricLine)")
            XCTAssertGreaterThan(onDisk.count, ids.count / 4, "the disk is used, not given up on")
            if policy == "drop_oldest" {
                XCTAssertEqual(onDisk.last, ids.last, "drop_oldest keeps the newest event")
                XCTAssertFalse(onDisk.contains(ids[0]), "and deleted the oldest")
                XCTAssertEqual(onDisk, Array(ids.suffix(onDisk.count)), "what is kept is the newest run, in order")
            } else {
                XCTAssertEqual(onDisk.first, ids.first, "drop_newest keeps the oldest event")
                XCTAssertFalse(onDisk.contains(ids.last!), "and refused the newest")
                XCTAssertEqual(onDisk, Array(ids.prefix(onDisk.count)), "what is kept is the oldest run, in order")
            }
        }
    }

    /// `block`: `replay` waits while the disk is full (nothing dropped; a 1 MiB memory queue, so
    /// the events cannot wait in memory instead), and once the backend is back the spool
    /// drains, the writer goes on, and every event arrives.
    func testBlockWaitsOnAFullFilesystemAndLosesNothing() throws {
        let (input, ids) = try input()
        let port = try TestSupport.freePort()
        let err = dir.appendingPathComponent("block.err")
        let p = try TestSupport.startSensor(["replay", "-i", input.path, "-c", try config("block", port: port, pipeline: "queue_max_bytes = 1048576\nshutdown_timeout_ms = 30000").path], stderrFile: err)
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        let t0 = Date()
        var logged: String?
        while logged == nil && p.isRunning && Date().timeIntervalSince(t0) < 30 {
            logged = diskError((try? String(contentsOf: err, encoding: .utf8)) ?? "")
            usleep(50_000)
        }
        XCTAssertNotNil(logged, "the full disk is reported")
        usleep(1_000_000)
        XCTAssertTrue(p.isRunning, "block: replay waits for room (no crash, nothing dropped)")
        let held = try spooled().count
        let free = DiskSpool.freeSpace(mountPoint.path)
        print("full disk: block: replay waiting after \(String(format: "%.1f", Date().timeIntervalSince(t0))) s with \(held) of \(ids.count) events on disk (\(free)); logged: \((logged ?? "").prefix(400))")
        XCTAssertTrue((logged ?? "").contains(mountPoint.appendingPathComponent("spool/http").path) && (logged ?? "").contains("free "), logged ?? "")
        // the backend comes back
        let got = dir.appendingPathComponent("received.jsonl"), up = dir.appendingPathComponent("up")
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-c", """
        import http.server
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                b = self.rfile.read(int(self.headers['Content-Length']))
                with open('\(got.path)', 'ab') as f: f.write(b)
                self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
            def log_message(self, *a): pass
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        s = http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), H)
        open('\(up.path)', 'w').write('up')
        s.serve_forever()
        """]
        try server.run()
        peers.append(server)
        let end = Date().addingTimeInterval(60)
        while p.isRunning && Date() < end { usleep(20_000) }
        XCTAssertFalse(p.isRunning, "replay finished once the backend took the spool")
        p.waitUntilExit()
        let text = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        let last = String(text.split(separator: "\n").last ?? "")
        let received = TestSupport.lines(got).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        print("full disk: block: exit \(p.terminationStatus) after \(String(format: "%.1f", Date().timeIntervalSince(t0))) s; received \(received.count) (\(Set(received).count) unique) of \(ids.count); last line: \(last)")
        XCTAssertEqual(p.terminationReason, .exit, "no crash")
        XCTAssertEqual(p.terminationStatus, 0, last)
        XCTAssertTrue(last.contains("http delivered=\(ids.count) spooled=0 dropped=0"), last)
        XCTAssertEqual(Set(ids).subtracting(received), [], "block loses nothing")
    }
}
