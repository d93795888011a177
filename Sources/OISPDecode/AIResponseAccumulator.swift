import OISPEvent

/// Builds the `ai.response` payload from a whole body or from streamed events (SSE, NDJSON),
/// per API family: content per choice, tool calls, usage, finish reason, thinking text.
struct AIResponseAccumulator {
    let family: APIFamily
    var providerRequestID: String?
    var model: String?
    var contents: [Int: String] = [:]
    var roles: [Int: String] = [:]
    var finishReasons: [Int: String] = [:]
    var toolCalls: [(id: String?, name: String, arguments: String)] = []
    private var toolIndex: [Int: Int] = [:]          // stream tool index → toolCalls index
    var usage = JSONObject()
    var thinking = ""
    var error: JSONObject?
    var embeddingDimensions: Int?
    var embeddingTokens: Int64?
    var chunkCount = 0

    init(family: APIFamily) { self.family = family }

    static func normalizeFinish(_ r: String?) -> String? {
        guard let r else { return nil }
        switch r.lowercased() {
        case "stop", "end_turn", "stop_sequence", "eos", "complete", "finish_reason_stop": return "stop"
        case "length", "max_tokens", "model_length": return "length"
        case "tool_calls", "tool_use", "function_call": return "tool_calls"
        case "content_filter", "safety", "recitation", "blocklist", "prohibited_content", "guardrail_intervened", "refusal": return "content_filter"
        case "error": return "error"
        default: return "other"
        }
    }

    mutating func addUsage(_ key: String, _ v: JSONValue?) {
        if let i = v?.intValue { usage[key] = .int(i) }
    }

    /// A delta for `ai.streaming_chunk`: content/role/tool call text of one streamed event.
    struct Delta {
        var content: String?
        var role: String?
        var toolCalls: [JSONValue] = []
        var finishReason: String?
        var isEmpty: Bool { content == nil && role == nil && toolCalls.isEmpty && finishReason == nil }
    }

    mutating func appendTool(streamIndex: Int, id: String?, name: String?, args: String?) -> JSONValue {
        if let k = toolIndex[streamIndex] {
            if let name, !name.isEmpty, toolCalls[k].name.isEmpty { toolCalls[k].name = name }
            if let id, toolCalls[k].id == nil { toolCalls[k].id = id }
            toolCalls[k].arguments += args ?? ""
        } else {
            toolIndex[streamIndex] = toolCalls.count
            toolCalls.append((id, name ?? "", args ?? ""))
        }
        var o = JSONObject()
        o["index"] = .int(Int64(streamIndex))
        o.set("id", id.map(JSONValue.string)); o.set("name", name.map(JSONValue.string))
        o.set("arguments", args.map(JSONValue.string))
        return .object(o)
    }

