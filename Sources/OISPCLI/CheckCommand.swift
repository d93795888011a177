import ArgumentParser
import Foundation
import OISPCapture

/// `check`: can this machine run the sensor? Each line OK / WARN / FAIL with the reason.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check the kernel and machine for eBPF capture (OK/WARN/FAIL per item).")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Also load the BPF programs into the kernel to prove they verify.")
    var load = false

    func run() throws {
        var fails = 0
        func line(_ status: String, _ item: String, _ detail: String) {
            if status == "FAIL" { fails += 1 }
            print("\(status.padding(toLength: 5, withPad: " ", startingAt: 0)) \(item): \(detail)")
        }
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        let newEnough = parts.count >= 2 && (parts[0] > 5 || (parts[0] == 5 && parts[1] >= 8))
        line(newEnough ? "OK" : "FAIL", "kernel", "\(release) \(newEnough ? "" : "(ring buffer needs >= 5.8)")")
        let fm = FileManager.default
        line(fm.fileExists(atPath: "/sys/kernel/btf/vmlinux") ? "OK" : "FAIL", "BTF", "/sys/kernel/btf/vmlinux")
        line(fm.fileExists(atPath: "/sys/fs/bpf") ? "OK" : "WARN", "bpffs", "/sys/fs/bpf\(fm.fileExists(atPath: "/sys/fs/bpf") ? "" : " missing (pinning unavailable)")")
        let tracefs = fm.fileExists(atPath: "/sys/kernel/tracing/events") || fm.fileExists(atPath: "/sys/kernel/debug/tracing/events")
        line(tracefs ? "OK" : "WARN", "tracefs", tracefs ? "mounted" : "not mounted; record mounts it at /sys/kernel/tracing (needs CAP_SYS_ADMIN)")
        line(geteuid() == 0 ? "OK" : "WARN", "privileges", geteuid() == 0 ? "root" : "uid \(geteuid()): needs CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE")
        line(fm.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/type") ? "OK" : "FAIL", "uprobes", "/sys/bus/event_source/devices/uprobe")
        let libs = BPFCapture.systemSSLLibrariesFound()
        line(libs.isEmpty ? "WARN" : "OK", "libssl", libs.isEmpty ? "no system libssl.so.3/.so.1.1 found" : libs.joined(separator: ", "))
        if let obj = BPFCapture.locateObject() {
            line("OK", "BPF object", obj)
            if load {
                do {
                    let c = try BPFCapture(options: BPFCapture.Options(objectPath: obj))
                    line("OK", "load+attach", "programs verified and attached (\(c.probedPaths.count) TLS targets)")
                    c.stop()
                } catch {
                    line("FAIL", "load+attach", "\(error)")
                }
            }
        } else {
            line("FAIL", "BPF object", "oisp.bpf.o not found (OISP_BPF_OBJECT, beside the executable, /usr/lib/oisp)")
        }
        if fails > 0 { throw ExitCode(1) }
    }
}
