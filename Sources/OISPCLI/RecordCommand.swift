import ArgumentParser
import Foundation
import OISPCapture
import Metrics
import OISPEvent

/// `record`: eBPF capture → pipeline → exporters.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Capture AI activity on this machine and export it (the DaemonSet's command).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var capture: CaptureOptions

    @Option(name: [.short, .long], help: "Also write events to this JSONL file ('-' for stdout).")
    var output: String?

    @Flag(name: .customLong("no-network"), help: "Do not capture connects.")
    var noNetwork = false

    @Option(name: .long, help: "Stop after this many seconds (default: run until SIGINT/SIGTERM).")
    var duration: Double?

    @Flag(name: .long, help: "Also emit raw plaintext chunks as capture.ssl_data events.")
    var raw = false

    @Option(name: .long, help: "Write this file once probes are attached (for supervisors and tests).")
    var readyFile: String?

    @Flag(name: .long, help: .hidden)
    var noopProbes = false

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        if noNetwork { config.capture.network = false }
        let logger = global.logger(for: config)

        guard let object = BPFCapture.locateObject() else {
            printError("error: capture not available: BPF object oisp.bpf.o not found (set OISP_BPF_OBJECT, or build with 'make build')")
            throw ExitCode(69)
        }
        var opts = BPFCapture.Options(objectPath: object)
        opts.maxCaptureBytes = config.capture.maxCaptureBytes
        opts.ssl = config.capture.ssl
        opts.process = config.capture.process
        opts.network = config.capture.network
        opts.sslBinaryPaths = config.capture.sslBinaryPaths
        opts.plain = config.capture.plainHTTP && !config.capture.plainHTTPPorts.isEmpty
        opts.plainPorts = config.capture.plainHTTPPorts
        opts.noopProbes = noopProbes
        opts.ringBufferBytes = config.capture.ringBufferBytes
        if config.capture.pidFilter.count == 1 { opts.targetPID = UInt32(config.capture.pidFilter[0]) }

        let runtime = try SensorRuntime(config: config, logger: logger, output: output, metricsByDefault: true)
        let cap: BPFCapture
        releaseStartupPages() // start-up's peak is libbpf reading the kernel's BTF: make room first
        do {
            cap = try BPFCapture(options: opts)
        } catch {
            printError("error: capture not available: \(error)")
            runtime.finish(budget: 5)
            throw ExitCode(69)
        }
        let builder = CaptureEventBuilder(hostname: sensorHostname(config.sensor.hostname), sensorName: config.sensor.name,
                                          version: OISPVersion.current, processFilter: config.capture.processFilter,
                                          pidFilter: config.capture.pidFilter)
        let stage = CaptureStage(builder: builder, pipeline: runtime.pipeline, emitRaw: raw, config: config, logger: logger)
        cap.onExec = { [processes = builder.processes] pid in processes.noteExec(pid: pid) }
        // a connection the decoder will emit nothing for (the server side of HTTP, not HTTP) stops
        // sending its plaintext from the kernel; raw capture keeps every byte
        if !raw { stage.decoder.onQuiet = { [cap] id in cap.quiet(id) } }
        cap.start { records in stage.handle(records) }
        for e in cap.attachErrors { logger.warning("probe attach failed: \(e)") }
        cap.onTarget = { [logger] t, problem in
            if let problem { logger.warning("probe attach failed: \(problem)") }
            if t.functions > 0 { logger.info("probes attached", metadata: ["path": "\(t.path)", "stack": "\(t.stack)", "functions": "\(t.functions)"]) }
        }
        for p in cap.programs {
            if !p.loaded { logger.error("BPF program rejected by this kernel; capture goes on without it", metadata: ["program": "\(p.name)", "reason": "\(p.reason)"]) }
        }
        Gauge(label: "oisp_bpf_programs", dimensions: [("state", "loaded")]).record(cap.programs.filter(\.loaded).count)
        Gauge(label: "oisp_bpf_programs", dimensions: [("state", "rejected")]).record(cap.rejectedPrograms.count)
        for p in cap.rejectedPrograms { Gauge(label: "oisp_bpf_program_rejected", dimensions: [("program", p.name)]).record(1) }
        logger.info("capture started", metadata: ["probed": "\(cap.probedPaths.joined(separator: ","))", "bpf_object": "\(object)"])
        runtime.markReady()
        releaseStartupPages()
        if let readyFile { _ = FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8)) }

        runtime.overrides = { [capture] in capture.apply(to: &$0) }
        runtime.handleSignals()
        let deadline = duration.map { Date().addingTimeInterval($0) }
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
        if status != 0 { throw ExitCode(status) }
    }
}