    /// Consumes one streamed event (SSE `data` JSON, or an NDJSON line).
    mutating func consumeStream(_ v: JSONValue, event: String?) -> Delta {
        var d = Delta()
        chunkCount += 1
        switch family {
        case .openaiChat, .openaiCompletion, .openaiOther, .cohereChat:
            if providerRequestID == nil { providerRequestID = v["id"]?.stringValue }
            if let m = v["model"]?.stringValue { model = m }
            for c in v["choices"]?.arrayValue ?? [] {
                let i = Int(c["index"]?.intValue ?? 0)
                if let delta = c["delta"] {
                    if let r = delta["role"]?.stringValue { roles[i] = r; d.role = r }
                    if let t = delta["content"]?.stringValue { contents[i, default: ""] += t; d.content = t }
                    if let t = delta["reasoning_content"]?.stringValue ?? delta["reasoning"]?.stringValue { thinking += t }
                    for tc in delta["tool_calls"]?.arrayValue ?? [] {
                        d.toolCalls.append(appendTool(streamIndex: Int(tc["index"]?.intValue ?? 0), id: tc["id"]?.stringValue,
                                                      name: tc["function"]?["name"]?.stringValue,
                                                      args: tc["function"]?["arguments"]?.stringValue))
                    }
                } else if let t = c["text"]?.stringValue { contents[i, default: ""] += t; d.content = t }
                if let f = c["finish_reason"]?.stringValue { finishReasons[i] = f; d.finishReason = AIResponseAccumulator.normalizeFinish(f) }
            }
            if let u = v["usage"], u.objectValue != nil { readOpenAIUsage(u) }
        case .openaiResponses:
            let type = v["type"]?.stringValue ?? event ?? ""
            if type == "response.output_text.delta", let t = v["delta"]?.stringValue { contents[0, default: ""] += t; d.content = t }
            if type == "response.completed" || type == "response.incomplete", let resp = v["response"] { consumeBody(resp) }
            if type == "response.created" { providerRequestID = v["response"]?["id"]?.stringValue; model = v["response"]?["model"]?.stringValue }
        case .anthropicMessages, .bedrockInvoke:
            let type = v["type"]?.stringValue ?? event ?? ""
            switch type {
            case "message_start":
                providerRequestID = v["message"]?["id"]?.stringValue
                model = v["message"]?["model"]?.stringValue
                roles[0] = "assistant"; d.role = "assistant"
                readAnthropicUsage(v["message"]?["usage"])
            case "content_block_start":
                let idx = Int(v["index"]?.intValue ?? 0)
                if let b = v["content_block"], b["type"]?.stringValue == "tool_use" {
                    d.toolCalls.append(appendTool(streamIndex: idx, id: b["id"]?.stringValue, name: b["name"]?.stringValue, args: nil))
                }
            case "content_block_delta":
                let idx = Int(v["index"]?.intValue ?? 0)
                let delta = v["delta"]
                switch delta?["type"]?.stringValue {
                case "text_delta": if let t = delta?["text"]?.stringValue { contents[0, default: ""] += t; d.content = t }
                case "input_json_delta": d.toolCalls.append(appendTool(streamIndex: idx, id: nil, name: nil, args: delta?["partial_json"]?.stringValue))
                case "thinking_delta": thinking += delta?["thinking"]?.stringValue ?? ""
                default: break
                }
            case "message_delta":
                if let r = v["delta"]?["stop_reason"]?.stringValue { finishReasons[0] = r; d.finishReason = AIResponseAccumulator.normalizeFinish(r) }
                readAnthropicUsage(v["usage"])
            case "error":
                error = errorObject(v)
            default: break
            }
        case .geminiGenerate:
            consumeGemini(v, delta: &d)
        case .ollamaChat, .ollamaGenerate:
            if let m = v["model"]?.stringValue { model = m }
            if let t = v["message"]?["content"]?.stringValue ?? v["response"]?.stringValue, !t.isEmpty {
                contents[0, default: ""] += t; d.content = t
            }
            roles[0] = "assistant"
            for tc in v["message"]?["tool_calls"]?.arrayValue ?? [] {
                let args = tc["function"]?["arguments"].map { $0.stringValue ?? $0.jsonString() }
                d.toolCalls.append(appendTool(streamIndex: toolCalls.count, id: nil, name: tc["function"]?["name"]?.stringValue, args: args))
            }
            if v["done"]?.boolValue == true {
                let r = v["done_reason"]?.stringValue ?? "stop"
                finishReasons[0] = r; d.finishReason = AIResponseAccumulator.normalizeFinish(r)
                addUsage("prompt_tokens", v["prompt_eval_count"]); addUsage("completion_tokens", v["eval_count"])
            }
        default:
            consumeBody(v)
        }
        return d
    }

    mutating func consumeGemini(_ v: JSONValue, delta d: inout Delta) {
        if let m = v["modelVersion"]?.stringValue { model = m }
        if providerRequestID == nil { providerRequestID = v["responseId"]?.stringValue }
        for (n, c) in (v["candidates"]?.arrayValue ?? []).enumerated() {
            let i = Int(c["index"]?.intValue ?? Int64(n))
            roles[i] = "assistant"
            for p in c["content"]?["parts"]?.arrayValue ?? [] {
                if p["thought"]?.boolValue == true, let t = p["text"]?.stringValue { thinking += t; continue }
                if let t = p["text"]?.stringValue { contents[i, default: ""] += t; d.content = (d.content ?? "") + t }
                if let f = p["functionCall"] {
                    d.toolCalls.append(appendTool(streamIndex: toolCalls.count, id: f["id"]?.stringValue, name: f["name"]?.stringValue,
                                                  args: f["args"].map { $0.jsonString() }))
                }
            }
            if let f = c["finishReason"]?.stringValue { finishReasons[i] = f; d.finishReason = AIResponseAccumulator.normalizeFinish(f) }
        }
        if let u = v["usageMetadata"] {
            addUsage("prompt_tokens", u["promptTokenCount"]); addUsage("completion_tokens", u["candidatesTokenCount"])
            addUsage("total_tokens", u["totalTokenCount"]); addUsage("cached_tokens", u["cachedContentTokenCount"])
            addUsage("reasoning_tokens", u["thoughtsTokenCount"])
        }
    }

    mutating func readOpenAIUsage(_ u: JSONValue) {
        addUsage("prompt_tokens", u["prompt_tokens"] ?? u["input_tokens"])
        addUsage("completion_tokens", u["completion_tokens"] ?? u["output_tokens"])
        addUsage("total_tokens", u["total_tokens"])
        addUsage("cached_tokens", u["prompt_tokens_details"]?["cached_tokens"] ?? u["input_tokens_details"]?["cached_tokens"])
        addUsage("reasoning_tokens", u["completion_tokens_details"]?["reasoning_tokens"] ?? u["output_tokens_details"]?["reasoning_tokens"])
    }

