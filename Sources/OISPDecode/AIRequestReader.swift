import OISPEvent

/// Reads an AI API request body (by family) into the `ai.request` payload fields.
struct AIRequestReader {
    /// Text of an OpenAI/Anthropic/Bedrock-style content value (string, or list of parts).
    static func text(_ v: JSONValue?) -> String? {
        guard let v else { return nil }
        switch v {
        case .string(let s): return s
        case .array(let parts):
            let texts = parts.compactMap { p -> String? in
                if let s = p.stringValue { return s }
                if let t = p["text"]?.stringValue { return t }
                if let c = p["content"] { return text(c) }           // tool_result blocks
                if let t = p["input_text"]?.stringValue { return t }
                return nil
            }
            return texts.isEmpty ? nil : texts.joined(separator: "\n")
        case .object(let o):
            if let t = o["text"]?.stringValue { return t }
            if let parts = o["parts"] { return text(parts) }
            return nil
        default: return nil
        }
    }

    static func message(role: String, content: String?, toolCallID: String? = nil, name: String? = nil) -> JSONValue {
        var m = JSONObject()
        m["role"] = .string(normalizeRole(role))
        if let content {
            m["content"] = .string(content)
            m["content_length"] = .int(Int64(content.count))
        }
        m.set("tool_call_id", toolCallID.map(JSONValue.string))
        m.set("name", name.map(JSONValue.string))
        return .object(m)
    }

    static func normalizeRole(_ r: String) -> String {
        switch r.lowercased() {
        case "model", "chatbot", "assistant": return "assistant"
        case "system", "developer": return "system"
        case "tool", "function", "ipython": return r.lowercased() == "function" ? "function" : "tool"
        default: return "user"
        }
    }

    struct Result {
        var model: String?
        var streaming = false
        var messages: [JSONValue] = []
        var tools: [JSONValue] = []
        var toolChoice: String?
        var parameters = JSONObject()
        var inputCount: Int?
        /// `conversation`: where the API names the conversation the call belongs to (OpenAI's
        /// Responses API `conversation` and `previous_response_id`, an Assistants thread in the path).
        var conversation = JSONObject()
    }

    /// The conversation an OpenAI-family call belongs to, where the API carries it.
    static func conversation(path: String, body b: JSONObject) -> JSONObject {
        var c = JSONObject()
        if let v = b["conversation"] {
            if let id = v.stringValue ?? v["id"]?.stringValue, !id.isEmpty { c["id"] = .string(id) }
        }
        if let prev = b["previous_response_id"]?.stringValue, !prev.isEmpty { c["previous_response_id"] = .string(prev) }
        // /v1/threads/{thread_id}/runs, /v1/threads/{thread_id}/messages
        guard c["id"] == nil, path.utf8Contains("/threads/") else { return c }
        let parts = path.withoutQuery.split(separator: "/")
        if c["id"] == nil, let i = parts.firstIndex(of: "threads"), i + 1 < parts.count, parts[i + 1].hasPrefix("thread_") {
            c["id"] = .string(String(parts[i + 1]))
        }
        return c
    }

