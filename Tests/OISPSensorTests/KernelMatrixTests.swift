import Foundation
import XCTest

/// The capture suite on the kernels nodes run, not only this one: Debian 12's own 6.1 kernel
/// (linux-image-amd64) is booted under virtme-ng with this machine's root read-only, and
/// Tests/kernel-matrix/e2e.sh runs inside it — `check`, `record`, and a real client of every
/// TLS stack. The same script runs on the host kernel; the test prints the table kernel × stack
/// and fails on any stack missing in the VM.
final class KernelMatrixTests: XCTestCase {
    static func stackLines(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("stack ") {
            let f = line.split(separator: " ")
            if f.count == 4 { out["\(f[1]) (\(f[2]))"] = String(f[3]) }
        }
        return out
    }

    func testCaptureOnDebian12Kernel() throws {
        let require = ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1"
        if let why = CaptureTests.prerequisiteProblem() {
            if require { XCTFail("kernel matrix required but capture is unavailable: \(why)") }
            throw XCTSkip(why)
        }
        for tool in ["/usr/bin/qemu-system-x86_64", "/bin/busybox"] where !FileManager.default.isExecutableFile(atPath: tool) {
            let why = "\(tool) missing (apt-get install qemu-system-x86 busybox-static; make deps installs them)"
            print("KernelMatrixTests: SKIPPING: \(why)")
            if require { XCTFail(why) }
            throw XCTSkip(why)
        }
        let root = TestSupport.packageRoot
        let clients = root.appendingPathComponent(".build/e2e")
        try FileManager.default.createDirectory(at: clients, withIntermediateDirectories: true)
        let (goClient, _) = try StackCaptureTests.buildGo(clients)
        let nss = clients.appendingPathComponent("nss_client")
        let cc = try TestSupport.run("/bin/sh", ["-c", "gcc '\(TestSupport.fixtures.appendingPathComponent("nss_client.c").path)' $(pkg-config --cflags --libs nss) -o '\(nss.path)'"])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let rustls = try StackCaptureTests.buildRustls(clients)
        var env = ["E2E_GO_CLIENT": goClient, "E2E_NSS_CLIENT": nss.path, "E2E_RUSTLS_CLIENT": rustls]
        if let bun = StackCaptureTests.bunPath() { env["E2E_BUN"] = bun }
        // Chromium under software emulation takes ~3 minutes in the VM: the host runs it always,
        // the VM when KERNEL_MATRIX_FULL=1
        let full = ProcessInfo.processInfo.environment["KERNEL_MATRIX_FULL"] == "1"
        let sensor = TestSupport.sensor, object = TestSupport.binDir.appendingPathComponent("oisp.bpf.o").path
        let e2e = root.appendingPathComponent("Tests/kernel-matrix/e2e.sh").path

        var hostEnv = env
        if FileManager.default.isExecutableFile(atPath: StackCaptureTests.chromium) { hostEnv["E2E_CHROMIUM"] = StackCaptureTests.chromium }
        let host = try TestSupport.run(e2e, [sensor, object], env: hostEnv, timeout: 300)
        var vmEnv = env
        if full { vmEnv["E2E_CHROMIUM"] = StackCaptureTests.chromium }
        let out = root.appendingPathComponent(".build/kernels/out")
        let started = Date()
        let vm = try TestSupport.run(root.appendingPathComponent("Tests/kernel-matrix/vm-run.sh").path,
                                     ["-o", out.path, "--", e2e, sensor, object], env: vmEnv, timeout: 900)
        let took = Date().timeIntervalSince(started)

        let hostKernel = host.stdout.split(separator: "\n").first { $0.contains("]: kernel ") }.map { String($0.split(separator: " ").last!) } ?? "host"
        let vmKernel = vm.stdout.split(separator: "\n").first { $0.contains("]: kernel ") }.map { String($0.split(separator: " ").last!) } ?? "vm"
        let h = Self.stackLines(host.stdout), v = Self.stackLines(vm.stdout)
        let rows = Set(h.keys).union(v.keys).sorted()
        var table = "kernel matrix (VM run \(Int(took)) s):\n" + "client (stack)".padding(toLength: 24, withPad: " ", startingAt: 0)
            + hostKernel.padding(toLength: 20, withPad: " ", startingAt: 0) + vmKernel + "\n"
        for r in rows {
            table += r.padding(toLength: 24, withPad: " ", startingAt: 0) + (h[r] ?? "-").padding(toLength: 20, withPad: " ", startingAt: 0) + (v[r] ?? "not run") + "\n"
        }
        print(table)
        XCTAssertTrue(vm.stdout.contains("]: kernel 6.1."), "the VM ran Debian 12's 6.1 kernel: \(vm.stdout.suffix(2000)) \(vm.stderr.suffix(2000))")
        XCTAssertTrue(vm.stdout.contains("check --load: OK"), "check passes on 6.1: \(vm.stdout.suffix(3000))")
        // Go and Bun ran once each, never seen before: held at exec until probed, on both kernels
        XCTAssertTrue(vm.stdout.contains("exec gate: on"), "the exec gate holds new executables on 6.1: \(vm.stdout.suffix(3000))")
        XCTAssertTrue(host.stdout.contains("exec gate: on"), "the exec gate holds new executables on \(hostKernel): \(host.stdout.suffix(3000))")
        var expected = ["curl (openssl)", "python3 (openssl)", "node (openssl)", "wget (gnutls)", "nss (nss)", "go (go_tls)", "rustls (rustls)", "plain (plain_http)", "plain-node (plain_http)"]
        if env["E2E_BUN"] != nil { expected.append("bun (boringssl)") }
        if full { expected.append("chromium (boringssl)") }
        for e in expected {
            XCTAssertEqual(v[e], "OK", "\(e) on \(vmKernel): \(table)\n\(vm.stdout.suffix(4000))")
            XCTAssertEqual(h[e], "OK", "\(e) on \(hostKernel): \(table)\n\(host.stdout.suffix(3000))")
        }
        XCTAssertEqual(vm.status, 0, vm.stderr.suffix(2000).description)
    }
}
