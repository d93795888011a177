import Foundation
import OISPEvent
import XCTest

/// `oisp top` on a terminal (tmux, its screen read with capture-pane): following a JSONL file as
/// lines are appended, and a running sensor's events socket; plain lines when not a terminal.
final class TopTests: XCTestCase {
    var dir: URL!
    var procs: [Process] = []
    let server = "oisp-top-\(getpid())"

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else { throw XCTSkip("tmux is not installed") }
        dir = try TestSupport.tempDir("top")
    }
    override func tearDown() {
        _ = try? tmux(["kill-server"])
        for p in procs where p.isRunning { p.interrupt(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    func tmux(_ args: [String]) throws -> TestSupport.Result { try TestSupport.run("/usr/bin/tmux", ["-L", server] + args) }

    /// Starts `oisp top` in a detached tmux session (output to /dev/null: the server it forks
    /// must hold none of the test's files).
    func startTop(_ command: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tmux")
        p.arguments = ["-L", server, "new-session", "-d", "-s", "top", "-x", "200", "-y", "45", command]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        // not waited for: the tmux server it forks keeps Foundation from seeing the client exit;
        // the session is there when its screen is (waitScreen)
        try p.run()
    }
    func screen() -> String { (try? tmux(["capture-pane", "-p", "-t", "top"]).stdout) ?? "" }

    /// Polls the screen until `ok`; returns it and how long that took.
    func waitScreen(_ timeout: TimeInterval, _ ok: (String) -> Bool) -> (String, TimeInterval) {
        let t0 = Date()
        var s = ""
        while Date().timeIntervalSince(t0) < timeout {
            s = screen()
            if ok(s) { break }
            usleep(50_000)
        }
        return (s, Date().timeIntervalSince(t0))
    }

    func append(_ events: [OISPEvent], to f: URL) throws {
        let h = try FileHandle(forWritingTo: f)
        h.seekToEndOfFile()
        h.write(Data((events.map { $0.jsonString() }.joined(separator: "\n") + "\n").utf8))
        h.closeFile()
    }

    func testFollowsAJSONLFileOnATerminal() throws {
        let f = dir.appendingPathComponent("events.jsonl")
        FileManager.default.createFile(atPath: f.path, contents: nil)
        try startTop("\(TestSupport.oisp) top --input \(f.path)")
        _ = waitScreen(5) { $0.contains("oisp top") }
        try append(GenAIMetricsTests.events(), to: f)
        let (s, took) = waitScreen(5) { $0.contains("python3[101]") && $0.contains("shop/checkout-7d9f-abcde") && $0.contains("gpt-4o-mini-2024-07-18") }
        print(s)
        print(String(format: "appended lines on screen after %.2f s", took))
        XCTAssertLessThan(took, 2, "within 2 s")
        XCTAssertTrue(s.contains("5 processes, 5 calls, 0.003285 USD"), s)
        XCTAssertTrue(s.contains("\"Summarise the attached report\""), "the prompt's first line")
        XCTAssertTrue(s.contains("ERROR requests"), "the failed call")
        // more lines later: followed
        let more = dir.appendingPathComponent("demo.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "2", "-o", more.path]).status, 0)
        try append(TestSupport.lines(more).map { try OISPEvent(jsonBytes: Array($0.utf8)) }, to: f)
        let (s2, took2) = waitScreen(5) { $0.contains("7 calls") && $0.contains("claude-sonnet-4-5") }
        print(String(format: "second append on screen after %.2f s", took2))
        XCTAssertLessThan(took2, 2, s2)
        // keys: sort, then quit
        _ = try tmux(["send-keys", "-t", "top", "s"])
        XCTAssertTrue(waitScreen(3) { $0.contains("sort: tokens") }.0.contains("sort: tokens"))
        // `/` filters by process, namespace or pod: "shop" keeps the pod in namespace shop only
        XCTAssertTrue(waitScreen(3) { $0.contains("python3[102]") }.0.contains("python3[102]"), "another process is listed before the filter")
        _ = try tmux(["send-keys", "-t", "top", "/"])
        _ = try tmux(["send-keys", "-t", "top", "-l", "shop"])
        XCTAssertTrue(waitScreen(3) { $0.contains("filter (process, namespace or pod") && $0.contains("shop_") }.0.contains("shop_"), "the typed filter is shown")
        _ = try tmux(["send-keys", "-t", "top", "Enter"])
        let (filtered, _) = waitScreen(3) { $0.contains("filter=shop") && !$0.contains("python3[102]  ") }
        XCTAssertTrue(filtered.contains("filter=shop") && filtered.contains("python3[101]"), filtered)
        let rows = filtered.split(separator: "\n").filter { $0.hasPrefix("python3[") || $0.hasPrefix("node[") }
        XCTAssertEqual(rows.map { String($0.prefix(12)) }.filter { $0.hasPrefix("python3[10") }.count, 1, "only the shop pod's process: \(filtered)")
        _ = try tmux(["send-keys", "-t", "top", "q"])
        let t0 = Date()
        while Date().timeIntervalSince(t0) < 3, (try? tmux(["has-session", "-t", "top"]).status) == 0 { usleep(50_000) }
        XCTAssertNotEqual(try tmux(["has-session", "-t", "top"]).status, 0, "q quits")
    }

    func testShowsARunningSensorFromItsEventsSocket() throws {
        let sock = dir.appendingPathComponent("run/events.sock").path
        let err = dir.appendingPathComponent("demo.err")
        let demo = try TestSupport.startSensor(["demo", "-n", "200", "--interval-ms", "100", "-o", "/dev/null", "--events-socket", sock], stderrFile: err)
        procs.append(demo)
        var st = stat()
        let t0 = Date()
        while stat(sock, &st) != 0 && Date().timeIntervalSince(t0) < 10 { usleep(50_000) }
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "root-only socket")
        try startTop("\(TestSupport.oisp) top --socket \(sock)")
        let (s, took) = waitScreen(8) { $0.contains("python3[") && $0.contains("gpt-4o") && $0.contains("LATEST CALLS") }
        print(s)
        print(String(format: "a running sensor's calls on screen after %.2f s", took))
        XCTAssertLessThan(took, 2, s)
        demo.interrupt(); demo.waitUntilExit()
        XCTAssertTrue(waitScreen(4) { $0.contains("went away") }.0.contains("went away"), "says when the sensor stops")
    }

    /// Against `record` with live TLS traffic: an OpenAI-style client (python's ssl) calls the
    /// local HTTPS test server while `record` serves its events socket; the client's process, its
    /// calls and tokens are on top's screen within 2 s of the call.
    func testShowsLiveTLSCallsOfARunningRecord() throws {
        if let why = CaptureTests.prerequisiteProblem() {
            if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" { XCTFail(why) }
            throw XCTSkip(why)
        }
        let (server, port) = try CaptureTests.startServer(in: dir)
        defer { server.terminate(); server.waitUntilExit() }
        let sock = dir.appendingPathComponent("events.sock").path
        let (sensor, _, err) = try CaptureTests.startSensor(config: "[sensor]\nevents_socket = \"\(sock)\"\n[pipeline]\nflush_interval_ms = 50\n",
                                                            dir: dir, name: "top", raw: false)
        defer { sensor.interrupt(); sensor.waitUntilExit() }
        try startTop("\(TestSupport.oisp) top --socket \(sock)")
        XCTAssertTrue(waitScreen(5) { $0.contains("oisp top — socket") }.0.contains("oisp top"))
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "openai"]
        client.standardOutput = FileHandle.nullDevice
        client.standardError = FileHandle.nullDevice
        try client.run()
        let pid = client.processIdentifier
        while client.isRunning { usleep(20_000) }
        let (s, took) = waitScreen(5) { $0.contains("[\(pid)]") && $0.contains("gpt-4o-mini") && $0.contains("2 calls") }
        print(s)
        print(String(format: "live TLS calls of pid %d on screen %.2f s after the client ended", pid, took))
        XCTAssertLessThan(took, 2, "sensor log: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let row = s.split(separator: "\n").first { $0.contains("[\(pid)]") && $0.contains("openai:") }.map(String.init) ?? ""
        XCTAssertTrue(row.hasPrefix("python3[\(pid)]") || row.hasPrefix("python[\(pid)]") || row.contains("[\(pid)]"), row)
        XCTAssertTrue(row.contains("     2 "), "2 calls in the row: \(row)")
        XCTAssertTrue(s.contains("/") && s.contains(" tok "), "tokens of the latest calls")
    }

    /// An events_socket path that holds something else is refused, never deleted (it could be
    /// /dev/null or a user's file); a socket left by an earlier run is replaced.
    func testEventsSocketNeverDeletesAnotherFile() throws {
        let dir = try TestSupport.tempDir("topsock")
        let file = dir.appendingPathComponent("not-a-socket")
        try TestSupport.write("keep me\n", to: file)
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "1", "-o", dir.appendingPathComponent("out.jsonl").path, "--events-socket", file.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("exists and is not a socket"), r.stderr)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "keep me\n")
    }

    func testPlainLinesWhenNotATerminal() throws {
        let f = dir.appendingPathComponent("events.jsonl")
        try TestSupport.write(GenAIMetricsTests.events().map { $0.jsonString() }.joined(separator: "\n") + "\n", to: f)
        let r = try TestSupport.run(TestSupport.oisp, ["top", "--input", f.path, "--duration", "1.5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        print(r.stdout)
        XCTAssertEqual(lines.count, 5, "one line per call")
        XCTAssertTrue(lines.contains { $0.contains("python3[102]") && $0.contains("claude-sonnet-4-5-20250929") && $0.contains("2120/40 tok") && $0.contains("0.001560 USD") })
        XCTAssertTrue(r.stderr.contains("not a terminal"))
    }
}
