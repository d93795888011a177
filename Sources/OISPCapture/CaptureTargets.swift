import COISPBPF
import Foundation

/// Which TLS stack (or plain HTTP) each process uses and whether `record` covers it, and why
/// not: what `oisp check` and `oisp-sensor capture-targets` print. Read from /proc and the
/// files themselves, without loading anything into the kernel.
public enum CaptureTargets {
    public struct Stack: Sendable, Equatable {
        /// openssl, gnutls, nss, go_tls, boringssl, rustls, plain_http; never covered: jsse,
        /// wolfssl, mbedtls
        public var name: String
        public var covered: Bool
        /// How it is found (the library probed, "symbols in the executable", "pclntab", …) or,
        /// when not covered, why not.
        public var detail: String
    }

    public struct Process: Sendable {
        public var pid: Int32
        public var name: String
        public var exe: String
        public var stacks: [Stack]
    }

    /// Cache per file (dev:inode) within one call: the same binary runs in many processes.
    final class FileFacts {
        var byKey: [String: [Stack]] = [:]
    }

    /// Every process with a TLS stack or a listed plain-HTTP socket.
    public static func all(plainPorts: [UInt16] = []) -> [Process] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let facts = FileFacts()
        let me = getpid()
        return entries.compactMap(Int32.init).filter { $0 != me }.sorted().compactMap { inspect(pid: $0, plainPorts: plainPorts, facts: facts) }
            .filter { !$0.stacks.isEmpty }
    }

    /// One process; nil when it is gone (or a kernel thread).
    public static func inspect(pid: Int32, plainPorts: [UInt16] = []) -> Process? { inspect(pid: pid, plainPorts: plainPorts, facts: FileFacts()) }

    static func inspect(pid: Int32, plainPorts: [UInt16], facts: FileFacts) -> Process? {
        let root = "/proc/\(pid)"
        guard let exe = ProcFS.link("\(root)/exe") else { return nil }
        let name = (ProcFS.text("\(root)/comm") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        var stacks: [Stack] = []
        var libs: [String] = []
        if let maps = ProcFS.text("\(root)/maps") {
            var seen = Set<String>()
            for line in maps.split(separator: "\n") {
                guard let slash = line.firstIndex(of: "/") else { continue }
                let p = String(line[slash...])
                if seen.insert(p).inserted { libs.append(p) }
            }
        }
        func lib(_ prefix: String) -> String? { libs.first { ($0 as NSString).lastPathComponent.hasPrefix(prefix) } }
        if let l = lib("libssl.so") { stacks.append(Stack(name: "openssl", covered: true, detail: "uprobes on \(l)")) }
        if let l = lib("libgnutls") { stacks.append(Stack(name: "gnutls", covered: true, detail: "uprobes on \(l)")) }
        if let l = lib("libnspr4"), lib("libssl3") != nil { stacks.append(Stack(name: "nss", covered: true, detail: "uprobes on \(l) (SSL-layered descriptors)")) }
        if lib("librustls") != nil { stacks.append(Stack(name: "rustls", covered: false, detail: rustlsReason)) }
        // stacks no probe reaches, named so that a node's blind spots show: Java's TLS runs in
        // the JVM's own code, and wolfSSL and mbed TLS are not probed
        if let l = lib("libjvm.so") { stacks.append(Stack(name: "jsse", covered: false, detail: "Java (\(l)): TLS in the JVM's own code (JSSE), no native function to probe; not captured")) }
        if let l = lib("libwolfssl") { stacks.append(Stack(name: "wolfssl", covered: false, detail: "\(l): wolfSSL is not probed")) }
        if let l = lib("libmbedtls") { stacks.append(Stack(name: "mbedtls", covered: false, detail: "\(l): mbed TLS is not probed")) }
        stacks += executableStacks("\(root)/root\(exe)", facts: facts)
        if !plainPorts.isEmpty, let p = plainSocket(pid: pid, ports: Set(plainPorts.map(Int.init))) {
            stacks.append(Stack(name: "plain_http", covered: true, detail: "socket on listed port \(p) (syscall tracepoints)"))
        }
        return Process(pid: pid, name: name, exe: exe, stacks: stacks)
    }

    static let rustlsReason = "rustls as a shared library (rustls-ffi) is not probed; docs/capture.md"

    /// The TLS stacks built into one executable file, covered or not and why (no process needed).
    public static func stacks(ofExecutable path: String) -> [Stack] { executableStacks(path, facts: FileFacts()) }

    /// Stacks built into the executable itself.
    static func executableStacks(_ path: String, facts: FileFacts) -> [Stack] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        let key = BPFCapture.identity(st)
        if let s = facts.byKey[key] { return s }
        var out: [Stack] = []
        var info = oisp_gotls_info()
        var err = [CChar](repeating: 0, count: 512)
        let r = oisp_gotls_inspect(path, &info, &err, err.count)
        if info.is_go != 0 {
            let version = withUnsafeBytes(of: info.go_version) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let via = withUnsafeBytes(of: info.found_via) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if r == OISP_GOTLS_OK.rawValue {
                out.append(Stack(name: "go_tls", covered: true, detail: "crypto/tls in \(version.isEmpty ? "Go" : version), found via \(via)"))
            } else if r != OISP_GOTLS_ERR_NO_TLS.rawValue {
                out.append(Stack(name: "go_tls", covered: false, detail: String(cString: err)))
            }
        } else if oisp_elf_defines(path, "SSL_write") == 1 {
            out.append(Stack(name: "openssl", covered: true, detail: "SSL_write/SSL_read symbols in the executable"))
        } else if let r = rustls(path) { // before BoringSSL's search, which reads the whole file
            out.append(r)
        } else if let b = boringSSL(path) {
            out.append(b)
        }
        facts.byKey[key] = out
        return out
    }

    /// rustls in a Rust program: covered when Writer::write and Reader::read are in its symbol
    /// table; nil when the file has no rustls.
    static func rustls(_ path: String) -> Stack? {
        var info = oisp_rustls_info()
        var err = [CChar](repeating: 0, count: 512)
        let r = oisp_rustls_inspect(path, &info, &err, err.count)
        if r == OISP_RUSTLS_OK.rawValue { return Stack(name: "rustls", covered: true, detail: BPFCapture.rustlsFound(info)) }
        if rustlsNotCovered(r) { return Stack(name: "rustls", covered: false, detail: String(cString: err)) }
        return nil
    }

    /// An oisp_rustls_inspect status that means "rustls is here, and cannot be probed" (to be
    /// reported), as opposed to no rustls at all or a file that could not be read.
    static func rustlsNotCovered(_ r: Int32) -> Bool {
        r == OISP_RUSTLS_ERR_NO_SYMBOLS.rawValue || r == OISP_RUSTLS_ERR_ABI.rawValue || r == OISP_RUSTLS_ERR_ARCH.rawValue
    }

    /// Static BoringSSL (Bun, Chromium/Electron): covered when SSL_write and SSL_read are found
    /// for certain by ssl_lib.cc's own error reports; nil when the file has no BoringSSL. A
    /// static OpenSSL 3 without symbols, found on the way, is covered when ssl_write_internal and
    /// ssl_read_internal are found by theirs, else named as not covered with why.
    static func boringSSL(_ path: String) -> Stack? {
        var info = oisp_boringssl_info()
        var err = [CChar](repeating: 0, count: 512)
        let r = oisp_boringssl_inspect(path, &info, &err, err.count)
        if r == OISP_BORINGSSL_ERR_NO_BORINGSSL.rawValue { return nil }
        let openssl = info.library == OISP_TLS_LIBRARY_OPENSSL.rawValue
        if r == OISP_BORINGSSL_OK.rawValue {
            return openssl
                ? Stack(name: "openssl", covered: true,
                        detail: "static OpenSSL without symbols: ssl_write_internal/ssl_read_internal found by their error reports (\(info.sites) sites; \(info.write_args == 5 ? "3.3+" : "3.0–3.2") arguments)")
                : Stack(name: "boringssl", covered: true,
                        detail: "static BoringSSL: SSL_write/SSL_read found by ssl_lib.cc's error reports (\(info.sites) sites in \(info.functions) functions)")
        }
        return Stack(name: openssl ? "openssl" : "boringssl", covered: false, detail: String(cString: err))
    }

    /// A listed port of an established TCP socket the process holds, if any.
    static func plainSocket(pid: Int32, ports: Set<Int>) -> Int? {
        let inodes = Set(ProcSockets.of(pid: Int64(pid)).map(\.inode))
        guard !inodes.isEmpty else { return nil }
        for file in ["tcp", "tcp6"] {
            guard let text = ProcFS.text("/proc/\(pid)/net/\(file)") else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 9, inodes.contains(String(f[9])) else { continue }
                for col in [1, 2] {
                    if let p = f[col].split(separator: ":").last.flatMap({ Int($0, radix: 16) }), ports.contains(p) { return p }
                }
            }
        }
        return nil
    }
}
