import Foundation
import Logging
import Metrics
import OISPCapture
import OISPConfig
import OISPEvent

/// `record`'s data path, wired: eBPF capture → capture stage (decoder, Kubernetes attribution) →
/// pipeline (GenAI stage, redaction) → exporters, until a signal or `duration`; then the final
/// counters. The CLI parses arguments into `Options` and maps `Failure` to an exit status.
public struct RecordSession {
    public struct Options {
        /// Also write events to this JSONL file ('-': stdout).
        public var output: String?
        /// Also emit raw plaintext chunks as `capture.ssl_data` events (and never quiet a connection).
        public var raw = false
        /// Stop after this many seconds (nil: until SIGINT/SIGTERM).
        public var duration: Double?
        /// Written once probes are attached.
        public var readyFile: String?
        /// Probes that do nothing (the benchmark's "empty probes" column).
        public var noopProbes = false
        /// Applied again to a config reloaded at SIGHUP (the command line's overrides).
        public var overrides: (inout SensorConfig) -> Void = { _ in }
        public init() {}
    }

    /// Why `record` could not run: the exit status, and the message already printed.
    public struct Failure: Error { public let status: Int32 }

    public let config: SensorConfig
    public let logger: Logger
    public let options: Options

    public init(config: SensorConfig, logger: Logger, options: Options) {
        self.config = config
        self.logger = logger
        self.options = options
    }

    static func printError(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// The capture options `[capture]` asks for.
    public static func captureOptions(_ config: SensorConfig, object: String, noopProbes: Bool) -> BPFCapture.Options {
        var opts = BPFCapture.Options(objectPath: object)
        opts.maxCaptureBytes = config.capture.maxCaptureBytes
        opts.ssl = config.capture.ssl
        opts.process = config.capture.process
        opts.network = config.capture.network
        opts.sslBinaryPaths = config.capture.sslBinaryPaths
        opts.plain = config.capture.plainHTTP && !config.capture.plainHTTPPorts.isEmpty
        opts.plainPorts = config.capture.plainHTTPPorts
        opts.probeBeforeExec = config.capture.probeBeforeExec
        opts.probeBeforeExecTimeoutMs = config.capture.probeBeforeExecTimeoutMs
        opts.noopProbes = noopProbes
        opts.ringBufferBytes = config.capture.ringBufferBytes
        if config.capture.pidFilter.count == 1 { opts.targetPID = UInt32(config.capture.pidFilter[0]) }
        return opts
    }

    /// Runs until stopped. Returns the exit status of the final line (0, or 75 when events were
    /// dropped); throws `Failure` (69) when capture cannot start.
    public func run() throws -> Int32 {
        guard let object = BPFCapture.locateObject() else {
            Self.printError("error: capture not available: BPF object oisp.bpf.o not found (set OISP_BPF_OBJECT, or build with 'make build')")
            throw Failure(status: 69)
        }
        let opts = Self.captureOptions(config, object: object, noopProbes: options.noopProbes)
        let runtime = try SensorRuntime(config: config, logger: logger, output: options.output, metricsByDefault: true)
        let cap: BPFCapture
        releaseStartupPages() // start-up's peak is libbpf reading the kernel's BTF: make room first
        do {
            cap = try BPFCapture(options: opts)
        } catch {
            Self.printError("error: capture not available: \(error)")
            runtime.finish(budget: 5)
            throw Failure(status: 69)
        }
        let builder = CaptureEventBuilder(hostname: sensorHostname(config.sensor.hostname), sensorName: config.sensor.name,
                                          version: OISPVersion.current, processFilter: config.capture.processFilter,
                                          pidFilter: config.capture.pidFilter)
        let stage = CaptureStage(builder: builder, pipeline: runtime.pipeline, emitRaw: options.raw, config: config, logger: logger)
        cap.onExec = { [processes = builder.processes] pid in processes.noteExec(pid: pid) }
        // a connection the decoder will emit nothing for (the server side of HTTP, not HTTP) stops
        // sending its plaintext from the kernel; raw capture keeps every byte
        if !options.raw { stage.setOnQuiet { [cap] id in cap.quiet(id) } }
        cap.start { records in stage.handle(records) }
        for e in cap.attachErrors { logger.warning("probe attach failed: \(e)") }
        cap.onTarget = { [logger] t, problem in
            if let problem { logger.warning("probe attach failed: \(problem)") }
            if t.functions > 0 {
                var meta: Logger.Metadata = ["path": "\(t.path)", "stack": "\(t.stack)", "functions": "\(t.functions)"]
                if let f = t.found { meta["found"] = "\(f)" }
                logger.info("probes attached", metadata: meta)
            }
        }
        let gate = cap.execGate
        if gate.filesystems > 0 {
            logger.info("new executables held at exec until probed", metadata: ["filesystems": "\(gate.filesystems)"])
        } else if config.capture.ssl && config.capture.probeBeforeExec {
            logger.warning("new executables cannot be held until probed; programs probed on exec miss their first milliseconds",
                           metadata: ["reason": "\(gate.problems.first ?? "off")"])
        }
        for p in gate.problems.dropFirst(gate.filesystems > 0 ? 0 : 1) { logger.debug("exec gate: \(p)") }
        for p in cap.programs {
            if !p.loaded { logger.error("BPF program rejected by this kernel; capture goes on without it", metadata: ["program": "\(p.name)", "reason": "\(p.reason)"]) }
        }
        Gauge(label: "oisp_bpf_programs", dimensions: [("state", "loaded")]).record(cap.programs.filter(\.loaded).count)
        Gauge(label: "oisp_bpf_programs", dimensions: [("state", "rejected")]).record(cap.rejectedPrograms.count)
        for p in cap.rejectedPrograms { Gauge(label: "oisp_bpf_program_rejected", dimensions: [("program", p.name)]).record(1) }
        logger.info("capture started", metadata: ["probed": "\(cap.probedPaths.joined(separator: ","))", "bpf_object": "\(object)",
                                                  "decode_threads": "\(stage.decoders.count)"])
        runtime.markReady()
        releaseStartupPages()
        if let readyFile = options.readyFile { _ = FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8)) }

