/// Error for a JSON document that is not a valid OISP event.
public struct OISPEventDecodingError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String
    public var description: String { "invalid OISP event: \(field): \(reason)" }
}

// MARK: - Writing

extension JSONWriter {
    @inline(__always) mutating func key(_ k: StaticString, first: inout Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        raw(k)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }
    @inline(__always) mutating func field(_ k: StaticString, _ v: String?, _ first: inout Bool) {
        guard let v else { return }
        key(k, first: &first); string(v)
    }
    @inline(__always) mutating func field(_ k: StaticString, _ v: Int64?, _ first: inout Bool) {
        guard let v else { return }
        key(k, first: &first); int(v)
    }
    @inline(__always) mutating func field(_ k: StaticString, _ v: JSONObject?, _ first: inout Bool) {
        guard let v else { return }
        key(k, first: &first); object(v)
    }
}

/// What a writer does to an event's content while it writes the event (redaction is one): the
/// envelope's form stays `OISPEvent.write`'s, the filter only chooses what goes in three places.
/// `data` is written before `ext` is chosen, so an `ext` member can say what was found in `data`;
/// the bytes still come out in the event's member order.
public protocol EventWriteFilter {
    /// Writes `process.cmdline`'s value.
    mutating func writeCmdline(_ s: String, into w: inout JSONWriter)
    /// Writes `data`'s value.
    mutating func writeData(_ d: JSONObject, into w: inout JSONWriter)
    /// A member that `ext` gets (replacing one of that name, else appended), decided once `data`
    /// and `cmdline` were written; nil: `ext` as it is.
    mutating func extMember() -> (key: String, value: JSONValue)?
}

/// Writes the content as it is.
public struct PlainEventContent: EventWriteFilter {
    public init() {}
    @inline(__always) public mutating func writeCmdline(_ s: String, into w: inout JSONWriter) { w.string(s) }
    @inline(__always) public mutating func writeData(_ d: JSONObject, into w: inout JSONWriter) { w.object(d) }
    @inline(__always) public mutating func extMember() -> (key: String, value: JSONValue)? { nil }
}

extension OISPEvent {
    /// Appends the event as one compact JSON object (no newline) — the hot path of every output.
    public func write(to w: inout JSONWriter) {
        var plain = PlainEventContent()
        write(to: &w, filter: &plain)
    }

