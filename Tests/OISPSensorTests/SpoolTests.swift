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

        // a corrupt stretch longer than one read (1 MiB) in the middle of a segment: what follows
        // it is still found and delivered in order, and the stretch counts once (plus the record
        // it cuts into)
        let big = try TestSupport.tempDir("spool-bad-big")
        defer { try? FileManager.default.removeItem(at: big) }
        do {
            let s = try DiskSpool(dir: big, maxBytes: 1 << 30, overflow: .dropOldest)
            for i in 0..<20 { _ = s.append(records(1000, from: i * 1000)) }
        }
        let bigSeg = big.appendingPathComponent(try FileManager.default.contentsOfDirectory(atPath: big.path).first { $0.hasPrefix("seg-") }!)
        var raw = [UInt8](try Data(contentsOf: bigSeg))
        for k in 1_000_000..<2_600_000 { raw[k] = UInt8(truncatingIfNeeded: k &* 31) | 1 }
        try Data(raw).write(to: bigSeg)
        let s2 = try DiskSpool(dir: big, maxBytes: 1 << 30, overflow: .dropOldest)
        let all = drain(s2, batch: 500).map { Int($0.dropFirst(3))! }
        XCTAssertEqual(all.first, 0)
        XCTAssertEqual(all.last, 19_999, "records after the stretch are delivered")
        XCTAssertEqual(all, all.sorted(), "in order")
        XCTAssertGreaterThan(all.count, 20_000 - 1_600_000 / 240 - 10)
        XCTAssertLessThan(all.count, 20_000)
        XCTAssertTrue((1...2).contains(s2.corruptSkipped), "the record cut by the stretch and the stretch itself: \(s2.corruptSkipped)")
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

        // drop_oldest, the default: the newest data stays, in order, and the loss is counted —
        // also for a spool smaller than one default segment, and with one record per append
        for (maxBytes, per) in [(6000, 5), (50_000, 1), (3 << 20, 50)] {
            let d = try TestSupport.tempDir("spool-oldest")
            defer { try? FileManager.default.removeItem(at: d) }
            let o = try DiskSpool(dir: d, maxBytes: Int64(maxBytes), overflow: .dropOldest)
            let total = maxBytes / 240 * 3
            var dropped = 0
            for i in stride(from: 0, to: total, by: per) { dropped += o.append(records(min(per, total - i), from: i)).droppedOldest }
            XCTAssertLessThanOrEqual(o.bytes, Int64(maxBytes))
            let got = drain(o)
            XCTAssertEqual(got.last, "ev-\(total - 1)", "the newest record is kept (spool of \(maxBytes) bytes)")
            XCTAssertFalse(got.contains("ev-0"), "the oldest record was dropped")
            XCTAssertTrue(got == (total - got.count..<total).map { "ev-\($0)" }, "what is kept is the newest run, in order (first kept: \(got.first ?? "-"))")
            XCTAssertEqual(dropped + got.count, total, "every record is delivered or counted as dropped")
            XCTAssertEqual(Int(o.droppedForSpace), dropped)
            XCTAssertGreaterThan(got.count, maxBytes / 240 / 2, "dropping frees space a segment at a time, not everything")
        }
    }

    func testBlockWaitsForRoomAndLosesNothing() throws {
        let dir = try TestSupport.tempDir("spool-block")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try DiskSpool(dir: dir, maxBytes: 8000, overflow: .block)
        _ = s.append(records(25))          // ~6.5 KB: nearly full
        let appended = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var result = (droppedOldest: -1, refused: -1) }
        let box = Box()
        let more = records(10, from: 25)
        Thread.detachNewThread {
            box.result = s.append(more) // does not fit: waits for room
            appended.signal()
        }
        XCTAssertEqual(appended.wait(timeout: .now() + 1.5), .timedOut, "block: the writer waits while the spool is full")
        var got: [String] = []
        while let (recs, next) = s.peek(max: 10) { got += recs.map(\.eventID); s.commit(next); if got.count >= 25 { break } }
        XCTAssertEqual(appended.wait(timeout: .now() + 5), .success, "room made by delivery releases the writer")
        XCTAssertEqual(box.result.droppedOldest, 0); XCTAssertEqual(box.result.refused, 0)
        got += drain(s)
        XCTAssertEqual(got, (0..<35).map { "ev-\($0)" }, "nothing lost, in order")
    }

    func testDeliveryInFlightWhileItsSegmentIsDroppedDoesNotStall() throws {
        let dir = try TestSupport.tempDir("spool-race")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try DiskSpool(dir: dir, maxBytes: 20_000, overflow: .dropOldest)
        _ = s.append(records(20))
        let (inFlight, next) = try XCTUnwrap(s.peek(max: 5))   // being delivered…
        XCTAssertEqual(inFlight.first?.eventID, "ev-0")
        for i in 0..<20 { _ = s.append(records(5, from: 20 + i * 5)) } // …while its segment is dropped
        s.commit(next)                                           // the late commit must not rewind
        let got = drain(s)
        XCTAssertEqual(got.last, "ev-119")
        XCTAssertTrue(got == (120 - got.count..<120).map { "ev-\($0)" }, "newest run, in order (first kept: \(got.first ?? "-"))")
        XCTAssertTrue(s.isEmpty)
    }

    /// The sensor itself killed while its backend is down: what reached the spool is delivered
    /// after a restart.
    func testSpooledEventsSurviveSIGKILL() throws { try sigkillMidOutage(writeAhead: false) }

    /// #25's fault item 2 with `write_ahead = true`: SIGKILL at an arbitrary moment of an outage
    /// loses nothing the pipeline had accepted — every event written to the other exporter's file
    /// (so submitted) is on disk — and after the restart the backend gets each once.
    func testWriteAheadLosesNothingAtSIGKILLMidOutage() throws { try sigkillMidOutage(writeAhead: true) }

    func sigkillMidOutage(writeAhead: Bool) throws {
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
        write_ahead = \(writeAhead)
        [export.http]
        enabled = true
        port = \(port)
        uri = "/ingest"
        format = "json_lines"
        timeout_ms = 300
        """, to: cfg)
        // default retry policy (retries for up to 5 minutes): with a spool, a failing backend
        // sends batches to disk at once instead of holding them in memory through the retries
        let produced = dir.appendingPathComponent("produced.jsonl")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["demo", "-n", "200", "--interval-ms", "30", "-c", cfg.path, "--output", produced.path]
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
        let made = TestSupport.lines(produced).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        XCTAssertGreaterThan(made.count, 40)
        if writeAhead {
            // the output file is written after the spool (both get each submitted batch; the spool first)
            XCTAssertEqual(Set(made).subtracting(onDisk).count, 0, "write-ahead: every submitted event was on disk at the kill")
            XCTAssertEqual(Array(onDisk.prefix(made.count)), made, "on disk in the order they were made")
        } else {
            XCTAssertGreaterThanOrEqual(onDisk.count, made.count - 20, "all but the last moments' events were on disk when the sensor was killed")
            XCTAssertEqual(Array(onDisk.prefix(made.count - 20)), Array(made.prefix(made.count - 20)), "on disk in the order they were made")
        }
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
        let received = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let got = Set(received)
        XCTAssertTrue(Set(onDisk).isSubset(of: got), "\(Set(onDisk).subtracting(got).count) spooled events missing")
        print("SIGKILL mid-outage (write_ahead = \(writeAhead)): \(made.count) events submitted, \(onDisk.count) on disk at the kill, "
              + "\(Set(made).subtracting(got).count) lost, \(received.count - got.count) duplicates after the restart")
        if writeAhead {
            XCTAssertEqual(Set(made).subtracting(got).count, 0)
            XCTAssertEqual(received.count, got.count, "no duplicates: nothing was delivered before the kill")
        }
    }
}
