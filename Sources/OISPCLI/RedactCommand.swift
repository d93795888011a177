import ArgumentParser
import Foundation
import OISPEvent
import OISPRedact
import OISPRuntime

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
        // the output is written as it is made: to stdout; to a device or pipe as it is (-o /dev/null);
        // else to a new file beside the target (mkstemp: never through someone's symlink), renamed
        // over it at the end. The target may be the input: a failed or stopped run leaves the
        // input as it was; a stopped run into another file keeps what was redacted so far.
        var outFD = STDOUT_FILENO
        var tmp = ""
        var st = stat()
        let direct = output == "-" || (stat(output, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG)
        if output != "-" {
            if direct {
                outFD = open(output, O_WRONLY | O_CLOEXEC)
            } else {
                var template = Array((output + ".oisp-redact-XXXXXX").utf8CString)
                outFD = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                if outFD >= 0 { _ = fcntl(outFD, F_SETFD, FD_CLOEXEC) }
                tmp = String(cString: template)
                if outFD >= 0 { fchmod(outFD, 0o640) }
            }
            guard outFD >= 0 else { printError("error: cannot write \(output): \(String(cString: strerror(errno)))"); throw ExitCode(73) }
        }
        var inSt = stat(), sameFile = false
        if input != "-", stat(input, &inSt) == 0, stat(output, &st) == 0 { sameFile = inSt.st_dev == st.st_dev && inSt.st_ino == st.st_ino }
        func fail(_ why: String, _ status: Int32) -> ExitCode {
            printError("error: \(why)")
            if output != "-" { close(outFD); if !tmp.isEmpty { unlink(tmp) } }
            return ExitCode(status)
        }
        let counts: RedactSession.Counts
        do {
            counts = try RedactSession(redactor: redactor).run(LineReader(fd: fd), stop: { stop.requested }, write: { bytes in
                var done = 0
                while done < bytes.count {
                    let n = bytes.withUnsafeBytes { write(outFD, $0.baseAddress! + done, $0.count - done) }
                    if n < 0 { if errno == EINTR { continue }; throw LineReader.ReadError(errno: errno) }
                    done += n
                }
            }, skipped: { line, error in printError("warning: \(input):\(line): skipped: \(error)") })
        } catch {
            throw fail("\(input) → \(output): \(error)", 74)
        }
        if counts.stopped && sameFile {
            throw fail("stopped at a signal after line \(counts.lines): \(input) is left as it was (the output would have replaced it with part of it)", 75)
        }
        if !tmp.isEmpty {
            guard fsync(outFD) == 0, close(outFD) == 0, rename(tmp, output) == 0 else { throw fail("cannot write \(output): \(String(cString: strerror(errno)))", 73) }
        } else if output != "-" {
            close(outFD)
        }
        if counts.stopped { printError("stopped at a signal after line \(counts.lines): the rest of \(input) was not read") }
        printError("redacted \(counts.redacted) events (\(counts.bad) invalid lines skipped), mode \(config.redaction.mode.rawValue)")
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
