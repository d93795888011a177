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
/// plaintext chunks (→ raw events when asked).
public final class CaptureStage: @unchecked Sendable {
    public let builder: CaptureEventBuilder
    public let pipeline: Pipeline
    public let emitRaw: Bool
    public let logger: Logger
    public let decoder: AIDecoder
    /// `[kubernetes]`: the node's pod metadata and the events it attributes (nil when off).
    public let podMetadata: PodMetadataCache?
    public let kubernetes: KubernetesEnricher?
    /// Events leave in order: a batch and held events released by `tick` do not overtake each other.
    private let submitLock = NSLock()
    private var lastSweep = Timestamp.now()

    public init(builder: CaptureEventBuilder, pipeline: Pipeline, emitRaw: Bool, config: SensorConfig, logger: Logger) {
        self.builder = builder
        self.pipeline = pipeline
        self.emitRaw = emitRaw
        self.logger = logger
        builder.emitRawEvents = emitRaw
        decoder = CaptureStage.makeDecoder(config: config) { pid in
            let e = builder.envelope(pid: pid)
            return (e.host, e.process, e.source)
        }
        (podMetadata, kubernetes) = CaptureStage.makeKubernetes(config: config.kubernetes, builder: builder, logger: logger)
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
        var events = decoder.feed(out.chunks)
        if !out.events.isEmpty { events = out.events + events }
        for r in records {
            if case .exit(let pid, _, _, _, _, _) = r { events += decoder.processExited(pid: Int64(pid)) }
        }
        let now = Timestamp.now()
        if now.nanoseconds - lastSweep.nanoseconds > 10_000_000_000 { decoder.sweep(now: now); lastSweep = now }
        submitLock.lock()
        defer { submitLock.unlock() }
        if let kubernetes { events = kubernetes.enrich(events) }
        // handed over, not copied: the pipeline runs its stages on each event where it lies
        if !events.isEmpty { pipeline.submit(consume events) }
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
        let s = decoder.stats
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

    public func finish() {
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