    static func read(family: APIFamily, path: String, body: JSONValue?) -> Result {
        var r = Result()
        let b = body?.objectValue ?? JSONObject()
        r.model = b["model"]?.stringValue ?? b["modelId"]?.stringValue
        func param(_ out: String, _ keys: String...) {
            for k in keys { if let v = b[k], !v.isNull { r.parameters[out] = v; return } }
        }
        switch family {
        case .openaiChat, .openaiCompletion, .openaiResponses, .openaiOther, .cohereChat:
            r.streaming = b["stream"]?.boolValue ?? false
            r.conversation = conversation(path: path, body: b)
            if let instr = b["instructions"]?.stringValue { r.messages.append(message(role: "system", content: instr)) }
            if let msgs = b["messages"]?.arrayValue ?? b["input"]?.arrayValue {
                for m in msgs {
                    guard let o = m.objectValue else { continue }
                    r.messages.append(message(role: o["role"]?.stringValue ?? "user", content: text(o["content"]),
                                              toolCallID: o["tool_call_id"]?.stringValue, name: o["name"]?.stringValue))
                }
            } else if let input = b["input"]?.stringValue {
                r.messages.append(message(role: "user", content: input))
            }
            if let prompt = b["prompt"] { r.messages.append(message(role: "user", content: text(prompt))) }
            for t in b["tools"]?.arrayValue ?? [] {
                let f = t["function"]?.objectValue
                var o = JSONObject()
                o["name"] = .string(f?["name"]?.stringValue ?? t["name"]?.stringValue ?? "")
                o["type"] = .string(t["type"]?.stringValue ?? "function")
                o.set("description", (f?["description"] ?? t["description"]).flatMap(\.stringValue).map(JSONValue.string))
                r.tools.append(.object(o))
            }
            if let tc = b["tool_choice"] { r.toolChoice = tc.stringValue ?? tc["function"]?["name"]?.stringValue ?? tc["type"]?.stringValue }
            param("temperature", "temperature"); param("top_p", "top_p", "p")
            param("max_tokens", "max_tokens", "max_completion_tokens", "max_output_tokens")
            param("frequency_penalty", "frequency_penalty"); param("presence_penalty", "presence_penalty"); param("stop", "stop")
        case .anthropicMessages, .bedrockInvoke:
            r.streaming = (b["stream"]?.boolValue ?? false) || path.hasSuffix("invoke-with-response-stream")
            if let sys = text(b["system"]) { r.messages.append(message(role: "system", content: sys)) }
            for m in b["messages"]?.arrayValue ?? [] {
                guard let o = m.objectValue else { continue }
                var role = o["role"]?.stringValue ?? "user"
                var toolID: String?
                if let blocks = o["content"]?.arrayValue, let tr = blocks.first(where: { $0["type"]?.stringValue == "tool_result" }) {
                    role = "tool"; toolID = tr["tool_use_id"]?.stringValue
                }
                r.messages.append(message(role: role, content: text(o["content"]), toolCallID: toolID))
            }
            if let prompt = b["prompt"]?.stringValue ?? b["inputText"]?.stringValue { r.messages.append(message(role: "user", content: prompt)) }
            for t in b["tools"]?.arrayValue ?? [] {
                var o = JSONObject()
                o["name"] = .string(t["name"]?.stringValue ?? "")
                o["type"] = .string(t["type"]?.stringValue.map { $0 == "custom" ? "function" : $0 } ?? "function")
                o.set("description", t["description"]?.stringValue.map(JSONValue.string))
                r.tools.append(.object(o))
            }
            if let tc = b["tool_choice"] { r.toolChoice = tc["name"]?.stringValue ?? tc["type"]?.stringValue }
            param("temperature", "temperature"); param("top_p", "top_p"); param("max_tokens", "max_tokens", "max_tokens_to_sample")
            param("stop", "stop_sequences")
        case .geminiGenerate:
            r.streaming = path.utf8Contains(":streamGenerateContent")
            if let sys = text(b["systemInstruction"] ?? b["system_instruction"]) { r.messages.append(message(role: "system", content: sys)) }
            for c in b["contents"]?.arrayValue ?? [] {
                r.messages.append(message(role: c["role"]?.stringValue ?? "user", content: text(c["parts"])))
            }
            for t in b["tools"]?.arrayValue ?? [] {
                for f in (t["functionDeclarations"] ?? t["function_declarations"])?.arrayValue ?? [] {
                    var o = JSONObject()
                    o["name"] = .string(f["name"]?.stringValue ?? ""); o["type"] = "function"
                    o.set("description", f["description"]?.stringValue.map(JSONValue.string))
                    r.tools.append(.object(o))
                }
            }
            if let g = (b["generationConfig"] ?? b["generation_config"])?.objectValue {
                if let v = g["temperature"] { r.parameters["temperature"] = v }
                if let v = g["topP"] { r.parameters["top_p"] = v }
                if let v = g["maxOutputTokens"] { r.parameters["max_tokens"] = v }
                if let v = g["stopSequences"] { r.parameters["stop"] = v }
            }
        case .bedrockConverse:
            r.streaming = path.hasSuffix("/converse-stream")
            for s in b["system"]?.arrayValue ?? [] { if let t = s["text"]?.stringValue { r.messages.append(message(role: "system", content: t)) } }
            for m in b["messages"]?.arrayValue ?? [] {
                r.messages.append(message(role: m["role"]?.stringValue ?? "user", content: text(m["content"])))
            }
            for t in b["toolConfig"]?["tools"]?.arrayValue ?? [] {
                guard let spec = t["toolSpec"] else { continue }
                var o = JSONObject()
                o["name"] = .string(spec["name"]?.stringValue ?? ""); o["type"] = "function"
                o.set("description", spec["description"]?.stringValue.map(JSONValue.string))
                r.tools.append(.object(o))
            }
            if let g = b["inferenceConfig"]?.objectValue {
                if let v = g["temperature"] { r.parameters["temperature"] = v }
                if let v = g["topP"] { r.parameters["top_p"] = v }
                if let v = g["maxTokens"] { r.parameters["max_tokens"] = v }
                if let v = g["stopSequences"] { r.parameters["stop"] = v }
            }
        case .ollamaChat, .ollamaGenerate:
            r.streaming = b["stream"]?.boolValue ?? true // Ollama streams unless told not to
            if let sys = b["system"]?.stringValue { r.messages.append(message(role: "system", content: sys)) }
            for m in b["messages"]?.arrayValue ?? [] {
                r.messages.append(message(role: m["role"]?.stringValue ?? "user", content: m["content"]?.stringValue))
            }
            if let p = b["prompt"]?.stringValue { r.messages.append(message(role: "user", content: p)) }
            for t in b["tools"]?.arrayValue ?? [] {
                var o = JSONObject()
                o["name"] = .string(t["function"]?["name"]?.stringValue ?? ""); o["type"] = "function"
                r.tools.append(.object(o))
            }
            if let opts = b["options"]?.objectValue {
                if let v = opts["temperature"] { r.parameters["temperature"] = v }
                if let v = opts["top_p"] { r.parameters["top_p"] = v }
                if let v = opts["num_predict"] { r.parameters["max_tokens"] = v }
                if let v = opts["stop"] { r.parameters["stop"] = v }
            }
        case .openaiEmbedding, .ollamaEmbed, .cohereEmbed:
            let input = b["input"] ?? b["prompt"] ?? b["texts"]
            r.inputCount = input?.arrayValue?.count ?? (input == nil ? 0 : 1)
        case .geminiEmbed:
            r.inputCount = b["requests"]?.arrayValue?.count ?? 1
        }
        return r
    }
}
