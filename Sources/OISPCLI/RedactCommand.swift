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
        // SIGINT/SIGTERM: stop reading (even from an idle pipe), write what was redacted so far
        let stop = SignalStop()
        let fd: Int32
        if input == "-" { fd = STDIN_FILENO } else {
            fd = open(input, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { printError("error: cannot read \(input)"); throw ExitCode(66) }
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var out = [UInt8]()
        var bad = 0, n = 0, lineNo = 0
        var pending = [UInt8]()
        var atStart = true, eof = false
        /// One line (without its newline). A UTF-8 byte order mark is not part of line 1; blank
        /// lines are skipped but counted, so a warning names the line as an editor shows it.
        func line(_ l: ArraySlice<UInt8>) {
            lineNo += 1
            if l.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return }
            do {
                var e = try OISPEvent(jsonBytes: Array(l))
                redactor.redact(&e)
                out += e.jsonBytes(); out.append(10); n += 1
            } catch {
                bad += 1
                printError("warning: \(input):\(lineNo): skipped: \(error)")
            }
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while !eof && !stop.requested {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                printError("error: cannot read \(input): \(String(cString: strerror(errno)))"); throw ExitCode(66)
            }
            if got == 0 { eof = true } else { pending += chunk[0..<got] }
            if atStart && (pending.count >= 3 || eof) {
                if pending.starts(with: [0xEF, 0xBB, 0xBF]) { pending.removeFirst(3) }
                atStart = false
            }
            if atStart { continue }
            var start = pending.startIndex
            while let nl = pending[start...].firstIndex(of: 10) {
                line(pending[start..<nl])
                start = nl + 1
            }
            pending.removeSubrange(..<start)
        }
        if eof && !pending.isEmpty { line(pending[...]) }
        if output == "-" { FileHandle.standardOutput.write(Data(out)) } else {
            guard FileManager.default.createFile(atPath: output, contents: Data(out)) else { printError("error: cannot write \(output)"); throw ExitCode(73) }
        }
        if !eof { printError("stopped at a signal after line \(lineNo): the rest of \(input) was not read") }
        printError("redacted \(n) events (\(bad) invalid lines skipped), mode \(config.redaction.mode.rawValue)")
    }
}

/// SIGINT/SIGTERM noted, not fatal: a command that reads input stops at the next check.
final class SignalStop: @unchecked Sendable {
    private let lock = NSLock()
    private var stop = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [weak self] in self?.lock.withLock { self?.stop = true } }
            s.resume()
            sources.append(s)
        }
    }

    var requested: Bool { lock.withLock { stop } }
}
