import Foundation
import Logging
import Metrics
import OISPConfig
import OISPEvent

/// Drives one exporter: a bounded queue, batching by size and interval, retries with
/// exponential backoff and jitter (the OpenTelemetry Collector's `retry_on_failure` semantics),
/// counters. One thread per exporter, so a slow exporter never blocks the others or the caller.
public final class ExporterWorker: @unchecked Sendable {
    /// The longest wait a backend's Retry-After (or gRPC RetryInfo) gets: 5 minutes.
    static let retryAfterCapMs = 300_000
    /// How far ahead of its exporters a blocking producer (`replay` reading a file) may run.
    static let blockingProducerBytes = 16 << 20
    public let name: String
    public let policy: ExportPolicy
    private let sink: ExportSink
    private let logger: Logger
    private let cond = NSCondition()
    private var queue: RingQueue<ExportRecord>
    private var stats = ExporterStats()
    private var stopping = false
    private var shutdownDeadline: UInt64 = .max // monotonic ns
    /// The producer was told to stop (a signal): blocking `enqueue` calls no longer wait for room.
    private var inputClosed = false
    /// A send failed while stopping, with a spool: everything is on disk, so the spool is not
    /// tried again in this run (the next start delivers it first).
    private var failedWhileStopping = false
    /// Export calls given up on (timeout_ms or the shutdown deadline) that may still be running
    /// in the plugin: the sink is neither flushed nor closed until they have returned.
    private var abandonedCalls: [DispatchSemaphore] = []
    private var oldestEnqueuedAt: UInt64 = 0
    private var inFlight = 0
    /// Batches being sent right now (more than one only for sinks that take concurrent exports).
    private var sending = 0
    private var flushRequested = 0
    private var thread: Thread?
    private var finished = false
    private var nextBatchID: UInt64
    private let m: WorkerMetrics
    /// Disk spool for overflow and outages (nil when `[pipeline] spool_dir` is not set).
    public let spool: DiskSpool?
    private var queueBytes = 0
    private var reportedCorrupt: UInt64 = 0
    private var lastDiskErrorLog: UInt64 = 0
    /// The worker is moving a failed batch and the queue to the spool (producers wait).
    private var movingToSpool = false
    /// A plugin call that did not return within timeout_ms: the exporter is parked until it does.
    private var hungCall: DispatchSemaphore?
    /// Where plugin calls (and, for concurrent sinks, whole batches) run.
    private let threads: JobThreads
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
        self.threads = JobThreads(name: "oisp-send-\(name)")
        var sp: DiskSpool?
        if let dir = policy.spoolDir {
            do {
                sp = try DiskSpool(dir: URL(fileURLWithPath: dir), maxBytes: policy.spoolMaxBytes,
                                   overflow: SpoolOverflow(rawValue: policy.spoolOverflow) ?? .dropOldest)
                sp!.logger = logger
                sp!.exporterName = name
                sp!.recordFields = sink.recordFieldLevel
                if sp!.bytes > 0 { logger.info("spooled events from an earlier run will be delivered first", metadata: ["exporter": "\(name)", "bytes": "\(sp!.bytes)"]) }
            } catch {
                logger.error("spool unavailable; overflow will be dropped", metadata: ["exporter": "\(name)", "dir": "\(dir)", "error": "\(error)"])
            }
        }
        self.spool = sp
        m.capacity.record(policy.queueSize)
        for reason in ["queue_full", "permanent", "retry_exhausted", "shutdown", "spool_full", "disk_full"] { m.dropped(reason, 0) } // series exist from the start
    }

    /// Starts the worker thread.
    public func start() {
        let t = Thread { [weak self] in self?.run() }
        t.name = "oisp-export-\(name)"
        thread = t
        t.start()
    }

    /// Enqueues records without blocking; when the queue is full the oldest are dropped and counted.
    /// - Parameter block: wait for room instead of dropping or spooling (file sources such as
    ///   `replay` can wait; capture never does).
    public func enqueue(_ records: ArraySlice<ExportRecord>, block: Bool = false) {
        var overflow: [ExportRecord] = []
        cond.lock()
        // the worker is moving a failed batch and the queue to the spool: wait, so nothing new
        // lands in the queue behind its back or in the spool ahead of what it moves
        while movingToSpool { cond.wait() }
        // write-ahead (a crashed plugin in the process is on probation): every record goes to
        // disk before any export call, so another crash loses nothing
        let spooling = spool.map { policy.writeAhead || !$0.isEmpty } ?? false
        var added = 0, stoppedWithoutRoom = 0
        var timerStarts = false
        for k in records.indices {
            let size = records[k].jsonCount
            added += 1
            if block {
                // A producer that can wait (a file being replayed) is held back well before the
                // queue's hard bounds: once the queue holds enough for the batches in flight and
                // `blockingProducerBytes`, more read-ahead only costs memory.
                while !finished && !inputClosed && !queue.isEmpty && (queue.isFull || queueBytes + size > policy.queueMaxBytes
                    || (queueBytes >= ExporterWorker.blockingProducerBytes && queue.count >= policy.batchSize * (policy.maxInFlight + 1))) {
                    cond.broadcast() // the worker, whoever else waits here
                    cond.wait()
                }
            }
            let full = queue.isFull || queueBytes + size > policy.queueMaxBytes
            if spool != nil && (spooling || !overflow.isEmpty || full) {
                overflow.append(records[k]) // keeps FIFO: memory queue first, then the spool
                continue
            }
            if block && full && (inputClosed || finished) {
                // the producer was stopped while it waited for room: what it had in hand is not
                // queued over older events, it is counted
                stoppedWithoutRoom += 1
                continue
            }
            if queue.isEmpty { oldestEnqueuedAt = Timestamp.monotonicNanoseconds(); timerStarts = true }
            queueBytes += size
            if let old = queue.pushDroppingOldest(records[k]) {
                queueBytes -= old.jsonCount
                stats.dropped["queue_full", default: 0] += 1; m.dropped("queue_full", 1)
            }
            while queueBytes > policy.queueMaxBytes, let old = queue.popFirst() {
                queueBytes -= old.jsonCount
                stats.dropped["queue_full", default: 0] += 1; m.dropped("queue_full", 1)
            }
        }
        stats.received += UInt64(added)
        m.received.increment(by: added)
        if stoppedWithoutRoom > 0 { stats.dropped["shutdown", default: 0] += UInt64(stoppedWithoutRoom); m.dropped("shutdown", stoppedWithoutRoom) }
        let producerStopped = inputClosed
        m.queueLength.record(queue.count)
        // a full batch goes now; a first record starts the worker's flush_interval clock (an idle
        // worker waits without a deadline, so without this a partial batch waited for more
        // events or for shutdown). Broadcast: blocked producers wait on the same condition.
        if queue.count >= policy.batchSize || timerStarts { cond.broadcast() }
        cond.unlock()
        if !overflow.isEmpty { spoolRecords(overflow, mayBlock: !producerStopped) } // `block` holds the producer back
    }

    /// Empties the memory queue (the caller holds `cond`) and returns what it held, oldest first.
    private func takeQueueLocked() -> [ExportRecord] {
        let q = queue.popFirst(queue.count)
        queueBytes = 0
        cond.broadcast() // room for blocked submitters
        return q
    }

    private func spoolRecords(_ records: [ExportRecord], mayBlock: Bool = false) {
        guard let spool else { return }
        let r = spool.appendDetailed(records, mayBlock: mayBlock)
        let forDisk = r.droppedForDisk + r.refusedForDisk
        let forBudget = r.droppedOldest + r.refused - forDisk
        count {
            $0.spooled += UInt64(records.count - r.refused)
            if forBudget > 0 { $0.dropped["spool_full", default: 0] += UInt64(forBudget) }
            if forDisk > 0 { $0.dropped["disk_full", default: 0] += UInt64(forDisk) }
        }
        if forBudget > 0 { m.dropped("spool_full", forBudget) }
        if forDisk > 0 { m.dropped("disk_full", forDisk) }
        if let why = r.diskError {
            // once a second at most: a full disk fails every append
            let now = Timestamp.monotonicNanoseconds()
            let say = cond.withLock { () -> Bool in
                guard now >= lastDiskErrorLog + 1_000_000_000 else { return false }
                lastDiskErrorLog = now
                return true
            }
            if say {
                let what: String
                switch spool.overflow {
                case .dropOldest: what = forDisk > 0 ? "oldest spooled events deleted to make room" : "oldest spooled events deleted; written"
                case .dropNewest: what = "new events not spooled"
                case .block: what = forDisk > 0 ? "events not spooled (the exporter's own thread cannot wait)" : "waited for room; written"
                }
                logger.error("spool write failed: \(why); spool_overflow=\(spool.overflow.rawValue): \(what)",
                             metadata: ["exporter": "\(name)", "dir": "\(spool.dir.path)", "events_lost": "\(forDisk)",
                                        "dropped_disk_full_total": "\(cond.withLock { stats.dropped["disk_full"] ?? 0 })"])
            }
        }
        m.spoolBytes.record(spool.bytes)
        cond.lock(); cond.broadcast(); cond.unlock()
    }

    /// A snapshot of the counters.
    public var snapshot: ExporterStats {
        cond.lock(); defer { cond.unlock() }
        var s = stats
        s.queueLength = queue.count
        s.spoolPending = spool?.records ?? 0
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
        while (queue.count > 0 || inFlight > 0 || !(spool?.isEmpty ?? true)) && !finished {
            if !cond.wait(until: deadline) { flushRequested -= 1; return false }
        }
        flushRequested -= 1
        return true
    }

    /// Stops: sends what is queued (retrying until `timeout`), flushes and closes the sink.
    public func stop(timeout: TimeInterval) {
        stop(deadline: Timestamp.monotonicNanoseconds() + UInt64(max(0, timeout) * 1e9))
    }

    /// Stops by `deadline` (monotonic ns): what is queued is sent until then — no retry wait and
    /// no export call runs past it — then everything still queued goes to the spool in one
    /// fsync'd write, or, without a spool, is counted as dropped (reason "shutdown"). With a
    /// spool, a failing backend ends the wait at once (everything is on disk by then); while
    /// it takes batches, the spool is delivered too. Then the sink is flushed and closed.
    public func stop(deadline: UInt64) {
        cond.lock()
        stopping = true
        inputClosed = true
        shutdownDeadline = min(shutdownDeadline, deadline)
        cond.broadcast()
        while !finished { cond.wait() }
        cond.unlock()
    }

    /// The producer stops (a signal): blocked `enqueue` calls return; what they held is queued
    /// where there is room, spooled, or counted as dropped (reason "shutdown").
    /// - Parameter deadline: the shutdown deadline (monotonic ns), known from the signal on: no
    ///   retry wait or export call runs past it, even before `stop` is called.
    public func closeInput(deadline: UInt64 = .max) {
        cond.lock(); inputClosed = true; shutdownDeadline = min(shutdownDeadline, deadline); cond.broadcast(); cond.unlock()
    }

    /// Ends the shutdown wait now (a second signal): retry waits and export calls in flight are
    /// given up, what is queued is spooled (or counted as dropped).
    public func expedite() {
        cond.lock()
        inputClosed = true
        shutdownDeadline = min(shutdownDeadline, Timestamp.monotonicNanoseconds())
        cond.broadcast()
        cond.unlock()
    }

    /// Past the shutdown deadline (the caller holds `cond`).
    private var pastDeadlineLocked: Bool { stopping && Timestamp.monotonicNanoseconds() >= shutdownDeadline }

    // MARK: worker thread

    private func run() {
        let concurrent = sink.acceptsConcurrentExports && policy.maxInFlight > 1
        while true {
            cond.lock()
            while true {
                if stopping || (flushRequested > 0 && !queue.isEmpty) || queue.count >= policy.batchSize { break }
                // (past the shutdown deadline the spool waits for the next start)
                if queue.isEmpty, let sp = spool, !sp.isEmpty, Timestamp.monotonicNanoseconds() < shutdownDeadline { break }
                if !queue.isEmpty {
                    let due = oldestEnqueuedAt + UInt64(policy.flushIntervalMs) * 1_000_000
                    let now = Timestamp.monotonicNanoseconds()
                    if now >= due { break }
                    _ = cond.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
                } else {
                    cond.wait()
                }
            }
            if pastDeadlineLocked && !queue.isEmpty {
                // out of time: what is left goes to disk for the next start in one write, or is
                // counted as dropped; the backend is not called again
                let rest = takeQueueLocked()
                m.queueLength.record(0)
                cond.unlock()
                if spool != nil {
                    spoolRecords(rest)
                    logger.info("shutdown deadline reached; queued events moved to the disk spool for the next start",
                                metadata: ["exporter": "\(name)", "events": "\(rest.count)"])
                } else {
                    count { $0.dropped["shutdown", default: 0] += UInt64(rest.count) }
                    m.dropped("shutdown", rest.count)
                    logger.error("shutdown deadline reached with no spool configured; queued events dropped",
                                 metadata: ["exporter": "\(name)", "events": "\(rest.count)"])
                }
                continue
            }
            if queue.isEmpty && stopping {
                // with time left and a backend that takes batches, the spool goes out too
                let spoolWaits = spool.map { !$0.isEmpty } ?? false
                if !spoolWaits || failedWhileStopping || pastDeadlineLocked {
                    while sending > 0 { cond.wait() } // batches still in flight finish first
                    cond.unlock()
                    break
                }
            }
            if queue.isEmpty, let sp = spool {
                cond.unlock()
                if let (recs, next) = sp.peek(max: policy.batchSize), !cond.withLock({ pastDeadlineLocked }) {
                    let id = cond.withLock { () -> UInt64 in nextBatchID += 1; return nextBatchID - 1 }
                    if send(recs, id: id, fromSpool: true) { sp.commit(next) }
                    m.spoolBytes.record(sp.bytes)
                    if sp.corruptSkipped > reportedCorrupt {
                        Counter(label: "oisp_spool_corrupt_records_total", dimensions: [("exporter", name)]).increment(by: Int(sp.corruptSkipped - reportedCorrupt))
                        logger.warning("corrupt spool records skipped", metadata: ["exporter": "\(name)", "total": "\(sp.corruptSkipped)"])
                        reportedCorrupt = sp.corruptSkipped
                    }
                } else if !sp.isEmpty {
                    Thread.sleep(forTimeInterval: 0.05)
                }
                cond.lock(); cond.broadcast(); cond.unlock()
                continue
            }
            let records = queue.popFirst(policy.batchSize)
            for k in records.indices { queueBytes -= records[k].jsonCount }
            cond.broadcast() // room for blocked submitters
            m.queueLength.record(queue.count)
            if !queue.isEmpty { oldestEnqueuedAt = Timestamp.monotonicNanoseconds() }
            inFlight += records.count
            let id = nextBatchID
            nextBatchID += 1
            if concurrent {
                // several batches in flight (the plugin said on_export is thread-safe): wait for
                // a free slot, send on its own thread, and go back for the next batch at once
                while sending >= policy.maxInFlight { cond.wait() }
                sending += 1
                cond.unlock()
                threads.run { [self] in
                    if !records.isEmpty { _ = send(records, id: id, fromSpool: false) }
                    cond.lock(); inFlight -= records.count; sending -= 1; cond.broadcast(); cond.unlock()
                }
                continue
            }
            cond.unlock()

            if !records.isEmpty { _ = send(records, id: id, fromSpool: false) }

            cond.lock()
            inFlight -= records.count
            cond.broadcast()
            cond.unlock()
        }
        // A call given up on may still run in the plugin: wait for it a little (never past the
        // deadline by more than a moment), and never flush or destroy an instance with a call in
        // flight (ABI rule): leave it to process exit.
        let (deadline, abandoned) = cond.withLock { (shutdownDeadline, abandonedCalls) }
        let now = Timestamp.monotonicNanoseconds()
        let hungUntil = max(now + 100_000_000, min(deadline, now + 2_000_000_000))
        let stillHung = abandoned.contains { h in
            let left = hungUntil > Timestamp.monotonicNanoseconds() ? hungUntil - Timestamp.monotonicNanoseconds() : 0
            if h.wait(timeout: .now() + .nanoseconds(Int(left))) == .timedOut { return true }
            h.signal() // leave it signalled for anyone else who looks
            return false
        }
        var hung = stillHung
        if stillHung {
            logger.error("exporter still hung at shutdown; not flushed or destroyed", metadata: ["exporter": "\(name)"])
        } else {
            // flush and close get what is left of the budget (at least half a second): a sink
            // that flushes to a dead backend must not hold the process past it
            let done = DispatchSemaphore(value: 0)
            let sink = self.sink, logger = self.logger, name = self.name, timeoutMs = policy.timeoutMs
            let start = Timestamp.monotonicNanoseconds()
            let until = min(max(deadline, start + 500_000_000), start + UInt64(timeoutMs + 5000) * 1_000_000)
            threads.run {
                let r = sink.flush(timeoutMs: min(timeoutMs, max(1, Int((until - start) / 1_000_000))))
                if case .ok = r {} else { logger.warning("exporter flush failed", metadata: ["exporter": "\(name)", "result": "\(r)"]) }
                sink.close()
                done.signal()
            }
            if done.wait(timeout: .now() + .nanoseconds(Int(until - start))) == .timedOut {
                logger.error("exporter flush/close did not return within the shutdown budget; left to process exit",
                             metadata: ["exporter": "\(name)"])
                hung = true
            }
        }
        // the threads end before the worker says it has finished (a hung call's never does)
        threads.stop(wait: hung ? 0 : 2)
        cond.lock()
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    private func count(_ f: (inout ExporterStats) -> Void) {
        cond.lock(); f(&stats); cond.unlock()
    }

    /// `n` records settled by the backend, `rejected` of them refused for good: those are
    /// dropped and counted (reason "rejected"), the rest exported.
    private func settle(_ n: Int, rejected: Int, batch id: UInt64, message: String) {
        let r = max(0, min(rejected, n))
        count { $0.exported += UInt64(n - r); if r > 0 { $0.dropped["rejected", default: 0] += UInt64(r) } }
        m.exported.increment(by: n - r)
        guard r > 0 else { return }
        m.dropped("rejected", r)
        logger.error("backend refused records for good; dropped, the rest of the batch delivered",
                     metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(r)", "error": "\(message)"])
    }

    /// Runs `sink.export` with the host's timeout (timeout_ms + 5 s grace for the plugin's own
    /// timeout). A call that does not return is abandoned: the exporter is parked (no further
    /// calls: the ABI forbids concurrent calls) and its batches count as failed until it returns.
    private func callWithTimeout(_ batch: ExportBatch) -> ExportOutcome {
        if let h = cond.withLock({ hungCall }) {
            if h.wait(timeout: .now()) == .timedOut {
                return .retry(accepted: 0, retryAfterMs: policy.timeoutMs, message: "previous export call still has not returned (plugin hung)")
            }
            h.signal() // leave it signalled for any other sender that looks
            if cond.withLock({ () -> Bool in let was = hungCall != nil; hungCall = nil; return was }) {
                logger.warning("hung export call returned; exporter resumes", metadata: ["exporter": "\(name)"])
            }
        }
        if Timestamp.monotonicNanoseconds() >= cond.withLock({ shutdownDeadline }) {
            return .retry(accepted: 0, retryAfterMs: nil, message: "shutdown deadline reached")
        }
        let done = DispatchSemaphore(value: 0)
        let box = OutcomeBox()
        let sink = self.sink
        threads.run {
            box.value = sink.export(batch)
            done.signal()
        }
        // wait for timeout_ms (+ grace), but never past the shutdown deadline (which a second
        // signal can move to now while we wait)
        let limit = Timestamp.monotonicNanoseconds() + UInt64(policy.timeoutMs + min(5000, max(1000, policy.timeoutMs))) * 1_000_000
        var atDeadline = false
        while true {
            let deadline = cond.withLock { shutdownDeadline }
            let until = min(limit, deadline)
            let now = Timestamp.monotonicNanoseconds()
            if now >= until { atDeadline = deadline <= limit; break }
            if done.wait(timeout: .now() + .nanoseconds(Int(min(until - now, 50_000_000)))) == .success {
                return box.value ?? .retry(accepted: 0, retryAfterMs: nil, message: "no result")
            }
        }
        cond.withLock {
            hungCall = done
            abandonedCalls.removeAll { $0.wait(timeout: .now()) == .success } // those returned since
            abandonedCalls.append(done)
        }
        if atDeadline {
            logger.warning("export call still running at the shutdown deadline; given up",
                           metadata: ["exporter": "\(name)", "batch_id": "\(batch.id)"])
            return .retry(accepted: 0, retryAfterMs: nil, message: "shutdown deadline reached during the export call")
        }
        logger.error("export call did not return within timeout_ms; exporter parked until it does",
                     metadata: ["exporter": "\(name)", "timeout_ms": "\(policy.timeoutMs)"])
        return .retry(accepted: 0, retryAfterMs: nil, message: "export call timed out after \(policy.timeoutMs) ms")
    }

    /// Sends a batch with retries. Returns whether every record was delivered; records given up on
    /// go to the spool when there is one (spooled batches are never dropped: they stay on disk).
    @discardableResult
    private func send(_ all: [ExportRecord], id: UInt64, fromSpool: Bool) -> Bool {
        let started = Timestamp.monotonicNanoseconds()
        var offset = 0
        var attempt = 1
        var backoffMs = Double(policy.retry.initialIntervalMs)
        var heldInMemory = false // spool_overflow=block with the spool's filesystem full
        count { $0.batches += 1 }
        defer {
            let ns = Timestamp.monotonicNanoseconds() - started
            let secs = Double(ns) / 1e9
            count { $0.batchLatencySum += secs; $0.batchLatencyCount += 1 }
            m.batchDuration.recordNanoseconds(Int64(ns))
        }
        while offset < all.count {
            let batch = ExportBatch(id: id, attempt: attempt, records: all[offset...])
            let outcome = callWithTimeout(batch)
            switch outcome {
            case .ok:
                settle(all.count - offset, rejected: 0, batch: id, message: "")
                return true
            case .okRejecting(let rejected, let message):
                settle(all.count - offset, rejected: rejected, batch: id, message: message)
                return true
            case .permanent(let message):
                let n = all.count - offset
                count { $0.failedPermanent += 1; $0.dropped["permanent", default: 0] += UInt64(n) }
                m.failedPermanent.increment(); m.dropped("permanent", n)
                logger.error("exporter rejected batch permanently; dropping it",
                             metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(n)", "error": "\(message)"])
                return true
            case .retry(let accepted, let retryAfterMs, let message, let rejected):
                let acc = max(0, min(accepted, all.count - offset))
                offset += acc
                count { $0.failedRetryable += 1 }
                m.failedRetryable.increment()
                settle(acc, rejected: rejected, batch: id, message: message)
                if offset >= all.count { return true }
                let elapsedMs = Double(Timestamp.monotonicNanoseconds() - started) / 1e6
                let remaining = all.count - offset
                if spool != nil && !fromSpool && !heldInMemory { cond.withLock { movingToSpool = true } }
                defer { if spool != nil && !fromSpool { cond.withLock { if movingToSpool { movingToSpool = false; cond.broadcast() } } } }
                if let sp = spool, !fromSpool, !heldInMemory, sp.overflow == .block,
                   sp.wouldNotFit(bytes: DiskSpool.encodedSize(all[offset...]) + cond.withLock { queue.encodedSize }) {
                    // spool_overflow=block on a full filesystem: nothing may be dropped and this
                    // thread cannot wait for room only it makes, so the batch stays in memory and
                    // is retried with backoff (what is queued stays queued; the producer waits)
                    heldInMemory = true
                    cond.withLock { movingToSpool = false; cond.broadcast() }
                    logger.error("exporter failing and the spool's filesystem is full; spool_overflow=block keeps the batch in memory and retries it",
                                 metadata: ["exporter": "\(name)", "dir": "\(sp.dir.path)", "space": "\(DiskSpool.freeSpace(sp.dir.path))",
                                            "events": "\(remaining)", "error": "\(message)"])
                }
                let onDisk = spool != nil && !heldInMemory
                if onDisk && !fromSpool {
                    // The backend is failing: with a spool, nothing waits out an outage in memory
                    // (a crash would lose it). This batch goes to disk, then everything queued
                    // behind it (one fsync'd write), and new events follow it there until the
                    // spool is drained; the spool is retried in order, with backoff, until the
                    // backend takes it.
                    let queued = cond.withLock { () -> [ExportRecord] in
                        if stopping { failedWhileStopping = true }
                        return takeQueueLocked()
                    }
                    logger.warning("exporter failing; batch moved to the disk spool, retried from there in order",
                                   metadata: ["exporter": "\(name)", "events": "\(remaining + queued.count)", "error": "\(message)"])
                    spoolRecords(Array(all[offset...]) + queued)
                    return false
                }
                if onDisk && cond.withLock({ () -> Bool in if stopping { failedWhileStopping = true }; return stopping }) {
                    // stopping, and the spool's batch failed: it stays on disk for the next start
                    return false
                }
                let exhausted = !policy.retry.enabled || (policy.retry.maxElapsedMs > 0 && elapsedMs >= Double(policy.retry.maxElapsedMs))
                if exhausted && spool != nil {
                    // a spooled batch is never given up: it stays on disk and is retried with
                    // backoff until the backend takes it
                } else if exhausted {
                    count { $0.dropped["retry_exhausted", default: 0] += UInt64(remaining) }
                    m.dropped("retry_exhausted", remaining)
                    logger.error("exporter retries exhausted; dropping batch",
                                 metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(remaining)",
                                            "attempts": "\(attempt)", "error": "\(message)"])
                    return false
                }
                // Exponential backoff with jitter; Retry-After wins when the backend sent one, up
                // to `retryAfterCapMs` (a backend asking for hours must not silence a node).
                let jitter = policy.retry.randomizationFactor
                // the cap applies after the jitter: no wait exceeds `max_interval_ms`
                var waitMs = min(backoffMs * (1 - jitter + 2 * jitter * Double.random(in: 0...1)),
                                 Double(policy.retry.maxIntervalMs))
                if let ra = retryAfterMs, ra > 0 { waitMs = Double(min(ra, ExporterWorker.retryAfterCapMs)) }
                backoffMs = min(backoffMs * policy.retry.multiplier, Double(policy.retry.maxIntervalMs))
                if policy.retry.maxElapsedMs > 0 && !(spool != nil && (fromSpool || heldInMemory)) {
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
                    // stopping with a spool: this batch is on disk already, the next start retries it
                    if now >= wakeAt || now >= shutdownDeadline || (stopping && onDisk) { break }
                    let until = min(wakeAt, shutdownDeadline)
                    _ = cond.wait(until: Date(timeIntervalSinceNow: Double(until - now) / 1e9))
                }
                let giveUp = Timestamp.monotonicNanoseconds() >= shutdownDeadline || (stopping && onDisk)
                cond.unlock()
                if giveUp && onDisk { return false } // spooled already: it stays on disk
                if giveUp && heldInMemory {
                    // out of time: to disk if it fits now, else counted (disk_full)
                    spoolRecords(Array(all[offset...]))
                    return false
                }
                if giveUp {
                    count { $0.dropped["shutdown", default: 0] += UInt64(remaining) }
                    m.dropped("shutdown", remaining)
                    logger.error("shutdown deadline reached while retrying; dropping batch",
                                 metadata: ["exporter": "\(name)", "batch_id": "\(id)", "events": "\(remaining)"])
                    return false
                }
                attempt += 1
                count { $0.retries += 1 }
                m.retries.increment()
            }
        }
        return true
    }
}

/// The exporter's Prometheus series (swift-metrics; the CLI bootstraps swift-prometheus).
struct WorkerMetrics {
    let exporter: String
    let received, exported, failedRetryable, failedPermanent, retries: Counter
    let queueLength, capacity, spoolBytes: Gauge
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
        spoolBytes = Gauge(label: "oisp_exporter_spool_bytes", dimensions: d)
        batchDuration = Timer(label: "oisp_exporter_batch_duration_seconds", dimensions: d)
    }

    func dropped(_ reason: String, _ n: Int) {
        Counter(label: "oisp_exporter_events_dropped_total", dimensions: [("exporter", exporter), ("reason", reason)]).increment(by: n)
    }
}

final class OutcomeBox: @unchecked Sendable { var value: ExportOutcome? }
