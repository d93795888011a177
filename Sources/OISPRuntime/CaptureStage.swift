import Foundation
import Logging
import OISPCapture
import OISPConfig
import OISPDecode
import Metrics
import OISPEvent
import OISPKubernetes
import OISPPipeline

/// Glue between capture and the pipeline: kernel records → process/network events and
/// plaintext chunks (→ raw events when asked) → AI events → the pipeline. With more than one
/// decode thread (`[decode] threads`), connections are spread over them by their id: each
/// connection's chunks are decoded, redacted and written in order on one thread, and the
/// capture's decode thread only builds process events and hands chunks on. Then a process or
/// network event (`process.exit`) may reach the exporters before AI events decoded from that
/// process's earlier traffic on a busy thread: order across connections and event kinds is by `ts`.
public final class CaptureStage: @unchecked Sendable {
    public let builder: CaptureEventBuilder
    public let pipeline: Pipeline
    public let emitRaw: Bool
    public let logger: Logger
    /// One decoder per decode thread.
    public let decoders: [AIDecoder]
    public var decoder: AIDecoder { decoders[0] }
    /// `[kubernetes]`: the node's pod metadata and the events it attributes (nil when off).
    public let podMetadata: PodMetadataCache?
    public let kubernetes: KubernetesEnricher?
    /// Events leave in order: a batch and held events released by `tick` do not overtake each other.
    private let submitLock = NSLock()
    /// The one decoder's work when decoding runs inline on the caller's thread.
    private let inline: Decoding
    /// The decode threads (none: decoding runs inline).
    private var shards: [DecodeShard] = []

    public init(builder: CaptureEventBuilder, pipeline: Pipeline, emitRaw: Bool, config: SensorConfig, logger: Logger) {
        self.builder = builder
        self.pipeline = pipeline
        self.emitRaw = emitRaw
        self.logger = logger
        builder.emitRawEvents = emitRaw
        let envelope: AIDecoder.Envelope = { pid in
            let e = builder.envelope(pid: pid)
            return (e.host, e.process, e.source)
        }
        decoders = (0..<config.decode.threadCount()).map { _ in CaptureStage.makeDecoder(config: config, envelope: envelope) }
        (podMetadata, kubernetes) = CaptureStage.makeKubernetes(config: config.kubernetes, builder: builder, logger: logger)
        inline = Decoding(decoders[0])
        if decoders.count > 1 {
            shards = decoders.enumerated().map { i, d in DecodeShard(index: i, work: Decoding(d)) { [weak self] in self?.submit($0) } }
        }
    }

    deinit { for s in shards { s.finish() } }

    /// Told when a connection carries nothing the decoders emit (see `AIDecoder.onQuiet`).
    public func setOnQuiet(_ f: @escaping (PlaintextChunk.ConnectionID) -> Void) {
        for d in decoders { d.onQuiet = f }
    }

    /// The decoders' counters, summed.
    public var decoderStats: AIDecoder.Stats {
        decoders.dropFirst().reduce(decoders[0].stats) { a, d in
            let b = d.stats
            var s = a
            s.chunks += b.chunks; s.requests += b.requests; s.responses += b.responses; s.aiEvents += b.aiEvents
            s.parseErrors += b.parseErrors; s.http2Connections += b.http2Connections; s.serverSideConnections += b.serverSideConnections
            return s
        }
    }

    /// The kubelet source and the enricher, started, when `[kubernetes]` is on.
    public static func makeKubernetes(config k: SensorConfig.Kubernetes, builder: CaptureEventBuilder,
                               logger: Logger) -> (PodMetadataCache?, KubernetesEnricher?) {
        guard k.enabled else { return (nil, nil) }
        let client = KubeletClient(config: k)
        let cache = PodMetadataCache(refreshMs: k.refreshMs, labelKeys: k.labels, log: { level, msg in
            switch level {
            case .info: logger.info("\(msg)")
            case .warning: logger.warning("\(msg)")
            }
        }, fetch: client.fetch)
        cache.start()
        Counter(label: "oisp_k8s_unattributed_events_total").increment(by: 0)
        logger.info("kubernetes attribution on", metadata: ["source": "kubelet", "url": "\(client.url)", "refresh_ms": "\(k.refreshMs)"])
        let enricher = KubernetesEnricher(cache: cache) { [processes = builder.processes] pid in processes.get(pid).podUID }
        return (cache, enricher)
    }

