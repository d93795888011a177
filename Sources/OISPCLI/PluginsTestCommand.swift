import ArgumentParser
import Foundation
import OISPRuntime
import Logging
import OISPConfig
import OISPEvent
import OISPPipeline
import OISPPluginHost
import OISPRedact

extension PluginsCommand {
    /// `plugins test`: the harness a vendor runs against their own `.so`.
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Load an exporter plugin, check its table and options, send it batches of sample events and report each result with its timing.",
            discussion: """
            Checks, in order: the load-time checks (ownership, ABI, struct_size, required functions); the \
            option table (config_schema: valid JSON Schema, closed, typed); the exporter's section of the \
            config against it; on_create; then --batches batches of sample events (each call bounded by \
            timeout_ms plus the host's grace: a call that does not return is reported as hung); a result \
            code the ABI does not define; when the section has a `path`, that every line written is whole \
            JSON; on_flush and on_destroy. Exit status 0 when every check passed, 1 otherwise.
            """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The plugin's .so file (or the name of an installed plugin).")
        var plugin: String

        @Option(name: .long, help: "The [export.<name>] section to configure it from (default: the plugin's own name).")
        var exporter: String?

        @Option(name: .long, help: "Batches of sample events to send.")
        var batches: Int = 2

        @Option(name: .long, help: "AI call scenarios per batch (each is ~10 events).")
        var scenarios: Int = 1

        func validate() throws {
            guard batches >= 1 else { throw ValidationError("--batches must be at least 1") }
            guard scenarios >= 1 else { throw ValidationError("--scenarios must be at least 1") }
        }

