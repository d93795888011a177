import ArgumentParser
import Foundation
import OISPConfig
import OISPPluginHost

/// `config check`.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with config.toml.", subcommands: [Check.self], defaultSubcommand: Check.self)

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate config.toml and print the resolved configuration with secrets masked.")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let config = try global.loadConfig()
            for w in config.warnings { printError("warning: \(w)") }
            // each enabled exporter's keys against the keys its plugin declares
            let registry = PluginRegistry(config: config)
            var wrong = 0
            for e in config.exports where e.enabled {
                if let why = registry.pluginProblem(e) {
                    printError("error: \(config.file)\(e.line.map { ":\($0)" } ?? ""): [export.\(e.name)]: \(why)")
                    wrong += 1
                    continue
                }
                for w in registry.settingsWarnings(e, file: config.file) { printError("warning: \(w)") }
                // values that do not fit the types the plugin declares: errors, as at start
                for err in registry.settingsErrors(e, file: config.file) { printError("error: \(err)"); wrong += 1 }
            }
            if wrong > 0 {
                printError("config invalid: \(config.file) (\(wrong) error\(wrong == 1 ? "" : "s") in exporter sections)")
                throw ExitCode(78) // EX_CONFIG
            }
            print(config.maskedTOML(), terminator: "")
            printError(RedactionKey.resolve(config.redaction).summary)
            let enabled = config.exports.filter(\.enabled).map(\.name)
            printError("config OK: \(config.file) (\(enabled.isEmpty ? "no exporters enabled" : "exporters: " + enabled.joined(separator: ", ")))")
        }
    }
}
