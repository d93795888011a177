import ArgumentParser
import Foundation

/// `record`: capture → pipeline → exporters.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Capture AI activity on this machine and export it (the DaemonSet's command).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var capture: CaptureOptions

    @Option(name: [.short, .long], help: "Also write events to this JSONL file ('-' for stdout).")
    var output: String?

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        let logger = global.logger(for: config)
        // eBPF capture is not part of this build yet; say so instead of pretending to capture.
        logger.error("eBPF capture is not available in this build of oisp-sensor; nothing can be recorded. Use 'demo' for synthetic events or 'replay --input FILE' to export recorded events.")
        printError("error: capture not available: this build has no eBPF capture backend yet (see README: What works)")
        throw ExitCode(69) // EX_UNAVAILABLE
    }
}
