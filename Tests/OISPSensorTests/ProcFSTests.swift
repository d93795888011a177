import COISPBPF
import Foundation
import OISPCapture
import XCTest

/// /proc files have no size: the sensor must read them to their end. A real process whose
/// libssl mapping and whose plain-HTTP connection both lie far past the first page of
/// /proc/<pid>/maps and /proc/<pid>/net/tcp is still found covered (`oisp check --pid` and the
/// probes for processes already running read these files).
final class ProcFSTests: XCTestCase {
    /// A command line rides in every event: it is read whole up to 4 KiB and cut there with a mark.
    func testLongCommandLinesAreCutAtTheirLimit() throws {
        let (p, _) = try startAndRead("/usr/bin/env", ["python3", "-c", "import sys, time; print('up', flush=True); time.sleep(30)", String(repeating: "classpath/entry.jar:", count: 2000)])
        defer { p.terminate(); p.waitUntilExit() }
        let cmd = try XCTUnwrap(ProcessTable.read(pid: Int64(p.processIdentifier)).cmdline)
        XCTAssertTrue(cmd.contains("python3 -c import sys"), String(cmd.prefix(80)))
        XCTAssertTrue(cmd.hasSuffix(" …[truncated]"), String(cmd.suffix(40)))
        XCTAssertLessThanOrEqual(cmd.utf8.count, ProcessTable.maxCmdline + " …[truncated]".utf8.count)
        XCTAssertGreaterThan(cmd.utf8.count, ProcessTable.maxCmdline - 10, "read to the limit, not to a page")
        let args = try XCTUnwrap(ProcessTable.read(pid: Int64(p.processIdentifier)).args)
        // argv[0] is what python was started as (a version manager's shim execs it by full path)
        XCTAssertEqual(args.first?.hasSuffix("python3"), true, "\(args.prefix(1))")
        XCTAssertEqual(Array(args.dropFirst().prefix(2)), ["-c", "import sys, time; print('up', flush=True); time.sleep(30)"])
        XCTAssertEqual(args.last, "…[truncated]")
    }

    /// The exec event's `args` are argv: an argument with spaces is one argument, an empty one
    /// is kept (the command line string joins them with spaces).
    func testArgumentsAreReadWhole() throws {
        let (p, _) = try startAndRead("/usr/bin/env", ["python3", "-c", "import sys, time; print('up', flush=True); time.sleep(30)", "-H", "api-key: abc def", "", "last"])
        defer { p.terminate(); p.waitUntilExit() }
        let r = ProcessTable.read(pid: Int64(p.processIdentifier))
        let args = try XCTUnwrap(r.args)
        XCTAssertEqual(args.first?.hasSuffix("python3"), true, "\(args.prefix(1))")
        XCTAssertEqual(Array(args.dropFirst()), ["-c", "import sys, time; print('up', flush=True); time.sleep(30)", "-H", "api-key: abc def", "", "last"])
        XCTAssertEqual(r.cmdline, args[0] + " -c import sys, time; print('up', flush=True); time.sleep(30) -H api-key: abc def last")
        // the table keeps no copy of them
        let table = ProcessTable()
        XCTAssertNil(table.get(Int64(p.processIdentifier)).args)
        table.set(r)
        XCTAssertNil(table.get(Int64(p.processIdentifier)).args)
        // and the exec event carries them as they are
        let builder = CaptureEventBuilder(hostname: "node-1", sensorName: nil, version: "test")
        let out = builder.process([.exec(pid: UInt32(p.processIdentifier), ppid: 1, uid: 0, tsMono: 1, comm: "python3", filename: "/usr/bin/python3")])
        let exec = try XCTUnwrap(out.events.first { $0.eventType == "process.exec" })
        XCTAssertEqual(exec.data["args"]?.arrayValue?.dropFirst().compactMap(\.stringValue),
                       ["-c", "import sys, time; print('up', flush=True); time.sleep(30)", "-H", "api-key: abc def", "", "last"])
    }

