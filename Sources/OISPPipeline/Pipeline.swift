import Foundation
import Logging
import Metrics
import OISPConfig
import OISPEvent
import Synchronization

/// Source → stages (GenAI cost) → the writer (redaction as the event is serialised, once) →
/// fan-out to every exporter's own queue.
/// `submit` never blocks on an exporter.
public final class Pipeline: @unchecked Sendable {
    private let lock = NSLock()
    private var stages: [EventStage]
    private let writer: EventRecordWriter?
    /// Set once an exporter that reads record fields is added (never cleared: cheap either way);
    /// read on every write, from several threads, without the lock.
    /// The most fields any exporter added so far reads (`RecordFieldLevel`).
    private let fieldsWanted = Atomic<UInt8>(0)
    private var workers: [ExporterWorker] = []
    private var retired: [ExporterWorker] = []
    private let logger: Logger
    private var submitted: UInt64 = 0
    private var droppedByStage: UInt64 = 0
    private var byType: [String: UInt64] = [:]
    private var typeCounters: [String: Counter] = [:]   // created once per event type, not per submit

    public init(stages: [EventStage] = [], writer: EventRecordWriter? = nil, logger: Logger) {
        self.stages = stages
        self.writer = writer
        self.logger = logger
    }

    /// Adds an exporter and starts its worker.
    @discardableResult
    public func addExporter(name: String, sink: ExportSink, policy: ExportPolicy) -> ExporterWorker {
        let w = ExporterWorker(name: name, sink: sink, policy: policy, logger: logger)
        w.start()
        wantFields(sink.recordFieldLevel)
        lock.lock(); workers.append(w); lock.unlock()
        return w
    }

    /// Removes an exporter: it sends what it has queued (until `timeout`) and is closed.
    public func removeExporter(name: String, timeout: TimeInterval) {
        lock.lock()
        let gone = workers.filter { $0.name == name }
        workers.removeAll { $0.name == name }
        retired += gone // before they stop: `expedite` reaches them, stats count them
        lock.unlock()
        for w in gone { w.stop(timeout: timeout) }
    }

    /// Swaps an exporter for a new instance atomically: events submitted from now on go to the
    /// new one; the old one sends what it had queued (until `timeout`) and is closed.
    public func replaceExporter(name: String, sink: ExportSink, policy: ExportPolicy, timeout: TimeInterval) {
        let w = ExporterWorker(name: name, sink: sink, policy: policy, logger: logger)
        w.start()
        wantFields(sink.recordFieldLevel)
        lock.lock()
        let old = workers.filter { $0.name == name }
        workers.removeAll { $0.name == name }
        workers.append(w)
        retired += old
        lock.unlock()
        for o in old { o.stop(timeout: timeout) }
    }

    private func wantFields(_ l: RecordFieldLevel) {
        var old = fieldsWanted.load(ordering: .acquiring)
        while l.rawValue > old {
            let (done, now) = fieldsWanted.compareExchange(expected: old, desired: l.rawValue, ordering: .acquiringAndReleasing)
            if done { return }
            old = now
        }
    }

    public var exporterNames: [String] { lock.lock(); defer { lock.unlock() }; return workers.map(\.name) }

    /// Runs the stages and hands the event to every exporter.
    public func submit(_ event: OISPEvent) {
        submit(CollectionOfOne(event))
    }

    /// Runs the stages on each event and hands the survivors to every exporter in one step.
    public func submit<S: Sequence>(_ events: S, block: Bool = false) where S.Element == OISPEvent {
        let stages = lock.withLock { self.stages }
        var records: [ExportRecord] = []
        for var e in events {
            if let r = record(for: &e, stages: stages) { records.append(r) }
        }
        submit(records: records, block: block)
    }

    /// The same for an array the caller hands over: each event goes through the stages where it
    /// lies, not copied out first (a copy of an event retains each of its strings).
    public func submit(_ events: consuming [OISPEvent], block: Bool = false) {
        let stages = lock.withLock { self.stages }
        var events = events
        var records: [ExportRecord] = []
        records.reserveCapacity(events.count)
        // through the buffer: an array's subscript would hand `write` a copy of each event
        events.withUnsafeMutableBufferPointer { b in
            for i in b.indices where runStages(&b[i], stages) { records.append(write(b[i])) }
        }
        events = []
        submit(records: records, block: block)
    }

    /// Runs the stages on one event and writes it; nil when a stage dropped it (counted).
    public func record(for event: inout OISPEvent) -> ExportRecord? {
        record(for: &event, stages: lock.withLock { self.stages })
    }

    /// Runs the stages on one event; false when a stage dropped it (counted). Stages that pair
    /// events (the GenAI stage) want them in order: callers that spread the work over threads
    /// run this in order and `write` in parallel.
    public func runStages(_ event: inout OISPEvent) -> Bool {
        runStages(&event, lock.withLock { self.stages })
    }