        func run() throws {
            let config = try global.loadConfig()
            let logger = global.logger(for: config)
            let registry = PluginRegistry(config: config)
            var failures = 0
            func report(_ ok: Bool, _ what: String, _ ms: Double? = nil) {
                if !ok { failures += 1 }
                print("\(ok ? "PASS" : "FAIL")  \(what)\(ms.map { String(format: " (%.1f ms)", $0) } ?? "")")
            }
            func timed<R>(_ body: () throws -> R) rethrows -> (R, Double) {
                let t = Timestamp.monotonicNanoseconds()
                let r = try body()
                return (r, Double(Timestamp.monotonicNanoseconds() - t) / 1e6)
            }

            let path = plugin.contains("/") ? plugin : (registry.resolve(ExportConfig(name: plugin, enabled: true)) ?? plugin)
            let loaded: LoadedPlugin
            do {
                let (p, ms) = try timed { try PluginLoader.load(path: path) }
                loaded = p
                report(true, "load \(path): \(p.name) \(p.version), ABI \(p.abiMajor).\(p.abiMinor), needs host \(p.minHostABI) (this host: \(hostABIMajor).\(hostABIMinor))", ms)
            } catch {
                report(false, "load: \(error)")
                throw ExitCode(1)
            }
            print("info  capabilities: \(loaded.acceptsConcurrentExportsDeclared ? "concurrent export (max_in_flight calls at once)" : "one call at a time")")

            // the option table
            let options = PluginOption.options(schema: loaded.configSchema)
            if let schema = loaded.configSchema {
                let parsed = try? JSONParser.parse(schema)
                report(parsed?.objectValue != nil, "config_schema is a JSON object")
                report(parsed?["additionalProperties"]?.boolValue == false, "config_schema is closed (additionalProperties: false): misspelt keys are named")
                let untyped = options.filter { $0.type == "any" }.map(\.key)
                report(untyped.isEmpty, untyped.isEmpty ? "every option has a type (\(options.count))" : "options without a type: \(untyped.joined(separator: ", "))")
            } else {
                report(false, "no config_schema: keys cannot be checked or described")
            }

            // the section, checked as `config check` and start check it
            let name = exporter ?? loaded.name
            let section = config.exports.first { $0.name == name } ?? ExportConfig(name: name, enabled: true)
            if config.exports.first(where: { $0.name == name }) == nil { print("note  no [export.\(name)] in \(config.file): empty settings") }
            let warnings = SettingsCheck.warnings(section, plugin: loaded.name, schema: loaded.configSchema, file: config.file)
            for w in warnings { print("warn  \(w)") }
            let wrong = SettingsTypes.errors(section, plugin: loaded.name, schema: loaded.configSchema, file: config.file)
            report(wrong.isEmpty, wrong.isEmpty ? "[export.\(name)] fits the option table" : wrong.map(\.description).joined(separator: "; "))
            if !wrong.isEmpty { throw ExitCode(1) }

            // create
            let sink: PluginSink
            do {
                let (s, ms) = try timed { try PluginSink(plugin: loaded, exporterName: name, settings: section.settings, logger: logger) }
                sink = s
                report(true, "on_create", ms)
            } catch {
                report(false, "on_create: \(error)")
                throw ExitCode(1)
            }

            // batches of sample events, each call bounded as the host bounds it
            var gen = DemoEventGenerator(hostname: sensorHostname(config.sensor.hostname), sensorName: config.sensor.name)
            // written as `record` writes them: redacted under the config's [redaction]
            let writer = RedactionStage(try Redactor(config: config.redaction))
            let timeoutMs = section.policy.timeoutMs
            let graceMs = timeoutMs + min(5000, max(1000, timeoutMs))
            var sent = 0
            var hung = false
            for b in 0..<batches {
                var records: [ExportRecord] = []
                for k in 0..<scenarios { records += gen.scenario(b * scenarios + k).map { writer.record(for: $0, fields: sink.recordFieldLevel) } }
                let batch = ExportBatch(id: UInt64(1000 + b), attempt: 1, records: records[...])
                let done = DispatchSemaphore(value: 0)
                let box = OutcomeBox()
                let t = Timestamp.monotonicNanoseconds()
                Thread.detachNewThread { box.value = sink.export(batch); done.signal() }
                guard done.wait(timeout: .now() + .milliseconds(graceMs)) == .success else {
                    report(false, "on_export batch \(b + 1) (\(records.count) events): HUNG — no return within timeout_ms \(timeoutMs) + grace (\(graceMs) ms); the host would park this exporter")
                    hung = true
                    break
                }
                let ms = Double(Timestamp.monotonicNanoseconds() - t) / 1e6
                let outcome = box.value!
                switch outcome {
                case .ok:
                    report(true, "on_export batch \(b + 1) (\(records.count) events): OK", ms); sent += records.count
                case .okRejecting(let n, let m):
                    report(true, "on_export batch \(b + 1) (\(records.count) events): OK, \(n) rejected: \(m)", ms); sent += records.count - n
                case .retry(let acc, let after, let m, _):
                    report(false, "on_export batch \(b + 1) (\(records.count) events): RETRY (accepted \(acc)\(after.map { ", retry after \($0) ms" } ?? "")): \(m)", ms)
                case .permanent(let m):
                    let garbage = m.hasPrefix("UNKNOWN(")
                    report(false, "on_export batch \(b + 1) (\(records.count) events): \(garbage ? "a result code the ABI does not define — " : "PERMANENT: ")\(m)", ms)
                }
            }

            // a file sink: every line whole JSON, and as many as were delivered
            if let p = section.settings["path"]?.stringValue, !hung {
                let text = (try? String(contentsOfFile: p, encoding: .utf8)) ?? ""
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                let torn = lines.enumerated().filter { i, l in
                    (i == lines.count - 1 && !l.isEmpty) || (i < lines.count - 1 && (try? JSONParser.parse(String(l))) == nil)
                }.map { $0.offset + 1 }
                report(torn.isEmpty, torn.isEmpty ? "\(p): every line is whole JSON (\(lines.count - 1) lines)"
                                                  : "\(p): torn or invalid line(s) \(torn.prefix(5).map(String.init).joined(separator: ", "))")
            }

            if hung {
                print("note  on_flush and on_destroy skipped: a call is still running (the host never destroys such an instance)")
            } else {
                let (f, ms) = timed { sink.flush(timeoutMs: timeoutMs) }
                if case .ok = f { report(true, "on_flush", ms) } else { report(false, "on_flush: \(f)", ms) }
                let (_, dms) = timed { sink.close() }
                report(true, "on_destroy", dms)
            }
            print(failures == 0 ? "all checks passed (\(sent) events delivered)" : "\(failures) check(s) failed")
            if failures > 0 { throw ExitCode(1) }
        }
    }
}

private final class OutcomeBox: @unchecked Sendable { var value: ExportOutcome? }
