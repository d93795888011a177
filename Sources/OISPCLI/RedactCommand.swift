import ArgumentParser
import Foundation
import OISPEvent
import OISPRedact

/// `redact`: apply redaction to a recorded JSONL file (clean an old capture, test rules).
struct RedactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact", abstract: "Run redaction over recorded OISP events (JSONL) and write the result.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Redaction mode: safe, full or minimal (overrides [redaction] mode).")
    var redaction: String?

    @Option(name: [.short, .long], help: "Recorded events ('-' for stdin).")
    var input: String

    @Option(name: [.short, .long], help: "Where to write ('-' for stdout, the default).")
    var output: String = "-"

    func run() throws {
        var config = try global.loadConfig()
        if let r = redaction {
            guard let m = OISPConfigMode(r) else { throw ValidationError("--redaction must be safe, full or minimal") }
            config.redaction.mode = m
        }
        let redactor: Redactor
        do { redactor = try Redactor(config: config.redaction) } catch {
            printError("error: \(error)"); throw ExitCode(78)
        }
        let data: Data
        if input == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else {
            guard let d = FileManager.default.contents(atPath: input) else { printError("error: cannot read \(input)"); throw ExitCode(66) }
            data = d
        }
        var out = [UInt8]()
        var bad = 0, n = 0
        // a UTF-8 byte order mark is not part of line 1; blank lines are skipped but counted, so
        // a warning names the line as an editor shows it
        let body = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data[...]
        for (i, line) in body.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do {
                var e = try OISPEvent(jsonBytes: Array(line))
                redactor.redact(&e)
                out += e.jsonBytes(); out.append(10); n += 1
            } catch {
                bad += 1
                printError("warning: \(input):\(i + 1): skipped: \(error)")
            }
        }
        if output == "-" { FileHandle.standardOutput.write(Data(out)) } else {
            guard FileManager.default.createFile(atPath: output, contents: Data(out)) else { printError("error: cannot write \(output)"); throw ExitCode(73) }
        }
        printError("redacted \(n) events (\(bad) invalid lines skipped), mode \(config.redaction.mode.rawValue)")
    }
}
