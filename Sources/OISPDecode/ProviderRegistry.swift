import OISPEvent

/// API format of a request, which decides how bodies are read.
public enum APIFamily: String, Sendable {
    case openaiChat = "openai.chat", openaiCompletion = "openai.completion", openaiEmbedding = "openai.embedding"
    case openaiResponses = "openai.responses", openaiOther = "openai.other"
    case anthropicMessages = "anthropic.messages"
    case geminiGenerate = "gemini.generate", geminiEmbed = "gemini.embed"
    case bedrockConverse = "bedrock.converse", bedrockInvoke = "bedrock.invoke"
    case ollamaChat = "ollama.chat", ollamaGenerate = "ollama.generate", ollamaEmbed = "ollama.embed"
    case cohereChat = "cohere.chat", cohereEmbed = "cohere.embed"

    public var requestType: String {
        switch self {
        case .openaiChat, .openaiResponses, .anthropicMessages, .geminiGenerate, .bedrockConverse, .bedrockInvoke,
             .ollamaChat, .cohereChat: return "chat"
        case .openaiCompletion, .ollamaGenerate: return "completion"
        case .openaiEmbedding, .geminiEmbed, .ollamaEmbed, .cohereEmbed: return "embedding"
        case .openaiOther: return "other"
        }
    }
    public var isEmbedding: Bool { requestType == "embedding" }
    /// Ollama's own API (`/api/chat`, `/api/generate`, `/api/embed`).
    public var isOllamaNative: Bool { self == .ollamaChat || self == .ollamaGenerate || self == .ollamaEmbed }
}

/// One provider entry (see `builtinProvidersJSON`).
public struct ProviderEntry: Sendable, Equatable {
    public var name: String
    public var hosts: [String] = []
    public var hostSuffixes: [String] = []
    public var hostContains: [String] = []
    public var localPorts: [Int] = []
    public var pathPrefixes: [String] = []

    public init(json o: JSONObject) throws {
        guard let n = o["name"]?.stringValue, !n.isEmpty else { throw HTTPParseError(reason: "provider entry without a name") }
        name = n
        func strings(_ k: String) -> [String] { o[k]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        hosts = strings("hosts").map { $0.lowercased() }
        hostSuffixes = strings("host_suffixes").map { $0.lowercased() }
        hostContains = strings("host_contains").map { $0.lowercased() }
        localPorts = o["local_ports"]?.arrayValue?.compactMap { $0.intValue.map(Int.init) } ?? []
        pathPrefixes = strings("path_prefixes")
    }
}

/// A recognised AI endpoint.
public struct ProviderMatch: Sendable, Equatable {
    public var provider: String
    public var family: APIFamily
    /// Model named by the URL (Gemini, Bedrock, Azure deployments), if any.
    public var pathModel: String?
    public var region: String?
}

/// Maps Host/:authority + path (+ port for local servers) to a provider and API family.
public struct ProviderRegistry: Sendable {
    public private(set) var entries: [ProviderEntry]

    public init(extra: [ProviderEntry] = []) {
        var base: [ProviderEntry] = []
        if case .array(let a)? = try? JSONParser.parse(builtinProvidersJSON) {
            base = a.compactMap { $0.objectValue.flatMap { try? ProviderEntry(json: $0) } }
        }
        // User entries first, so they override built-ins.
        entries = extra + base
    }

