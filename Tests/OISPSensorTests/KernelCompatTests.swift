import Foundation
import OISPEvent
import XCTest

/// A BPF program the running kernel rejects: `check` must say so (program, verifier's reason,
/// exit code), and `record` must keep capturing with the other programs and count the
/// rejection. Proved with an object built with one program every verifier rejects.
final class KernelCompatTests: XCTestCase {
    /// oisp.bpf.o built with -DOISP_TEST_REJECTED_PROGRAM.
    static func objectWithRejectedProgram(in dir: URL) throws -> URL {
        let out = dir.appendingPathComponent("oisp-rejected.bpf.o")
        let root = TestSupport.packageRoot
        let clang = FileManager.default.fileExists(atPath: "/usr/bin/clang-14") ? "/usr/bin/clang-14" : "/usr/bin/clang"
        let r = try TestSupport.run(clang, ["-target", "bpf", "-D__TARGET_ARCH_x86", "-DOISP_TEST_REJECTED_PROGRAM", "-O2", "-g", "-Wall",
                                            "-I", root.appendingPathComponent(".build/bpf").path, "-I", root.appendingPathComponent("bpf").path,
                                            "-c", root.appendingPathComponent("bpf/oisp.bpf.c").path, "-o", out.path])
        guard r.status == 0 else { throw NSError(domain: "clang", code: 1, userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return out
    }

    func skipUnlessBPF() throws {
        if let why = CaptureTests.prerequisiteProblem() {
            if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" { XCTFail("eBPF required but unavailable: \(why)") }
            throw XCTSkip(why)
        }
    }

    func testCheckNamesTheRejectedProgramAndFails() throws {
        try skipUnlessBPF()
        let dir = try TestSupport.tempDir("rejected")
        let obj = try Self.objectWithRejectedProgram(in: dir)
        let r = try TestSupport.run(TestSupport.oisp, ["check", "--json"], env: ["OISP_BPF_OBJECT": obj.path])
        XCTAssertEqual(r.status, 1, "a rejected program makes check fail: \(r.stdout) \(r.stderr)")
        let report = try XCTUnwrap(try JSONParser.parse(r.stdout).objectValue)
        XCTAssertEqual(report["ok"], false)
        let progs = try XCTUnwrap(report["programs"]?.arrayValue)
        let rejected = progs.filter { $0["loaded"] == false }
        XCTAssertEqual(rejected.compactMap { $0["name"]?.stringValue }, ["oisp_test_rejected"])
        XCTAssertTrue(rejected.first?["reason"]?.stringValue?.contains("invalid mem access") == true, "the verifier's own line: \(rejected)")
        XCTAssertGreaterThan(progs.count, 20)
        XCTAssertTrue(progs.filter { $0["loaded"] == true }.count == progs.count - 1)
        // the text form names it too; the shipped object passes
        let text = try TestSupport.run(TestSupport.oisp, ["check"], env: ["OISP_BPF_OBJECT": obj.path])
        XCTAssertTrue(text.stdout.contains("FAIL  program oisp_test_rejected: rejected by this kernel:"), text.stdout)
        let good = try TestSupport.run(TestSupport.oisp, ["check"])
        XCTAssertEqual(good.status, 0, good.stdout)
        XCTAssertTrue(good.stdout.contains("OK    BPF programs:"), good.stdout)
        XCTAssertTrue(good.stdout.contains("OK    test uprobe: attached to"), good.stdout)
    }

    func testRecordCapturesWithTheOthersAndCountsTheRejection() throws {
        try skipUnlessBPF()
        let dir = try TestSupport.tempDir("rejected-record")
        let obj = try Self.objectWithRejectedProgram(in: dir)
        let (server, port) = try CaptureTests.startServer(in: dir)
        defer { server.terminate() }
        let metricsPort = try TestSupport.freePort()
        let out = dir.appendingPathComponent("out.jsonl"), ready = dir.appendingPathComponent("ready"), err = dir.appendingPathComponent("err")
        let sensor = try TestSupport.startSensor(["record", "--raw", "--output", out.path, "--ready-file", ready.path,
                                                  "--metrics-addr", "127.0.0.1:\(metricsPort)"], stderrFile: err, env: ["OISP_BPF_OBJECT": obj.path])
        defer { if sensor.isRunning { sensor.terminate() } }
        var up = false
        for _ in 0..<600 where !up { up = FileManager.default.fileExists(atPath: ready.path) || !sensor.isRunning; if !up { usleep(50_000) } }
        XCTAssertTrue(sensor.isRunning, "record keeps running: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let curl = try TestSupport.run("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(port)/compat/x", "-d", "{\"marker\":\"COMPAT\"}"])
        XCTAssertEqual(curl.status, 0)
        let metrics = try TestSupport.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"]).stdout
        CaptureTests.stopSensor(sensor)
        let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("BPF program rejected by this kernel") && log.contains("oisp_test_rejected"), log)
        XCTAssertTrue(metrics.contains(#"oisp_bpf_programs{state="rejected"} 1"#), metrics)
        XCTAssertTrue(metrics.contains(#"oisp_bpf_program_rejected{program="oisp_test_rejected"} 1"#), metrics)
        let events = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        let mine = events.filter { $0.process?.pid != nil && $0.process?.name == "curl" && $0.eventType == "capture.ssl_data" }
        XCTAssertTrue(mine.contains { $0.data["text"]?.stringValue?.contains("POST /compat/x") == true }, "curl captured with the other programs: \(events.count) events")
    }
}
