import ArgumentParser
import Foundation
import OISPConfig
import OISPEvent
import OISPGenAI

/// `analyze`: inventory, usage and cost totals, slowest and failed calls of a JSONL recording.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Summarise recorded OISP events (JSONL): providers, models, processes, workloads, tokens, cost, slowest and failed calls.")

    @Option(name: [.short, .long], help: "Recorded events, one JSON object per line ('-' for stdin).")
    var input: String

    @Option(name: .long, help: "table or json.")
    var format: String = "table"

    @Option(name: .long, help: "How many slowest and failed calls to list.")
    var top: Int = 10

    @Option(name: [.short, .long], help: "config.toml whose [cost] prices_file prices calls recorded without a cost (default: the built-in table).")
    var config: String?

    func validate() throws {
        guard ["table", "json"].contains(format) else { throw ValidationError("--format must be 'table' or 'json', not '\(format)'") }
        guard top >= 0 else { throw ValidationError("--top must be >= 0") }
    }

    func run() throws {
        var overrides: [PriceEntry] = []
        if let config {
            do { overrides = try SensorConfig.load(path: config).cost.prices } catch let e as ConfigError {
                printError("error: \(e)"); throw ExitCode(78)
            }
        }
        let analysis = Analysis(prices: PriceTable(overrides: overrides))
        let handle: FileHandle
        if input == "-" { handle = .standardInput } else {
            guard let h = FileHandle(forReadingAtPath: input) else {
                printError("error: cannot open \(input) for reading"); throw ExitCode(66)
            }
            handle = h
        }
        var pending = [UInt8](), lineNo = 0, bad = 0
        func take(_ line: ArraySlice<UInt8>) {
            lineNo += 1
            var l = line
            if l.last == 0x0D { l = l.dropLast() }
            if l.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            do { analysis.add(try OISPEvent(jsonBytes: l)) } catch {
                bad += 1
                if bad <= 10 { printError("warning: \(input):\(lineNo): skipping invalid line: \(error)") }
            }
        }
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            pending += chunk
            var start = 0
            while let nl = pending[start...].firstIndex(of: 0x0A) { take(pending[start..<nl]); start = nl + 1 }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { take(pending[...]) }
        if bad > 10 { printError("warning: \(bad) invalid lines in all") }
        if format == "json" { print(analysis.json(top: top).jsonString()) } else { print(analysis.table(top: top), terminator: "") }
        if analysis.events == 0 && bad > 0 { throw ExitCode(65) }
    }
}
