import ArgumentParser
import Foundation
import OISPRuntime
import Logging
import OISPEvent
import OISPPipeline
import OISPRedact

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

    @Option(name: .long, help: "Seconds exporters get to deliver once the input ends or a signal comes, before the rest is spooled or counted as dropped (default: [pipeline] shutdown_timeout_ms).")
    var shutdownTimeout: Double?

    func validate() throws {
        if let t = shutdownTimeout, !(t >= 0) { throw ValidationError("--shutdown-timeout must be a number of seconds >= 0") }
    }

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        let logger = global.logger(for: config)
        let runtime = try SensorRuntime(config: config, logger: logger, output: output)
        runtime.markReady()
        runtime.overrides = { [capture] in capture.apply(to: &$0) }
        runtime.handleSignals()
        // start-up touched code and constants (config parsing, plugin loading) the read loop does
        // not need again: hand those file pages back before the steady part, as `record` does
        releaseStartupPages()

        let fd: Int32
        if input == "-" { fd = STDIN_FILENO } else {
            fd = open(input, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                printError("error: cannot open \(input) for reading: \(String(cString: strerror(errno)))")
                throw ExitCode(66) // EX_NOINPUT
            }
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        let counts = ReplaySession(runtime: runtime, logger: logger, input: input).run(fd: fd)
        if let e = counts.readError { printError("error: reading \(input): \(e)") }
        let stats = runtime.finish(budget: shutdownTimeout)
        var extra: Logger.Metadata = ["events": "\(counts.good)", "invalid_lines": "\(counts.bad)"]
        if counts.stopped { extra["input"] = "stopped at a signal after line \(counts.lines) (the rest was not read)" }
        let status = runtime.logFinalLine("replay", stats, extra: extra, failure: counts.readError != nil ? 74 : counts.bad > 0 && counts.good == 0 ? 65 : 0) // 74: EX_IOERR, 65: EX_DATAERR
        if status != 0 { throw ExitCode(status) }
    }
}
