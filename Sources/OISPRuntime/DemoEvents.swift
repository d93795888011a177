import Foundation
import OISPEvent

/// Realistic synthetic AI activity for `demo` (and the benchmarks): a process starts, connects
/// to an AI provider, sends a chat request, streams a response, and exits.
public struct DemoEventGenerator {
    public let hostname: String
    public let sensorName: String?
    public var rng = SystemRandomNumberGenerator()
    public static let version = OISPVersion.current

    /// One AI call as the provider's API really carries it: where it goes, how it authenticates
    /// (the header and key shape the provider documents; Ollama: none) and over what.
    public struct Scenario {
        var exe: String, cmd: String, provider: String, host: String, path: String, model: String
        var prompt: String, answer: String
        /// Auth as `ai.request.auth` shows it for this provider's key (the decoder's `AuthInfo`):
        /// the key's prefix, or nil when the API takes no key.
        var keyPrefix: String?
        var ip: String, port: Int
        var tls: Bool { port == 443 }
        /// The provider's own id for the answer (`provider_request_id`), if it sends one.
        var responseIDPrefix: String?
    }

    public static let scenarios: [Scenario] = [
        Scenario(exe: "/usr/bin/python3", cmd: "python3 agent.py --task summarise", provider: "openai", host: "api.openai.com",
                 path: "/v1/chat/completions", model: "gpt-4o",
                 prompt: "Summarise the attached incident report in three bullet points.",
                 answer: "- Database failover took 4 minutes\n- Root cause: expired certificate\n- Action: automate renewal",
                 keyPrefix: "sk-proj-", ip: "104.18.7.192", port: 443, responseIDPrefix: "chatcmpl-"),
        Scenario(exe: "/usr/local/bin/node", cmd: "node cli.js review", provider: "anthropic", host: "api.anthropic.com",
                 path: "/v1/messages", model: "claude-sonnet-4-5",
                 prompt: "Review this diff for security issues: + exec(user_input)",
                 answer: "The change passes unsanitised input to exec(), which allows command injection.",
                 keyPrefix: "sk-ant-api03-", ip: "160.79.104.10", port: 443, responseIDPrefix: "msg_"),
        Scenario(exe: "/usr/bin/curl", cmd: "curl https://generativelanguage.googleapis.com/...", provider: "google",
                 host: "generativelanguage.googleapis.com", path: "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                 model: "gemini-2.0-flash", prompt: "Translate 'good morning' to French.", answer: "Bonjour.",
                 keyPrefix: "AIza", ip: "142.250.74.42", port: 443, responseIDPrefix: nil),
        Scenario(exe: "/opt/app/bin/worker", cmd: "worker --queue tickets", provider: "ollama", host: "localhost:11434",
                 path: "/api/chat", model: "llama3.1:8b", prompt: "Classify this ticket: 'my invoice is wrong'", answer: "billing",
                 keyPrefix: nil, ip: "127.0.0.1", port: 11434, responseIDPrefix: nil),
    ]

    /// The end of the last scenario generated: the next one starts after it, so the events of
    /// consecutive scenarios are in time order.
    private var clock: Int64 = 0

    public init(hostname: String, sensorName: String?) {
        self.hostname = hostname
        self.sensorName = sensorName
    }

