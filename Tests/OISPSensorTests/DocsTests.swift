import Foundation
import OISPEvent
import XCTest

/// The README is the door: its runnable shell blocks are run on this machine as written, and what
/// they promise is checked — above all that the quick start's `record` captures the quick start's
/// HTTPS call and prints the event the README shows. The marker rule is in docs/testing.md:
///
///     <!-- runnable -->                                   run to the end; exit 0
///     <!-- runnable: expect="TEXT" -->                    …and stdout contains TEXT
///     <!-- runnable: background ready="TEXT" -->          start it; the next block runs once its
///                                                         output shows TEXT; SIGINT after the
///                                                         last block; exit 0
///
/// on the line right before a ```sh fence (an HTML comment: GitHub does not render it).
final class DocsTests: XCTestCase {
    struct Block {
        var line: Int
        var code: String
        var background = false
        var ready: String?
        var expect: String?
    }

    /// How many blocks README.md marks runnable. Marking or unmarking a block changes this on
    /// purpose, so a block cannot drop out of the test unnoticed.
    static let expectedRunnableBlocks = 4
    /// The README's size limit (issue #23: at most ~12 KB).
    static let maxReadmeBytes = 12_000
    /// The README's instruction that every command below it relies on; the test puts the built
    /// products on PATH the same way.
    static let pathLine = #"export PATH="$PWD/.build/debug:$PATH""#

    static var readmeURL: URL { TestSupport.packageRoot.appendingPathComponent("README.md") }

    enum ParseError: Error, CustomStringConvertible {
        case noFence(line: Int), unterminated(line: Int), badOption(line: Int, String)
        var description: String {
            switch self {
            case .noFence(let l): return "README.md:\(l): a runnable marker must be followed by a ```sh fence on the next line"
            case .unterminated(let l): return "README.md:\(l): the runnable block is never closed"
            case .badOption(let l, let o): return "README.md:\(l): unknown runnable option '\(o)' (background, ready=\"…\", expect=\"…\")"
            }
        }
    }

