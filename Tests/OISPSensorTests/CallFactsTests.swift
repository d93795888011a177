import COISPExporterABI
import OISPConfig
import OISPEvent
import OISPExporterKit
import OISPJSON
import OISPPipeline
import OISPRedact
import OISPRuntime
import XCTest

/// ABI 1.4's call fields: an exporter that reads them (the OTLP exporter) gets the same facts of
/// an AI call as from the record's JSON, so it builds its spans and metrics without parsing.
final class CallFactsTests: XCTestCase {
    /// Variants of every member the call fields carry, on top of `demo`'s calls.
    func corpus() throws -> [OISPEvent] {
        let dir = try TestSupport.tempDir("callfacts")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("demo.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "--count", "12", "--output", f.path]).status, 0)
        var out = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)) }
        let k8s: JSONValue = ["namespace": "team-a", "pod_name": "agent-7d9f", "pod_uid": "0b6c-11", "container_name": "agent",
                              "container_image": "registry:5000/team/agent:1.4", "workload_kind": "Deployment", "workload_name": "agent",
                              "owner_kind": "ReplicaSet", "owner_name": "agent-7d9f", "node_name": "node-7", "service_account": "runner",
                              "labels": ["app": "agent", "tier": "backend=x", "team": ""]]
        let priced: JSONValue = ["status": "priced", "amount": .double(0.000123), "currency": "USD", "price": ["source": "litellm"],
                                 "tokens": ["input": 12, "output": 30, "cache_read": 4, "reasoning": 7]]
        let unpriced: JSONValue = ["status": "unpriced", "reason": "unknown_model", "tokens": ["input": 5, "output": 0]]
        for i in 0..<12 {
            var q = OISPEvent(eventType: "ai.request", host: .init(hostname: "node-7"),
                              process: .init(pid: Int64(100 + i), exe: "/usr/bin/agent", name: "agent", containerID: i % 2 == 0 ? "c0ffee" : nil),
                              data: ["request_id": .string("req_\(i)"), "provider": ["name": "openai", "endpoint": "https://api.openai.com/v1/chat/completions"],
                                     "model": ["id": "gpt-4o"], "request_type": i % 3 == 0 ? "embedding" : "chat", "streaming": .bool(i % 2 == 0),
                                     "parameters": ["temperature": i % 2 == 0 ? .double(0.7) : .double(1.0), "max_tokens": 256, "top_p": .int(1)],
                                     "conversation": ["id": .string("conv_\(i)")],
                                     "messages": [["role": "user", "content": .string("hello \(i)")]]])
            q.eventID = ULID.make()
            q.source.sensorHost = "sensor-a"
            if i % 2 == 0 { q.ext = ["oisp.k8s": k8s] }
            if i % 4 == 1 {
                q.traceContext = OISPEvent.TraceContext(traceID: String(repeating: "ab", count: 16), spanID: String(repeating: "cd", count: 8), traceFlags: 1)
            }
            var a = q
            a.eventID = ULID.make()
            a.eventType = i % 3 == 0 ? "ai.embedding" : "ai.response"
            var d: JSONObject = ["request_id": .string("req_\(i)"), "provider": ["name": "openai"], "model": ["id": "gpt-4o-2024-08-06"]]
            d["provider_request_id"] = "chatcmpl-1"
            d["status_code"] = .int(i % 5 == 4 ? 429 : 200)
            d["success"] = .bool(i % 5 != 4)
            d["latency_ms"] = .int(Int64(100 + i))
            d["time_to_first_token_ms"] = i % 2 == 0 ? .int(40) : .double(40.5)
            d["usage"] = ["prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42]
            d["choices"] = [["index": 0, "finish_reason": "stop"], ["index": 1, "finish_reason": "length"]]
            d["finish_reason"] = "stop"
            d["total_tokens"] = 17
            a.data = d
            if i % 5 == 4 { a.data["error"] = ["type": "rate_limit_exceeded", "message": "Rate limit reached for gpt-4o"] }
            var ext = a.ext ?? [:]
            ext["oisp.cost"] = i % 2 == 0 ? priced : unpriced
            a.ext = ext
            out += [q, a]
        }
        return out
    }

    /// Each record through the host's writer and plugin table, read back as the OTLP exporter
    /// reads it: facts from the call fields equal facts from the JSON, for every AI call's
    /// event the redactor left as it was; one it changed gives no call facts (its JSON is read).
    func testCallFieldsSayWhatTheJSONSays() throws {
        try check(mode: .safe)
        // `minimal`: every content field replaced (the records are flagged redacted), no finding:
        // the call fields stay whole
        try check(mode: .minimal)
    }

    func check(mode: SensorConfig.Redaction.Mode) throws {
        var cfg = SensorConfig.Redaction()
        cfg.hashSalt = "callfacts"
        cfg.mode = mode
        let stage = RedactionStage(try Redactor(config: cfg))
        var events = try corpus()
        // one answer whose error message carries a key: redacted, so no call facts
        var leaky = events.first { $0.eventType == "ai.response" }!
        leaky.eventID = ULID.make()
        leaky.data["success"] = false
        leaky.data["error"] = ["type": "invalid_api_key", "message": "Incorrect API key provided: sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34"]
        events.append(leaky)
        let written = events.map { stage.record(for: $0, fields: .call) }
        var compared = 0, redacted = 0, k8sCompared = 0, costCompared = 0, errorsCompared = 0, flagged = 0
        var reader = CallFieldReader()
        let names: [UnsafePointer<CChar>] = RecordField.allCases.map { UnsafePointer(strdup($0.name)!) }
        for rec in written where ["ai.request", "ai.response", "ai.embedding"].contains(rec.eventType) {
            let storage = rec.storage
            let facts: CallFacts? = storage.withUnsafeBufferPointer { sb -> CallFacts? in
                let base = sb.baseAddress!
                var items: [oisp_field] = []
                rec.forEachField { f, r in items.append(oisp_field(name: names[Int(f.rawValue)], value: oisp_bytes(ptr: base + r.lowerBound, len: r.count))) }
                return items.withUnsafeBufferPointer { ib -> CallFacts? in
                    var fields = oisp_record_fields(items: ib.baseAddress, count: ib.count)
                    return rec.eventType.withCString { type -> CallFacts? in
                        var r = oisp_record(struct_size: MemoryLayout<oisp_record>.size, event_type: type, timestamp_ns: rec.timestampNs,
                                            partition_key: oisp_bytes(ptr: nil, len: 0), event_id: oisp_bytes(ptr: base + rec.jsonCount, len: rec.idCount),
                                            flags: rec.flags, reserved0: 0, json: oisp_bytes(ptr: base, len: rec.jsonCount))
                        return withUnsafePointer(to: &r) { rp in
                            withUnsafePointer(to: &fields) { fp in
                                var b = oisp_batch(struct_size: MemoryLayout<oisp_batch>.size, batch_id: 1, attempt: 1, reserved0: 0,
                                                   records: rp, count: 1, record_offset: 0, fields: fp)
                                let recs = records(of: &b)
                                XCTAssertTrue(recs[0].hasFields)
                                return CallFacts(fieldsOf: recs[0], reader: &reader)
                            }
                        }
                    }
                }
            }
            let json = try JSONParser.parse(Array(rec.json))
            let found = json["ext"]?["oisp.redaction"]?["findings"]?.arrayValue?.isEmpty == false
            if found {
                XCTAssertNil(facts, "a record with a finding replaced is read from its JSON")
                XCTAssertFalse(String(decoding: rec.json, as: UTF8.self).contains("sk-proj-"))
                redacted += 1
                continue
            }
            let want = CallFacts(json: json, eventType: rec.eventType)
            if want.success == false && want.errorMessage == nil {
                XCTAssertNil(facts, "a failed call without its message in the fields is read from its JSON")
                continue
            }
            XCTAssertEqual(facts, want, "\(rec.eventType) \(rec.eventID)")
            compared += 1
            if rec.flags & OISP_RECORD_FLAG_REDACTED.rawValue != 0 { flagged += 1 }
            if want.k8s != nil { k8sCompared += 1 }
            if want.costStatus != nil { costCompared += 1 }
            if want.errorMessage != nil { errorsCompared += 1 }
        }
        XCTAssertGreaterThanOrEqual(compared, 40, "AI events compared")
        XCTAssertGreaterThanOrEqual(k8sCompared, 12)
        XCTAssertGreaterThanOrEqual(costCompared, 12)
        XCTAssertGreaterThanOrEqual(errorsCompared, 2)
        XCTAssertEqual(redacted, 1)
        if mode == .minimal { XCTAssertGreaterThanOrEqual(flagged, 30, "records minimal mode rewrote (flagged) read from their fields") }
        // what the corpus holds is really carried (not two nils compared)
        let sample = CallFacts(json: try JSONParser.parse(Array(written.first { $0.eventType == "ai.response" }!.json)))
        XCTAssertNotNil(sample.latency); XCTAssertNotNil(sample.inputTokens); XCTAssertFalse(sample.choiceFinishReasons.isEmpty)
    }
}
