// What an exporter building an OpenTelemetry GenAI span, its resource or the GenAI metrics of a
// call reads from an event: from the record's fields (the call fields, no JSON parser) or,
// when the host did not hand them over, from the event's JSON. Both give the same facts
// (`CallFactsTests` checks it on every event of a corpus), so an exporter has one code path.
import COISPExporterABI
import Foundation
import OISPJSON

public struct CallFacts: Equatable {
    /// A JSON number as the event holds it (a span attribute keeps int or double).
    public enum Number: Equatable {
        case int(Int64)
        case double(Double)
        public var int64: Int64 {
            switch self {
            case .int(let i): return i
            case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? Int64(d) : 0
            }
        }
        public var double: Double {
            switch self {
            case .int(let i): return Double(i)
            case .double(let d): return d
            }
        }
        /// A field's text (the JSON writer's form: a double has "." or an exponent).
        init?(text: String) {
            if text.utf8.contains(where: { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 }) {
                guard let d = Double(text) else { return nil }
                self = .double(d)
            } else {
                guard let i = Int64(text) else { return nil }
                self = .int(i)
            }
        }
        init?(_ v: JSONValue?) {
            switch v {
            case .int(let i)?: self = .int(i)
            case .double(let d)? where d.isFinite: self = .double(d)
            default: return nil
            }
        }
    }

    /// `ext["oisp.k8s"]`: the pod a process runs in.
    public struct Kubernetes: Equatable {
        public var namespace, podName, podUID, containerName, containerImage: String?
        public var workloadKind, workloadName, ownerKind, ownerName, nodeName, serviceAccount: String?
        /// Labels in the event's order, `key` → `value`.
        public var labels: [Label] = []
        public struct Label: Equatable { public var key: String; public var value: String }
        var isEmpty: Bool {
            labels.isEmpty && [namespace, podName, podUID, containerName, containerImage, workloadKind, workloadName, ownerKind,
                               ownerName, nodeName, serviceAccount].allSatisfy { $0 == nil }
        }
    }

    public var eventType: String
    public var eventID: String?
    public var traceID, spanID: String?
    // data (ai.* events)
    public var requestID, provider, endpoint, requestType, model, responseID, finishReason: String?
    public var choiceFinishReasons: [String] = []
    public var inputTokens, outputTokens, totalTokens, embeddingTokens, statusCode: Number?
    public var temperature, maxTokens, topP, timeToFirstToken, latency: Number?
    public var streaming, success: Bool?
    public var conversationID, errorType, errorMessage: String?
    // ext["oisp.cost"]
    public var costStatus, costCurrency, costSource, unpricedReason: String?
    public var costAmount: Number?
    public var costInput, costOutput, costCacheRead, costCacheWrite, costReasoning: Number?
    public var hasCostTokens: Bool { [costInput, costOutput, costCacheRead, costCacheWrite, costReasoning].contains { $0 != nil } }
    // envelope
    public var hostName, sensorName, exe, processName, containerID: String?
    public var pid: Number?
    public var k8s: Kubernetes?

    public init(eventType: String) { self.eventType = eventType }