    /// The blocks marked runnable, in README order.
    static func runnableBlocks(_ markdown: String) throws -> [Block] {
        let lines = markdown.components(separatedBy: "\n")
        let option = try NSRegularExpression(pattern: #"([a-z]+)(?:="([^"]*)")?"#)
        var blocks: [Block] = []
        var i = 0
        while i < lines.count {
            let t = lines[i].trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("<!-- runnable"), t.hasSuffix("-->") else { i += 1; continue }
            let markerLine = i + 1
            var b = Block(line: markerLine + 1, code: "")
            var opts = String(t.dropFirst("<!-- runnable".count).dropLast("-->".count)).trimmingCharacters(in: .whitespaces)
            if opts.hasPrefix(":") { opts.removeFirst() }
            let ns = opts as NSString
            for m in option.matches(in: opts, range: NSRange(location: 0, length: ns.length)) {
                let name = ns.substring(with: m.range(at: 1))
                let value = m.range(at: 2).location == NSNotFound ? nil : ns.substring(with: m.range(at: 2))
                switch (name, value) {
                case ("background", nil): b.background = true
                case ("ready", let v?): b.ready = v
                case ("expect", let v?): b.expect = v
                default: throw ParseError.badOption(line: markerLine, ns.substring(with: m.range))
                }
            }
            guard i + 1 < lines.count, ["```sh", "```bash", "```shell"].contains(lines[i + 1].trimmingCharacters(in: .whitespaces)) else {
                throw ParseError.noFence(line: markerLine)
            }
            var j = i + 2
            var code: [String] = []
            while j < lines.count, lines[j].trimmingCharacters(in: .whitespaces) != "```" { code.append(lines[j]); j += 1 }
            guard j < lines.count else { throw ParseError.unterminated(line: markerLine) }
            b.code = code.joined(separator: "\n")
            blocks.append(b)
            i = j + 1
        }
        return blocks
    }

    /// Fenced blocks of one info string (```json …), in order.
    static func fencedBlocks(_ markdown: String, info: String) -> [String] {
        var out: [String] = [], cur: [String]?
        for l in markdown.components(separatedBy: "\n") {
            let t = l.trimmingCharacters(in: .whitespaces)
            if var c = cur {
                if t == "```" { out.append(c.joined(separator: "\n")); cur = nil } else { c.append(l); cur = c }
            } else if t == "```" + info {
                cur = []
            }
        }
        return out
    }

    /// Without root: the README's size, its links to the other READMEs (and every relative link in
    /// the four READMEs resolving to a file), the marker syntax and the number of runnable blocks.
    func testREADMEIsTheDoor() throws {
        let data = try Data(contentsOf: Self.readmeURL)
        XCTAssertLessThanOrEqual(data.count, Self.maxReadmeBytes, "README.md is \(data.count) bytes")
        let readme = String(decoding: data, as: UTF8.self)
        for target in ["Benchmarks/README.md", "sdk/README.md", "deploy/README.md", "docs/configuration.md", "docs/testing.md", "docs/capture.md"] {
            XCTAssertTrue(readme.contains("](\(target))"), "README.md links \(target)")
        }
        XCTAssertTrue(readme.contains(Self.pathLine), "README.md tells where the binaries are: \(Self.pathLine)")
        let link = try NSRegularExpression(pattern: #"\]\(([^)#\s]+)(#[^)]*)?\)"#)
        for doc in ["README.md", "sdk/README.md", "deploy/README.md", "Benchmarks/README.md", "docs/testing.md", "docs/configuration.md", "docs/capture.md"] {
            let url = TestSupport.packageRoot.appendingPathComponent(doc)
            let text = try String(contentsOf: url, encoding: .utf8)
            let ns = text as NSString
            for m in link.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
                let target = ns.substring(with: m.range(at: 1))
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                let resolved = url.deletingLastPathComponent().appendingPathComponent(target).standardizedFileURL
                XCTAssertTrue(FileManager.default.fileExists(atPath: resolved.path), "\(doc): link \(target) points at nothing")
            }
        }
        let blocks = try Self.runnableBlocks(readme)
        XCTAssertEqual(blocks.count, Self.expectedRunnableBlocks, "runnable blocks at README.md lines \(blocks.map(\.line))")
        for b in blocks {
            XCTAssertFalse(b.code.contains("kubectl"), "README.md:\(b.line): a block that needs a cluster cannot be runnable")
            XCTAssertEqual(b.ready != nil, b.background, "README.md:\(b.line): a background block says when it is ready (ready=\"…\"), only it does")
        }
        // the parser refuses what it does not know rather than skipping a block silently
        XCTAssertThrowsError(try Self.runnableBlocks("<!-- runnable: backgroud -->\n```sh\ntrue\n```\n"))
        XCTAssertThrowsError(try Self.runnableBlocks("<!-- runnable -->\n\n```sh\ntrue\n```\n"))
        XCTAssertEqual(try Self.runnableBlocks("<!-- runnable: background ready=\"up now\" -->\n```sh\nx\ny\n```\n").first?.ready, "up now")
    }

    /// Every overlay under deploy/overlays has its `kubectl apply -k` line in the README and its
    /// section in deploy/README.md, and deploy/README.md states the sensor's requests and limits
    /// as deploy/base/daemonset.yaml sets them.
    func testDeployREADMECoversEveryOverlay() throws {
        let root = TestSupport.packageRoot
        let readme = try String(contentsOf: Self.readmeURL, encoding: .utf8)
        let deployDoc = try String(contentsOf: root.appendingPathComponent("deploy/README.md"), encoding: .utf8)
        let overlays = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("deploy/overlays").path).sorted()
        XCTAssertGreaterThanOrEqual(overlays.count, 4)
        for o in overlays {
            XCTAssertTrue(readme.contains("kubectl apply -k deploy/overlays/\(o)`"), "README.md: the apply line of \(o)")
            XCTAssertTrue(deployDoc.contains("| `\(o)` |"), "deploy/README.md: a row for \(o)")
        }
        // cpu/memory under requests: and limits: of the sensor container
        let ds = try String(contentsOf: root.appendingPathComponent("deploy/base/daemonset.yaml"), encoding: .utf8)
        func value(_ section: String, _ key: String) -> String? {
            guard let r = ds.range(of: "\(section):\n") else { return nil }
            for line in ds[r.upperBound...].split(separator: "\n").prefix(2) {
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.hasPrefix("\(key): ") { return String(t.dropFirst(key.count + 2)) }
            }
            return nil
        }
        let req = (value("requests", "cpu") ?? "?", value("requests", "memory") ?? "?")
        let lim = (value("limits", "cpu") ?? "?", value("limits", "memory") ?? "?")
        let mi = { (m: String) in m.replacingOccurrences(of: "Mi", with: " Mi") }
        let row = "| `sensor` (every overlay) | \(req.0) CPU, \(mi(req.1)) | \(lim.0) CPU, \(mi(lim.1)) |"
        XCTAssertTrue(deployDoc.contains(row), "deploy/README.md states the DaemonSet's resources: \(row)")
    }

