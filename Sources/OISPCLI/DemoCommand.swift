import ArgumentParser
import Foundation
import OISPRuntime
import OISPEvent

/// `demo`: realistic synthetic AI events through the full pipeline.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate realistic synthetic AI activity and send it through redaction and every enabled exporter.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var capture: CaptureOptions

    @Option(name: [.short, .long], help: "Write events to this JSONL file ('-' for stdout, the default when no exporter is enabled).")
    var output: String?

    @Option(name: [.customShort("n"), .long], help: "Number of AI call scenarios to generate (each is ~10 events).")
    var count: Int = 4

    @Option(name: .long, help: "Milliseconds between scenarios (0: as fast as possible).")
    var intervalMs: Int = 0

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be >= 0") }
        guard intervalMs >= 0 else { throw ValidationError("--interval-ms must be >= 0") }
    }

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        let logger = global.logger(for: config)
        let anyExporter = config.exports.contains { $0.enabled }
        let runtime = try SensorRuntime(config: config, logger: logger, output: output ?? (anyExporter ? nil : "-"))
        runtime.markReady()
        runtime.overrides = { [capture] in capture.apply(to: &$0) }
        runtime.handleSignals()
        var gen = DemoEventGenerator(hostname: sensorHostname(config.sensor.hostname), sensorName: config.sensor.name)
        var n = 0
        for i in 0..<count {
            if runtime.isStopRequested { break }
            let events = gen.scenario(i)
            runtime.pipeline.submit(events)
            n += events.count
            if intervalMs > 0 { Thread.sleep(forTimeInterval: Double(intervalMs) / 1000) }
        }
        let stats = runtime.finish()
        let status = runtime.logFinalLine("demo", stats, extra: ["events": "\(n)"])
        if status != 0 { throw ExitCode(status) }
    }
}
