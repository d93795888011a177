import Foundation
import Logging
import Metrics
import OISPConfig
import OISPEvent

/// Drives one exporter: a bounded queue, batching by size and interval, retries with
/// exponential backoff and jitter (the OpenTelemetry Collector's `retry_on_failure` semantics),
/// counters. One thread per exporter, so a slow exporter never blocks the others or the caller.
public final class ExporterWorker: @unchecked Sendable {
    public let name: String
    public let policy: ExportPolicy
    private let sink: ExportSink
    private let logger: Logger
    private let cond = NSCondition()
    private var queue: RingQueue<ExportRecord>
    private var stats = ExporterStats()
    private var stopping = false
    private var shutdownDeadline: UInt64 = .max // monotonic ns
    private var oldestEnqueuedAt: UInt64 = 0
    private var inFlight = 0
    private var flushRequested = 0
    private var thread: Thread?
    private var finished = false
    private var nextBatchID: UInt64
    private let m: WorkerMetrics
    private static let batchIDBase = UInt64(Timestamp.now().nanoseconds / 1000) << 20

    /// - Parameters:
    ///   - name: the exporter instance name (`[export.<name>]`).
    ///   - sink: the backend.
    ///   - policy: batch size, flush interval, queue size, retry policy.
    public init(name: String, sink: ExportSink, policy: ExportPolicy, logger: Logger) {
        self.name = name
        self.sink = sink
        self.policy = policy
        self.logger = logger
        self.queue = RingQueue(capacity: policy.queueSize)
        self.stats.queueCapacity = policy.queueSize
        self.nextBatchID = ExporterWorker.batchIDBase
        self.m = WorkerMetrics(exporter: name)
        m.capacity.record(policy.queueSize)
        for reason in ["queue_full", "permanent", "retry_exhausted", "shutdown"] { m.dropped(reason, 0) } // series exist from the start
    }

    /// Starts the worker thread.
    public func start() {
        let t = Thread { [weak self] in self?.run() }
        t.name = "oisp-export-\(name)"
        thread = t
        t.start()
    }

    /// Enqueues records without blocking; when the queue is full the oldest are dropped and counted.
    public func enqueue<S: Sequence>(_ records: S) where S.Element == ExportRecord {
        cond.lock()
        var added = 0
        for r in records {
            if queue.isEmpty { oldestEnqueuedAt = Timestamp.monotonicNanoseconds() }
            if queue.pushDroppingOldest(r) != nil { stats.dropped["queue_full", default: 0] += 1; m.dropped("queue_full", 1) }
            added += 1
        }
        stats.received += UInt64(added)
        m.received.increment(by: added)
        m.queueLength.record(queue.count)
        if queue.count >= policy.batchSize { cond.signal() }
        cond.unlock()
    }

    /// A snapshot of the counters.
    public var snapshot: ExporterStats {
        cond.lock(); defer { cond.unlock() }
        var s = stats
        s.queueLength = queue.count
        return s
    }

    /// Blocks until everything queued so far has been handled (exported or dropped), or timeout.
    /// - Returns: true when drained.
    @discardableResult
    public func drain(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        cond.lock(); defer { cond.unlock() }
        flushRequested += 1
        cond.broadcast()
        while (queue.count > 0 || inFlight > 0) && !finished {
            if !cond.wait(until: deadline) { flushRequested -= 1; return false }
        }
        flushRequested -= 1
        return true
    }

    /// Stops: sends what is queued (retrying until `timeout`), flushes and closes the sink.
    public func stop(timeout: TimeInterval) {
        cond.lock()
        stopping = true
        shutdownDeadline = Timestamp.monotonicNanoseconds() + UInt64(max(0, timeout) * 1e9)
        cond.broadcast()
        while !finished { cond.wait() }
        cond.unlock()
    }

    // MARK: worker thread

