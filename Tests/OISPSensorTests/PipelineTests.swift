import Foundation
import Logging
import OISPConfig
import OISPEvent
@testable import OISPPipeline
import OISPPluginHost
import XCTest

/// A sink that fails as told, recording every call (in-process peer for retry semantics).
final class ScriptedSink: ExportSink, @unchecked Sendable {
    let lock = NSLock()
    var script: [ExportOutcome]
    var delivered: [String] = []
    var calls: [(id: UInt64, attempt: Int, count: Int)] = []
    var closed = false
    init(script: [ExportOutcome]) { self.script = script }
    func export(_ batch: ExportBatch) -> ExportOutcome {
        lock.lock(); defer { lock.unlock() }
        calls.append((batch.id, batch.attempt, batch.records.count))
        let o = script.isEmpty ? .ok : script.removeFirst()
        switch o {
        case .ok, .okRejecting: delivered += batch.records.map(\.eventID)
        case .retry(let acc, _, _, _): delivered += batch.records.prefix(acc).map(\.eventID)
        case .permanent: break
        }
        return o
    }
    func flush(timeoutMs: Int) -> ExportOutcome { .ok }
    func close() { lock.withLock { closed = true } }
}

/// A slow sink that counts how many exports overlap; it may declare concurrent exports.
final class SlowSink: ExportSink, @unchecked Sendable {
    let lock = NSLock()
    let concurrent: Bool
    var now = 0, peak = 0, failFirst: Int
    var delivered: [String] = []
    init(concurrent: Bool, failFirst: Int = 0) { self.concurrent = concurrent; self.failFirst = failFirst }
    var acceptsConcurrentExports: Bool { concurrent }
    func export(_ batch: ExportBatch) -> ExportOutcome {
        lock.withLock { now += 1; peak = max(peak, now) }
        usleep(60_000)
        return lock.withLock {
            now -= 1
            if failFirst > 0 { failFirst -= 1; return .retry(accepted: 0, retryAfterMs: 5, message: "503") }
            delivered += batch.records.map(\.eventID)
            return .ok
        }
    }
    func flush(timeoutMs: Int) -> ExportOutcome { .ok }
    func close() {}
}

final class PipelineTests: XCTestCase {
    let logger = Logger(label: "test")

    func events(_ n: Int) -> [OISPEvent] {
        (0..<n).map { i in OISPEvent(eventType: "ai.request", process: .init(pid: 100), data: ["i": .int(Int64(i))]) }
    }

    func fastPolicy(batch: Int = 10) -> ExportPolicy {
        var p = ExportPolicy()
        p.batchSize = batch
        p.flushIntervalMs = 20
        p.retry.initialIntervalMs = 5
        p.retry.maxIntervalMs = 20
        return p
    }

