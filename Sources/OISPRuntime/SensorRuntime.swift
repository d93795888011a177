import Foundation
import Metrics
import Logging
import OISPConfig
import OISPEvent
import OISPGenAI
import OISPPipeline
import OISPPluginHost
import OISPRedact

/// Builds the pipeline for a command: the configured exporters plus an optional `--output`,
/// and stops it cleanly on SIGINT/SIGTERM.
public final class SensorRuntime: @unchecked Sendable {
    public private(set) var config: SensorConfig
    public let logger: Logger
    /// The file the config came from, re-read on SIGHUP (nil: embedded default, not reloadable).
    public var configPath: String?
    /// Applies command-line overrides to a reloaded config.
    public var overrides: (inout SensorConfig) -> Void = { _ in }
    private let reloadLock = NSLock()
    public let pipeline: Pipeline
    /// The redacting writer: the pipeline's last step.
    public let redaction: RedactionStage
    /// Cost per call and the GenAI metrics, before redaction.
    public let genai: GenAIStage
    public private(set) var failures: [PluginRegistry.StartFailure] = []
    private var signalSources: [DispatchSourceSignal] = []
    private let stopLock = NSLock()
    private var stopRequested = false
    /// Signals received (SIGINT/SIGTERM): the first starts the shutdown budget, a second ends it.
    private var stopSignals = 0
    /// When the first signal came (monotonic ns): the shutdown budget counts from there.
    private var stopSignalAt: UInt64?
    private var metrics: MetricsEndpoint?
    /// Set once capture (if any) is attached and exporters are loaded: `/readyz`.
    public var isReady: Bool { stopLock.withLock { ready } }
    private var ready = false
    public func markReady() { stopLock.withLock { ready = true } }

    public init(config: SensorConfig, logger: Logger, output: String?, metricsByDefault: Bool = false) throws {
        self.config = config
        self.logger = logger
        MetricsEndpoint.bootstrap()
        let redactor = try Redactor(config: config.redaction)
        if case .ephemeral = redactor.hashKey.origin { logger.warning("\(redactor.hashKey.summary)") } else { logger.debug("\(redactor.hashKey.summary)") }
        if config.redaction.mode == .full {
            logger.warning("redaction mode is 'full': prompts and responses are exported as captured (auth headers are still removed)")
        }
        redaction = RedactionStage(redactor)
        genai = GenAIStage(config: config, metrics: GenAIMetrics(registry: MetricsEndpoint.registry, maxModels: config.metrics.genaiMaxModels,
                                                                 maxWorkloads: config.metrics.genaiMaxWorkloads), logger: logger)
        pipeline = Pipeline(stages: [genai], writer: redaction, logger: logger)
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
        if let path = config.sensor.eventsSocket {
            do {
                var policy = config.pipeline.defaults
                policy.flushIntervalMs = min(policy.flushIntervalMs, 200)
                policy.spoolDir = nil
                policy.retry.enabled = false
                pipeline.addExporter(name: "events_socket", sink: try EventSocketSink(path: path), policy: policy)
                logger.info("serving the event stream for `oisp top`", metadata: ["socket": "\(path)"])
            } catch { logger.error("events socket not started: \(error)") }
        }
        failures = PluginRegistry(config: config).startExporters(config, in: pipeline, logger: logger)
        let started = config.exports.filter(\.enabled).count - failures.count
        Gauge(label: "oisp_plugins_loaded").record(started)
        Gauge(label: "oisp_plugins_refused").record(failures.count)
        if output == nil && started <= 0 {
            logger.warning("no exporter is running and no --output was given: events are processed and counted but not delivered anywhere",
                           metadata: ["config": "\(config.file)"])
        }
        if config.metrics.enabled ?? metricsByDefault {
            do {
                let m = try MetricsEndpoint(addr: config.metrics.addr) { [weak self] in self?.isReady ?? false }
                metrics = m
                logger.info("metrics endpoint listening", metadata: ["addr": "\(m.boundAddress)"])
            } catch {
                logger.error("metrics endpoint not started: cannot listen on \(config.metrics.addr): \(error)")
            }
        }
    }

    public var isStopRequested: Bool { stopLock.withLock { stopRequested } }

    /// Signals received so far (SIGINT/SIGTERM).
    public var stopSignalCount: Int { stopLock.withLock { stopSignals } }

