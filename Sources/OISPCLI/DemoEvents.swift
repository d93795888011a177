import Foundation
import OISPEvent

/// Realistic synthetic AI activity for `demo` (and the benchmarks): a process starts, connects
/// to an AI provider, sends a chat request, streams a response, and exits.
struct DemoEventGenerator {
    let hostname: String
    let sensorName: String?
    var rng = SystemRandomNumberGenerator()
    static let version = OISPVersion.current

    private static let scenarios: [(exe: String, cmd: String, provider: String, host: String, path: String, model: String, prompt: String, answer: String)] = [
        ("/usr/bin/python3", "python3 agent.py --task summarise", "openai", "api.openai.com", "/v1/chat/completions",
         "gpt-4o", "Summarise the attached incident report in three bullet points.",
         "- Database failover took 4 minutes\n- Root cause: expired certificate\n- Action: automate renewal"),
        ("/usr/local/bin/node", "node cli.js review", "anthropic", "api.anthropic.com", "/v1/messages",
         "claude-sonnet-4-5", "Review this diff for security issues: + exec(user_input)",
         "The change passes unsanitised input to exec(), which allows command injection."),
        ("/usr/bin/curl", "curl https://generativelanguage.googleapis.com/...", "google", "generativelanguage.googleapis.com",
         "/v1beta/models/gemini-2.0-flash:generateContent", "gemini-2.0-flash", "Translate 'good morning' to French.", "Bonjour."),
        ("/opt/app/bin/worker", "worker --queue embeddings", "ollama", "localhost:11434", "/api/chat",
         "llama3.1:8b", "Classify this ticket: 'my invoice is wrong'", "billing"),
    ]

    init(hostname: String, sensorName: String?) {
        self.hostname = hostname
        self.sensorName = sensorName
    }

    /// One scenario's events (exec, connect, request, chunks, response, exit), with `index`
    /// choosing the scenario.
    mutating func scenario(_ index: Int, at start: Timestamp = .now()) -> [OISPEvent] {
        let s = DemoEventGenerator.scenarios[index % DemoEventGenerator.scenarios.count]
        let pid = Int64(20000 + Int.random(in: 0..<30000, using: &rng))
        let host = OISPEvent.Host(hostname: hostname, os: "linux", arch: "x86_64")
        let proc = OISPEvent.Process(pid: pid, ppid: 1, exe: s.exe, name: (s.exe as NSString).lastPathComponent,
                                     cmdline: s.cmd, uid: 1000)
        var src = OISPEvent.Source(collectorVersion: DemoEventGenerator.version, captureMethod: "synthetic",
                                   sensorHost: sensorName)
        let actor = OISPEvent.Actor(uid: 1000, user: "demo")
        var t = start.nanoseconds
        func next(_ ms: Int64) -> Timestamp { t += ms * 1_000_000; return Timestamp(nanoseconds: t) }
        var out: [OISPEvent] = []

        src.capturePoint = "sched_process_exec"
        out.append(OISPEvent(eventType: "process.exec", ts: next(0), host: host, actor: actor, process: proc, source: src,
                             confidence: .init(level: "high", completeness: "full", reasons: ["synthetic"]),
                             data: ["exe": .string(s.exe), "args": .array(s.cmd.split(separator: " ").map { .string(String($0)) }),
                                    "cwd": "/home/demo"]))
        src.capturePoint = "connect"
        out.append(OISPEvent(eventType: "network.connect", ts: next(12), host: host, actor: actor, process: proc, source: src,
                             data: ["dest": ["ip": s.provider == "ollama" ? "127.0.0.1" : "104.18.7.192",
                                             "port": s.provider == "ollama" ? 11434 : 443,
                                             "domain": .string(s.host.split(separator: ":").first.map(String.init) ?? s.host),
                                             "is_private": .bool(s.provider == "ollama")],
                                    "protocol": "tcp", "success": true,
                                    "tls": ["version": "TLSv1.3", "sni": .string(s.host), "alpn": "h2"]]))
        let requestID = "req_" + ULID.make()
        let h = Hashing.sha256(Array(requestID.utf8))
        let trace = OISPEvent.TraceContext(traceID: Hashing.hexString(Array(h[0..<16])), spanID: Hashing.hexString(Array(h[16..<24])), traceFlags: 1)
        src.capturePoint = "ssl_write"
        let endpoint = "https://\(s.host)\(s.path)"
        let request = OISPEvent(eventType: "ai.request", ts: next(3), host: host, actor: actor, process: proc, source: src,
                                confidence: .init(level: "high", completeness: "full", reasons: ["tls_boundary_capture", "known_endpoint"]),
                                data: ["request_id": .string(requestID),
                                       "provider": ["name": .string(s.provider), "endpoint": .string(endpoint)],
                                       "model": ["id": .string(s.model)],
                                       "auth": ["type": "api_key", "key_prefix": s.provider == "anthropic" ? "sk-ant-" : "sk-proj-"],
                                       "request_type": "chat", "streaming": true,
                                       "messages": [["role": "system", "content": "You are a helpful assistant.", "content_length": 28],
                                                    ["role": "user", "content": .string(s.prompt), "content_length": .int(Int64(s.prompt.count))]],
                                       "messages_count": 2, "has_system_prompt": true,
                                       "parameters": ["temperature": 0.2, "max_tokens": 1024],
                                       "estimated_tokens": .int(Int64(s.prompt.count / 4 + 12))])
        var requestWithTrace = request
        requestWithTrace.traceContext = trace
        out.append(requestWithTrace)
        src.capturePoint = "ssl_read"
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
        out.append(OISPEvent(eventType: "ai.response", ts: next(20), host: host, actor: actor, process: proc, source: src,
                             confidence: .init(level: "high", completeness: "full", reasons: ["tls_boundary_capture", "known_endpoint"]),
                             relatedEvents: [.init(eventID: request.eventID, relationship: "caused_by")], traceContext: trace,
                             data: ["request_id": .string(requestID), "provider_request_id": .string("chatcmpl-" + ULID.make().lowercased()),
                                    "provider": ["name": .string(s.provider)], "model": ["id": .string(s.model)],
                                    "status_code": 200, "success": true,
                                    "choices": [["index": 0, "message": ["role": "assistant", "content": .string(s.answer)],
                                                 "finish_reason": "stop"]],
                                    "usage": ["prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens),
                                              "total_tokens": .int(promptTokens + completionTokens)],
                                    "latency_ms": .int(latency), "time_to_first_token_ms": .int(ttft), "finish_reason": "stop"]))
        src.capturePoint = "sched_process_exit"
        out.append(OISPEvent(eventType: "process.exit", ts: next(40), host: host, actor: actor, process: proc, source: src,
                             data: ["exit_code": 0, "runtime_ms": .int((t - start.nanoseconds) / 1_000_000),
                                    "termination_type": "normal"]))
        return out
    }
}