    /// Appends the event as one compact JSON object, its content written by `filter`.
    public func write<F: EventWriteFilter>(to w: inout JSONWriter, filter: inout F) {
        var f = true
        w.bytes.append(UInt8(ascii: "{"))
        w.field("oisp_version", oispVersion, &f)
        w.field("event_id", eventID, &f)
        w.field("event_type", eventType, &f)
        w.key("ts", first: &f)
        w.bytes.append(UInt8(ascii: "\""))
        ts.writeRFC3339(into: &w.bytes)
        w.bytes.append(UInt8(ascii: "\""))
        if let tsMono { w.field("ts_mono", Int64(truncatingIfNeeded: tsMono), &f) }
        if let h = host {
            w.key("host", first: &f)
            var g = true
            w.bytes.append(UInt8(ascii: "{"))
            w.field("hostname", h.hostname, &g); w.field("device_id", h.deviceID, &g)
            w.field("os", h.os, &g); w.field("os_version", h.osVersion, &g); w.field("arch", h.arch, &g)
            w.bytes.append(UInt8(ascii: "}"))
        }
        if let a = actor {
            w.key("actor", first: &f)
            var g = true
            w.bytes.append(UInt8(ascii: "{"))
            w.field("uid", a.uid, &g); w.field("user", a.user, &g); w.field("gid", a.gid, &g)
            w.field("session_id", a.sessionID, &g)
            if let id = a.identity {
                w.key("identity", first: &g)
                var k = true
                w.bytes.append(UInt8(ascii: "{"))
                w.field("provider", id.provider, &k); w.field("email", id.email, &k); w.field("user_id", id.userID, &k)
                w.bytes.append(UInt8(ascii: "}"))
            }
            w.bytes.append(UInt8(ascii: "}"))
        }
        if let p = process {
            w.key("process", first: &f)
            var g = true
            w.bytes.append(UInt8(ascii: "{"))
            w.field("pid", p.pid, &g); w.field("ppid", p.ppid, &g); w.field("exe", p.exe, &g)
            w.field("name", p.name, &g)
            if let c = p.cmdline { w.key("cmdline", first: &g); filter.writeCmdline(c, into: &w) }
            w.field("cwd", p.cwd, &g)
            w.field("tid", p.tid, &g); w.field("uid", p.uid, &g); w.field("container_id", p.containerID, &g)
            w.field("pod_name", p.podName, &g); w.field("pod_namespace", p.podNamespace, &g)
            w.field("hash", p.hash, &g)
            w.bytes.append(UInt8(ascii: "}"))
        }
        w.field("app", app, &f)
        do {
            w.key("source", first: &f)
            var g = true
            w.bytes.append(UInt8(ascii: "{"))
            w.field("collector", source.collector, &g); w.field("collector_version", source.collectorVersion, &g)
            w.field("capture_method", source.captureMethod, &g); w.field("capture_point", source.capturePoint, &g)
            w.field("sensor_host", source.sensorHost, &g)
            w.bytes.append(UInt8(ascii: "}"))
        }
        if let c = confidence {
            w.key("confidence", first: &f)
            var g = true
            w.bytes.append(UInt8(ascii: "{"))
            w.field("level", c.level, &g); w.field("completeness", c.completeness, &g)
            w.key("reasons", first: &g)
            w.bytes.append(UInt8(ascii: "["))
            for (i, r) in c.reasons.enumerated() {
                if i > 0 { w.bytes.append(UInt8(ascii: ",")) }
                w.string(r)
            }
            w.bytes.append(UInt8(ascii: "]"))
            w.bytes.append(UInt8(ascii: "}"))
        }
        w.field("attrs", attrs, &f)
        // `data` first, where it ends up; what follows `attrs` and precedes `data` is then put
        // in before it (a move of the data's bytes, not a second serialisation)
        let mark = w.bytes.count
        w.key("data", first: &f)
        filter.writeData(data, into: &w)
        // the members that precede `data` are written after it, then moved before it in place
        let dataEnd = w.bytes.count
        var t = false
        if let m = filter.extMember() {
            var x = ext ?? JSONObject()
            x[m.key] = m.value
            w.field("ext", x, &t)
        } else {
            w.field("ext", ext, &t)
        }
        if let rel = relatedEvents {
            w.key("related_events", first: &t)
            w.bytes.append(UInt8(ascii: "["))
            for (i, r) in rel.enumerated() {
                if i > 0 { w.bytes.append(UInt8(ascii: ",")) }
                var g = true
                w.bytes.append(UInt8(ascii: "{"))
                w.field("event_id", r.eventID, &g); w.field("relationship", r.relationship, &g)
                w.bytes.append(UInt8(ascii: "}"))
            }
            w.bytes.append(UInt8(ascii: "]"))
        }
        if let tc = traceContext {
            w.key("trace_context", first: &t)
            var g = true
            w.bytes.append(UInt8(ascii: "{"))
            w.field("trace_id", tc.traceID, &g); w.field("span_id", tc.spanID, &g); w.field("trace_flags", tc.traceFlags, &g)
            w.bytes.append(UInt8(ascii: "}"))
        }
        if w.bytes.count > dataEnd { OISPEvent.moveTail(&w.bytes, from: dataEnd, to: mark) }
        w.bytes.append(UInt8(ascii: "}"))
    }

    /// Moves `bytes[from...]` to `at`, the bytes in `at..<from` after it (a small tail waits on
    /// the stack, not the heap).
    static func moveTail(_ bytes: inout [UInt8], from: Int, to at: Int) {
        let n = bytes.count - from, body = from - at
        bytes.withUnsafeMutableBufferPointer { b in
            let base = b.baseAddress!
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { t in
                t.baseAddress!.update(from: base + from, count: n)
                (base + at + n).update(from: base + at, count: body) // overlapping: a memmove
                (base + at).update(from: t.baseAddress!, count: n)
            }
        }
    }

