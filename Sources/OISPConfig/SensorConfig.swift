import Foundation
import OISPEvent

/// The sensor's whole configuration, as read from config.toml, `${ENV}`-expanded and validated.
public struct SensorConfig: Sendable {
    /// Where it came from ("<embedded default>" when no file was read).
    public var file: String
    public var sensor = Sensor()
    public var capture = Capture()
    public var redaction = Redaction()
    public var plugins = Plugins()
    public var pipeline = Pipeline()
    public var metrics = Metrics()
    public var decode = Decode()
    public var kubernetes = Kubernetes()
    public var cost = Cost()
    /// `[export.<name>]` tables in file order.
    public var exports: [ExportConfig] = []
    /// Unknown keys, unset variables: reported, not fatal.
    public var warnings: [ConfigWarning] = []
    /// The whole resolved document (env-expanded), for `config check`.
    public var resolved: JSONObject = JSONObject()

    public init(file: String) { self.file = file }

    public struct Sensor: Sendable, Equatable {
        public var name: String?
        public var logLevel: String = "info"
        public var hostname: String?
        /// A local unix socket the sensor serves its (redacted) event stream on, for `oisp top`
        /// (root-only; nil: none).
        public var eventsSocket: String?
        public init() {}
    }

    public struct Capture: Sendable, Equatable {
        public var ssl = true
        public var process = true
        public var network = true
        public var file = false
        public var processFilter: [String] = []
        public var pidFilter: [Int64] = []
        public var sslBinaryPaths: [String] = []
        /// Plain HTTP (no TLS) to local model servers, seen at the socket syscalls on these ports:
        /// Ollama 11434, vLLM 8000, llama.cpp 8080, LM Studio 1234, LiteLLM 4000.
        public var plainHTTP = true
        public var plainHTTPPorts: [UInt16] = [11434, 8000, 8080, 1234, 4000]
        /// Hold each executable at its first exec until its TLS code is probed (fanotify exec
        /// permission events), so a short-lived Go or Bun program is seen from its first call.
        public var probeBeforeExec = true
        /// The longest an exec is held (a binary that takes longer goes on, its first calls missed).
        public var probeBeforeExecTimeoutMs = 5000
        /// Plaintext captured per SSL call (16 KiB chunks); beyond it the event is marked truncated.
        public var maxCaptureBytes: Int = 262144
        /// BPF ring buffer size (power of two). It is resident memory (mapped twice by libbpf),
        /// so the default is small; raise it for nodes with bursts of large AI payloads.
        public var ringBufferBytes: Int = 2 << 20
        public init() {}
    }

    public struct CustomPattern: Sendable, Equatable {
        public var name: String
        public var pattern: String
        public init(name: String, pattern: String) { self.name = name; self.pattern = pattern }
    }

    public struct Redaction: Sendable, Equatable {
        public enum Mode: String, Sendable, CaseIterable { case safe, full, minimal }
        public var mode: Mode = .safe
        public var customPatterns: [CustomPattern] = []
        public var hashSalt: String?
        /// Where the per-install random hash key is kept when no `hash_salt` is set.
        public var keyFile: String = "/var/lib/oisp/redaction.key"
        /// Per-detector toggles (`redact_api_keys`, `redact_emails`, ...), default on.
        public var toggles: [String: Bool] = [:]
        public init() {}
        public func isEnabled(_ detector: String) -> Bool { toggles[detector] ?? true }
    }

    public struct Plugins: Sendable, Equatable {
        /// Directories searched for `liboisp-exporter-<name>.so`, in order.
        public var dirs: [String] = []
        /// Where each in-process plugin instance keeps its crash marker (`<instance>.crash`);
        /// nil: `[pipeline] spool_dir`, and without that no crash guard.
        public var stateDir: String?
        /// An instance that crashed the sensor this many runs in a row is refused (0: never).
        public var crashLimit: Int = 3
        public init() {}
    }

    /// Defaults for every exporter's queue/batch/retry policy (overridable per `[export.<name>]`).
    public struct Pipeline: Sendable, Equatable {
        public var defaults = ExportPolicy()
        public var spoolDir: String?
        public var spoolMaxBytes: Int64 = 1 << 30
        /// `shutdown_timeout_ms`: the whole process's time from SIGTERM/SIGINT (or end of input)
        /// to exit. Exporters deliver until then (no retry wait runs past it); what is still
        /// queued then goes to the spool, or is counted as dropped (reason "shutdown").
        public var shutdownTimeoutMs: Int = Pipeline.defaultShutdownTimeoutMs
        public init() {}

        /// Inside Kubernetes' default 30 s grace period, with room for capture to detach and
        /// the final log line.
        public static let defaultShutdownTimeoutMs = 20_000
        /// What the DaemonSet's `terminationGracePeriodSeconds` must be for a budget: the budget
        /// plus 10 s (deploy/base/daemonset.yaml; a test holds the two together).
        public static func terminationGracePeriodSeconds(shutdownTimeoutMs: Int) -> Int {
            (shutdownTimeoutMs + 999) / 1000 + 10
        }
    }

    /// `[decode]`: how captured plaintext becomes AI events.
    public struct Decode: Sendable, Equatable {
        /// Emit `ai.streaming_chunk` events for streamed responses (opt-in: `ai.response` carries the
        /// assembled answer, `chunk_count` and `time_to_first_token_ms`).
        public var streamingChunks = false
        public var maxBodyBytes = 16 << 20
        /// Threads that decode, redact and write `record`'s events, connections spread over them
        /// (each connection's events stay in order on one). 0: one per 8 cores, at most 4 — on a
        /// small node the capture thread's own decoding, with no hand-off.
        public var threads = 0
        /// Extra provider entries (`[[decode.providers]]`), same fields as the built-in registry.
        public var providers: [JSONObject] = []
        public init() {}

