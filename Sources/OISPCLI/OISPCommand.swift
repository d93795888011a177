import ArgumentParser
import Foundation

/// The `oisp-sensor` / `oisp` command line.
public struct OISPCommand: ParsableCommand {
    public static var configuration: CommandConfiguration {
        let invoked = (CommandLine.arguments.first as NSString?)?.lastPathComponent ?? "oisp-sensor"
        return CommandConfiguration(
            commandName: invoked == "oisp" ? "oisp" : "oisp-sensor",
            abstract: "OISP sensor: sees what AI software on this machine does, redacts secrets, exports OISP events.",
            version: OISPVersion.current,
            subcommands: [RecordCommand.self, ReplayCommand.self, DemoCommand.self, PluginsCommand.self, CheckCommand.self, CaptureTargetsCommand.self,
                          ConfigCommand.self, RedactCommand.self, AnalyzeCommand.self, TopCommand.self, BenchCommand.self, VersionCommand.self])
    }
    public init() {}
}

/// Writes a line to stderr.
func printError(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// The host name events are stamped with: `[sensor] hostname`, `NODE_NAME`, else the kernel's.
func sensorHostname(_ configured: String?) -> String {
    if let c = configured, !c.isEmpty { return c }
    if let n = ProcessInfo.processInfo.environment["NODE_NAME"], !n.isEmpty { return n }
    return ProcessInfo.processInfo.hostName
}