    /// From the record's fields: nil unless the host handed over the call fields whole (the
    /// plugin declared OISP_EXPORTER_CAP_CALL_FIELDS and the host marked the record
    /// `oisp.call_fields` = "1": "0" when the redactor replaced a finding, so the fields of text
    /// it scans were left out). `reader` remembers the host's field-name pointers across a batch.
    public init?(fieldsOf r: Record, reader: inout CallFieldReader) {
        guard r.hasFields else { return nil }
        self.init(eventType: r.eventType)
        eventID = r.eventID.isEmpty ? nil : r.eventID
        var k = Kubernetes()
        var marked = false
        for f in r.fieldList {
            guard let tag = reader.tag(f.name) else { continue }
            let text = String(decoding: f.value, as: UTF8.self)
            switch tag {
            case .oispCallFields: marked = text == "1"
            case .oispRequestId: requestID = text
            case .genAiProviderName: provider = text
            case .genAiRequestModel, .genAiResponseModel: model = text
            case .genAiResponseId: responseID = text
            case .genAiUsageInputTokens: inputTokens = Number(text: text)
            case .genAiUsageOutputTokens: outputTokens = Number(text: text)
            case .genAiResponseFinishReasons: finishReason = text
            case .genAiUsageCostAmount: costAmount = Number(text: text)
            case .genAiUsageCostCurrency: costCurrency = text
            case .hostName: hostName = text
            case .processPid: pid = Number(text: text)
            case .processExecutableName: processName = text
            case .containerId: containerID = text
            case .k8sNamespaceName: k.namespace = text
            case .k8sPodName: k.podName = text
            case .traceId: traceID = text
            case .spanId: spanID = text
            case .httpResponseStatusCode: statusCode = Number(text: text)
            case .oispRequestType: requestType = text
            case .urlFull: endpoint = text
            case .genAiUsageTotalTokens: totalTokens = Number(text: text)
            case .oispTotalTokens: embeddingTokens = Number(text: text)
            case .genAiRequestTemperature: temperature = Number(text: text)
            case .genAiRequestMaxTokens: maxTokens = Number(text: text)
            case .genAiRequestTopP: topP = Number(text: text)
            case .oispStreaming: streaming = text == "true"
            case .oispSuccess: success = text == "true"
            case .oispTimeToFirstTokenMs: timeToFirstToken = Number(text: text)
            case .oispLatencyMs: latency = Number(text: text)
            case .genAiConversationId: conversationID = text
            case .errorType: errorType = text
            case .oispErrorMessage: errorMessage = text
            case .oispChoiceFinishReason: choiceFinishReasons.append(text)
            case .oispCostStatus: costStatus = text
            case .genAiUsageCostSource: costSource = text
            case .oispCostUnpricedReason: unpricedReason = text
            case .oispCostTokensInput: costInput = Number(text: text)
            case .oispCostTokensOutput: costOutput = Number(text: text)
            case .genAiUsageCacheReadInputTokens: costCacheRead = Number(text: text)
            case .genAiUsageCacheCreationInputTokens: costCacheWrite = Number(text: text)
            case .genAiUsageReasoningOutputTokens: costReasoning = Number(text: text)
            case .processExecutablePath: exe = text
            case .oispSensorName: sensorName = text
            case .k8sPodUid: k.podUID = text
            case .k8sContainerName: k.containerName = text
            case .oispK8sContainerImage: k.containerImage = text
            case .oispK8sWorkloadKind: k.workloadKind = text
            case .oispK8sWorkloadName: k.workloadName = text
            case .oispK8sOwnerKind: k.ownerKind = text
            case .oispK8sOwnerName: k.ownerName = text
            case .k8sNodeName: k.nodeName = text
            case .oispK8sServiceAccountName: k.serviceAccount = text
            case .k8sPodLabel:
                if let eq = text.firstIndex(of: "=") {
                    k.labels.append(.init(key: String(text[..<eq]), value: String(text[text.index(after: eq)...])))
                }
            }
        }
        guard marked else { return nil }
        if !k.isEmpty { k8s = k }
        // a failed call whose message the host left out (over a field's 64 KiB): read the JSON
        if success == false && errorMessage == nil { return nil }
    }

    /// From the event's JSON (parsed): the same facts, by the same rules (an empty string is
    /// no value, as the host leaves an empty field out).
    public init(json e: JSONValue, eventType: String? = nil) {
        func str(_ v: JSONValue?) -> String? { guard let s = v?.stringValue, !s.isEmpty else { return nil }; return s }
        func bool(_ v: JSONValue?) -> Bool? { if case .bool(let b)? = v { return b }; return nil }
        self.init(eventType: eventType ?? e["event_type"]?.stringValue ?? "")
        eventID = str(e["event_id"])
        let tc = e["trace_context"]
        traceID = str(tc?["trace_id"]); spanID = str(tc?["span_id"])
        let d = e["data"]
        if self.eventType.hasPrefix("ai."), let d {
            requestID = str(d["request_id"]); provider = str(d["provider"]?["name"]); model = str(d["model"]?["id"])
            responseID = str(d["provider_request_id"])
            if let u = d["usage"] {
                inputTokens = u["prompt_tokens"]?.intValue.map(Number.int); outputTokens = u["completion_tokens"]?.intValue.map(Number.int)
                totalTokens = Number(u["total_tokens"])
            }
            finishReason = str(d["finish_reason"])
            statusCode = d["status_code"]?.intValue.map(Number.int)
            requestType = str(d["request_type"]); endpoint = str(d["provider"]?["endpoint"])
            embeddingTokens = Number(d["total_tokens"])
            if let p = d["parameters"] { temperature = Number(p["temperature"]); maxTokens = Number(p["max_tokens"]); topP = Number(p["top_p"]) }
            streaming = bool(d["streaming"]); success = bool(d["success"])
            timeToFirstToken = Number(d["time_to_first_token_ms"]); latency = Number(d["latency_ms"])
            conversationID = str(d["conversation"]?["id"])
            errorType = str(d["error"]?["type"]); errorMessage = str(d["error"]?["message"])
            choiceFinishReasons = (d["choices"]?.arrayValue ?? []).compactMap { str($0["finish_reason"]) }
            if let c = e["ext"]?["oisp.cost"] {
                costStatus = str(c["status"])
                if costStatus == "priced" {
                    costAmount = c["amount"]?.doubleValue.map(Number.double)
                    costCurrency = str(c["currency"]); costSource = str(c["price"]?["source"])
                } else {
                    unpricedReason = str(c["reason"])
                }
                if let t = c["tokens"] {
                    costInput = Number(t["input"]); costOutput = Number(t["output"]); costCacheRead = Number(t["cache_read"])
                    costCacheWrite = Number(t["cache_write"]); costReasoning = Number(t["reasoning"])
                }
            }
        }
        hostName = str(e["host"]?["hostname"]); sensorName = str(e["source"]?["sensor_host"])
        if let p = e["process"] {
            pid = p["pid"]?.intValue.map(Number.int)
            processName = str(p["name"]); containerID = str(p["container_id"]); exe = str(p["exe"])
        }
        if let k = e["ext"]?["oisp.k8s"], k.objectValue != nil {
            var x = Kubernetes()
            x.namespace = str(k["namespace"]); x.podName = str(k["pod_name"]); x.podUID = str(k["pod_uid"])
            x.containerName = str(k["container_name"]); x.containerImage = str(k["container_image"])
            x.workloadKind = str(k["workload_kind"]); x.workloadName = str(k["workload_name"])
            x.ownerKind = str(k["owner_kind"]); x.ownerName = str(k["owner_name"])
            x.nodeName = str(k["node_name"]); x.serviceAccount = str(k["service_account"])
            for (key, v) in k["labels"]?.objectValue ?? JSONObject() { if let s = v.stringValue { x.labels.append(.init(key: key, value: s)) } }
            if !x.isEmpty { k8s = x }
        }
    }
}