    private func run() {
        while true {
            cond.lock()
            while true {
                if stopping || (flushRequested > 0 && !queue.isEmpty) || queue.count >= policy.batchSize { break }
                if !queue.isEmpty {
                    let due = oldestEnqueuedAt + UInt64(policy.flushIntervalMs) * 1_000_000
                    let now = Timestamp.monotonicNanoseconds()
                    if now >= due { break }
                    _ = cond.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
                } else {
                    cond.wait()
                }
            }
            if queue.isEmpty && stopping {
                cond.unlock()
                break
            }
            let records = queue.popFirst(policy.batchSize)
            m.queueLength.record(queue.count)
            if !queue.isEmpty { oldestEnqueuedAt = Timestamp.monotonicNanoseconds() }
            inFlight = records.count
            let id = nextBatchID
            nextBatchID += 1
            cond.unlock()

            if !records.isEmpty { send(records, id: id) }

            cond.lock()
            inFlight = 0
            cond.broadcast()
            cond.unlock()
        }
        let r = sink.flush(timeoutMs: policy.timeoutMs)
        if case .ok = r {} else { logger.warning("exporter flush failed", metadata: ["exporter": "\(name)", "result": "\(r)"]) }
        sink.close()
        cond.lock()
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    private func count(_ f: (inout ExporterStats) -> Void) {
        cond.lock(); f(&stats); cond.unlock()
    }

    private func send(_ all: [ExportRecord], id: UInt64) {
        let started = Timestamp.monotonicNanoseconds()
        var offset = 0
        var attempt = 1
        var backoffMs = Double(policy.retry.initialIntervalMs)
        count { $0.batches += 1 }
        defer {
            let ns = Timestamp.monotonicNanoseconds() - started
            let secs = Double(ns) / 1e9
            count { $0.batchLatencySum += secs; $0.batchLatencyCount += 1 }
            m.batchDuration.recordNanoseconds(Int64(ns))
        }
        while offset < all.count {
            let batch = ExportBatch(id: id, attempt: attempt, records: all[offset...])
            let outcome = sink.export(batch)
            switch outcome {
            case .ok:
                let n = all.count - offset
                count { $0.exported += UInt64(n) }
                m.exported.increment(by: n)
                return
            case .permanent(let message):
                let n = all.count - offset
                count { $0.failedPermanent += 1; $0.dropped["permanent", default: 0] += UInt64(n) }
                m.failedPermanent.increment(); m.dropped("permanent", n)
                logger.error("exporter rejected batch permanently; dropping it",
                             metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(n)", "error": "\(message)"])
                return
            case .retry(let accepted, let retryAfterMs, let message):
                let acc = max(0, min(accepted, all.count - offset))
                offset += acc
                count { $0.failedRetryable += 1; $0.exported += UInt64(acc) }
                m.failedRetryable.increment(); m.exported.increment(by: acc)
                if offset >= all.count { return }
                let elapsedMs = Double(Timestamp.monotonicNanoseconds() - started) / 1e6
                let remaining = all.count - offset
                if !policy.retry.enabled || (policy.retry.maxElapsedMs > 0 && elapsedMs >= Double(policy.retry.maxElapsedMs)) {
                    count { $0.dropped["retry_exhausted", default: 0] += UInt64(remaining) }
                    m.dropped("retry_exhausted", remaining)
                    logger.error("exporter retries exhausted; dropping batch",
                                 metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(remaining)",
                                            "attempts": "\(attempt)", "error": "\(message)"])
                    return
                }
                // Exponential backoff with jitter; Retry-After wins when the backend sent one.
                let jitter = policy.retry.randomizationFactor
                var waitMs = backoffMs * (1 - jitter + 2 * jitter * Double.random(in: 0...1))
                if let ra = retryAfterMs, ra > 0 { waitMs = Double(ra) }
                backoffMs = min(backoffMs * policy.retry.multiplier, Double(policy.retry.maxIntervalMs))
                if policy.retry.maxElapsedMs > 0 {
                    waitMs = min(waitMs, max(1, Double(policy.retry.maxElapsedMs) - elapsedMs))
                }
                logger.warning("exporter failed, will retry",
                               metadata: ["exporter": "\(name)", "batch_id": "\(id)", "attempt": "\(attempt)",
                                          "retry_in_ms": "\(Int(waitMs))", "error": "\(message)"])
                // Wait, but not past the shutdown deadline.
                cond.lock()
                let wakeAt = Timestamp.monotonicNanoseconds() + UInt64(waitMs * 1e6)
                while true {
                    let now = Timestamp.monotonicNanoseconds()
                    if now >= wakeAt || (stopping && now >= shutdownDeadline) { break }
                    let until = stopping ? min(wakeAt, shutdownDeadline) : wakeAt
                    _ = cond.wait(until: Date(timeIntervalSinceNow: Double(until - now) / 1e9))
                }
                let giveUp = stopping && Timestamp.monotonicNanoseconds() >= shutdownDeadline
                cond.unlock()
                if giveUp {
                    count { $0.dropped["shutdown", default: 0] += UInt64(remaining) }
                    m.dropped("shutdown", remaining)
                    logger.error("shutdown deadline reached while retrying; dropping batch",
                                 metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(remaining)"])
                    return
                }
                attempt += 1
                count { $0.retries += 1 }
                m.retries.increment()
            }
        }
    }
}

/// The exporter's Prometheus series (swift-metrics; the CLI bootstraps swift-prometheus).
struct WorkerMetrics {
    let exporter: String
    let received, exported, failedRetryable, failedPermanent, retries: Counter
    let queueLength, capacity: Gauge
    let batchDuration: Timer

    init(exporter: String) {
        self.exporter = exporter
        let d = [("exporter", exporter)]
        received = Counter(label: "oisp_exporter_events_received_total", dimensions: d)
        exported = Counter(label: "oisp_exporter_events_exported_total", dimensions: d)
        failedRetryable = Counter(label: "oisp_exporter_batches_failed_total", dimensions: d + [("kind", "retryable")])
        failedPermanent = Counter(label: "oisp_exporter_batches_failed_total", dimensions: d + [("kind", "permanent")])
        retries = Counter(label: "oisp_exporter_retries_total", dimensions: d)
        queueLength = Gauge(label: "oisp_exporter_queue_length", dimensions: d)
        capacity = Gauge(label: "oisp_exporter_queue_capacity", dimensions: d)
        batchDuration = Timer(label: "oisp_exporter_batch_duration_seconds", dimensions: d)
    }

    func dropped(_ reason: String, _ n: Int) {
        Counter(label: "oisp_exporter_events_dropped_total", dimensions: [("exporter", exporter), ("reason", reason)]).increment(by: n)
    }
}
