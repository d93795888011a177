import Foundation
import XCTest

/// Helpers shared by the tests: where the built products are, running the CLI, compiling C
/// fixtures with `cc`, temporary directories.
enum TestSupport {
    /// The build products directory (the test bundle lives there, beside `oisp-sensor` and the plugins).
    static let binDir: URL = {
        if let d = ProcessInfo.processInfo.environment["OISP_BIN_DIR"] { return URL(fileURLWithPath: d) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var u = URL(fileURLWithPath: exe)
        while u.path != "/" {
            u.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: u.appendingPathComponent("oisp-sensor").path) { return u }
        }
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }()

    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var sensor: String { binDir.appendingPathComponent("oisp-sensor").path }
    static var oisp: String { binDir.appendingPathComponent("oisp").path }
    static var fixtures: URL { packageRoot.appendingPathComponent("Tests/OISPSensorTests/Fixtures") }
    static var sdkInclude: String { packageRoot.appendingPathComponent("sdk/include").path }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var pid: Int32 = 0
    }

    /// Runs a program to completion and captures its output.
    @discardableResult
    static func run(_ exe: String, _ args: [String], env: [String: String] = [:], stdin: Data? = nil,
                    timeout: TimeInterval = 120) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        e["OISP_CONFIG"] = nil
        e["OISP_PLUGIN_PATH"] = nil
        for (k, v) in env { e[k] = v }
        p.environment = e
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-out-\(UUID().uuidString)")
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        if let stdin {
            let pipe = Pipe()
            p.standardInput = pipe
            try p.run()
            pipe.fileHandleForWriting.write(stdin)
            try pipe.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); XCTFail("\(exe) \(args) timed out") }
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "", pid: p.processIdentifier)
    }

    /// Starts the sensor in the background, its stderr going to `stderrFile` (read it after exit);
    /// with `stdin`, its input is that pipe (write to it; close it for end of input).
    static func startSensor(_ args: [String], stderrFile: URL, env: [String: String] = [:], stdin: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sensor)
        p.arguments = args
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: stderrFile)
        p.standardOutput = FileHandle.nullDevice
        if let stdin { p.standardInput = stdin }
        try p.run()
        return p
    }

    /// A free TCP port on 127.0.0.1 (bound to port 0, read back, released).

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw NSError(domain: "bind", code: Int(errno)) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A TCP peer on 127.0.0.1 that accepts every connection and never answers (reads and
    /// discards). Returns the process (terminate it) and its port.
    static func silentPeer(dir: URL) throws -> (Process, Int) {
        let portFile = dir.appendingPathComponent("silent-\(UUID().uuidString.prefix(6)).port")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
        import socket, threading
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64)
        open('\(portFile.path)', 'w').write(str(s.getsockname()[1]))
        def hold(c):
            while c.recv(65536): pass
        while True:
            c, _ = s.accept(); threading.Thread(target=hold, args=(c,), daemon=True).start()
        """]
        try p.run()
        for _ in 0..<100 {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(s) { return (p, port) }
            usleep(50_000)
        }
        p.terminate()
        throw XCTSkip("silent peer did not start")
    }

    /// The peak resident set size (VmHWM, KiB) of a running process, polled until it exits; 0
    /// when it could not be read.
    static func peakRSSKiB(_ p: Process, every: useconds_t = 20_000) -> Int {
        var peak = 0
        while p.isRunning {
            if let s = try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8),
               let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") {
                peak = max(peak, kb)
            }
            usleep(every)
        }
        p.waitUntilExit()
        return peak
    }

    /// A fresh root-owned 0755 directory (plugin directories must not be group/world-writable).
    static func tempDir(_ label: String = "t") throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        chmod(u.path, 0o755)
        return u
    }

    /// Compiles C sources into a shared object with `cc -shared -fPIC` against the SDK header
    /// (or, with `include`, against another copy of it: the old-ABI fixtures).
    static func compilePlugin(_ sources: [String], to out: URL, include: String = sdkInclude, extraFlags: [String] = []) throws {
        let r = try run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-O1", "-Wall", "-I", include] + extraFlags + ["-o", out.path] + sources)
        guard r.status == 0 else { throw NSError(domain: "cc", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        chmod(out.path, 0o755)
    }

    static func write(_ text: String, to url: URL) throws {
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    static func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Rewrites the JSONL file `url`, giving the events at `indices` an extra first member of
    /// `data` (`member` is `"key":value`).
    static func addDataMember(_ url: URL, at indices: [Int], _ member: String) throws {
        var ls = lines(url)
        for k in indices { ls[k] = ls[k].replacingOccurrences(of: "\"data\":{", with: "\"data\":{\(member),") }
        try write(ls.joined(separator: "\n") + "\n", to: url)
    }

    /// A JSON string member of about `bytes` bytes of prose.
    static func blobMember(bytes: Int) -> String { "\"blob\":\"\(String(repeating: "lorem ipsum ", count: bytes / 12))\"" }
}