    static let localHosts: Set<String> = ["localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "host.docker.internal"]

    /// Splits "host:port" (IPv6 in brackets allowed).
    static func splitAuthority(_ a: String) -> (String, Int?) {
        let s = a.lowercased()
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            let host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        if let c = s.lastIndex(of: ":"), s.utf8.lazy.filter({ $0 == UInt8(ascii: ":") }).count == 1 { return (String(s[..<c]), Int(s[s.index(after: c)...])) }
        return (s, nil)
    }

    /// The API family implied by a path alone.
    public static func family(path rawPath: String) -> (APIFamily, String?)? {
        let path = rawPath.withoutQuery
        if path.utf8HasSuffix("/chat/completions") { return (.openaiChat, azureDeployment(path)) }
        if path.utf8HasSuffix("/embeddings") && path != "/api/embeddings" { return (.openaiEmbedding, azureDeployment(path)) }
        if path.utf8HasSuffix("/completions") { return (.openaiCompletion, azureDeployment(path)) }
        if path.utf8HasSuffix("/responses") { return (.openaiResponses, nil) }
        if path.utf8HasSuffix("/v1/messages") || path == "/messages" { return (.anthropicMessages, nil) }
        if let rest = path.utf8After("/models/"), path.utf8HasSuffix(":generateContent") || path.utf8HasSuffix(":streamGenerateContent") {
            let model = rest.split(separator: ":").first.map(String.init)
            return (.geminiGenerate, model)
        }
        if let rest = path.utf8After("/models/"), path.utf8HasSuffix(":embedContent") || path.utf8HasSuffix(":batchEmbedContents") {
            return (.geminiEmbed, rest.split(separator: ":").first.map(String.init))
        }
        if path.utf8HasPrefix("/model/") {
            let parts = path.split(separator: "/")
            let model = parts.count >= 2 ? String(parts[1]).removingPercentEncoding : nil
            if path.utf8HasSuffix("/converse") || path.utf8HasSuffix("/converse-stream") { return (.bedrockConverse, model) }
            if path.utf8HasSuffix("/invoke") || path.utf8HasSuffix("/invoke-with-response-stream") { return (.bedrockInvoke, model) }
        }
        if path == "/api/chat" { return (.ollamaChat, nil) }
        if path == "/api/generate" { return (.ollamaGenerate, nil) }
        if path == "/api/embed" || path == "/api/embeddings" { return (.ollamaEmbed, nil) }
        if path == "/v2/chat" || path == "/v1/chat" { return (.cohereChat, nil) }
        if path == "/v2/embed" || path == "/v1/embed" { return (.cohereEmbed, nil) }
        return nil
    }

    static func azureDeployment(_ path: String) -> String? {
        guard let rest = path.utf8After("/deployments/") else { return nil }
        return rest.split(separator: "/").first.map(String.init)
    }

    /// Recognises an AI API call, or nil for other HTTPS traffic.
    /// - Parameters:
    ///   - authority: `Host` / `:authority` (may carry a port).
    ///   - path: request target.
    ///   - remotePort: the connection's port, for local servers without a Host port.
    public func match(authority: String?, path: String, remotePort: Int? = nil) -> ProviderMatch? {
        let (host, hostPort) = ProviderRegistry.splitAuthority(authority ?? "")
        let port = hostPort ?? remotePort
        guard let (family, pathModel) = ProviderRegistry.family(path: path) else { return nil }
        var region: String?
        if host.utf8Contains("bedrock-runtime") { region = host.split(separator: ".").dropFirst().first.map(String.init) }
        for e in entries {
            if !e.pathPrefixes.isEmpty && !e.pathPrefixes.contains(where: { path.utf8HasPrefix($0) }) { continue }
            var hit = e.hosts.contains(host) || e.hostSuffixes.contains { host.utf8HasSuffix($0) }
            if !e.hostContains.isEmpty { hit = hit && e.hostContains.contains { host.utf8Contains($0) } }
            var byPort = false
            if !hit, !e.localPorts.isEmpty, let port, e.localPorts.contains(port),
               ProviderRegistry.localHosts.contains(host) || host.isEmpty {
                hit = true
                byPort = true
            }
            // only Ollama serves its own API: a port guess (8000: vLLM) does not name it otherwise
            if hit, byPort, family.isOllamaNative { return ProviderMatch(provider: "ollama", family: family, pathModel: pathModel, region: region) }
            if hit { return ProviderMatch(provider: e.name, family: family, pathModel: pathModel, region: region) }
        }
        // An unknown host speaking a recognised AI API (self-hosted gateways, proxies).
        switch family {
        case .openaiChat, .anthropicMessages, .geminiGenerate, .bedrockConverse, .openaiResponses:
            return ProviderMatch(provider: "unknown", family: family, pathModel: pathModel, region: region)
        case .ollamaChat, .ollamaGenerate, .ollamaEmbed:
            // Ollama on another port (OLLAMA_HOST, a pod's service): its API paths are short and
            // generic (`/api/chat`), so only on this machine, a private address or a host named
            // for it (`ollama.ai.svc`), not on any web server
            guard ProviderRegistry.localHosts.contains(host) || host.isEmpty || IPAddress.isPrivate(host)
                    || host.utf8HasPrefix("ollama") else { return nil }
            return ProviderMatch(provider: "ollama", family: family, pathModel: pathModel, region: region)
        default:
            return nil
        }
    }
}