    /// Writes an event that went through the stages into its record (thread-safe).
    public func write(_ event: OISPEvent) -> ExportRecord {
        let fields = RecordFieldLevel(rawValue: fieldsWanted.load(ordering: .acquiring)) ?? .call
        return writer?.record(for: event, fields: fields) ?? ExportRecord(event: event, fields: fields)
    }

    private func runStages(_ event: inout OISPEvent, _ stages: [EventStage]) -> Bool {
        for s in stages where !s.process(&event) {
            lock.withLock { droppedByStage += 1 }
            Counter(label: "oisp_events_dropped_total", dimensions: [("reason", "stage")]).increment()
            return false
        }
        return true
    }

    private func record(for event: inout OISPEvent, stages: [EventStage]) -> ExportRecord? {
        runStages(&event, stages) ? write(event) : nil
    }

    /// Hands records that already went through the stages (`record(for:)`, or a lane that does
    /// the same work on bytes) to every exporter, counting them by type.
    /// Concrete (not generic) so callers in other modules get the specialised loop; records are
    /// read in place by index, never copied out one by one.
    public func submit(records: [ExportRecord], block: Bool = false) {
        submit(records: records[...], block: block)
    }

    public func submit(records: ArraySlice<ExportRecord>, block: Bool = false) {
        guard !records.isEmpty else { return }
        var types: [String: Int] = [:]
        // runs of one type are common: hash once per run, not per record
        var run = "", runLength = 0
        for k in records.indices {
            if runLength > 0 && records[k].eventType == run { runLength += 1; continue }
            if runLength > 0 { types[run, default: 0] += runLength }
            run = records[k].eventType; runLength = 1
        }
        if runLength > 0 { types[run, default: 0] += runLength }
        lock.lock()
        let workers = self.workers
        submitted += UInt64(records.count)
        var counters: [(Counter, Int)] = []
        for (t, n) in types {
            byType[t, default: 0] += UInt64(n)
            let c = typeCounters[t] ?? Counter(label: "oisp_events_total", dimensions: [("event_type", t)])
            typeCounters[t] = c
            counters.append((c, n))
        }
        lock.unlock()
        for (c, n) in counters { c.increment(by: n) }
        for w in workers { w.enqueue(records, block: block) }
    }

    /// Blocks until every exporter's queue is empty (or the timeout passes).
    @discardableResult
    public func drain(timeout: TimeInterval) -> Bool {
        let ws = lock.withLock { workers }
        let deadline = Date().addingTimeInterval(timeout)
        var ok = true
        for w in ws { ok = w.drain(timeout: max(0, deadline.timeIntervalSinceNow)) && ok }
        return ok
    }

    /// Stops every exporter after it has sent what it holds (SIGINT/SIGTERM path).
    public func shutdown(timeout: TimeInterval) {
        shutdown(deadline: Timestamp.monotonicNanoseconds() + UInt64(max(0, timeout) * 1e9))
    }

    /// Stops every exporter by `deadline` (monotonic ns, the process's shutdown budget): each
    /// sends what it holds until then, then spools or counts what is left
    /// (`ExporterWorker.stop(deadline:)`), flushes and closes.
    public func shutdown(deadline: UInt64) {
        let ws = lock.withLock { () -> [ExporterWorker] in let w = workers; workers = []; retired += w; return w }
        // Stop all in parallel so one slow backend does not eat the others' time.
        let group = DispatchGroup()
        for w in ws {
            group.enter()
            Thread.detachNewThread { w.stop(deadline: deadline); group.leave() }
        }
        group.wait()
    }

    /// The producer stops (first signal): submitters blocked on a full queue return at once.
    /// - Parameter deadline: the shutdown deadline (monotonic ns): retry waits and export calls
    ///   end by then even while the producer is still stopping.
    public func closeInput(deadline: UInt64 = .max) {
        for w in lock.withLock({ workers + retired }) { w.closeInput(deadline: deadline) }
    }

    /// Ends the shutdown wait now (second signal): what is queued is spooled or counted.
    public func expedite() {
        for w in lock.withLock({ workers + retired }) { w.expedite() }
    }

    /// Counters: events submitted (after stages), dropped by stages, by type; per exporter.
    public struct Stats: Sendable {
        public var submitted: UInt64
        public var droppedByStage: UInt64
        public var byType: [String: UInt64]
        public var exporters: [String: ExporterStats]
    }

    public var stats: Stats {
        let (s, d, t, ws) = lock.withLock { (submitted, droppedByStage, byType, retired + workers) }
        var ex: [String: ExporterStats] = [:]
        for w in ws { ex[w.name] = w.snapshot }
        return Stats(submitted: s, droppedByStage: d, byType: t, exporters: ex)
    }
}
