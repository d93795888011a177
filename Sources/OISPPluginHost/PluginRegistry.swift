import Foundation
import Logging
import OISPConfig
import OISPEvent
import OISPPipeline

/// One entry of `oisp plugins list`.
public struct PluginInfo: Sendable, Equatable {
    public var name: String
    public var version: String?
    public var abi: String?
    /// The oldest host ABI it runs on (its `min_host_abi`).
    public var minHostABI: String?
    public var path: String
    public var description: String?
    /// Export instances (`[export.<name>]`) that enable this plugin.
    public var enabledBy: [String]
    public var loaded: Bool
    /// Why it was refused (nil when loaded).
    public var reason: String?

    public var json: JSONValue {
        var o = JSONObject()
        o["name"] = .string(name)
        o.set("version", version.map(JSONValue.string))
        o.set("abi_version", abi.map(JSONValue.string))
        o.set("min_host_abi", minHostABI.map(JSONValue.string))
        o["path"] = .string(path)
        o.set("description", description.map(JSONValue.string))
        o["enabled"] = .bool(!enabledBy.isEmpty)
        o["enabled_by"] = .array(enabledBy.map(JSONValue.string))
        o["status"] = .string(loaded ? "loaded" : "refused")
        o.set("reason", reason.map(JSONValue.string))
        return .object(o)
    }
}

/// Finds plugins and turns `[export.<name>]` tables into running sinks.
public struct PluginRegistry {
    public static let filePrefix = "liboisp-exporter-"
    public static let fileSuffix = ".so"
    /// Built-in exporters that need no plugin file.
    public static let builtins: Set<String> = ["jsonl"]

    public let directories: [String]
    /// Where crash markers live (`[plugins] state_dir`, else `[pipeline] spool_dir`; nil: none).
    public let crashStateDir: String?
    public let crashLimit: Int

    /// Search order: `[plugins] dir(s)`, `OISP_PLUGIN_PATH` (colon-separated), the directory of
    /// the running executable (development builds put plugins beside it), then the system
    /// directories `/usr/local/lib/oisp/plugins` and `/usr/lib/oisp/plugins`.
    public init(config: SensorConfig, env: [String: String] = ProcessInfo.processInfo.environment,
                executablePath: String? = Bundle.main.executablePath) {
        var dirs = config.plugins.dirs
        if let p = env["OISP_PLUGIN_PATH"] { dirs += p.split(separator: ":").map(String.init) }
        if let exe = executablePath {
            dirs.append(URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().path)
        }
        dirs += ["/usr/local/lib/oisp/plugins", "/usr/lib/oisp/plugins"]
        var seen = Set<String>()
        directories = dirs.filter { !$0.isEmpty && seen.insert($0).inserted }
        crashStateDir = config.plugins.stateDir ?? config.pipeline.spoolDir
        crashLimit = config.plugins.crashLimit
    }