    mutating func readAnthropicUsage(_ u: JSONValue?) {
        guard let u else { return }
        addUsage("prompt_tokens", u["input_tokens"]); addUsage("completion_tokens", u["output_tokens"])
        addUsage("cached_tokens", u["cache_read_input_tokens"])
        // written to the prompt cache: priced apart (cost), not part of input_tokens
        addUsage("cache_creation_tokens", u["cache_creation_input_tokens"])
    }

    func errorObject(_ v: JSONValue) -> JSONObject {
        let e = v["error"] ?? v
        var o = JSONObject()
        o.set("type", (e["type"]?.stringValue ?? e["status"]?.stringValue ?? v["__type"]?.stringValue).map(JSONValue.string))
        o.set("message", (e["message"]?.stringValue ?? v["message"]?.stringValue ?? e.stringValue).map(JSONValue.string))
        if let c = e["code"] { o["code"] = c.stringValue.map(JSONValue.string) ?? c }
        return o
    }

    /// Consumes a whole (non-streamed) response body.
    mutating func consumeBody(_ v: JSONValue) {
        if let arr = v.arrayValue { // Gemini streamGenerateContent without alt=sse: a JSON array of chunks
            var d = Delta()
            for e in arr { consumeGemini(e, delta: &d) }
            return
        }
        if v["error"] != nil || v["type"]?.stringValue == "error" { error = errorObject(v) }
        switch family {
        case .openaiChat, .openaiCompletion, .openaiOther, .cohereChat:
            providerRequestID = v["id"]?.stringValue ?? providerRequestID
            model = v["model"]?.stringValue ?? model
            for c in v["choices"]?.arrayValue ?? [] {
                let i = Int(c["index"]?.intValue ?? 0)
                if let m = c["message"] {
                    roles[i] = m["role"]?.stringValue ?? "assistant"
                    if let t = AIRequestReader.text(m["content"]) { contents[i] = t }
                    if let t = m["reasoning_content"]?.stringValue { thinking += t }
                    for (k, tc) in (m["tool_calls"]?.arrayValue ?? []).enumerated() {
                        _ = appendTool(streamIndex: 1000 * i + k, id: tc["id"]?.stringValue, name: tc["function"]?["name"]?.stringValue,
                                       args: tc["function"]?["arguments"]?.stringValue)
                    }
                } else if let t = c["text"]?.stringValue { contents[i] = t }
                if let f = c["finish_reason"]?.stringValue { finishReasons[i] = f }
            }
            if family == .cohereChat, let msg = v["message"] {
                roles[0] = "assistant"; contents[0] = AIRequestReader.text(msg["content"]) ?? ""
                if let f = v["finish_reason"]?.stringValue { finishReasons[0] = f }
                if let u = v["usage"]?["tokens"] { addUsage("prompt_tokens", u["input_tokens"]); addUsage("completion_tokens", u["output_tokens"]) }
            }
            if let u = v["usage"], u.objectValue != nil { readOpenAIUsage(u) }
        case .openaiResponses:
            providerRequestID = v["id"]?.stringValue ?? providerRequestID
            model = v["model"]?.stringValue ?? model
            var text = ""
            for item in v["output"]?.arrayValue ?? [] {
                if item["type"]?.stringValue == "message" { text += AIRequestReader.text(item["content"]) ?? "" }
                if item["type"]?.stringValue == "function_call" {
                    _ = appendTool(streamIndex: toolCalls.count, id: item["call_id"]?.stringValue, name: item["name"]?.stringValue, args: item["arguments"]?.stringValue)
                }
            }
            if !text.isEmpty || contents[0] == nil { contents[0] = contents[0].map { $0.isEmpty ? text : $0 } ?? text }
            roles[0] = "assistant"
            finishReasons[0] = v["status"]?.stringValue == "incomplete" ? "length" : (toolCalls.isEmpty ? "stop" : "tool_calls")
            if let u = v["usage"] { readOpenAIUsage(u) }
        case .anthropicMessages, .bedrockInvoke:
            providerRequestID = v["id"]?.stringValue ?? providerRequestID
            model = v["model"]?.stringValue ?? model
            roles[0] = "assistant"
            var text = ""
            for (k, b) in (v["content"]?.arrayValue ?? []).enumerated() {
                switch b["type"]?.stringValue {
                case "text": text += b["text"]?.stringValue ?? ""
                case "tool_use": _ = appendTool(streamIndex: k, id: b["id"]?.stringValue, name: b["name"]?.stringValue, args: b["input"].map { $0.jsonString() })
                case "thinking": thinking += b["thinking"]?.stringValue ?? ""
                default: break
                }
            }
            if v["content"] != nil { contents[0] = text }
            if let r = v["stop_reason"]?.stringValue { finishReasons[0] = r }
            readAnthropicUsage(v["usage"])
        case .geminiGenerate:
            var d = Delta()
            consumeGemini(v, delta: &d)
        case .bedrockConverse:
            roles[0] = "assistant"
            var text = ""
            for b in v["output"]?["message"]?["content"]?.arrayValue ?? [] {
                if let t = b["text"]?.stringValue { text += t }
                if let tu = b["toolUse"] {
                    _ = appendTool(streamIndex: toolCalls.count, id: tu["toolUseId"]?.stringValue, name: tu["name"]?.stringValue, args: tu["input"].map { $0.jsonString() })
                }
                if let r = b["reasoningContent"]?["reasoningText"]?["text"]?.stringValue { thinking += r }
            }
            contents[0] = text
            if let r = v["stopReason"]?.stringValue { finishReasons[0] = r }
            if let u = v["usage"] {
                addUsage("prompt_tokens", u["inputTokens"]); addUsage("completion_tokens", u["outputTokens"])
                addUsage("total_tokens", u["totalTokens"]); addUsage("cached_tokens", u["cacheReadInputTokens"])
                addUsage("cache_creation_tokens", u["cacheWriteInputTokens"])
            }
        case .ollamaChat, .ollamaGenerate:
            _ = consumeStream(v, event: nil)
            chunkCount -= 1
        case .openaiEmbedding, .ollamaEmbed, .cohereEmbed, .geminiEmbed:
            model = v["model"]?.stringValue ?? model
            let first = v["data"]?.arrayValue?.first?["embedding"] ?? v["embeddings"]?.arrayValue?.first ?? v["embedding"]
                ?? v["embedding"]?["values"] ?? v["embeddings"]?["float"]?.arrayValue?.first
            embeddingDimensions = (first?.arrayValue ?? first?["values"]?.arrayValue)?.count
            embeddingTokens = v["usage"]?["total_tokens"]?.intValue ?? v["usage"]?["prompt_tokens"]?.intValue ?? v["prompt_eval_count"]?.intValue
        }
    }

