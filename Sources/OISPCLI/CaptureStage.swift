import Foundation
import Logging
import OISPCapture
import OISPConfig
import OISPEvent
import OISPPipeline

/// Glue between capture and the pipeline: kernel records → process/network events and
/// plaintext chunks (→ raw events when asked).
final class CaptureStage: @unchecked Sendable {
    let builder: CaptureEventBuilder
    let pipeline: Pipeline
    let emitRaw: Bool
    let logger: Logger

    init(builder: CaptureEventBuilder, pipeline: Pipeline, emitRaw: Bool, config: SensorConfig, logger: Logger) {
        self.builder = builder
        self.pipeline = pipeline
        self.emitRaw = emitRaw
        self.logger = logger
        builder.emitRawEvents = emitRaw
    }

    func handle(_ records: [CaptureRecord]) {
        let out = builder.process(records)
        if !out.events.isEmpty { pipeline.submit(out.events) }
    }

    func finish() {}
}
