import Foundation
import Logging
import OISPConfig
import OISPEvent
import OISPPipeline
import OISPPluginHost
import OISPRedact

/// Builds the pipeline for a command: the configured exporters plus an optional `--output`,
/// and stops it cleanly on SIGINT/SIGTERM.
final class SensorRuntime: @unchecked Sendable {
    let config: SensorConfig
    let logger: Logger
    let pipeline: Pipeline
    private(set) var failures: [PluginRegistry.StartFailure] = []
    private var signalSources: [DispatchSourceSignal] = []
    private let stopLock = NSLock()
    private var stopRequested = false

    init(config: SensorConfig, logger: Logger, output: String?) throws {
        self.config = config
        self.logger = logger
        let redactor = try Redactor(config: config.redaction)
        if config.redaction.mode == .full {
            logger.warning("redaction mode is 'full': prompts and responses are exported as captured (auth headers are still removed)")
        }
        pipeline = Pipeline(stages: [RedactionStage(redactor)], logger: logger)
        if let output {
            var policy = config.pipeline.defaults
            policy.flushIntervalMs = min(policy.flushIntervalMs, 200)
            let sink: JSONLSink
            do { sink = try JSONLSink(path: output) } catch {
                logger.error("\(error)")
                throw error
            }
            pipeline.addExporter(name: "output", sink: sink, policy: policy)
        }
        failures = PluginRegistry(config: config).startExporters(config, in: pipeline, logger: logger)
    }

    var isStopRequested: Bool { stopLock.withLock { stopRequested } }

    /// Installs SIGINT/SIGTERM handlers that request a stop (the caller then calls `finish`).
    func handleSignals(onStop: @escaping @Sendable () -> Void = {}) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [weak self] in
                guard let self else { return }
                self.logger.info("signal received; flushing exporters", metadata: ["signal": "\(sig)"])
                self.stopLock.withLock { self.stopRequested = true }
                onStop()
            }
            s.resume()
            signalSources.append(s)
        }
    }

    /// Sends everything queued, then stops every exporter. Returns the final counters.
    @discardableResult
    func finish(timeout: TimeInterval = 30) -> Pipeline.Stats {
        pipeline.drain(timeout: timeout)
        pipeline.shutdown(timeout: timeout)
        let s = pipeline.stats
        for (name, e) in s.exporters.sorted(by: { $0.key < $1.key }) {
            var md: Logger.Metadata = ["exporter": "\(name)", "received": "\(e.received)", "exported": "\(e.exported)",
                                       "retries": "\(e.retries)", "failed_permanent": "\(e.failedPermanent)"]
            for (r, n) in e.dropped where n > 0 { md["dropped_\(r)"] = "\(n)" }
            logger.info("exporter finished", metadata: md)
        }
        return s
    }
}

/// The redaction stage: runs before fan-out, so exporters only ever receive redacted bytes.
final class RedactionStage: EventStage {
    let redactor: Redactor
    init(_ r: Redactor) { redactor = r }
    func process(_ event: inout OISPEvent) -> Bool {
        redactor.redact(&event)
        return true
    }
}
