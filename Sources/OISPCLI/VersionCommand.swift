import OISPRuntime
import ArgumentParser
import OISPPluginHost

/// `version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print version and exporter ABI.")
    func run() throws {
        print("oisp-sensor \(OISPVersion.current) (OISP spec 0.1, exporter ABI \(hostABIMajor).\(hostABIMinor))")
    }
}