    /// The event as compact JSON bytes (no trailing newline).
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        write(to: &w)
        return w.bytes
    }

    /// The event as compact JSON text.
    public func jsonString() -> String { String(decoding: jsonBytes(), as: UTF8.self) }

    /// The event as a JSON value (slower than `write(to:)`; for transformations).
    public func jsonValue() -> JSONValue {
        // Round-trips through the writer so there is one definition of the wire form.
        (try? JSONParser.parse(jsonBytes())) ?? .null
    }
}

// MARK: - Reading

private struct Reader {
    let obj: JSONObject
    let path: String
    func fail(_ k: String, _ r: String) -> OISPEventDecodingError {
        OISPEventDecodingError(field: path.isEmpty ? k : "\(path).\(k)", reason: r)
    }
    func string(_ k: String) throws -> String? {
        guard let v = obj[k], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw fail(k, "expected a string") }
        return s
    }
    func requiredString(_ k: String) throws -> String {
        guard let s = try string(k) else { throw fail(k, "missing") }
        return s
    }
    func int(_ k: String) throws -> Int64? {
        guard let v = obj[k], !v.isNull else { return nil }
        guard let i = v.intValue else { throw fail(k, "expected an integer") }
        return i
    }
    func object(_ k: String) throws -> JSONObject? {
        guard let v = obj[k], !v.isNull else { return nil }
        guard let o = v.objectValue else { throw fail(k, "expected an object") }
        return o
    }
    func sub(_ k: String) throws -> Reader? {
        guard let o = try object(k) else { return nil }
        return Reader(obj: o, path: path.isEmpty ? k : "\(path).\(k)")
    }
}