    func testStacksPastTheFirstPageOfProcFilesAreFound() throws {
        let dir = try TestSupport.tempDir("procfs")
        defer { try? FileManager.default.removeItem(at: dir) }
        // the child: libssl first, then 150 file mappings (mapped lower, so listed before it),
        // 120 listening sockets (listed before every established one), then one connection to a
        // listener of its own on the port the test lists as plain HTTP
        let script = """
        import mmap, os, socket, ssl, sys, time
        d = sys.argv[1]
        maps = []
        for i in range(150):
            p = os.path.join(d, "m%d" % i)
            with open(p, "wb") as f: f.write(b"x" * 4096)
            f = open(p, "rb"); maps.append((f, mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ)))
        ls = []
        for i in range(120):
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); ls.append(s)
        srv = ls[-1]
        c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()
        print(srv.getsockname()[1], flush=True)
        time.sleep(60)
        """
        let (p, first) = try startAndRead("/usr/bin/env", ["python3", "-c", script, dir.path])
        defer { p.terminate(); p.waitUntilExit() }
        let line = first.trimmingCharacters(in: .whitespacesAndNewlines)
        let port = try XCTUnwrap(UInt16(line), "child printed \(line)")
        let pid = p.processIdentifier

        // the case is real: both files run well past a page, and what we look for lies past it
        let maps = try XCTUnwrap(ProcFS.read("/proc/\(pid)/maps"))
        let sslAt = try XCTUnwrap(maps.range(of: Data("libssl.so".utf8))?.lowerBound, "libssl mapped")
        XCTAssertGreaterThan(sslAt, 3 * 4096, "libssl is listed past the first pages of maps")
        let tcp = try XCTUnwrap(ProcFS.read("/proc/\(pid)/net/tcp"))
        let hexPort = String(format: ":%04X ", port)
        let lines = String(decoding: tcp, as: UTF8.self).split(separator: "\n")
        let connAt = try XCTUnwrap(lines.firstIndex { $0.contains(hexPort) && $0.contains(" 01 ") }, "the connection is listed")
        XCTAssertGreaterThan(connAt, 100, "the connection is listed past the first pages of net/tcp")
        XCTAssertEqual(lines.count, String(decoding: try XCTUnwrap(ProcFS.read("/proc/\(pid)/net/tcp")), as: UTF8.self).split(separator: "\n").count)

        let proc = try XCTUnwrap(CaptureTargets.inspect(pid: pid, plainPorts: [port]))
        let names = proc.stacks.map(\.name)
        XCTAssertTrue(names.contains("openssl"), "\(proc.stacks)")
        XCTAssertTrue(names.contains("plain_http"), "\(proc.stacks)")
    }

    /// A static OpenSSL is covered through its symbols; stripped of them, through its error
    /// reports: the functions found are the ones the symbols name (checked against `nm` of the
    /// unstripped build, for the file and for a running process). Where those reports are gone
    /// (the function names overwritten in a copy) it is named as not covered, with the reason,
    /// never probed at a guess.
    func testAStrippedStaticOpenSSLIsFoundByItsErrorReports() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-static-ssl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("c.c").path
        try """
        #include <openssl/ssl.h>
        #include <stdio.h>
        #include <unistd.h>
        int main(int argc, char **argv) { SSL_CTX *c = SSL_CTX_new(TLS_client_method()); SSL *s = SSL_new(c); size_t n; char b[8];
          if (argc > 5) { SSL_write(s, "x", 1); SSL_read_ex(s, b, 8, &n); }
          printf("up %p\\n", (void *)s); fflush(stdout); sleep(30); return 0; }
        """.write(toFile: src, atomically: true, encoding: .utf8)
        let bin = dir.appendingPathComponent("static_ssl").path, stripped = bin + "_stripped", blanked = bin + "_blanked"
        let cc = try TestSupport.run("/usr/bin/gcc", ["-O2", "-o", bin, src, "-Wl,-Bstatic", "-lssl", "-lcrypto", "-Wl,-Bdynamic", "-lpthread", "-ldl"])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        XCTAssertEqual(try TestSupport.run("/usr/bin/strip", ["-o", stripped, bin]).status, 0)