    /// The decoder configured from `[decode]` and `[redaction] hash_salt`.
    public static func makeDecoder(config: SensorConfig, envelope: @escaping AIDecoder.Envelope) -> AIDecoder {
        var o = AIDecoder.Options()
        o.streamingChunks = config.decode.streamingChunks
        o.maxBodyBytes = config.decode.maxBodyBytes
        o.hashKey = RedactionKey.resolve(config.redaction).bytes
        let extra = config.decode.providers.compactMap { try? ProviderEntry(json: $0) }
        return AIDecoder(registry: ProviderRegistry(extra: extra), options: o, envelope: envelope)
    }

    public func handle(_ records: [CaptureRecord]) {
        let out = builder.process(records)
        var exits: [Int64] = []
        for r in records { if case .exit(let pid, _, _, _, _, _) = r { exits.append(Int64(pid)) } }
        guard shards.isEmpty else { return handOn(out, exits: exits) }
        var events = out.events
        events.take(inline.run(out.chunks, exits: exits))
        submit(events)
    }

    /// The sharded path: process events submitted here, chunks to their connection's thread,
    /// each exit to every thread (after the chunks that came before it).
    private func handOn(_ out: CaptureEventBuilder.Output, exits: [Int64]) {
        if !out.events.isEmpty { submit(out.events) }
        var parts = [[PlaintextChunk]](repeating: [], count: shards.count)
        for c in out.chunks { parts[DecodeShard.index(of: c.connection, among: shards.count)].append(c) }
        for (i, s) in shards.enumerated() where !parts[i].isEmpty || !exits.isEmpty { s.enqueue(parts[i], exits: exits) }
    }

    /// Through Kubernetes attribution into the pipeline. Attribution and the stages (the GenAI
    /// stage pairs a response with its request) run in order under the lock; events held for pod
    /// metadata and handed on by this call are also written and handed to the exporters under it,
    /// so a connection's later events cannot overtake them. A batch of a decode thread's own
    /// events is written outside the lock, beside the other threads'.
    func submit(_ events: consuming [OISPEvent]) {
        var events = events
        guard !events.isEmpty else { return }
        // handed over, not copied: the pipeline runs its stages on each event where it lies
        guard let kubernetes else { return pipeline.submit(consume events) }
        submitLock.lock()
        let wasHolding = kubernetes.isHolding
        events = kubernetes.enrich(events)
        // anything held before or after this call (it may have held some of a container's
        // events and handed older ones on): written under the lock, so `tick` cannot hand the
        // newer ones to the exporters first
        let mayRelease = shards.isEmpty || wasHolding || kubernetes.isHolding
        var kept = [Bool]()
        kept.reserveCapacity(events.count)
        for i in events.indices { kept.append(pipeline.runStages(&events[i])) }
        if !mayRelease { submitLock.unlock() }
        var records: [ExportRecord] = []
        records.reserveCapacity(events.count)
        events.withUnsafeBufferPointer { b in for i in b.indices where kept[i] { records.append(pipeline.write(b[i])) } }
        pipeline.submit(records: records)
        if mayRelease { submitLock.unlock() }
    }

    /// Hands on held events whose wait for pod metadata is over (call it often).
    public func tick() {
        guard let kubernetes else { return }
        submitLock.withLock {
            let ready = kubernetes.release()
            if !ready.isEmpty { pipeline.submit(ready) }
        }
    }

    private var reported = AIDecoder.Stats()

    /// Moves decoder counters into Prometheus series.
    public func reportMetrics() {
        let s = decoderStats
        func add(_ label: String, _ now: UInt64, _ before: UInt64, _ dims: [(String, String)] = []) {
            if now > before { Counter(label: label, dimensions: dims).increment(by: Int(now - before)) }
        }
        add("oisp_capture_tls_chunks_total", s.chunks, reported.chunks)
        add("oisp_decode_requests_total", s.requests, reported.requests)
        add("oisp_decode_responses_total", s.responses, reported.responses)
        add("oisp_decode_parse_errors_total", s.parseErrors, reported.parseErrors)
        reported = s
        if let podMetadata, let kubernetes {
            let m = podMetadata.stats, e = kubernetes.stats
            add("oisp_k8s_metadata_fetches_total", m.fetches, reportedK8s.0.fetches, [("result", "ok")])
            add("oisp_k8s_metadata_fetches_total", m.fetchFailures, reportedK8s.0.fetchFailures, [("result", "error")])
            add("oisp_k8s_attributed_events_total", e.attributed, reportedK8s.1.attributed)
            add("oisp_k8s_unattributed_events_total", e.unattributed, reportedK8s.1.unattributed)
            Gauge(label: "oisp_k8s_pods").record(m.pods)
            Gauge(label: "oisp_k8s_metadata_up").record(m.healthy ? 1 : 0)
            reportedK8s = (m, e)
        }
    }

