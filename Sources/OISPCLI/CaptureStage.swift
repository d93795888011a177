import Foundation
import Logging
import OISPCapture
import OISPConfig
import OISPDecode
import Metrics
import OISPEvent
import OISPPipeline

/// Glue between capture and the pipeline: kernel records → process/network events and
/// plaintext chunks (→ raw events when asked).
final class CaptureStage: @unchecked Sendable {
    let builder: CaptureEventBuilder
    let pipeline: Pipeline
    let emitRaw: Bool
    let logger: Logger
    let decoder: AIDecoder
    private var lastSweep = Timestamp.now()

    init(builder: CaptureEventBuilder, pipeline: Pipeline, emitRaw: Bool, config: SensorConfig, logger: Logger) {
        self.builder = builder
        self.pipeline = pipeline
        self.emitRaw = emitRaw
        self.logger = logger
        builder.emitRawEvents = emitRaw
        decoder = CaptureStage.makeDecoder(config: config) { pid in
            let e = builder.envelope(pid: pid)
            return (e.host, e.process, e.source)
        }
    }

    /// The decoder configured from `[decode]` and `[redaction] hash_salt`.
    static func makeDecoder(config: SensorConfig, envelope: @escaping AIDecoder.Envelope) -> AIDecoder {
        var o = AIDecoder.Options()
        o.streamingChunks = config.decode.streamingChunks
        o.maxBodyBytes = config.decode.maxBodyBytes
        o.hashKey = RedactionKey.resolve(config.redaction).bytes
        let extra = config.decode.providers.compactMap { try? ProviderEntry(json: $0) }
        return AIDecoder(registry: ProviderRegistry(extra: extra), options: o, envelope: envelope)
    }

    func handle(_ records: [CaptureRecord]) {
        let out = builder.process(records)
        var events = out.events
        events += decoder.feed(out.chunks)
        for r in records {
            if case .exit(let pid, _, _, _, _, _) = r { events += decoder.processExited(pid: Int64(pid)) }
        }
        let now = Timestamp.now()
        if now.nanoseconds - lastSweep.nanoseconds > 10_000_000_000 { decoder.sweep(now: now); lastSweep = now }
        if !events.isEmpty { pipeline.submit(events) }
    }

    private var reported = AIDecoder.Stats()

    /// Moves decoder counters into Prometheus series.
    func reportMetrics() {
        let s = decoder.stats
        func add(_ label: String, _ now: UInt64, _ before: UInt64, _ dims: [(String, String)] = []) {
            if now > before { Counter(label: label, dimensions: dims).increment(by: Int(now - before)) }
        }
        add("oisp_capture_tls_chunks_total", s.chunks, reported.chunks)
        add("oisp_decode_requests_total", s.requests, reported.requests)
        add("oisp_decode_responses_total", s.responses, reported.responses)
        add("oisp_decode_parse_errors_total", s.parseErrors, reported.parseErrors)
        reported = s
    }

    func finish() { reportMetrics() }
}