    // MARK: running the blocks

    /// Why the blocks cannot run here, or nil: they load BPF programs (record, check) and give the
    /// quick start's call its own network.
    static func prerequisiteProblem() -> String? {
        if let why = CaptureTests.prerequisiteProblem() { return why }
        for tool in ["unshare", "nsenter", "ip", "openssl", "curl", "python3"] where !onPath(tool) { return "\(tool) not found" }
        return nil
    }

    static func onPath(_ tool: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
        }
    }

    /// The quick start's call goes to `https://api.openai.com` with `$OPENAI_API_KEY`. This machine
    /// has neither the network nor a key, so the test gives the blocks a private network and
    /// mount namespace in which api.openai.com is 127.0.0.1:443 — `Fixtures/tls_server.py`
    /// answering like OpenAI's chat completions API, with a certificate for that name that
    /// `CURL_CA_BUNDLE` trusts — and a made-up `sk-proj-` key. The commands run unchanged: real
    /// curl, real TLS through the system libssl, the real `record` with BPF in this kernel.
    struct Sandbox {
        var server: Process
        var dir: URL
        var cert: URL

        static func start(in dir: URL) throws -> Sandbox {
            let cert = dir.appendingPathComponent("api.openai.com.pem"), key = dir.appendingPathComponent("key.pem")
            let gen = try TestSupport.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                           "-keyout", key.path, "-out", cert.path, "-subj", "/CN=api.openai.com",
                                                           "-addext", "subjectAltName=DNS:api.openai.com"])
            guard gen.status == 0 else { throw NSError(domain: "openssl", code: 1, userInfo: [NSLocalizedDescriptionKey: gen.stderr]) }
            let hosts = dir.appendingPathComponent("hosts")
            try TestSupport.write("127.0.0.1 localhost\n127.0.0.1 api.openai.com\n::1 localhost\n", to: hosts)
            let portFile = dir.appendingPathComponent("port"), log = dir.appendingPathComponent("server.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            // unshare and sh exec in place: the server's pid is the one nsenter joins
            p.arguments = ["unshare", "--net", "--mount", "--", "/bin/sh", "-c",
                           "ip link set lo up && mount --bind \"$1\" /etc/hosts && exec python3 \"$2\" \"$3\" \"$4\" \"$5\"", "sh",
                           hosts.path, TestSupport.fixtures.appendingPathComponent("tls_server.py").path, cert.path, key.path, portFile.path]
            p.environment = ProcessInfo.processInfo.environment.merging(["TLS_SERVER_PORT": "443"]) { $1 }
            p.standardOutput = try FileHandle(forWritingTo: log)
            p.standardError = try FileHandle(forWritingTo: log)
            try p.run()
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, p.isRunning, !FileManager.default.fileExists(atPath: portFile.path) { usleep(50_000) }
            guard p.isRunning, (try? String(contentsOf: portFile, encoding: .utf8)) == "443" else {
                if p.isRunning { p.terminate() }
                let why = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw NSError(domain: "sandbox", code: 1, userInfo: [NSLocalizedDescriptionKey: "api.openai.com stand-in did not start: \(why)"])
            }
            return Sandbox(server: p, dir: dir, cert: cert)
        }

        /// A README block as `bash -e -o pipefail`, inside the sandbox, in `dir`, with the built
        /// products first on PATH.
        func process(for code: String, stdout: URL, stderr: URL) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["nsenter", "--target", "\(server.processIdentifier)", "--net", "--mount", "--",
                           "bash", "-e", "-o", "pipefail", "-c", code]
            p.currentDirectoryURL = dir
            var env = ProcessInfo.processInfo.environment
            for k in ["OISP_CONFIG", "OISP_PLUGIN_PATH", "OISP_BPF_OBJECT"] { env[k] = nil }
            env["PATH"] = TestSupport.binDir.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            env["OPENAI_API_KEY"] = DocsTests.fakeKey
            env["CURL_CA_BUNDLE"] = cert.path
            p.environment = env
            for u in [stdout, stderr] { FileManager.default.createFile(atPath: u.path, contents: nil) }
            p.standardOutput = try FileHandle(forWritingTo: stdout)
            p.standardError = try FileHandle(forWritingTo: stderr)
            p.standardInput = FileHandle.nullDevice
            return p
        }
    }

    static let fakeKey = "sk-proj-" + "DocsTestKey0" + String(repeating: "x9Q", count: 12)

    static func read(_ u: URL) -> String { (try? String(contentsOf: u, encoding: .utf8)) ?? "" }

    /// Polls `condition` until it holds or `seconds` pass.
    static func waitFor(_ seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// Every runnable block of the README, in order, as written. Then the quick start's promise:
    /// `record` prints curl's `ai.request` and `ai.response` (within 10 s of the call), redacted,
    /// with the provider, model, message and key prefix of the curl block, and in the shape of
    /// the sample event the README shows.
    func testREADMERunnableBlocksRunAsWritten() throws {
        if let why = Self.prerequisiteProblem() {
            print("DocsTests: SKIPPING the README's runnable blocks: \(why)")
            if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" {
                XCTFail("the README's runnable blocks need eBPF capture (OISP_REQUIRE_BPF=1), unavailable: \(why)")
                return
            }
            throw XCTSkip(why)
        }
        let readme = try String(contentsOf: Self.readmeURL, encoding: .utf8)
        let blocks = try Self.runnableBlocks(readme)
        let dir = try TestSupport.tempDir("docs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sandbox = try Sandbox.start(in: dir)
        defer { sandbox.server.terminate(); sandbox.server.waitUntilExit() }

        var background: [(block: Block, process: Process, stdout: URL, stderr: URL)] = []
        defer { for b in background where b.process.isRunning { b.process.terminate(); b.process.waitUntilExit() } }
        var outputs: [Int: String] = [:]
        var ran = 0
        for (n, b) in blocks.enumerated() {
            let out = dir.appendingPathComponent("block\(n).out"), err = dir.appendingPathComponent("block\(n).err")
            let p = try sandbox.process(for: b.code, stdout: out, stderr: err)
            try p.run()
            ran += 1
            if b.background {
                background.append((b, p, out, err))
                let ready = b.ready ?? ""
                let up = Self.waitFor(60) { !p.isRunning || (Self.read(out) + Self.read(err)).contains(ready) }
                guard up, p.isRunning else {
                    XCTFail("README.md:\(b.line): the background block did not print \"\(ready)\" (exit \(p.isRunning ? "-" : "\(p.terminationStatus)")): \(Self.read(err).suffix(2000))")
                    return
                }
                continue
            }
            if !Self.waitFor(120, { !p.isRunning }) { p.terminate() }
            p.waitUntilExit()
            let stdout = Self.read(out)
            outputs[n] = stdout
            XCTAssertEqual(p.terminationStatus, 0, "README.md:\(b.line): \(b.code)\nstdout: \(stdout.suffix(1500))\nstderr: \(Self.read(err).suffix(1500))")
            if let e = b.expect { XCTAssertTrue(stdout.contains(e), "README.md:\(b.line): stdout should contain \"\(e)\": \(stdout.suffix(1500))") }
        }
        XCTAssertEqual(ran, Self.expectedRunnableBlocks, "runnable blocks run")

        // the quick start: the background `record` and the curl block
        guard let rec = background.first(where: { $0.block.code.contains("oisp-sensor record") }),
              let curl = blocks.enumerated().first(where: { $0.element.code.contains("curl ") }) else {
            return XCTFail("README.md has no runnable quick start (a background `oisp-sensor record` and a `curl` call)")
        }
        let (curlIndex, curlBlock) = (curl.offset, curl.element)
        func events() -> [OISPEvent] {
            Self.read(rec.stdout).split(separator: "\n").compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        }
        func curlEvent(_ type: String, _ es: [OISPEvent]) -> OISPEvent? {
            es.first { $0.eventType == type && $0.process?.name == "curl" && $0.data["provider"]?["name"]?.stringValue == "openai" }
        }
        let captured = Self.waitFor(10) { let es = events(); return curlEvent("ai.request", es) != nil && curlEvent("ai.response", es) != nil }
        rec.process.interrupt()
        XCTAssertTrue(Self.waitFor(30) { !rec.process.isRunning }, "record stops on Ctrl-C (SIGINT)")
        rec.process.waitUntilExit()
        XCTAssertEqual(rec.process.terminationStatus, 0, "README.md:\(rec.block.line): record's exit status: \(Self.read(rec.stderr).suffix(1500))")
        let all = events(), text = Self.read(rec.stdout)
        XCTAssertTrue(captured, "README.md:\(rec.block.line): record printed curl's ai.request and ai.response within 10 s (\(all.count) events; stderr: \(Self.read(rec.stderr).suffix(1500)))")
        guard let request = curlEvent("ai.request", all), let response = curlEvent("ai.response", all) else { return }
        XCTAssertFalse(text.contains(Self.fakeKey), "the key never leaves the sensor unredacted")

        // what the curl block sent, read from the block itself
        let body = try XCTUnwrap(curlBlock.code.range(of: #"-d '([^']*)'"#, options: .regularExpression).map {
            String(curlBlock.code[$0].dropFirst(4).dropLast())
        }, "the curl block sends a JSON body with -d '…'")
        let sent = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let model = sent["model"] as? String
        let prompt = ((sent["messages"] as? [[String: Any]])?.first?["content"]) as? String
        XCTAssertEqual(request.data["model"]?["id"]?.stringValue, model)
        XCTAssertEqual(request.data["messages"]?.arrayValue?.first?["content"]?.stringValue, prompt)
        XCTAssertEqual(request.data["provider"]?["endpoint"]?.stringValue, "https://api.openai.com/v1/chat/completions")
        XCTAssertEqual(request.data["auth"]?["key_prefix"]?.stringValue, "sk-proj-")
        XCTAssertEqual(request.source.captureMethod, "ebpf_uprobe")
        let answer = response.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
        XCTAssertEqual(answer, "Hello from the test model.")
        XCTAssertTrue(outputs[curlIndex]?.contains("Hello from the test model.") ?? false, "curl printed the answer")
        XCTAssertEqual(request.traceContext?.traceID, response.traceContext?.traceID, "request and response are one call")

        // the sample event the README shows has the captured event's shape and values
        let sampleText = try XCTUnwrap(Self.fencedBlocks(readme, info: "json").first, "README.md shows a sample event (```json)")
        let sample = try OISPEvent(jsonBytes: Array(sampleText.utf8))
        let sampleObject = try XCTUnwrap(JSONParser.parse(sampleText).objectValue)
        let capturedObject = try XCTUnwrap(JSONParser.parse(request.jsonString()).objectValue)
        XCTAssertEqual(sample.eventType, request.eventType)
        XCTAssertEqual(Set(sampleObject.keys), Set(capturedObject.keys), "the sample's members are what record prints")
        XCTAssertEqual(Set(sample.data.keys), Set(request.data.keys), "the sample's data members are what record prints")
        for path in [["provider", "name"], ["provider", "endpoint"], ["model", "id"], ["auth", "type"], ["auth", "key_prefix"], ["request_type"]] {
            let get = { (o: JSONObject) in path.dropFirst().reduce(o[path[0]]) { $0?[$1] } }
            XCTAssertEqual(get(sample.data), get(request.data), "sample data.\(path.joined(separator: "."))")
        }
        XCTAssertEqual(sample.data["messages"], request.data["messages"])
        XCTAssertEqual(sample.process?.exe, request.process?.exe)
        XCTAssertEqual(sample.source.capturePoint, request.source.capturePoint)
        XCTAssertEqual(sample.process?.cmdline, request.process?.cmdline, "the sample shows curl's command line as record redacts it")
    }
}