    /// Every `liboisp-exporter-*.so` in the search directories, first one of a name first.
    public func candidateFiles() -> [String] {
        var out: [String] = []
        for d in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: d) else { continue }
            for n in names.sorted() where n.hasPrefix(PluginRegistry.filePrefix) && n.hasSuffix(PluginRegistry.fileSuffix) {
                out.append((d as NSString).appendingPathComponent(n))
            }
        }
        return out
    }

    static func nameFromFile(_ path: String) -> String {
        var n = (path as NSString).lastPathComponent
        n.removeFirst(min(n.count, filePrefix.count))
        if n.hasSuffix(fileSuffix) { n.removeLast(fileSuffix.count) }
        return n
    }

    /// The plugin file for an exporter: its explicit `plugin` path or the first
    /// `liboisp-exporter-<name>.so` found in the search directories.
    public func resolve(_ export: ExportConfig) -> String? {
        if let p = export.plugin { return p }
        for name in [export.name] + (PluginRegistry.aliases[export.name].map { [$0] } ?? []) {
            for d in directories {
                let p = (d as NSString).appendingPathComponent("\(PluginRegistry.filePrefix)\(name)\(PluginRegistry.fileSuffix)")
                if FileManager.default.fileExists(atPath: p) { return p }
            }
        }
        return nil
    }

    /// Fluent Bit's output names for the bundled exporters (`[export.es]` as `[OUTPUT] Name es`),
    /// used when no plugin of that name itself is installed.
    public static let aliases = ["es": "elasticsearch", "opensearch": "elasticsearch"]

    /// What `oisp plugins list` shows: every plugin file found (and every explicit path), loaded
    /// or refused with the reason.
    public func list(config: SensorConfig) -> [PluginInfo] {
        var files = candidateFiles()
        for e in config.exports { if let p = e.plugin, !files.contains(p) { files.append(p) } }
        var out: [PluginInfo] = []
        var namesSeen: [String: String] = [:]
        for f in files {
            let enabledBy = config.exports.filter { $0.enabled && resolve($0) == f }.map(\.name)
            do {
                let p = try PluginLoader.load(path: f)
                var info = PluginInfo(name: p.name, version: p.version, abi: "\(p.abiMajor).\(p.abiMinor)", minHostABI: p.minHostABI, path: f,
                                      description: p.description, enabledBy: enabledBy, loaded: true, reason: nil)
                if let first = namesSeen[p.name] {
                    info.loaded = false
                    info.reason = "shadowed by \(first) (earlier in the search path)"
                } else {
                    namesSeen[p.name] = f
                }
                if info.loaded, let dir = crashStateDir,
                   let why = enabledBy.lazy.compactMap({ CrashGuard.refusal(stateDir: dir, exporter: $0, pluginPath: f, pluginName: p.name, limit: crashLimit) }).first {
                    info.loaded = false
                    info.reason = why
                }
                out.append(info)
            } catch let e as PluginLoadError {
                out.append(PluginInfo(name: PluginRegistry.nameFromFile(f), version: nil, abi: nil, path: f, description: nil,
                                      enabledBy: enabledBy, loaded: false, reason: e.reason))
            } catch {
                out.append(PluginInfo(name: PluginRegistry.nameFromFile(f), version: nil, abi: nil, path: f, description: nil,
                                      enabledBy: enabledBy, loaded: false, reason: "\(error)"))
            }
        }
        return out
    }

    /// A failure to start one exporter (the sensor keeps running without it).
    public struct StartFailure: Sendable, CustomStringConvertible {
        public let exporter: String
        public let reason: String
        public var description: String { "exporter \(exporter) not started: \(reason)" }
    }

    /// Makes the sink for one enabled exporter.
    /// - Throws: `PluginLoadError`, `PluginSettingsError` (values that do not fit the plugin's
    ///   declared types, placed in `file`), `PluginCreateError`.
    public func makeSink(_ export: ExportConfig, file: String = "config.toml", logger: Logger) throws -> ExportSink {
        if export.plugin == nil && PluginRegistry.builtins.contains(export.name) {
            return try JSONLSink(settings: export.settings)
        }
        guard let path = resolve(export) else {
            throw PluginLoadError(path: "\(PluginRegistry.filePrefix)\(export.name)\(PluginRegistry.fileSuffix)",
                                  reason: "not found in plugin directories: \(directories.joined(separator: ", "))")
        }
        let plugin = try PluginLoader.load(path: path)
        let wrong = SettingsTypes.errors(export, plugin: plugin.name, schema: plugin.configSchema, file: file)
        if !wrong.isEmpty { throw PluginSettingsError(errors: wrong) }
        var crashGuard: CrashGuard?
        if let dir = crashStateDir {
            do { crashGuard = try CrashGuard.open(stateDir: dir, exporter: export.name, plugin: plugin, limit: crashLimit, logger: logger) }
            catch let r as PluginCrashRefusal { throw r }
            catch { logger.warning("no crash marker for this exporter (a crash will not be named at the next start): \(error)", metadata: ["exporter": "\(export.name)"]) }
        }
        let sink = try PluginSink(plugin: plugin, exporterName: export.name, settings: export.settings, logger: logger)
        sink.crashGuard = crashGuard
        return sink
    }

    /// Opens the crash guard of every enabled plugin exporter before any starts (refusals are
    /// reported where each is started). Returns whether one is on probation: it crashed the
    /// sensor in the last run, so every exporter with a spool writes ahead (each record on disk
    /// before any export call) and another crash loses nothing.
    func openCrashGuards(_ config: SensorConfig, logger: Logger) -> Bool {
        guard let dir = crashStateDir else { return false }
        for e in config.exports where e.enabled && !(e.plugin == nil && PluginRegistry.builtins.contains(e.name)) {
            guard let path = resolve(e), let p = try? PluginLoader.load(path: path) else { continue }
            _ = try? CrashGuard.open(stateDir: dir, exporter: e.name, plugin: p, limit: crashLimit, logger: logger)
        }
        guard CrashGuard.anyOnProbation else { return false }
        logger.warning("a plugin that crashed the sensor is on probation: exporters with a spool write every event to disk before sending it")
        return true
    }

    /// Why an enabled exporter's plugin cannot be loaded (not found, refused by the trust rules,
    /// a bad table), or nil when it loads or is built in — what `config check` reports as an error.
    public func pluginProblem(_ export: ExportConfig) -> String? {
        if export.plugin == nil && PluginRegistry.builtins.contains(export.name) { return nil }
        guard let path = resolve(export) else {
            return export.plugin.map { "plugin \($0) not found" }
                ?? "no plugin \(PluginRegistry.filePrefix)\(export.name)\(PluginRegistry.fileSuffix) in \(directories.joined(separator: ", ")) (a typo in the exporter's name, or set plugin = \"/path/to/it.so\")"
        }
        do { _ = try PluginLoader.load(path: path); return nil } catch { return "\(error)" }
    }

    /// Keys of an enabled exporter's section its plugin does not declare (see `SettingsCheck`);
    /// none when the plugin cannot be loaded (that is reported where it is started).
    public func settingsWarnings(_ export: ExportConfig, file: String) -> [ConfigWarning] {
        guard export.plugin != nil || !PluginRegistry.builtins.contains(export.name),
              let path = resolve(export), let p = try? PluginLoader.load(path: path) else { return [] }
        return SettingsCheck.warnings(export, plugin: p.name, schema: p.configSchema, file: file)
    }

    /// Values of an enabled exporter's section that do not fit the types its plugin declares
    /// (see `SettingsTypes`): errors, the exporter is not started.
    public func settingsErrors(_ export: ExportConfig, file: String) -> [ConfigWarning] {
        guard export.plugin != nil || !PluginRegistry.builtins.contains(export.name),
              let path = resolve(export), let p = try? PluginLoader.load(path: path) else { return [] }
        return SettingsTypes.errors(export, plugin: p.name, schema: p.configSchema, file: file)
    }

    /// Starts every enabled exporter of `config` in `pipeline`. Refused ones are logged and
    /// returned; the others run.
    public func startExporters(_ config: SensorConfig, in pipeline: Pipeline, logger: Logger) -> [StartFailure] {
        var failures: [StartFailure] = []
        let probation = openCrashGuards(config, logger: logger)
        for e in config.exports where e.enabled {
            for w in settingsWarnings(e, file: config.file) { logger.warning("\(w)") }
            var policy = e.policy
            if probation && policy.spoolDir != nil { policy.writeAhead = true }
            do {
                let sink = try makeSink(e, file: config.file, logger: logger)
                pipeline.addExporter(name: e.name, sink: sink, policy: policy)
                logger.info("exporter started", metadata: ["exporter": "\(e.name)"])
            } catch let r as PluginCrashRefusal {
                let f = StartFailure(exporter: e.name, reason: r.description)
                logger.error("\(f.description)")
                failures.append(f)
                if policy.spoolDir != nil {
                    // its events wait in its spool (counted as spooled) until the plugin is replaced
                    policy.writeAhead = true
                    pipeline.addExporter(name: e.name, sink: HeldForCrashesSink(reason: r.reason), policy: policy)
                    logger.warning("events for the refused exporter are kept in its spool until its plugin is replaced",
                                   metadata: ["exporter": "\(e.name)", "dir": "\(policy.spoolDir ?? "")"])
                }
            } catch {
                let f = StartFailure(exporter: e.name, reason: "\(error)")
                logger.error("\(f.description)")
                failures.append(f)
            }
        }
        return failures
    }
}