    /// Records carry the most fields any exporter reads, and no more: a node whose exporters
    /// read the 1.3 list (Loki's labels) does not pay for the call fields only OTLP reads.
    func testRecordsCarryTheFieldsTheirExportersRead() {
        final class FieldSink: ExportSink, @unchecked Sendable {
            let calls: Bool
            init(calls: Bool) { self.calls = calls }
            var wantsRecordFields: Bool { true }
            var wantsCallFields: Bool { calls }
            func export(_ batch: ExportBatch) -> ExportOutcome { .ok }
            func flush(timeoutMs: Int) -> ExportOutcome { .ok }
            func close() {}
        }
        var e = OISPEvent(eventType: "ai.response", host: .init(hostname: "node-1"), process: .init(pid: 7, exe: "/usr/bin/agent", name: "agent"),
                          data: ["provider": ["name": "openai", "endpoint": "https://api.openai.com/v1/chat/completions"],
                                 "model": ["id": "gpt-4o"], "latency_ms": 120, "success": true, "usage": ["prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8]])
        e.ext = ["oisp.k8s": ["namespace": "team-a", "pod_name": "agent-1", "pod_uid": "u1", "labels": ["app": "agent"]]]
        func tags(_ r: ExportRecord) -> Set<RecordField> { Set(r.fields.map(\.field)) }
        let p = Pipeline(logger: logger)
        XCTAssertFalse(p.write(e).carriesFields)
        p.addExporter(name: "loki", sink: FieldSink(calls: false), policy: ExportPolicy())
        let base = p.write(e)
        XCTAssertTrue(base.carriesFields)
        XCTAssertEqual(tags(base), [.provider, .responseModel, .inputTokens, .outputTokens, .hostName, .pid, .processName, .namespace, .podName])
        p.addExporter(name: "otlp", sink: FieldSink(calls: true), policy: ExportPolicy())
        let full = p.write(e)
        XCTAssertEqual(full.fields.first?.field, .callFieldsMark)
        XCTAssertEqual(full.fields.first?.value, "1")
        XCTAssertTrue(tags(full).isSuperset(of: tags(base)))
        XCTAssertTrue(tags(full).isSuperset(of: [.endpoint, .totalTokens, .latency, .success, .exe, .podUID, .podLabel]))
        // an exporter that reads less, added later, does not lower what the others get
        p.addExporter(name: "loki2", sink: FieldSink(calls: false), policy: ExportPolicy())
        XCTAssertEqual(tags(p.write(e)), tags(full))
        p.removeExporter(name: "loki", timeout: 1); p.removeExporter(name: "otlp", timeout: 1); p.removeExporter(name: "loki2", timeout: 1)
    }

    func testRingQueueKeepsOrderThroughGrowthWrapAndOverflow() {
        var q = RingQueue<Int>(capacity: 5000)
        var expected: [Int] = []
        var next = 0, dropped = 0
        var rng = SystemRandomNumberGenerator()
        // pushes and pops interleaved at random: storage grows, the head wraps, the queue fills up
        for step in 0..<40_000 {
            // mostly pushes first (fills up and overflows), then mostly pops (drains and wraps)
            if Int.random(in: 0..<10, using: &rng) < (step < 20_000 ? 8 : 3) {
                if let old = q.pushDroppingOldest(next) { XCTAssertEqual(old, expected.removeFirst()); dropped += 1 }
                expected.append(next); next += 1
            } else {
                let n = Int.random(in: 1...4, using: &rng)
                let got = q.popFirst(n)
                XCTAssertEqual(got, Array(expected.prefix(n)))
                expected.removeFirst(got.count)
            }
            XCTAssertEqual(q.count, expected.count)
            XCTAssertLessThanOrEqual(q.count, 5000)
        }
        XCTAssertGreaterThan(dropped, 0, "the run reached capacity")
        XCTAssertEqual(q.popFirst(q.count), expected)
        XCTAssertTrue(q.isEmpty)
        // after a burst the queue starts small again and still works
        for k in 0..<10 { q.pushDroppingOldest(k) }
        XCTAssertEqual(q.popFirst(100), Array(0..<10))
    }

    /// `n` events through a pipeline with one exporter `sink` (batches of 10), drained and shut down.
    func run(_ sink: ExportSink, events n: Int) -> (Pipeline, [OISPEvent]) {
        let p = Pipeline(logger: logger)
        p.addExporter(name: "s", sink: sink, policy: fastPolicy())
        let evs = events(n)
        p.submit(evs)
        XCTAssertTrue(p.drain(timeout: 10))
        p.shutdown(timeout: 5)
        return (p, evs)
    }

    func testRetryableFailuresDeliverEveryEventOnceInOrder() {
        let sink = ScriptedSink(script: [.retry(accepted: 0, retryAfterMs: nil, message: "503"),
                                         .retry(accepted: 4, retryAfterMs: 5, message: "partial"),
                                         .retry(accepted: 0, retryAfterMs: nil, message: "503")])
        let (p, evs) = run(sink, events: 95)
        XCTAssertEqual(sink.delivered, evs.map(\.eventID), "every event exactly once, in order")
        let st = p.stats.exporters["s"]!
        XCTAssertEqual(st.exported, 95)
        XCTAssertEqual(st.retries, 3)
        XCTAssertEqual(st.droppedTotal, 0)
        // The retried batch keeps its id; attempts count up.
        XCTAssertEqual(sink.calls[0].id, sink.calls[1].id)
        XCTAssertEqual(sink.calls.prefix(4).map(\.attempt), [1, 2, 3, 4])
        XCTAssertEqual(sink.calls[2].count, 6, "partial success: only the unaccepted records are resent")
        XCTAssertTrue(sink.closed)
    }

    /// Records a backend refused for good while taking the rest (ABI 1.1 `rejected`) are counted
    /// as dropped ("rejected"), never as exported, and never resent — also inside a partial success.
    func testRejectedRecordsAreCountedAsDroppedNotExported() {
        let sink = ScriptedSink(script: [.okRejecting(rejected: 2, message: "too large"),
                                         .retry(accepted: 5, retryAfterMs: 5, message: "partial", rejected: 1)])
        let (p, _) = run(sink, events: 30)
        let st = p.stats.exporters["s"]!
        XCTAssertEqual(st.dropped["rejected"], 3)
        XCTAssertEqual(st.exported + st.droppedTotal, 30, "every event settled once")
        XCTAssertEqual(st.exported, 27)
        XCTAssertGreaterThan(sink.calls.count, 2, "\(sink.calls)")
        if sink.calls.count > 2 {
            XCTAssertEqual(sink.calls[2].id, sink.calls[1].id, "the partial success is retried as the same batch")
            XCTAssertEqual(sink.calls[2].count, sink.calls[1].count - 5, "its 5 settled records are not resent")
        }
    }

    /// A spool with `block` and a small budget, a backend down for a while, one export at a time:
    /// the exporter's own thread must not wait for room only it can make. Producers are held
    /// back instead of events being dropped, and everything arrives, in order, once it is up.
    func testSpoolBlockWithAFailingBackendDoesNotDeadlock() throws {
        let dir = try TestSupport.tempDir("spool-block-worker")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = ScriptedSink(script: Array(repeating: .retry(accepted: 0, retryAfterMs: 5, message: "503"), count: 12))
        var policy = fastPolicy(batch: 20)
        policy.spoolDir = dir.path
        policy.spoolMaxBytes = 6_000
        policy.spoolOverflow = "block"
        let p = Pipeline(logger: logger)
        p.addExporter(name: "s", sink: sink, policy: policy)
        let evs = events(300)
        let submitted = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for k in stride(from: 0, to: evs.count, by: 10) { p.submit(evs[k..<(k + 10)]) }
            submitted.signal()
        }
        XCTAssertEqual(submitted.wait(timeout: .now() + 30), .success, "producers are released once the backend is back")
        XCTAssertTrue(p.drain(timeout: 30), "the spool drains")
        p.shutdown(timeout: 5)
        XCTAssertEqual(sink.delivered, evs.map(\.eventID), "every event once, in order")
        XCTAssertEqual(p.stats.exporters["s"]?.droppedTotal, 0)
    }

    func testPermanentFailuresAreCountedNotRetried() {
        let sink = ScriptedSink(script: [.permanent(message: "400 bad request")])
        let p = Pipeline(logger: logger)
        p.addExporter(name: "s", sink: sink, policy: fastPolicy())
        let evs = events(25)
        p.submit(evs)
        p.drain(timeout: 10)
        p.shutdown(timeout: 5)
        let st = p.stats.exporters["s"]!
        XCTAssertEqual(st.failedPermanent, 1)
        XCTAssertEqual(st.dropped["permanent"], 10)
        XCTAssertEqual(st.exported, 15)
        XCTAssertEqual(sink.calls.count, 3, "the rejected batch is not retried")
        XCTAssertEqual(sink.delivered, Array(evs.map(\.eventID).dropFirst(10)))
    }

    func testSlowExporterDoesNotBlockOthersAndQueueIsBounded() {
        final class Stuck: ExportSink, @unchecked Sendable {
            let gate = DispatchSemaphore(value: 0)
            func export(_ batch: ExportBatch) -> ExportOutcome { gate.wait(); return .ok }
            func flush(timeoutMs: Int) -> ExportOutcome { .ok }
            func close() {}
        }
        let stuck = Stuck()
        let fast = ScriptedSink(script: [])
        let p = Pipeline(logger: logger)
        var small = fastPolicy(batch: 5)
        small.queueSize = 20
        p.addExporter(name: "stuck", sink: stuck, policy: small)
        p.addExporter(name: "fast", sink: fast, policy: fastPolicy())
        let start = Date()
        p.submit(events(200))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0, "submit never waits for an exporter")
        let deadline = Date().addingTimeInterval(5)
        while fast.lock.withLock({ fast.delivered.count }) < 200 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(fast.lock.withLock { fast.delivered.count }, 200)
        let st = p.stats.exporters["stuck"]!
        XCTAssertLessThanOrEqual(st.queueLength, 20)
        XCTAssertGreaterThan(st.dropped["queue_full"] ?? 0, 0)
        for _ in 0..<100 { stuck.gate.signal() }
        p.shutdown(timeout: 5)
    }

    func testRetryThroughRealPluginViaCLI() throws {
        let dir = try TestSupport.tempDir("flaky")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("flaky.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-flaky.so"))
        let sink = dir.appendingPathComponent("delivered.jsonl")
        let cfg = dir.appendingPathComponent("config.toml")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.flaky]
        enabled = true
        path = "\(sink.path)"
        fail_times = 4
        batch_size = 7
        flush_interval_ms = 50
        retry_on_failure = { initial_interval_ms = 30, max_interval_ms = 40 }
        """, to: cfg)
        // Record input with the demo generator, then replay it through the flaky plugin.
        let input = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "--count", "5", "--output", input.path]).status, 0)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-c", cfg.path, "--input", input.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sent = TestSupport.lines(input).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let got = TestSupport.lines(sink).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        XCTAssertEqual(got, sent, "every event exactly once, in order, after 4 RETRY answers")
        let calls = TestSupport.lines(URL(fileURLWithPath: sink.path + ".calls")).map { $0.split(separator: " ") }
        XCTAssertEqual(calls.prefix(5).map { String($0[1]) }, ["1", "2", "3", "4", "5"], "attempts of the first batch")
        XCTAssertEqual(Set(calls.prefix(5).map { String($0[0]) }).count, 1, "same batch id on every retry")
        XCTAssertTrue(r.stderr.contains("will retry"), r.stderr)
        // the cap holds after the jitter: no wait above max_interval_ms (30 ms ± 50 %, then 40 ± 50 %)
        let waits = r.stderr.components(separatedBy: "retry_in_ms=").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        XCTAssertEqual(waits.count, 4, r.stderr)
        XCTAssertTrue(waits.allSatisfy { $0 <= 40 }, "waits \(waits) exceed max_interval_ms = 40")

        // PERMANENT: logged, counted, never retried.
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.flaky]
        enabled = true
        path = "\(dir.appendingPathComponent("perm.jsonl").path)"
        mode = "permanent"
        batch_size = 1000
        """, to: cfg)
        let r2 = try TestSupport.run(TestSupport.sensor, ["replay", "-c", cfg.path, "--input", input.path])
        XCTAssertNotEqual(r2.status, 0, "lost events make replay exit non-zero")
        XCTAssertTrue(r2.stderr.contains("rejected batch permanently"), r2.stderr)
        XCTAssertTrue(r2.stderr.contains("dropped_permanent=\(sent.count)"), r2.stderr)
        XCTAssertEqual(TestSupport.lines(URL(fileURLWithPath: dir.appendingPathComponent("perm.jsonl").path + ".calls")).count, 1)
    }

    /// A sink that takes concurrent exports gets up to max_in_flight batches at once (and every
    /// event, retries included); one that does not never sees two calls overlap.
    func testConcurrentExportsOnlyWhenTheSinkTakesThem() {
        for (concurrent, limit) in [(true, 3), (false, 3)] {
            let sink = SlowSink(concurrent: concurrent, failFirst: 2)
            var policy = fastPolicy(batch: 10)
            policy.maxInFlight = limit
            let p = Pipeline(logger: logger)
            p.addExporter(name: "s", sink: sink, policy: policy)
            let evs = events(200)
            p.submit(evs, block: true)
            XCTAssertTrue(p.drain(timeout: 20))
            p.shutdown(timeout: 5)
            XCTAssertEqual(Set(sink.delivered), Set(evs.map(\.eventID)))
            XCTAssertEqual(sink.delivered.count, evs.count, "each event once")
            if concurrent {
                XCTAssertGreaterThan(sink.peak, 1, "batches overlapped")
                XCTAssertLessThanOrEqual(sink.peak, limit, "never more than max_in_flight")
            } else {
                XCTAssertEqual(sink.peak, 1)
            }
            XCTAssertEqual(p.stats.exporters["s"]?.exported, 200)
        }
    }
}