        XCTAssertEqual(CaptureTargets.stacks(ofExecutable: bin).map(\.name), ["openssl"])
        XCTAssertEqual(CaptureTargets.stacks(ofExecutable: bin).first?.covered, true)
        var info = oisp_boringssl_info()
        var err = [CChar](repeating: 0, count: 512)
        XCTAssertEqual(oisp_boringssl_inspect(stripped, &info, &err, err.count), OISP_BORINGSSL_OK.rawValue, String(cString: err))
        XCTAssertEqual(info.library, OISP_TLS_LIBRARY_OPENSSL.rawValue)
        // ssl_write_internal(s, buf, num, written) before 3.3, (s, buf, num, flags, written) since
        let version = try TestSupport.run("/usr/bin/openssl", ["version"]).stdout.split(separator: " ").dropFirst().first ?? ""
        let minor = version.split(separator: ".").dropFirst().first.flatMap { Int($0) } ?? 0
        XCTAssertEqual(info.write_args, version.hasPrefix("3.") && minor >= 3 ? 5 : 4, "OpenSSL \(version)")
        // the truth, from the symbols the stripped copy lost
        let nm = try TestSupport.run("/usr/bin/nm", [bin])
        func symbol(_ name: String) -> UInt64? {
            nm.stdout.split(separator: "\n").lazy.map { $0.split(separator: " ") }.first { $0.count == 3 && $0[2] == name }.flatMap { UInt64($0[0], radix: 16) }
        }
        XCTAssertEqual(info.write.vaddr, try XCTUnwrap(symbol("ssl_write_internal")))
        XCTAssertEqual(info.read.vaddr, try XCTUnwrap(symbol("ssl_read_internal")))
        XCTAssertGreaterThan(info.write.callers, 0)
        let s = try XCTUnwrap(CaptureTargets.stacks(ofExecutable: stripped).first)
        XCTAssertEqual(s.name, "openssl")
        XCTAssertTrue(s.covered, s.detail)
        XCTAssertTrue(s.detail.contains("ssl_write_internal"), s.detail)

        // the function names overwritten (as a build without them would lack them): named, not probed
        var bytes = try Data(contentsOf: URL(fileURLWithPath: stripped))
        var blankedNames = 0
        for name in ["ssl_write_internal", "ssl_read_internal"] {
            let needle = Data((name + "\0").utf8)
            var from = bytes.startIndex
            while let r = bytes.range(of: needle, in: from..<bytes.endIndex) {
                bytes[r.lowerBound] = UInt8(ascii: "X")
                blankedNames += 1
                from = r.upperBound
            }
        }
        XCTAssertGreaterThanOrEqual(blankedNames, 2)
        try bytes.write(to: URL(fileURLWithPath: blanked))
        XCTAssertEqual(chmod(blanked, 0o755), 0)
        let b = try XCTUnwrap(CaptureTargets.stacks(ofExecutable: blanked).first)
        XCTAssertEqual(b.name, "openssl")
        XCTAssertFalse(b.covered)
        XCTAssertTrue(b.detail.contains("static OpenSSL without symbols"), b.detail)
        // a program with no TLS at all has no stack to name
        XCTAssertEqual(CaptureTargets.stacks(ofExecutable: "/usr/bin/true").count, 0)

        // running processes of them are listed with the same verdicts
        let (p, _) = try startAndRead(stripped, [])
        defer { p.terminate(); p.waitUntilExit() }
        let proc = try XCTUnwrap(CaptureTargets.inspect(pid: p.processIdentifier))
        XCTAssertEqual(proc.stacks.map(\.name), ["openssl"])
        XCTAssertEqual(proc.stacks.first?.covered, true)
        let (q, _) = try startAndRead(blanked, [])
        defer { q.terminate(); q.waitUntilExit() }
        XCTAssertEqual(try XCTUnwrap(CaptureTargets.inspect(pid: q.processIdentifier)).stacks.first?.covered, false)
    }

    /// A JVM's TLS (JSSE) is Java code, out of any probe's reach: a Java process is named as
    /// not covered, with why, not left out of the list.
    func testAJavaProcessIsNamedNotCovered() throws {
        let java = "/usr/bin/java"
        guard FileManager.default.isExecutableFile(atPath: java) else { return XCTFail("no \(java): `make deps` installs default-jre-headless") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-java-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("Up.java").path
        try "public class Up { public static void main(String[] a) throws Exception { System.out.println(\"up\"); System.out.flush(); Thread.sleep(30000); } }"
            .write(toFile: src, atomically: true, encoding: .utf8)
        let (p, _) = try startAndRead(java, [src])
        defer { p.terminate(); p.waitUntilExit() }
        let proc = try XCTUnwrap(CaptureTargets.inspect(pid: p.processIdentifier))
        let jsse = try XCTUnwrap(proc.stacks.first { $0.name == "jsse" }, "\(proc.stacks)")
        XCTAssertFalse(jsse.covered)
        XCTAssertTrue(jsse.detail.contains("JSSE"), jsse.detail)
    }

    /// Starts a program and reads its first output (it prints once it is up); the caller ends it.
    private func startAndRead(_ exe: String, _ args: [String]) throws -> (Process, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        return (p, String(decoding: out.fileHandleForReading.availableData, as: UTF8.self))
    }
}
