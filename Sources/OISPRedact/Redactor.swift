import Foundation
import OISPConfig
import OISPEvent

/// Applies `[redaction]` to events: `safe` replaces each finding with `[REDACTED:<type>]`,
/// `minimal` replaces every content field with a `$redacted` object (length, keyed hash,
/// findings), `full` keeps content. Sensitive header values in captured HTTP text are removed in
/// every mode. What was redacted is recorded in `ext["oisp.redaction"]`. Events are redacted as
/// they are written (`write(_:into:)`, RedactingWriter.swift).
public final class Redactor: @unchecked Sendable {
    public let mode: SensorConfig.Redaction.Mode
    public let scanner: SecretScanner
    /// HMAC-SHA-256 under the redaction key (`hash_salt`, else the per-install random key).
    let keyedHash: KeyedHash
    /// Where that key came from (for the start-up log and `config check`).
    public let hashKey: RedactionKey
    let headerOnly: SecretScanner
    /// Member names the sensor itself writes, kept where this redactor's scanner finds nothing in
    /// them (a custom pattern may): not scanned again in every event.
    let cleanNames: NameSet
    static let knownNames: Set<String> = [
        "amount", "arguments", "args", "auth", "body_parse_error", "cache_creation_tokens", "cache_read", "cache_read_tokens",
        "cache_write", "cached_tokens", "choices", "chunk_count", "chunk_index", "code", "completion_tokens", "content",
        "content_length", "conversation", "cost", "currency", "cwd", "date", "delta", "description", "dimensions", "error",
        "estimated_tokens", "exit_code", "finish_reason", "frequency_penalty", "function", "has_system_prompt", "id", "index",
        "input", "input_amount", "input_cost_usd", "input_count", "input_tokens", "is_shell", "latency_ms", "max_tokens",
        "message", "messages", "messages_count", "name", "output", "output_amount", "output_cost_usd", "output_tokens",
        "parameters", "presence_penalty", "previous_response_id", "price", "prompt_tokens", "reason", "reasoning",
        "reasoning_tokens", "request_type", "runtime_ms", "seed", "status", "status_code", "stop", "stream", "streaming",
        "success", "temperature", "termination_type", "thinking", "time_to_first_token_ms", "tokens", "tool", "tool_call_id",
        "tool_calls", "tool_calls_count", "tool_choice", "tools", "tools_count", "top_p", "total_cost_usd", "total_tokens",
        "type", "unit", "usage", "user",
    ]
    /// Command lines seen without a finding (this redactor's rules are fixed, so they stay clean).
    let cleanCmdlines = StringMemo(limit: 4096)

    /// Keys whose string values are message content (replaced whole in `minimal` mode).
    static let contentKeys: Set<String> = ["content", "arguments", "text", "base64", "prompt", "input", "instructions", "partial_json"]
    /// Keys never scanned: identifiers and hashes the sensor itself made.
    static let skipKeys: Set<String> = ["request_id", "key_hash", "arguments_hash", "content_hash", "hash", "provider_request_id",
                                        "call_id", "triggered_by", "key_prefix", "endpoint", "ssl",
                                        // connection and process metadata, not content
                                        "dest", "src", "tls", "exe", "cwd", "model", "provider", "role", "finish_reason"]

    /// - Throws: `ConfigError`-style text when a custom pattern does not compile.
    public init(config: SensorConfig.Redaction) throws {
        mode = config.mode
        var t = SecretScanner.Toggles()
        t.apiKeys = config.isEnabled("redact_api_keys")
        t.emails = config.isEnabled("redact_emails")
        t.creditCards = config.isEnabled("redact_credit_cards")
        t.ssn = config.isEnabled("redact_ssn")
        t.phones = config.isEnabled("redact_phone_numbers")
        t.ips = config.isEnabled("redact_ip_addresses")
        t.jwt = config.isEnabled("redact_jwt")
        t.privateKeys = config.isEnabled("redact_private_keys")
        var custom: [(String, NSRegularExpression)] = []
        for p in config.customPatterns {
            do { custom.append((p.name, try NSRegularExpression(pattern: p.pattern))) } catch {
                throw RedactionConfigError(pattern: p.name, regex: p.pattern)
            }
        }
        scanner = SecretScanner(toggles: t, custom: custom)
        var none = SecretScanner.Toggles()
        none.apiKeys = false; none.emails = false; none.creditCards = false; none.ssn = false
        none.phones = false; none.ips = false; none.jwt = false; none.privateKeys = false
        headerOnly = SecretScanner(toggles: none)
        let sc = scanner
        cleanNames = NameSet(Redactor.knownNames.filter { sc.scan($0).isEmpty })
        hashKey = RedactionKey.resolve(config)
        keyedHash = KeyedHash(key: hashKey.bytes)
    }

    public struct RedactionConfigError: Error, CustomStringConvertible {
        public let pattern: String
        public let regex: String
        public var description: String { "[redaction] custom pattern '\(pattern)' is not a valid regular expression: \(regex)" }
    }

    /// The keyed hash used in markers.
    public func hash(_ s: String) -> String { keyedHash.hash(s) }
    /// The same hash of bytes (a finding's text where it lies).
    public func hash(bytes: UnsafeBufferPointer<UInt8>) -> String { keyedHash.hash(bytes) }
}

/// A bounded, thread-safe set of strings (emptied when full: a cache, not a record).
final class StringMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<String> = []
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func contains(_ s: String) -> Bool { lock.withLock { set.contains(s) } }
    func insert(_ s: String) {
        lock.withLock {
            if set.count >= limit { set.removeAll(keepingCapacity: true) }
            set.insert(s)
        }
    }
}
