import Foundation
import OISPEvent

/// Pod metadata for one node, kept fresh by a background refresher: a full fetch every
/// `refresh`, and one sooner (at most once per `missInterval`) when a pod's container is not yet
/// known. Lookups read memory only: they never wait for the network.
public final class PodMetadataCache: @unchecked Sendable {
    public typealias Fetch = () -> Result<[PodMetadata], PodSourceFailure>
    public enum LogLevel: Sendable { case info, warning }

    /// What a lookup found.
    public enum Lookup: Equatable {
        /// The `ext["oisp.k8s"]` object.
        case attributed(JSONObject)
        /// The container is in a pod this node's source does not list (yet): a fetch asked for by
        /// this miss is under way; ask again shortly.
        case pending
        /// In a pod, but the source does not know it or cannot be reached.
        case unattributed
        /// Not in a pod: nothing to attribute.
        case notInPod
    }

    /// Counters since start.
    public struct Stats: Equatable, Sendable {
        public var fetches: UInt64 = 0
        public var fetchFailures: UInt64 = 0
        public var pods = 0
        /// Whether the last fetch succeeded.
        public var healthy = false
        public init() {}
    }

    let fetch: Fetch
    let refreshNs: UInt64
    let missIntervalNs: UInt64
    /// How long an event may wait for the fetch its miss asked for.
    public let maxWaitNs: UInt64
    let labelKeys: [String]
    let log: (LogLevel, String) -> Void
    let clock: () -> UInt64