    /// The shutdown budget: `[pipeline] shutdown_timeout_ms`.
    public var shutdownBudget: TimeInterval { Double(config.pipeline.shutdownTimeoutMs) / 1000 }

    /// Installs SIGINT/SIGTERM handlers. The first signal requests a stop (the caller stops
    /// reading or capturing and calls `finish`, which gives the exporters until the shutdown
    /// budget, counted from the signal); producers blocked on a full queue return at once.
    /// A second signal ends the wait: what is still queued is spooled or counted at once.
    public func handleSignals(onStop: @escaping @Sendable () -> Void = {}) {
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { [weak self] in self?.reload() }
        hup.resume()
        signalSources.append(hup)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [weak self] in
                guard let self else { return }
                let n = self.stopLock.withLock { () -> Int in
                    self.stopSignals += 1
                    if self.stopSignals == 1 { self.stopRequested = true; self.stopSignalAt = Timestamp.monotonicNanoseconds() }
                    return self.stopSignals
                }
                if n == 1 {
                    self.logger.info("signal received; stopping: exporters deliver until the shutdown budget, then what is queued is spooled or counted",
                                     metadata: ["signal": "\(sig)", "shutdown_timeout_ms": "\(self.config.pipeline.shutdownTimeoutMs)"])
                    self.pipeline.closeInput(deadline: Timestamp.monotonicNanoseconds() + UInt64(self.shutdownBudget * 1e9))
                    onStop()
                } else {
                    self.logger.warning("second signal: ending the shutdown wait now; what is queued is spooled (or counted as dropped)",
                                        metadata: ["signal": "\(sig)"])
                    self.pipeline.expedite()
                }
            }
            s.resume()
            signalSources.append(s)
        }
    }

    /// SIGHUP: re-reads config.toml; exporters added, removed or reconfigured without losing queued
    /// events (a replaced exporter drains its queue before it is closed). A bad file is rejected
    /// with the reason logged and the running config kept.
    public func reload() {
        reloadLock.lock(); defer { reloadLock.unlock() }
        guard let path = configPath ?? (config.file.hasPrefix("<") ? nil : config.file) else {
            logger.warning("SIGHUP ignored: running on the embedded default config (no file to reload)")
            return
        }
        var new: SensorConfig
        do { new = try SensorConfig.load(path: path) } catch {
            logger.error("config reload rejected; keeping the running config", metadata: ["error": "\(error)"])
            return
        }
        overrides(&new)
        if new.redaction != config.redaction { logger.warning("config reload: [redaction] changes need a restart; kept the running redaction") }
        if new.cost != config.cost { logger.warning("config reload: [cost] changes need a restart; kept the running price table") }
        let old = Dictionary(config.exports.filter(\.enabled).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let want = Dictionary(new.exports.filter(\.enabled).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let registry = PluginRegistry(config: new)
        var added: [String] = [], removed: [String] = [], changed: [String] = []
        for (name, e) in want where old[name] != e {
            for w in registry.settingsWarnings(e, file: new.file) { logger.warning("\(w)") }
            do {
                let sink = try registry.makeSink(e, file: new.file, logger: logger)
                if old[name] != nil {
                    pipeline.replaceExporter(name: name, sink: sink, policy: e.policy, timeout: 30)
                    changed.append(name)
                } else {
                    pipeline.addExporter(name: name, sink: sink, policy: e.policy)
                    added.append(name)
                }
            } catch {
                logger.error("config reload: exporter \(name) not started; keeping the previous one", metadata: ["error": "\(error)"])
                if var keep = new.exports.first(where: { $0.name == name }), let prev = old[name] {
                    keep = prev
                    new.exports.removeAll { $0.name == name }
                    new.exports.append(keep)
                }
            }
        }
        for (name, _) in old where want[name] == nil {
            pipeline.removeExporter(name: name, timeout: 30)
            removed.append(name)
        }
        new.redaction = config.redaction
        config = new
        logger.info("config reloaded", metadata: ["file": "\(path)", "added": "\(added.sorted())", "removed": "\(removed.sorted())",
                                                  "reconfigured": "\(changed.sorted())"])
    }

    /// Stops every exporter within the shutdown budget and returns the final counters: each
    /// delivers what it holds (and its spool) until the deadline — the first signal plus the
    /// budget, or now plus the budget when no signal came (end of input) — then what is still
    /// queued goes to its spool, or is counted as dropped (reason "shutdown").
    /// - Parameter budget: overrides `[pipeline] shutdown_timeout_ms` (seconds).
    @discardableResult
    public func finish(budget: TimeInterval? = nil) -> Pipeline.Stats {
        let b = max(0, budget ?? shutdownBudget)
        let (from, expedited) = stopLock.withLock { (stopSignalAt ?? Timestamp.monotonicNanoseconds(), stopSignals >= 2) }
        let deadline = expedited ? Timestamp.monotonicNanoseconds() : from + UInt64(b * 1e9)
        pipeline.closeInput()
        pipeline.shutdown(deadline: deadline)
        if let l = ProcessInfo.processInfo.environment["OISP_METRICS_LINGER_MS"], let ms = Double(l) {
            Thread.sleep(forTimeInterval: ms / 1000) // lets a scraper read the final counters (tests)
        }
        metrics?.close()
        let s = pipeline.stats
        for (name, e) in s.exporters.sorted(by: { $0.key < $1.key }) {
            var md: Logger.Metadata = ["exporter": "\(name)", "received": "\(e.received)", "exported": "\(e.exported)",
                                       "retries": "\(e.retries)", "failed_permanent": "\(e.failedPermanent)",
                                       "spooled": "\(e.spoolPending)"]
            for (r, n) in e.dropped where n > 0 { md["dropped_\(r)"] = "\(n)" }
            logger.info("exporter finished", metadata: md)
        }
        return s
    }

    /// The exit status for final counters: 75 (EX_TEMPFAIL) when any exporter dropped events.
    public static func exitStatus(_ stats: Pipeline.Stats) -> Int32 {
        stats.exporters.values.contains { $0.droppedTotal > 0 } ? 75 : 0
    }

    /// Logs the process's last line: per exporter, events delivered, left in the spool for the
    /// next start, and dropped (with reasons), plus `extra`, and the exit status that follows.
    /// - Returns: that exit status (0, or 75 when anything was dropped; `failure` when larger).
    @discardableResult
    public func logFinalLine(_ command: String, _ stats: Pipeline.Stats, extra: Logger.Metadata = [:], failure: Int32 = 0) -> Int32 {
        let status = max(SensorRuntime.exitStatus(stats), failure)
        var parts: [String] = []
        var md = extra
        for (name, e) in stats.exporters.sorted(by: { $0.key < $1.key }) {
            var p = "\(name) delivered=\(e.exported) spooled=\(e.spoolPending) dropped=\(e.droppedTotal)"
            let reasons = e.dropped.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            if !reasons.isEmpty { p += " (" + reasons.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + ")" }
            parts.append(p)
        }
        if let at = stopLock.withLock({ stopSignalAt }) {
            md["since_signal_ms"] = "\((Timestamp.monotonicNanoseconds() - at) / 1_000_000)"
        }
        md["exit_status"] = "\(status)"
        let text = "\(command) finished: " + (parts.isEmpty ? "no exporters" : parts.joined(separator: "; "))
        if status == 0 { logger.info("\(text)", metadata: md) } else { logger.error("\(text)", metadata: md) }
        return status
    }
}

/// The redaction stage: runs before fan-out, so exporters only ever receive redacted bytes.
public final class RedactionStage: EventRecordWriter, @unchecked Sendable {
    public let redactor: Redactor
    private let lock = NSLock()
    private var counters: [String: Counter] = [:] // one per finding type, made once
    public init(_ r: Redactor) {
        redactor = r
        // every type this redactor can report starts at 0, so a dashboard or an alert sees the
        // series before the first finding (and rate() has a baseline)
        for t in r.scanner.findingTypes { count(t, 0) }
    }

    private func count(_ type: String, _ n: Int) {
        let c = lock.withLock { () -> Counter in
            if let c = counters[type] { return c }
            let c = Counter(label: "oisp_redaction_findings_total", dimensions: [("type", type)])
            counters[type] = c
            return c
        }
        c.increment(by: n)
    }

    /// The event written into its record, redacted as it is written; findings counted.
    public func record(for event: OISPEvent, fields: RecordFieldLevel = .off) -> ExportRecord {
        var w = JSONWriter(capacity: 2048)
        let report = redactor.write(event, into: &w)
        for f in report.findings { count(f.type, f.count) }
        return ExportRecord(event: event, json: &w.bytes, redacted: report.rewrote, found: !report.findings.isEmpty, fields: fields)
    }
}
