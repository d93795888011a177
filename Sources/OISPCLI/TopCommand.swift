import ArgumentParser
import Foundation
import OISPRuntime
import OISPEvent
import OISPGenAI

/// `top`: the node's AI activity, live — from a running sensor's events socket or a JSONL file
/// followed like `tail -f`. On a terminal: a full screen redrawn every second (ANSI escapes;
/// keys s sort, / filter by process, namespace or pod, p pause, q quit); otherwise one plain
/// line per call.
struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Live view of AI calls: per process calls/s, tokens/s, cost, errors, latency, and the latest calls.")

    @Option(name: [.short, .long], help: "Follow this JSONL file (as `tail -f`; from its start).")
    var input: String?

    @Option(name: .long, help: "A running sensor's events socket ([sensor] events_socket / --events-socket).")
    var socket: String = "/run/oisp/events.sock"

    @Option(name: .long, help: "Only this process name.")
    var process: String?

    @Option(name: .long, help: "Only this Kubernetes namespace.")
    var namespace: String?

    @Option(name: .long, help: "Sort by calls, tokens, cost, errors or latency.")
    var sort: String = "calls"

    @Option(name: .long, help: "Stop after this many seconds (default: until q or Ctrl-C).")
    var duration: Double?

    @Flag(name: .long, help: "Plain lines even on a terminal.")
    var plain = false

    func validate() throws {
        guard TopModel.Sort(rawValue: sort) != nil else { throw ValidationError("--sort must be one of calls, tokens, cost, errors, latency") }
    }

    func run() throws {
        let model = TopModel()
        model.processFilter = process
        model.namespaceFilter = namespace
        let tty = isatty(STDOUT_FILENO) == 1 && !plain
        let source = input.map { "file \($0)" } ?? "socket \(socket)"
        let state = TopState()
        let onCall: (TopModel.Call) -> Void = { c in
            guard !tty else { return }
            if let p = process, !(c.process == p || c.process.hasPrefix(p + "[")) { return }
            print(TopModel.line(c)); fflush(stdout)
        }
        // the reader: a file followed from its start, or the socket (reconnecting)
        Thread.detachNewThread {
            if let input {
                TopCommand.follow(path: input, state: state) { e in if let c = model.add(e) { onCall(c) } }
            } else {
                TopCommand.readSocket(path: socket, state: state) { e in if let c = model.add(e) { onCall(c) } }
            }
        }
        let end = duration.map { Date().addingTimeInterval($0) }
        signal(SIGINT, SIG_IGN); signal(SIGTERM, SIG_IGN)
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            sources.append(s)
        }
        guard tty else {
            if !plain { printError("oisp top: not a terminal: one line per call (\(source))") }
            while stop.wait(timeout: .now() + 0.2) == .timedOut {
                if let end, Date() >= end { break }
                if let msg = state.takeMessage() { printError("oisp top: \(msg)") }
            }
            return
        }
        // full screen: raw keys, alternate screen, hidden cursor; restored on the way out
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        print("\u{1B}[?1049h\u{1B}[?25l", terminator: "")
        defer {
            print("\u{1B}[?25h\u{1B}[?1049l", terminator: ""); fflush(stdout)
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        }
        var sortBy = TopModel.Sort(rawValue: sort)!
        var paused = false
        var typing: String? // the `/` filter being typed (Enter applies, Esc cancels)
        var frame: [String] = []
        var lastDraw = Date.distantPast
        var drawnCalls = -1
        while true {
            if stop.wait(timeout: .now()) == .success { break }
            if let end, Date() >= end { break }
            var ws = winsize()
            let (w, h) = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 ? (Int(ws.ws_col), Int(ws.ws_row)) : (120, 40)
            let since = Date().timeIntervalSince(lastDraw)
            if since >= 1 || frame.isEmpty || (since >= 0.25 && !paused && model.callCount != drawnCalls) {
                drawnCalls = model.callCount
                if !paused { frame = model.screen(width: w, height: h - 1, sort: sortBy, paused: false, source: source) }
                if let msg = state.lastMessage { frame = Array(frame.prefix(max(0, h - 2))) + ["", String(msg.prefix(w))] }
                var text = "\u{1B}[H\u{1B}[2J" + frame.joined(separator: "\r\n")
                if paused { text += "\r\n[PAUSED — p resumes]" }
                if let t = typing { text += "\r\nfilter (process, namespace or pod; Enter applies, empty clears, Esc cancels): \(t)_" }
                print(text, terminator: ""); fflush(stdout)
                lastDraw = Date()
            }
            var pfd = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) > 0 {
                var ch: UInt8 = 0
                if read(STDIN_FILENO, &ch, 1) != 1 { continue }
                if var t = typing {
                    switch ch {
                    case 3: return // Ctrl-C quits from the prompt too
                    case 10, 13: model.textFilter = t; typing = nil
                    case 27: typing = nil
                    case 8, 127: if !t.isEmpty { t.removeLast() }; typing = t
                    case 32...126: t.append(Character(UnicodeScalar(ch))); typing = t
                    default: break
                    }
                    lastDraw = .distantPast
                    if paused { frame = model.screen(width: w, height: h - 1, sort: sortBy, paused: true, source: source) }
                } else {
                    switch ch {
                    case UInt8(ascii: "/"), UInt8(ascii: "f"): typing = model.textFilter ?? ""; lastDraw = .distantPast
                    case UInt8(ascii: "q"), 3: return
                    case UInt8(ascii: "p"): paused.toggle(); lastDraw = .distantPast
                    case UInt8(ascii: "s"):
                        let all = TopModel.Sort.allCases
                        sortBy = all[(all.firstIndex(of: sortBy)! + 1) % all.count]
                        lastDraw = .distantPast
                        if paused { frame = model.screen(width: w, height: h - 1, sort: sortBy, paused: true, source: source) }
                    default: break
                    }
                }
            }
        }
    }

    /// Shared between the reader and the screen: a status line (waiting for the socket, …).
    final class TopState: @unchecked Sendable {
        private let lock = NSLock()
        private var message: String?
        private var fresh = false
        var lastMessage: String? { lock.withLock { message } }
        func set(_ m: String?) { lock.withLock { if m != message { message = m; fresh = m != nil } } }
        func takeMessage() -> String? { lock.withLock { guard fresh else { return nil }; fresh = false; return message } }
    }

    /// Complete lines of `buf` (from `start`) as events; returns where the unfinished part begins.
    static func lines(_ buf: [UInt8], _ each: (OISPEvent) -> Void) -> Int {
        var start = 0
        while let nl = buf[start...].firstIndex(of: 0x0A) {
            if let e = try? OISPEvent(jsonBytes: buf[start..<nl]) { each(e) }
            start = nl + 1
        }
        return start
    }

    /// Reads `path` from its start, then what is appended (a file that shrinks was replaced or
    /// truncated: read again from its start).
    static func follow(path: String, state: TopState, _ each: (OISPEvent) -> Void) {
        var fd: Int32 = -1, offset: off_t = 0
        var pending = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 { state.set("waiting for \(path): \(String(cString: strerror(errno)))"); usleep(500_000); continue }
                state.set(nil); offset = 0; pending = []
            }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_size < offset { close(fd); fd = -1; continue }
            if stat(path, &st) != 0 { usleep(200_000); continue }
            let n = read(fd, &chunk, chunk.count)
            if n > 0 {
                offset += off_t(n)
                pending += chunk[0..<n]
                pending.removeFirst(lines(pending, each))
                continue
            }
            var cur = stat()
            if fstat(fd, &cur) == 0, cur.st_ino != st.st_ino { close(fd); fd = -1; continue } // rotated
            usleep(100_000)
        }
    }

    /// Reads a running sensor's events socket, reconnecting every second while it is not there.
    static func readSocket(path: String, state: TopState, _ each: (OISPEvent) -> Void) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8.prefix(MemoryLayout.size(ofValue: addr.sun_path) - 1))
            withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            if rc != 0 {
                state.set("no sensor on \(path) (\(String(cString: strerror(errno)))): start one with [sensor] events_socket or --events-socket; retrying")
                close(fd); sleep(1); continue
            }
            state.set(nil)
            var pending = [UInt8]()
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                pending += chunk[0..<n]
                pending.removeFirst(lines(pending, each))
            }
            close(fd)
            state.set("the sensor on \(path) went away; retrying")
            sleep(1)
        }
    }
}