    /// The finished `ai.response` fields (without envelope-level ones like latency).
    func responseFields() -> JSONObject {
        var o = JSONObject()
        let indices = Set(contents.keys).union(finishReasons.keys).union(roles.keys).sorted()
        var choices: [JSONValue] = []
        for i in (indices.isEmpty && error == nil ? [0] : indices) {
            var m = JSONObject()
            m["role"] = .string(roles[i] ?? "assistant")
            let text = contents[i] ?? ""
            m["content"] = .string(text)
            m["content_length"] = .int(Int64(text.count))
            var c = JSONObject()
            c["index"] = .int(Int64(i))
            c["message"] = .object(m)
            c.set("finish_reason", AIResponseAccumulator.normalizeFinish(finishReasons[i]).map(JSONValue.string))
            choices.append(.object(c))
        }
        if !choices.isEmpty && error == nil { o["choices"] = .array(choices) }
        if !toolCalls.isEmpty {
            o["tool_calls"] = .array(toolCalls.map { t in
                var c = JSONObject()
                c.set("id", t.id.map(JSONValue.string))
                c["name"] = .string(t.name)
                c["type"] = "function"
                c["arguments"] = .string(t.arguments)
                c["arguments_hash"] = .string(Hashing.keyed(t.arguments, key: []))
                return .object(c)
            })
            o["tool_calls_count"] = .int(Int64(toolCalls.count))
        }
        if !usage.isEmpty {
            var u = usage
            if u["total_tokens"] == nil, let p = u["prompt_tokens"]?.intValue, let c = u["completion_tokens"]?.intValue {
                u["total_tokens"] = .int(p + c)
            }
            // stable key order
            var ordered = JSONObject()
            for k in ["prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_creation_tokens", "reasoning_tokens"] { ordered.set(k, u[k]) }
            o["usage"] = .object(ordered)
        }
        let overall = finishReasons[indices.first ?? 0].flatMap(AIResponseAccumulator.normalizeFinish)
            ?? (toolCalls.isEmpty ? nil : "tool_calls")
        o.set("finish_reason", (error != nil ? "error" : overall).map(JSONValue.string))
        if !thinking.isEmpty {
            o["thinking"] = ["content": .string(thinking), "content_length": .int(Int64(thinking.count))]
        }
        return o
    }
}
