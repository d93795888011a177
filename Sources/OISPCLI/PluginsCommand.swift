import ArgumentParser
import Foundation
import OISPEvent
import OISPPluginHost

/// `plugins list`.
struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "Inspect exporter plugins.", subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every exporter plugin found: name, version, ABI, path, whether config enables it, and why any was refused.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        func run() throws {
            let config = try global.loadConfig()
            _ = global.logger(for: config)
            let registry = PluginRegistry(config: config)
            let infos = registry.list(config: config)
            if json {
                var o = JSONObject()
                o["host_abi_version"] = .string("\(hostABIMajor).\(hostABIMinor)")
                o["search_path"] = .array(registry.directories.map(JSONValue.string))
                o["plugins"] = .array(infos.map(\.json))
                print(JSONValue.object(o).jsonString())
                return
            }
            print("host ABI \(hostABIMajor).\(hostABIMinor); search path: \(registry.directories.joined(separator: ":"))")
            if infos.isEmpty { print("no plugins found"); return }
            let rows = [["NAME", "VERSION", "ABI", "NEEDS HOST", "ENABLED", "STATUS", "PATH"]] + infos.map {
                [$0.name, $0.version ?? "-", $0.abi ?? "-", $0.minHostABI ?? "-", $0.enabledBy.isEmpty ? "no" : "yes",
                 $0.loaded ? "loaded" : "refused", $0.path]
            }
            let widths = (0..<7).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for r in rows {
                print(r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  "))
            }
            for i in infos where !i.loaded { print("refused \(i.path): \(i.reason ?? "")") }
        }
    }
}
