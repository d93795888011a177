import Foundation
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
        if let c = s.lastIndex(of: ":"), s.filter({ $0 == ":" }).count == 1 { return (String(s[..<c]), Int(s[s.index(after: c)...])) }
        return (s, nil)
    }

    /// The API family implied by a path alone.
    public static func family(path rawPath: String) -> (APIFamily, String?)? {
        let path = String(rawPath.split(separator: "?", maxSplits: 1).first ?? "")
        if path.hasSuffix("/chat/completions") { return (.openaiChat, azureDeployment(path)) }
        if path.hasSuffix("/embeddings") && path != "/api/embeddings" { return (.openaiEmbedding, azureDeployment(path)) }
        if path.hasSuffix("/completions") { return (.openaiCompletion, azureDeployment(path)) }
        if path.hasSuffix("/responses") { return (.openaiResponses, nil) }
        if path.hasSuffix("/v1/messages") || path == "/messages" { return (.anthropicMessages, nil) }
        if let r = path.range(of: "/models/"), path.hasSuffix(":generateContent") || path.hasSuffix(":streamGenerateContent") {
            let model = path[r.upperBound...].split(separator: ":").first.map(String.init)
            return (.geminiGenerate, model)
        }
        if let r = path.range(of: "/models/"), path.hasSuffix(":embedContent") || path.hasSuffix(":batchEmbedContents") {
            return (.geminiEmbed, path[r.upperBound...].split(separator: ":").first.map(String.init))
        }
        if path.hasPrefix("/model/") {
            let parts = path.split(separator: "/")
            let model = parts.count >= 2 ? String(parts[1]).removingPercentEncoding : nil
            if path.hasSuffix("/converse") || path.hasSuffix("/converse-stream") { return (.bedrockConverse, model) }
            if path.hasSuffix("/invoke") || path.hasSuffix("/invoke-with-response-stream") { return (.bedrockInvoke, model) }
        }
        if path == "/api/chat" { return (.ollamaChat, nil) }
        if path == "/api/generate" { return (.ollamaGenerate, nil) }
        if path == "/api/embed" || path == "/api/embeddings" { return (.ollamaEmbed, nil) }
        if path == "/v2/chat" || path == "/v1/chat" { return (.cohereChat, nil) }
        if path == "/v2/embed" || path == "/v1/embed" { return (.cohereEmbed, nil) }
        return nil
    }

    static func azureDeployment(_ path: String) -> String? {
        guard let r = path.range(of: "/deployments/") else { return nil }
        return path[r.upperBound...].split(separator: "/").first.map(String.init)
    }

    /// Recognises an AI API call, or nil for other HTTPS traffic.
    /// - Parameters:
    ///   - authority: `Host` / `:authority` (may carry a port).
    ///   - path: request target.
    ///   - remotePort: the connection's port, for local servers without a Host port.
    /// Whether `s` contains `sub`, byte for byte (Foundation's search would go through NSString).
    static func has(_ s: String, _ sub: String) -> Bool { s.utf8.firstRange(of: sub.utf8) != nil }

    public func match(authority: String?, path: String, remotePort: Int? = nil) -> ProviderMatch? {
        let (host, hostPort) = ProviderRegistry.splitAuthority(authority ?? "")
        let port = hostPort ?? remotePort
        guard let (family, pathModel) = ProviderRegistry.family(path: path) else { return nil }
        var region: String?
        if Self.has(host, "bedrock-runtime") { region = host.split(separator: ".").dropFirst().first.map(String.init) }
        for e in entries {
            if !e.pathPrefixes.isEmpty && !e.pathPrefixes.contains(where: { path.hasPrefix($0) }) { continue }
            var hit = e.hosts.contains(host) || e.hostSuffixes.contains { host.hasSuffix($0) }
            if !e.hostContains.isEmpty { hit = hit && e.hostContains.contains { Self.has(host, $0) } }
            if !hit, !e.localPorts.isEmpty, let port, e.localPorts.contains(port),
               ProviderRegistry.localHosts.contains(host) || host.isEmpty {
                hit = true
            }
            if hit { return ProviderMatch(provider: e.name, family: family, pathModel: pathModel, region: region) }
        }
        // An unknown host speaking a recognised AI API (self-hosted gateways, proxies).
        switch family {
        case .openaiChat, .anthropicMessages, .geminiGenerate, .bedrockConverse, .openaiResponses:
            return ProviderMatch(provider: "unknown", family: family, pathModel: pathModel, region: region)
        default:
            return nil
        }
    }
}
