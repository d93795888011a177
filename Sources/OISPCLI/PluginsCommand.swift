import ArgumentParser
import Foundation
import OISPConfig
import OISPEvent
import OISPPluginHost

/// `plugins list`, `plugins describe`, `plugins test` (PluginsTestCommand.swift).
struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "Inspect exporter plugins.", subcommands: [List.self, Describe.self, Test.self], defaultSubcommand: List.self)

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

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "describe",
            abstract: "Print an exporter plugin's options — key, type, default and help — from the table it declares.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The plugin's name (as `plugins list` shows it, e.g. kafka) or the path of its .so file.")
        var name: String

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        @Flag(name: .long, help: "Print the section of docs/exporter-options.md (Markdown) for this plugin.")
        var markdown = false

        func run() throws {
            let config = try global.loadConfig()
            _ = global.logger(for: config)
            let registry = PluginRegistry(config: config)
            let path: String
            if name.contains("/") { path = name } else {
                guard let p = registry.resolve(ExportConfig(name: name, enabled: true)) else {
                    throw ValidationError("no plugin named '\(name)' in \(registry.directories.joined(separator: ":")) (see `oisp plugins list`)")
                }
                path = p
            }
            let plugin: LoadedPlugin
            do { plugin = try PluginLoader.load(path: path) } catch { throw ValidationError("\(error)") }
            let options = PluginOption.options(schema: plugin.configSchema)
            if json {
                var o = JSONObject()
                o["name"] = .string(plugin.name)
                o["version"] = .string(plugin.version)
                o["options"] = .array(options.map { opt in
                    var j = JSONObject()
                    j["key"] = .string(opt.key)
                    j["type"] = .string(opt.type)
                    j.set("default", opt.defaultValue.map(JSONValue.string))
                    j.set("help", opt.help.map(JSONValue.string))
                    return .object(j)
                })
                print(JSONValue.object(o).jsonString())
                return
            }
            if markdown {
                print("## `[export.\(plugin.name)]`\n\n\(plugin.description ?? "")\n\n\(PluginsCommand.optionTable(options))\n")
                return
            }
            print("\(plugin.name) \(plugin.version) (ABI \(plugin.abiMajor).\(plugin.abiMinor), needs host \(plugin.minHostABI)): \(plugin.description ?? "")")
            print(PluginsCommand.optionTable(options))
        }
    }

    /// The options as a Markdown table (the same text for the terminal and the docs).
    static func optionTable(_ options: [PluginOption]) -> String {
        var lines = ["| key | type | default | help |", "|---|---|---|---|"]
        for o in options {
            lines.append("| `\(o.key)` | \(o.type) | \(o.defaultValue.map { "`\($0)`" } ?? "") | \(o.help ?? "") |")
        }
        return options.isEmpty ? "(the plugin declares no options)" : lines.joined(separator: "\n")
    }
}