    private let cond = NSCondition()
    private var byContainer: [String: JSONObject] = [:]
    private var byPod: [String: PodMetadata] = [:]
    /// key (container id, or pod UID) → when it was first missed.
    private var misses: [String: UInt64] = [:]
    /// Start time of the last completed fetch (it answers every miss noticed before it).
    private var answeredUpTo: UInt64?
    private var lastBegin: UInt64?
    /// Start time of the fetch under way, if one is.
    private var inFlight: UInt64?
    private var wantEarly = false
    private var stopped = false
    private var running = false
    private var lastFailure: PodSourceFailure?
    private var lastFailureLog: UInt64 = 0
    private var _stats = Stats()
    private let done = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - refreshMs: full refresh period.
    ///   - missIntervalMs: the least time between two fetches asked for by misses (capped at `refreshMs`).
    ///   - maxWaitMs: how long a lookup stays `pending` for the fetch its miss asked for.
    ///   - labelKeys: pod labels copied into the attribution.
    ///   - log: where warnings (an unreachable or refusing source) and recoveries go.
    ///   - clock: monotonic nanoseconds.
    ///   - fetch: one full fetch (blocking; called on the refresher thread only).
    public init(refreshMs: Int, missIntervalMs: Int = 1000, maxWaitMs: Int = 2000, labelKeys: [String] = [],
                log: @escaping (LogLevel, String) -> Void = { _, _ in },
                clock: @escaping () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }, fetch: @escaping Fetch) {
        refreshNs = UInt64(max(1, refreshMs)) * 1_000_000
        missIntervalNs = min(refreshNs, UInt64(max(1, missIntervalMs)) * 1_000_000)
        maxWaitNs = UInt64(max(0, maxWaitMs)) * 1_000_000
        self.labelKeys = labelKeys
        self.log = log
        self.clock = clock
        self.fetch = fetch
    }

    public var stats: Stats { cond.lock(); defer { cond.unlock() }; return _stats }

    /// Starts the refresher thread; the first fetch begins at once.
    public func start() {
        cond.lock()
        guard !running else { cond.unlock(); return }
        running = true
        cond.unlock()
        Thread.detachNewThread { [self] in
            refresherLoop()
            done.signal()
        }
    }

    /// Stops the refresher (a fetch under way is waited for, up to its timeout).
    public func stop() {
        cond.lock()
        let wasRunning = running && !stopped
        stopped = true
        cond.broadcast()
        cond.unlock()
        if wasRunning { done.wait() }
    }

    private func refresherLoop() {
        cond.lock()
        while !stopped {
            let now = clock()
            var due = lastBegin.map { $0 + refreshNs } ?? now
            if wantEarly, let b = lastBegin { due = min(due, b + missIntervalNs) }
            if now < due {
                _ = cond.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
                continue
            }
            lastBegin = now
            inFlight = now
            wantEarly = false
            cond.unlock()
            let result = fetch()
            cond.lock()
            inFlight = nil
            apply(result, begun: now)
        }
        cond.unlock()
    }

    /// Takes a fetch's result (lock held).
    private func apply(_ result: Result<[PodMetadata], PodSourceFailure>, begun: UInt64) {
        answeredUpTo = begun
        switch result {
        case .success(let pods):
            _stats.fetches += 1
            var byC: [String: JSONObject] = [:], byP: [String: PodMetadata] = [:]
            for p in pods {
                byP[p.uid] = p
                for c in p.containers { if let id = c.id { byC[id] = p.attribution(container: c, labelKeys: labelKeys) } }
            }
            byContainer = byC
            byPod = byP
            _stats.pods = pods.count
            if let f = lastFailure {
                log(.info, "kubernetes: pod metadata available again from \(f.url) (\(pods.count) pods)")
            } else if _stats.fetches == 1 {
                log(.info, "kubernetes: pod metadata from the first fetch (\(pods.count) pods)")
            }
            lastFailure = nil
            _stats.healthy = true
            forgetOldMisses(begun)
        case .failure(let f):
            _stats.fetchFailures += 1
            _stats.healthy = false
            let now = clock()
            if lastFailure != f || now >= lastFailureLog + 600_000_000_000 {
                log(.warning, "kubernetes: cannot read pod metadata from \(f) — events are exported without pod attribution (counted in oisp_k8s_unattributed_events_total) until it answers")
                lastFailureLog = now
            }
            lastFailure = f
            forgetOldMisses(begun)
        }
        cond.broadcast()
    }

    /// A miss a fetch answered without finding it asks for no other fetch for one refresh period;
    /// after that it may ask once more (a pod the source lists late).
    private func forgetOldMisses(_ begun: UInt64) {
        if begun > refreshNs { misses = misses.filter { $0.value + refreshNs > begun } }
    }

    /// The attribution of an event from a container, from memory.
    /// - Parameters:
    ///   - containerID: the process's container id (from its cgroup).
    ///   - podUID: the pod UID from its cgroup; nil for a process outside any pod.
    /// - Returns: the attribution, or whether to ask again shortly.
    public func lookup(containerID: String?, podUID: String?) -> Lookup {
        cond.lock(); defer { cond.unlock() }
        if let cid = containerID, let a = byContainer[cid] { misses[cid] = nil; return .attributed(a) }
        guard let uid = podUID else { return .notInPod }
        let key = containerID ?? uid
        let now = clock()
        let first: UInt64
        if let f = misses[key] { first = f } else { first = now; misses[key] = now }
        let answered = answeredUpTo.map { $0 > first } ?? false
        let underWay = inFlight.map { $0 > first } ?? false
        if !answered && !underWay && !wantEarly && running {
            wantEarly = true
            cond.broadcast()
        }
        // wait for the answer only while the source works (or has not answered yet at all)
        let mayWait = !answered && (_stats.healthy || answeredUpTo == nil) && now < first + maxWaitNs && running
        if let pod = byPod[uid] {
            // its container's id is not in the status yet: a pod of one container still says which
            if pod.containers.count == 1 { return .attributed(pod.attribution(container: pod.containers[0], labelKeys: labelKeys)) }
            return mayWait ? .pending : .attributed(pod.attribution(container: nil, labelKeys: labelKeys))
        }
        return mayWait ? .pending : .unattributed
    }

    /// Waits until a fetch has completed (for start-up and tests).
    /// - Parameter timeout: seconds.
    /// - Returns: whether one has.
    @discardableResult
    public func waitForFirstFetch(timeout: TimeInterval) -> Bool {
        cond.lock(); defer { cond.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while answeredUpTo == nil {
            guard cond.wait(until: deadline) else { return false }
        }
        return true
    }
}
