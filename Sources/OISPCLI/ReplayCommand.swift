import ArgumentParser
import Foundation
import OISPEvent
import OISPPipeline

/// `replay`: re-emit recorded JSONL through the pipeline (redaction included) and the exporters.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-emit recorded OISP events (JSONL) through redaction and every enabled exporter.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var capture: CaptureOptions

    @Option(name: [.short, .long], help: "Recorded events, one JSON object per line ('-' for stdin).")
    var input: String

    @Option(name: [.short, .long], help: "Also write the events to this JSONL file ('-' for stdout).")
    var output: String?

    @Option(name: .long, help: "Seconds to wait for exporters to deliver before giving up on shutdown.")
    var shutdownTimeout: Double = 30

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        let logger = global.logger(for: config)
        let runtime = try SensorRuntime(config: config, logger: logger, output: output)
        runtime.markReady()
        runtime.overrides = { [capture] in capture.apply(to: &$0) }
        runtime.handleSignals()

        let handle: FileHandle
        if input == "-" { handle = .standardInput } else {
            guard let h = FileHandle(forReadingAtPath: input) else {
                printError("error: cannot open \(input) for reading")
                throw ExitCode(66) // EX_NOINPUT
            }
            handle = h
        }
        var lineNo = 0
        var bad = 0
        var good = 0
        var batch: [ExportRecord] = []
        batch.reserveCapacity(256)
        let pipeline = runtime.pipeline
        let stage = runtime.redaction
        var pending: [UInt8] = []
        func consume(_ line: ArraySlice<UInt8>) {
            lineNo += 1
            var l = line
            if l.last == 0x0D { l = l.dropLast() }
            if l.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            do {
                // lines in the sensor's own form are redacted where they lie; others are parsed
                if let r = l.withUnsafeBufferPointer({ stage.record(canonical: $0) }) {
                    batch.append(r)
                } else {
                    var e = try OISPEvent(jsonBytes: l)
                    if let r = pipeline.record(for: &e) { batch.append(r) }
                }
                good += 1
            } catch {
                bad += 1
                logger.warning("skipping invalid line", metadata: ["file": "\(input)", "line": "\(lineNo)", "error": "\(error)"])
            }
            if batch.count >= 256 { pipeline.submit(records: batch, block: true); batch.removeAll(keepingCapacity: true) }
        }
        while !runtime.isStopRequested {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = 0
            while let nl = pending[start...].firstIndex(of: 0x0A) {
                consume(pending[start..<nl])
                start = nl + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { consume(pending[...]) }
        if !batch.isEmpty { pipeline.submit(records: batch, block: true) }
        let stats = runtime.finish(timeout: shutdownTimeout)
        logger.info("replay finished", metadata: ["events": "\(good)", "invalid_lines": "\(bad)"])
        let lost = stats.exporters.values.reduce(0) { $0 + $1.droppedTotal }
        if !runtime.failures.isEmpty || lost > 0 { throw ExitCode(lost > 0 ? 75 : 0) }
        if bad > 0 && good == 0 { throw ExitCode(65) } // EX_DATAERR
    }
}