    /// One scenario's events (exec, connect, request, chunks, response, exit), with `index`
    /// choosing the scenario. It starts at `start` or, if the previous scenario ends later, 5 ms
    /// after that.
    public mutating func scenario(_ index: Int, at start: Timestamp = .now()) -> [OISPEvent] {
        let s = DemoEventGenerator.scenarios[index % DemoEventGenerator.scenarios.count]
        let pid = Int64(20000 + Int.random(in: 0..<30000, using: &rng))
        let host = OISPEvent.Host(hostname: hostname, os: "linux", arch: "x86_64")
        let proc = OISPEvent.Process(pid: pid, ppid: 1, exe: s.exe, name: (s.exe as NSString).lastPathComponent,
                                     cmdline: s.cmd, uid: 1000)
        var src = OISPEvent.Source(collectorVersion: DemoEventGenerator.version, captureMethod: "synthetic",
                                   sensorHost: sensorName)
        let actor = OISPEvent.Actor(uid: 1000, user: "demo")
        let begin = max(start.nanoseconds, clock == 0 ? 0 : clock + 5_000_000)
        var t = begin
        func next(_ ms: Int64) -> Timestamp { t += ms * 1_000_000; return Timestamp(nanoseconds: t) }
        defer { clock = t }
        var out: [OISPEvent] = []

        src.capturePoint = "sched_process_exec"
        out.append(OISPEvent(eventType: "process.exec", ts: next(0), host: host, actor: actor, process: proc, source: src,
                             confidence: .init(level: "high", completeness: "full", reasons: ["synthetic"]),
                             data: ["exe": .string(s.exe), "args": .array(s.cmd.split(separator: " ").map { .string(String($0)) }),
                                    "cwd": "/home/demo"]))
        src.capturePoint = "connect"
        var connect: JSONObject = ["dest": ["ip": .string(s.ip), "port": .int(Int64(s.port)),
                                            "domain": .string(s.host.split(separator: ":").first.map(String.init) ?? s.host),
                                            "is_private": .bool(!s.tls)],
                                   "protocol": "tcp", "success": true]
        if s.tls { connect["tls"] = ["version": "TLSv1.3", "sni": .string(s.host), "alpn": "h2"] }
        out.append(OISPEvent(eventType: "network.connect", ts: next(12), host: host, actor: actor, process: proc, source: src,
                             data: connect))
        let requestID = "req_" + ULID.make()
        let h = Hashing.sha256(Array(requestID.utf8))
        let trace = OISPEvent.TraceContext(traceID: Hashing.hexString(Array(h[0..<16])), spanID: Hashing.hexString(Array(h[16..<24])), traceFlags: 1)
        src.capturePoint = s.tls ? "ssl_write" : "socket_write"
        let endpoint = "\(s.tls ? "https" : "http")://\(s.host)\(s.path)"
        var auth: JSONObject = ["type": "none"]
        if let p = s.keyPrefix {
            auth = ["type": "api_key", "key_prefix": .string(p), "key_hash": .string(Hashing.keyed("demo-key-" + s.provider, key: []))]
        }
        let request = OISPEvent(eventType: "ai.request", ts: next(3), host: host, actor: actor, process: proc, source: src,
                                confidence: .init(level: "high", completeness: "full", reasons: [s.tls ? "tls_boundary_capture" : "plaintext_socket_capture", "known_endpoint"]),
                                data: ["request_id": .string(requestID),
                                       "provider": ["name": .string(s.provider), "endpoint": .string(endpoint)],
                                       "model": ["id": .string(s.model)],
                                       "auth": .object(auth),
                                       "request_type": "chat", "streaming": true,
                                       "messages": [["role": "system", "content": "You are a helpful assistant.", "content_length": 28],
                                                    ["role": "user", "content": .string(s.prompt), "content_length": .int(Int64(s.prompt.count))]],
                                       "messages_count": 2, "has_system_prompt": true,
                                       "parameters": ["temperature": 0.2, "max_tokens": 1024],
                                       "estimated_tokens": .int(Int64(s.prompt.count / 4 + 12))])
        var requestWithTrace = request
        requestWithTrace.traceContext = trace
        out.append(requestWithTrace)
        src.capturePoint = s.tls ? "ssl_read" : "socket_read"
        let words = s.answer.split(separator: " ", omittingEmptySubsequences: false)
        let ttft: Int64 = 180 + Int64.random(in: 0..<120, using: &rng)
        for (i, w) in words.enumerated() {
            out.append(OISPEvent(eventType: "ai.streaming_chunk", ts: next(i == 0 ? ttft : 25), host: host, actor: actor,
                                 process: proc, source: src,
                                 relatedEvents: [.init(eventID: request.eventID, relationship: "parent")], traceContext: trace,
                                 data: ["request_id": .string(requestID), "chunk_index": .int(Int64(i)),
                                        "delta": ["content": .string((i == 0 ? "" : " ") + w)]]))
        }
        let completionTokens = Int64(words.count + 2)
        let promptTokens = Int64(s.prompt.count / 4 + 12)
        let latency = (t - request.ts.nanoseconds) / 1_000_000 + 20
        var response: JSONObject = ["request_id": .string(requestID),
                                    "provider": ["name": .string(s.provider)], "model": ["id": .string(s.model)],
                                    "status_code": 200, "success": true,
                                    "choices": [["index": 0, "message": ["role": "assistant", "content": .string(s.answer)],
                                                 "finish_reason": "stop"]],
                                    "usage": ["prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens),
                                              "total_tokens": .int(promptTokens + completionTokens)],
                                    "latency_ms": .int(latency), "time_to_first_token_ms": .int(ttft), "finish_reason": "stop"]
        if let p = s.responseIDPrefix { response["provider_request_id"] = .string(p + ULID.make().lowercased()) }
        out.append(OISPEvent(eventType: "ai.response", ts: next(20), host: host, actor: actor, process: proc, source: src,
                             confidence: .init(level: "high", completeness: "full", reasons: [s.tls ? "tls_boundary_capture" : "plaintext_socket_capture", "known_endpoint"]),
                             relatedEvents: [.init(eventID: request.eventID, relationship: "caused_by")], traceContext: trace,
                             data: response))
        src.capturePoint = "sched_process_exit"
        out.append(OISPEvent(eventType: "process.exit", ts: next(40), host: host, actor: actor, process: proc, source: src,
                             data: ["exit_code": 0, "runtime_ms": .int((t - begin) / 1_000_000),
                                    "termination_type": "normal"]))
        return out
    }
}
