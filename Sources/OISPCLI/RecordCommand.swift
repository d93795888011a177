import ArgumentParser
import Foundation
import OISPRuntime

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
        var o = RecordSession.Options()
        o.output = output
        o.raw = raw
        o.duration = duration
        o.readyFile = readyFile
        o.noopProbes = noopProbes
        o.overrides = { [capture] in capture.apply(to: &$0) }
        let status: Int32
        do { status = try RecordSession(config: config, logger: global.logger(for: config), options: o).run() } catch let f as RecordSession.Failure {
            throw ExitCode(f.status)
        }
        if status != 0 { throw ExitCode(status) }
    }
}
