import ArgumentParser
import Foundation
import OISPRuntime
import OISPCapture
import OISPConfig

/// `check`: can this machine run the sensor? Each line OK / WARN / FAIL with the reason. As root
/// it loads every BPF program (the verifier's word, per program), attaches a test uprobe, and
/// names the processes whose TLS stack is not covered. `record` loads the same object the same
/// way, so the two agree on every kernel.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check the kernel and machine for eBPF capture (OK/WARN/FAIL per item).")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Load the BPF programs (the default as root; kept for scripts).")
    var load = false

    @Flag(name: .long, help: "Do not load anything into the kernel.")
    var noLoad = false

    @Flag(name: .long, help: "Print JSON (items, programs, processes) for automation.")
    var json = false

    @Option(name: .long, help: "Only this process: its TLS stack and whether it is covered.")
    var pid: Int32?

    struct Item: Encodable { var status: String; var item: String; var detail: String }
    struct ProgramLine: Encodable { var name: String; var loaded: Bool; var reason: String? }
    struct StackLine: Encodable { var pid: Int32; var name: String; var exe: String; var stack: String; var covered: Bool; var detail: String }
    struct Report: Encodable { var ok: Bool; var items: [Item]; var programs: [ProgramLine]; var processes: [StackLine] }

    func run() throws {
        var items: [Item] = []
        var programs: [ProgramLine] = []
        func line(_ status: String, _ item: String, _ detail: String) { items.append(Item(status: status, item: item, detail: detail)) }
        let config = (try? global.loadConfig()) ?? SensorConfig(file: "<embedded default>")
        let plainPorts = config.capture.plainHTTP ? config.capture.plainHTTPPorts : []

        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        let newEnough = parts.count >= 2 && (parts[0] > 5 || (parts[0] == 5 && parts[1] >= 8))
        line(newEnough ? "OK" : "FAIL", "kernel", "\(release)\(newEnough ? "" : " (the BPF ring buffer needs 5.8 or later)")")
        let fm = FileManager.default
        line(fm.fileExists(atPath: "/sys/kernel/btf/vmlinux") ? "OK" : "FAIL", "BTF", "/sys/kernel/btf/vmlinux")
        line(fm.fileExists(atPath: "/sys/fs/bpf") ? "OK" : "WARN", "bpffs", "/sys/fs/bpf\(fm.fileExists(atPath: "/sys/fs/bpf") ? "" : " missing (pinning unavailable)")")
        let tracefs = fm.fileExists(atPath: "/sys/kernel/tracing/events") || fm.fileExists(atPath: "/sys/kernel/debug/tracing/events")
        line(tracefs ? "OK" : "WARN", "tracefs", tracefs ? "mounted" : "not mounted; record mounts it at /sys/kernel/tracing (needs CAP_SYS_ADMIN)")
        let root = geteuid() == 0
        line(root ? "OK" : "WARN", "privileges", root ? "root" : "uid \(geteuid()): needs CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE")
        line(fm.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/type") ? "OK" : "FAIL", "uprobes", "/sys/bus/event_source/devices/uprobe")
        let libs = BPFCapture.systemSSLLibrariesFound()
        line(libs.isEmpty ? "WARN" : "OK", "TLS libraries", libs.isEmpty ? "no system libssl/libgnutls/libnspr4 found" : libs.joined(separator: ", "))
        if let obj = BPFCapture.locateObject() {
            line("OK", "BPF object", obj)
            if root && !noLoad {
                do {
                    var o = BPFCapture.Options(objectPath: obj)
                    o.ssl = false; o.process = false; o.network = false
                    let c = try BPFCapture(options: o)
                    for p in c.programs {
                        programs.append(ProgramLine(name: p.name, loaded: p.loaded, reason: p.loaded ? nil : p.reason))
                        if !p.loaded { line("FAIL", "program \(p.name)", "rejected by this kernel: \(p.reason)") }
                    }
                    let rejected = c.rejectedPrograms.count
                    line(rejected == 0 ? "OK" : "FAIL", "BPF programs", "\(c.programs.count - rejected) of \(c.programs.count) verified and loaded")
                    let names = Set(c.programs.filter(\.loaded).map(\.name))
                    if names.contains("plain_sock_send") {
                        line("OK", "plain HTTP", "socket tracepoints sock_send_length/sock_recv_length: other sockets pay one bitmap test, other syscalls nothing")
                    } else if names.contains("plain_sys_enter") {
                        line("OK", "plain HTTP", "syscall tracepoints (no socket tracepoints before 6.3): every syscall on the node takes the kernel's tracepoint path while plain_http is on")
                    }
                    if names.contains("net_sock_state") {
                        line("OK", "network events", "TCP state changes (inet_sock_set_state) and the socket tracepoints: no syscall tracepoint")
                    } else if names.contains("handle_connect_exit") {
                        line("OK", "network events", "connect/accept4 syscall tracepoints (no socket tracepoints before 6.3): every syscall on the node takes the kernel's tracepoint path while network capture is on")
                    }
                    if let why = BPFCapture.execGateProblem() {
                        line("WARN", "exec gate", "new executables cannot be held until probed (\(why)): a Go or static-BoringSSL program is probed on exec and its first milliseconds are missed")
                    } else {
                        line("OK", "exec gate", "fanotify exec permission events: a new executable waits for its probes (probe_before_exec)")
                    }
                    if let lib = libs.first {
                        let n = c.attach(path: lib)
                        line(n > 0 ? "OK" : "FAIL", "test uprobe", n > 0 ? "attached to \(n) functions of \(lib)" : "attaching to \(lib) failed: \(c.attachErrors.joined(separator: "; "))")
                    }
                    c.stop()
                } catch {
                    line("FAIL", "load", "\(error)")
                }
            } else if !root {
                line("WARN", "load", "not root: the programs were not loaded (the verifier's word needs root)")
            }
        } else {
            line("FAIL", "BPF object", "oisp.bpf.o not found (OISP_BPF_OBJECT, beside the executable, /usr/lib/oisp)")
        }
        var procs: [StackLine] = []
        let targets: [CaptureTargets.Process]
        if let pid {
            guard let p = CaptureTargets.inspect(pid: pid, plainPorts: plainPorts) else {
                line("FAIL", "pid \(pid)", "no such process")
                return try finish(items, programs, procs)
            }
            targets = [p]
            if p.stacks.isEmpty { line("WARN", "pid \(pid) \(p.name)", "no TLS library or listed plain-HTTP socket seen in \(p.exe)") }
        } else {
            targets = CaptureTargets.all(plainPorts: plainPorts)
        }
        for p in targets {
            for s in p.stacks {
                procs.append(StackLine(pid: p.pid, name: p.name, exe: p.exe, stack: s.name, covered: s.covered, detail: s.detail))
                // every stack of the asked-for process; otherwise only the ones not covered
                if pid != nil || !s.covered {
                    line(s.covered ? "OK" : "WARN", "pid \(p.pid) \(p.name)", "\(s.name): \(s.covered ? "covered" : "NOT covered"): \(s.detail)")
                }
            }
        }
        if pid == nil {
            let covered = Set(procs.filter(\.covered).map(\.pid)).count, not = Set(procs.filter { !$0.covered }.map(\.pid)).count
            line(not == 0 ? "OK" : "WARN", "processes", "\(covered) with a covered TLS stack or plain-HTTP socket, \(not) with one that is not")
        }
        try finish(items, programs, procs)
    }

    func finish(_ items: [Item], _ programs: [ProgramLine], _ procs: [StackLine]) throws {
        let fails = items.filter { $0.status == "FAIL" }.count
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            let data = try enc.encode(Report(ok: fails == 0, items: items, programs: programs, processes: procs))
            print(String(decoding: data, as: UTF8.self))
        } else {
            for i in items { print("\(i.status.padding(toLength: 5, withPad: " ", startingAt: 0)) \(i.item): \(i.detail)") }
        }
        if fails > 0 { throw ExitCode(1) }
    }
}

/// `capture-targets`: every process with a TLS stack (or a listed plain-HTTP socket), whether
/// `record` covers it, how, and why not.
struct CaptureTargetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture-targets", abstract: "List processes by TLS stack: covered or not, and why.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print JSON lines.")
    var json = false

    func run() throws {
        let config = (try? global.loadConfig()) ?? SensorConfig(file: "<embedded default>")
        let ports = config.capture.plainHTTP ? config.capture.plainHTTPPorts : []
        for p in CaptureTargets.all(plainPorts: ports) {
            for s in p.stacks {
                if json {
                    let o: [String: Any] = ["pid": p.pid, "name": p.name, "exe": p.exe, "stack": s.name, "covered": s.covered, "detail": s.detail]
                    let d = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                    print(String(decoding: d, as: UTF8.self))
                } else {
                    print("\(String(p.pid).padding(toLength: 8, withPad: " ", startingAt: 0)) \(p.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(s.name.padding(toLength: 11, withPad: " ", startingAt: 0)) \(s.covered ? "covered    " : "NOT covered") \(s.detail)")
                }
            }
        }
    }
}
