/// OISP spec version written in `oisp_version`.
public let oispSpecVersion = "0.1"

/// Well-known OISP event types (spec v0.1). The envelope keeps the type as a string so that
/// unknown future types pass through untouched.
public enum OISPEventType: String, CaseIterable, Sendable {
    case aiRequest = "ai.request", aiResponse = "ai.response", aiStreamingChunk = "ai.streaming_chunk"
    case aiEmbedding = "ai.embedding"
    case agentToolCall = "agent.tool_call", agentToolResult = "agent.tool_result"
    case agentPlanStep = "agent.plan_step", agentRagRetrieve = "agent.rag_retrieve", agentSession = "agent.session"
    case processExec = "process.exec", processExit = "process.exit", processFork = "process.fork"
    case fileOpen = "file.open", fileRead = "file.read", fileWrite = "file.write", fileClose = "file.close"
    case networkConnect = "network.connect", networkAccept = "network.accept"
    case networkFlow = "network.flow", networkDNS = "network.dns"

    /// The category: the text before the dot (`ai`, `agent`, `process`, `file`, `network`).
    public var category: String { String(rawValue.prefix { $0 != "." }) }
}

/// One OISP event: the envelope at the root and the type-specific payload under `data`.
/// Optional fields are omitted from JSON when nil (never written as `null`).
public struct OISPEvent: Equatable, Sendable {
    public var oispVersion: String = oispSpecVersion
    public var eventID: String
    public var eventType: String
    public var ts: Timestamp
    public var tsMono: UInt64?
    public var host: Host?
    public var actor: Actor?
    public var process: Process?
    public var app: JSONObject?
    public var source: Source
    public var confidence: Confidence?
    public var attrs: JSONObject?
    public var ext: JSONObject?
    public var relatedEvents: [RelatedEvent]?
    public var traceContext: TraceContext?
    public var data: JSONObject

    public init(eventID: String = ULID.make(), eventType: String, ts: Timestamp = .now(), tsMono: UInt64? = nil,
                host: Host? = nil, actor: Actor? = nil, process: Process? = nil, app: JSONObject? = nil,
                source: Source = Source(), confidence: Confidence? = nil, attrs: JSONObject? = nil,
                ext: JSONObject? = nil, relatedEvents: [RelatedEvent]? = nil, traceContext: TraceContext? = nil,
                data: JSONObject = JSONObject()) {
        self.eventID = eventID; self.eventType = eventType; self.ts = ts; self.tsMono = tsMono
        self.host = host; self.actor = actor; self.process = process; self.app = app; self.source = source
        self.confidence = confidence; self.attrs = attrs; self.ext = ext; self.relatedEvents = relatedEvents
        self.traceContext = traceContext; self.data = data
    }

    /// The known type, or nil for a type this build does not know.
    public var knownType: OISPEventType? { OISPEventType(rawValue: eventType) }

    public struct Host: Equatable, Sendable {
        public var hostname: String
        public var deviceID: String?
        public var os: String?
        public var osVersion: String?
        public var arch: String?
        public init(hostname: String, deviceID: String? = nil, os: String? = nil, osVersion: String? = nil, arch: String? = nil) {
            self.hostname = hostname; self.deviceID = deviceID; self.os = os; self.osVersion = osVersion; self.arch = arch
        }
    }

    public struct Identity: Equatable, Sendable {
        public var provider: String
        public var email: String?
        public var userID: String?
        public init(provider: String, email: String? = nil, userID: String? = nil) {
            self.provider = provider; self.email = email; self.userID = userID
        }
    }

    public struct Actor: Equatable, Sendable {
        public var uid: Int64?
        public var user: String?
        public var gid: Int64?
        public var sessionID: String?
        public var identity: Identity?
        public init(uid: Int64? = nil, user: String? = nil, gid: Int64? = nil, sessionID: String? = nil, identity: Identity? = nil) {
            self.uid = uid; self.user = user; self.gid = gid; self.sessionID = sessionID; self.identity = identity
        }
    }

    public struct Process: Equatable, Sendable {
        public var pid: Int64
        public var ppid: Int64?
        public var exe: String?
        public var name: String?
        public var cmdline: String?
        public var cwd: String?
        public var tid: Int64?
        public var uid: Int64?
        public var containerID: String?
        public var podName: String?
        public var podNamespace: String?
        public var hash: String?
        public init(pid: Int64, ppid: Int64? = nil, exe: String? = nil, name: String? = nil, cmdline: String? = nil,
                    cwd: String? = nil, tid: Int64? = nil, uid: Int64? = nil, containerID: String? = nil,
                    podName: String? = nil, podNamespace: String? = nil, hash: String? = nil) {
            self.pid = pid; self.ppid = ppid; self.exe = exe; self.name = name; self.cmdline = cmdline; self.cwd = cwd
            self.tid = tid; self.uid = uid; self.containerID = containerID; self.podName = podName
            self.podNamespace = podNamespace; self.hash = hash
        }
    }

    public struct Source: Equatable, Sendable {
        public var collector: String
        public var collectorVersion: String?
        public var captureMethod: String?
        public var capturePoint: String?
        public var sensorHost: String?
        public init(collector: String = "oisp-sensor", collectorVersion: String? = nil, captureMethod: String? = nil,
                    capturePoint: String? = nil, sensorHost: String? = nil) {
            self.collector = collector; self.collectorVersion = collectorVersion; self.captureMethod = captureMethod
            self.capturePoint = capturePoint; self.sensorHost = sensorHost
        }
    }

    public struct Confidence: Equatable, Sendable {
        public var level: String        // low | medium | high
        public var completeness: String // metadata_only | partial | full
        public var reasons: [String]
        public init(level: String, completeness: String, reasons: [String] = []) {
            self.level = level; self.completeness = completeness; self.reasons = reasons
        }
    }

    public struct RelatedEvent: Equatable, Sendable {
        public var eventID: String
        public var relationship: String // parent | child | caused_by | causes | related
        public init(eventID: String, relationship: String) { self.eventID = eventID; self.relationship = relationship }
    }

    public struct TraceContext: Equatable, Sendable {
        public var traceID: String
        public var spanID: String
        public var traceFlags: Int64?
        public init(traceID: String, spanID: String, traceFlags: Int64? = nil) {
            self.traceID = traceID; self.spanID = spanID; self.traceFlags = traceFlags
        }
    }
}

extension Array where Element == OISPEvent {
    /// Appends `more`; when this array is empty (most calls: a chunk completes one event or none)
    /// it takes `more`'s storage instead of copying each event into its own (a copy retains
    /// every string of an event, and the emptied temporary then releases them).
    @inlinable public mutating func take(_ more: consuming [OISPEvent]) {
        if isEmpty { self = more } else if !more.isEmpty { append(contentsOf: more) }
    }
}