        runtime.overrides = options.overrides
        runtime.handleSignals()
        let deadline = options.duration.map { Date().addingTimeInterval($0) }
        var reportedLost: UInt64 = 0, reportedBehind: UInt64 = 0, reportedQuiet: UInt64 = 0
        Counter(label: "oisp_ringbuffer_lost_total").increment(by: 0)
        Counter(label: "oisp_capture_quiet_records_total").increment(by: 0)
        var lastReport = Date()
        while !runtime.isStopRequested {
            if let d = deadline, Date() >= d { break }
            Thread.sleep(forTimeInterval: 0.05)
            stage.tick()
            if Date().timeIntervalSince(lastReport) >= 1 {
                lastReport = Date()
                let behind = cap.droppedRecords
                if behind > reportedBehind {
                    Counter(label: "oisp_capture_dropped_total", dimensions: [("reason", "decode_queue_full")]).increment(by: Int(behind - reportedBehind))
                    logger.warning("decoding fell behind: capture records dropped", metadata: ["dropped_total": "\(behind)"])
                    reportedBehind = behind
                }
                let lost = cap.lostRecords
                if lost > reportedLost {
                    Counter(label: "oisp_ringbuffer_lost_total").increment(by: Int(lost - reportedLost))
                    logger.warning("ring buffer overflow: kernel records lost", metadata: ["lost_total": "\(lost)"])
                    reportedLost = lost
                }
                let quiet = cap.quietRecords
                if quiet > reportedQuiet {
                    Counter(label: "oisp_capture_quiet_records_total").increment(by: Int(quiet - reportedQuiet))
                    reportedQuiet = quiet
                }
                stage.reportMetrics()
            }
        }
        let lost = cap.lostRecords, quiet = cap.quietRecords // read while the BPF maps are open
        // stop reading the ring buffer and decode what is in hand; detaching the probes (an RCU
        // grace period per link: seconds on a busy node) waits until the exporters are done
        cap.stopPolling()
        let behind = cap.droppedRecords
        stage.finish()
        if lost > 0 { logger.error("ring buffer overflowed: records lost in the kernel", metadata: ["lost": "\(lost)"]) }
        if behind > 0 { logger.error("decoding fell behind: capture records dropped", metadata: ["dropped": "\(behind)"]) }
        let stats = runtime.finish()
        let status = runtime.logFinalLine("record", stats, extra: ["ring_buffer_lost": "\(lost)", "decode_queue_dropped": "\(behind)",
                                                                            "quiet_records": "\(quiet)"])
        cap.stop()
        return status
    }
}
