import ArgumentParser
import Foundation
import OISPEvent
import OISPRuntime

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

extension OISPCommand {
    /// The executables' entry: libcrypto's state kept until the process is gone (see
    /// `Hashing.keepLibcryptoStateAtExit`), then the command.
    public static func start() {
        Hashing.keepLibcryptoStateAtExit()
        main()
    }
}