    private var reportedK8s = (PodMetadataCache.Stats(), KubernetesEnricher.Stats())

    /// Decodes what the decode threads still hold, then ends them (after capture stopped).
    public func finish() {
        for s in shards { s.finish() }
        if let kubernetes {
            submitLock.withLock {
                let rest = kubernetes.drain()
                if !rest.isEmpty { pipeline.submit(rest) }
            }
            podMetadata?.stop()
        }
        reportMetrics()
    }
}

/// One decoder's work: chunks and the pids that exited in, events out; connections idle for
/// the decoder's idle time are swept (what they left cut reported) every 10 s. The same on the
/// capture's thread (inline) and on each decode thread.
final class Decoding {
    let decoder: AIDecoder
    private var lastSweep = Timestamp.now()
    init(_ decoder: AIDecoder) { self.decoder = decoder }

    func run(_ chunks: [PlaintextChunk], exits: [Int64]) -> [OISPEvent] {
        var events = chunks.isEmpty ? [] : decoder.feed(chunks)
        for pid in exits { events.take(decoder.processExited(pid: pid)) }
        let now = Timestamp.now()
        if now.nanoseconds - lastSweep.nanoseconds > 10_000_000_000 { events.take(decoder.sweep(now: now)); lastSweep = now }
        return events
    }
}

/// One decode thread: its own decoder (connection state), a bounded queue of chunk batches.
final class DecodeShard: @unchecked Sendable {
    private let work: Decoding
    private let submit: ([OISPEvent]) -> Void
    private let cond = NSCondition()
    private var queue: [(chunks: [PlaintextChunk], exits: [Int64])] = []
    private var queuedBytes = 0
    private var closed = false
    private var running = true
    /// Beyond this the capture's decode thread waits, and its own bounded queue counts what it
    /// must drop (`decode_queue_full`): the ring buffer's poll never waits.
    static let maxQueuedBytes = 16 << 20

    init(index: Int, work: Decoding, submit: @escaping ([OISPEvent]) -> Void) {
        self.work = work
        self.submit = submit
        let t = Thread { [self] in loop() }
        t.name = "oisp-decode-\(index)"
        t.start()
    }

    /// The thread a connection's chunks go to (always the same one).
    static func index(of c: PlaintextChunk.ConnectionID, among n: Int) -> Int {
        var h = UInt64(bitPattern: c.pid) &* 0x9E37_79B9_7F4A_7C15 ^ c.handle
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Int(h % UInt64(n))
    }

    func enqueue(_ chunks: [PlaintextChunk], exits: [Int64]) {
        let bytes = chunks.reduce(64) { $0 + $1.bytes.count }
        cond.lock()
        while queuedBytes > DecodeShard.maxQueuedBytes && !closed { cond.wait() }
        if closed {
            // after `finish` the thread is gone: decoded here rather than lost
            while running { cond.wait() }
            cond.unlock()
            let events = work.run(chunks, exits: exits)
            if !events.isEmpty { submit(events) }
            return
        }
        queue.append((chunks, exits))
        queuedBytes += bytes
        cond.broadcast()
        cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            while queue.isEmpty && !closed {
                if !cond.wait(until: Date().addingTimeInterval(10)) { break }
            }
            if queue.isEmpty && closed { running = false; cond.broadcast(); cond.unlock(); return }
            let batches = queue
            queue.removeAll(keepingCapacity: true)
            queuedBytes = 0
            cond.broadcast()
            cond.unlock()
            // an empty batch list (the 10 s wait ran out) still lets the idle sweep run
            var events = batches.isEmpty ? work.run([], exits: []) : []
            for b in batches { events += work.run(b.chunks, exits: b.exits) }
            if !events.isEmpty { submit(events) }
        }
    }

    /// Decodes what is queued, then ends the thread.
    func finish() {
        cond.lock()
        closed = true
        cond.broadcast()
        while running { cond.wait() }
        cond.unlock()
    }
}