        /// The number of decode threads `threads` asks for on a machine with `cores` cores.
        public func threadCount(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
            threads > 0 ? threads : min(4, max(1, cores / 8))
        }
    }

    /// `[kubernetes]`: which pod, namespace and workload a container's events come from, read from
    /// one metadata source per node (never one call per event).
    public struct Kubernetes: Sendable, Equatable {
        public enum Source: String, Sendable, CaseIterable { case kubelet, apiserver }
        public static let serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
        /// Default (when parsed): on when `KUBERNETES_SERVICE_HOST` is set, i.e. inside a pod.
        public var enabled = false
        /// Only `kubelet` is implemented; `apiserver` (a watch filtered by node) is refused at load.
        public var source: Source = .kubelet
        /// The kubelet's read API; default `https://${NODE_NAME}:10250`.
        public var kubeletURL = "https://localhost:10250"
        /// Bearer token, read again at every fetch (projected tokens rotate).
        public var tokenFile = Kubernetes.serviceAccountDir + "/token"
        /// CA bundle for the server certificate; nil: the system CAs.
        public var caFile: String? = Kubernetes.serviceAccountDir + "/ca.crt"
        public var tlsVerify = true
        /// Pod labels copied into events (an allow-list; none by default).
        public var labels: [String] = []
        /// Full refresh period; a container not yet known also triggers one (rate-limited).
        public var refreshMs = 15000
        public init() {}
    }

    public struct Metrics: Sendable, Equatable {
        /// nil: on for `record` (the daemon), off for one-shot commands unless asked for.
        public var enabled: Bool?
        public var addr = "127.0.0.1:9464"
        /// Cardinality guard of the GenAI metrics: distinct models (request and response), and
        /// distinct namespaces, workloads and pods, kept as label values; the rest are `other`.
        public var genaiMaxModels = 50
        public var genaiMaxWorkloads = 100
        public init() {}
    }

    /// `[cost]`: a cost on each `ai.response`, from the built-in price table (LiteLLM's) and
    /// `prices_file`, whose entries override or add to it.
    public struct Cost: Sendable, Equatable {
        public var enabled = true
        public var pricesFile: String?
        /// The entries read from `prices_file`.
        public var prices: [PriceEntry] = []
        public init() {}
    }
}

/// Retry policy, with the OpenTelemetry Collector's `retry_on_failure` defaults.
public struct RetryPolicy: Sendable, Equatable {
    public var enabled = true
    public var initialIntervalMs: Int = 5000
    public var maxIntervalMs: Int = 30000
    /// Give up on a batch after this long (0 = never); the batch is then dropped and counted.
    public var maxElapsedMs: Int = 300_000
    public var multiplier: Double = 1.5
    public var randomizationFactor: Double = 0.5
    public init() {}
}

/// The reliability settings the host applies to every exporter alike.
public struct ExportPolicy: Sendable, Equatable {
    public var batchSize: Int = 512
    public var flushIntervalMs: Int = 1000
    /// Bounded queue length in events; when full, the oldest queued events are dropped and counted.
    public var queueSize: Int = 65536
    public var timeoutMs: Int = 30000
    /// Batches one exporter may have in flight at once, for plugins that declare
    /// OISP_EXPORTER_CAP_CONCURRENT_EXPORT (others always get one at a time).
    public var maxInFlight: Int = 4
    /// Bound on the bytes of event JSON held in memory per exporter.
    public var queueMaxBytes: Int = 64 << 20
    public var retry = RetryPolicy()
    /// Disk spool directory for this exporter (`[pipeline] spool_dir`/<name>); nil: no spool.
    public var spoolDir: String?
    public var spoolMaxBytes: Int64 = 1 << 30
    /// drop_oldest | drop_newest | block
    public var spoolOverflow = "drop_oldest"
    /// Every record goes to the spool before it is sent (`write_ahead`; also set by the host while
    /// a plugin that crashed the sensor is on probation): a SIGKILL, an OOM kill or a crash loses
    /// nothing the pipeline accepted, at the cost of a disk write per submitted batch.
    public var writeAhead = false
    public init() {}
}

/// One `[export.<name>]` table.
public struct ExportConfig: Sendable, Equatable {
    public var name: String
    public var enabled: Bool
    /// Explicit plugin path (`plugin = "..."`); otherwise `liboisp-exporter-<name>.so` is searched.
    public var plugin: String?
    /// The exporter's own keys, passed to the plugin untouched (env-expanded), without the
    /// host-owned `enabled`, `plugin`, `queue_size` and `retry_on_failure`.
    public var settings: JSONObject
    public var policy: ExportPolicy
    /// The line of the `[export.<name>]` header.
    public var line: Int?
    /// The line of each key in `settings`, by its path inside the section (`tls.ca_file`).
    public var keyLines: [String: Int] = [:]
    public init(name: String, enabled: Bool, plugin: String? = nil, settings: JSONObject = JSONObject(),
                policy: ExportPolicy = ExportPolicy(), line: Int? = nil) {
        self.name = name; self.enabled = enabled; self.plugin = plugin; self.settings = settings
        self.policy = policy; self.line = line
    }

    /// The same exporter, configured the same way: where its lines stand in the file does not
    /// count (a SIGHUP after an edit above a section must not restart that exporter).
    public static func == (a: ExportConfig, b: ExportConfig) -> Bool {
        a.name == b.name && a.enabled == b.enabled && a.plugin == b.plugin && a.settings == b.settings && a.policy == b.policy
    }
}