/// The field names CallFacts reads, by the host's name pointers (static for the process).
public struct CallFieldReader {
    enum Tag: String {
        case oispCallFields = "oisp.call_fields"
        case oispRequestId = "oisp.request_id"
        case genAiProviderName = "gen_ai.provider.name"
        case genAiRequestModel = "gen_ai.request.model"
        case genAiResponseModel = "gen_ai.response.model"
        case genAiResponseId = "gen_ai.response.id"
        case genAiUsageInputTokens = "gen_ai.usage.input_tokens"
        case genAiUsageOutputTokens = "gen_ai.usage.output_tokens"
        case genAiResponseFinishReasons = "gen_ai.response.finish_reasons"
        case genAiUsageCostAmount = "gen_ai.usage.cost.amount"
        case genAiUsageCostCurrency = "gen_ai.usage.cost.currency"
        case hostName = "host.name"
        case processPid = "process.pid"
        case processExecutableName = "process.executable.name"
        case containerId = "container.id"
        case k8sNamespaceName = "k8s.namespace.name"
        case k8sPodName = "k8s.pod.name"
        case traceId = "trace_id"
        case spanId = "span_id"
        case httpResponseStatusCode = "http.response.status_code"
        case oispRequestType = "oisp.request_type"
        case urlFull = "url.full"
        case genAiUsageTotalTokens = "gen_ai.usage.total_tokens"
        case oispTotalTokens = "oisp.total_tokens"
        case genAiRequestTemperature = "gen_ai.request.temperature"
        case genAiRequestMaxTokens = "gen_ai.request.max_tokens"
        case genAiRequestTopP = "gen_ai.request.top_p"
        case oispStreaming = "oisp.streaming"
        case oispSuccess = "oisp.success"
        case oispTimeToFirstTokenMs = "oisp.time_to_first_token_ms"
        case oispLatencyMs = "oisp.latency_ms"
        case genAiConversationId = "gen_ai.conversation.id"
        case errorType = "error.type"
        case oispErrorMessage = "oisp.error.message"
        case oispChoiceFinishReason = "oisp.choice.finish_reason"
        case oispCostStatus = "oisp.cost.status"
        case genAiUsageCostSource = "gen_ai.usage.cost.source"
        case oispCostUnpricedReason = "oisp.cost.unpriced_reason"
        case oispCostTokensInput = "oisp.cost.tokens.input"
        case oispCostTokensOutput = "oisp.cost.tokens.output"
        case genAiUsageCacheReadInputTokens = "gen_ai.usage.cache_read.input_tokens"
        case genAiUsageCacheCreationInputTokens = "gen_ai.usage.cache_creation.input_tokens"
        case genAiUsageReasoningOutputTokens = "gen_ai.usage.reasoning.output_tokens"
        case processExecutablePath = "process.executable.path"
        case oispSensorName = "oisp.sensor.name"
        case k8sPodUid = "k8s.pod.uid"
        case k8sContainerName = "k8s.container.name"
        case oispK8sContainerImage = "oisp.k8s.container_image"
        case oispK8sWorkloadKind = "oisp.k8s.workload_kind"
        case oispK8sWorkloadName = "oisp.k8s.workload_name"
        case oispK8sOwnerKind = "oisp.k8s.owner_kind"
        case oispK8sOwnerName = "oisp.k8s.owner_name"
        case k8sNodeName = "k8s.node.name"
        case oispK8sServiceAccountName = "oisp.k8s.service_account.name"
        case k8sPodLabel = "k8s.pod.label"
    }
    private var known: [UnsafePointer<CChar>: Tag?] = [:]
    public init() {}
    mutating func tag(_ name: UnsafePointer<CChar>) -> Tag? {
        if let t = known[name] { return t }
        let t = Tag(rawValue: String(cString: name))
        if known.count < 256 { known[name] = .some(t) }
        return t
    }
}