extension OISPEvent {
    /// Builds an event from a parsed JSON object, validating the envelope (one pass over the
    /// top-level members: this is on the replay hot path).
    public init(json: JSONObject) throws {
        let r = Reader(obj: json, path: "")
        var version: JSONValue?, id: JSONValue?, type: JSONValue?, tsv: JSONValue?, mono: JSONValue?
        var hostV: JSONValue?, actorV: JSONValue?, procV: JSONValue?, appV: JSONValue?, srcV: JSONValue?, confV: JSONValue?
        var attrsV: JSONValue?, extV: JSONValue?, relV: JSONValue?, traceV: JSONValue?, dataV: JSONValue?
        for (k, v) in json {
            switch k {
            case "oisp_version": if version == nil { version = v }
            case "event_id": if id == nil { id = v }
            case "event_type": if type == nil { type = v }
            case "ts": if tsv == nil { tsv = v }
            case "ts_mono": if mono == nil { mono = v }
            case "host": if hostV == nil { hostV = v }
            case "actor": if actorV == nil { actorV = v }
            case "process": if procV == nil { procV = v }
            case "app": if appV == nil { appV = v }
            case "source": if srcV == nil { srcV = v }
            case "confidence": if confV == nil { confV = v }
            case "attrs": if attrsV == nil { attrsV = v }
            case "ext": if extV == nil { extV = v }
            case "related_events": if relV == nil { relV = v }
            case "trace_context": if traceV == nil { traceV = v }
            case "data": if dataV == nil { dataV = v }
            default: break
            }
        }
        func str(_ v: JSONValue?, _ k: String, required: Bool = false) throws -> String? {
            guard let v, !v.isNull else { if required { throw r.fail(k, "missing") }; return nil }
            guard let s = v.stringValue else { throw r.fail(k, "expected a string") }
            return s
        }
        func obj(_ v: JSONValue?, _ k: String) throws -> Reader? {
            guard let v, !v.isNull else { return nil }
            guard let o = v.objectValue else { throw r.fail(k, "expected an object") }
            return Reader(obj: o, path: k)
        }
        oispVersion = try str(version, "oisp_version") ?? oispSpecVersion
        eventID = try str(id, "event_id", required: true)!
        eventType = try str(type, "event_type", required: true)!
        // a byte search: String.contains(String) is Foundation's locale-aware range(of:), 3 % of replay
        guard eventType.utf8.contains(46) else { throw r.fail("event_type", "expected category.name, got \(eventType)") }
        let tsText = try str(tsv, "ts", required: true)!
        guard let t = Timestamp(rfc3339: tsText) else { throw r.fail("ts", "not RFC 3339: \(tsText)") }
        ts = t
        if let m = mono, !m.isNull {
            guard let i = m.intValue else { throw r.fail("ts_mono", "expected an integer") }
            tsMono = UInt64(bitPattern: i)
        }
        if let h = try obj(hostV, "host") {
            host = Host(hostname: try h.string("hostname") ?? "", deviceID: try h.string("device_id"),
                        os: try h.string("os"), osVersion: try h.string("os_version"), arch: try h.string("arch"))
        }
        if let a = try obj(actorV, "actor") {
            var identity: Identity?
            if let i = try a.sub("identity") {
                identity = Identity(provider: try i.requiredString("provider"), email: try i.string("email"),
                                    userID: try i.string("user_id"))
            }
            actor = Actor(uid: try a.int("uid"), user: try a.string("user"), gid: try a.int("gid"),
                          sessionID: try a.string("session_id"), identity: identity)
        }
        if let p = try obj(procV, "process") {
            guard let pid = try p.int("pid") else { throw p.fail("pid", "missing") }
            process = Process(pid: pid, ppid: try p.int("ppid"), exe: try p.string("exe"), name: try p.string("name"),
                              cmdline: try p.string("cmdline"), cwd: try p.string("cwd"), tid: try p.int("tid"),
                              uid: try p.int("uid"), containerID: try p.string("container_id"),
                              podName: try p.string("pod_name"), podNamespace: try p.string("pod_namespace"),
                              hash: try p.string("hash"))
        }
        app = try obj(appV, "app")?.obj
        if let s = try obj(srcV, "source") {
            source = Source(collector: try s.string("collector") ?? "oisp-sensor",
                            collectorVersion: try s.string("collector_version"),
                            captureMethod: try s.string("capture_method"), capturePoint: try s.string("capture_point"),
                            sensorHost: try s.string("sensor_host"))
        } else {
            source = Source()
        }
        if let c = try obj(confV, "confidence") {
            var reasons: [String] = []
            if let arr = c.obj["reasons"]?.arrayValue {
                for v in arr {
                    guard let s = v.stringValue else { throw c.fail("reasons", "expected strings") }
                    reasons.append(s)
                }
            }
            confidence = Confidence(level: try c.string("level") ?? "low",
                                    completeness: try c.string("completeness") ?? "metadata_only", reasons: reasons)
        }
        attrs = try obj(attrsV, "attrs")?.obj
        ext = try obj(extV, "ext")?.obj
        if let v = relV, !v.isNull {
            guard let arr = v.arrayValue else { throw r.fail("related_events", "expected an array") }
            relatedEvents = try arr.map { e in
                guard let o = e.objectValue else { throw r.fail("related_events", "expected objects") }
                let rr = Reader(obj: o, path: "related_events")
                return RelatedEvent(eventID: try rr.requiredString("event_id"),
                                    relationship: try rr.string("relationship") ?? "related")
            }
        }
        if let t = try obj(traceV, "trace_context") {
            traceContext = TraceContext(traceID: try t.requiredString("trace_id"), spanID: try t.requiredString("span_id"),
                                        traceFlags: try t.int("trace_flags"))
        }
        guard let d = try obj(dataV, "data")?.obj else { throw r.fail("data", "missing") }
        data = d
    }

    /// Parses one event from JSON bytes (one JSONL line without its newline).
    public init<C: Collection>(jsonBytes: C) throws where C.Element == UInt8 {
        guard case .object(let o) = try JSONParser.parse(jsonBytes) else {
            throw OISPEventDecodingError(field: "$", reason: "expected a JSON object")
        }
        try self.init(json: o)
    }
}

extension OISPEvent: Codable {
    public init(from decoder: Decoder) throws {
        let v = try JSONValue(from: decoder)
        guard case .object(let o) = v else {
            throw OISPEventDecodingError(field: "$", reason: "expected a JSON object")
        }
        try self.init(json: o)
    }
    public func encode(to encoder: Encoder) throws { try jsonValue().encode(to: encoder) }
}
