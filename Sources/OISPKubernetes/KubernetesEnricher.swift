import Foundation
import OISPEvent

/// Puts the pod an event's process runs in under `ext["oisp.k8s"]`. An event from a container
/// the metadata does not list yet is held (with every later event of that container, so their
/// order stands) until the fetch its miss asked for has answered, at most `maxWaitNs` of the
/// cache; then it goes on, attributed or not. Nothing here waits for the network.
public final class KubernetesEnricher: @unchecked Sendable {
    /// The envelope's namespaced extension key.
    public static let extKey = "oisp.k8s"

    public struct Stats: Equatable, Sendable {
        public var attributed: UInt64 = 0
        /// Events of processes in pods that went out without attribution.
        public var unattributed: UInt64 = 0
        public var held = 0
        public init() {}
    }

    let cache: PodMetadataCache
    let podUID: (Int64) -> String?
    private let lock = NSLock()
    private var held: [(event: OISPEvent, key: String, podUID: String?)] = []
    private var heldKeys: [String: Int] = [:]
    private var _stats = Stats()
    static let maxHeld = 20_000

    /// - Parameters:
    ///   - cache: the node's pod metadata.
    ///   - podUID: the pod UID from a process's cgroup, by pid (nil outside pods).
    public init(cache: PodMetadataCache, podUID: @escaping (Int64) -> String?) {
        self.cache = cache
        self.podUID = podUID
    }

    /// Whether any event is held (an `enrich` call may then hand held ones on).
    public var isHolding: Bool { lock.withLock { !held.isEmpty } }

    public var stats: Stats { lock.withLock { var s = _stats; s.held = held.count; return s } }

    /// Attributes a batch of events.
    /// - Parameter events: events in capture order.
    /// - Returns: the events to hand on now: held ones whose wait is over first, then the batch's
    ///   own except those held.
    public func enrich(_ events: [OISPEvent]) -> [OISPEvent] {
        lock.lock(); defer { lock.unlock() }
        var out = releaseLocked()
        for var e in events {
            guard let p = e.process else { out.append(e); continue }
            let uid = p.containerID == nil ? nil : podUID(p.pid)
            guard let key = p.containerID ?? uid else { out.append(e); continue }
            if heldKeys[key, default: 0] > 0 || !attribute(&e, uid: uid, mayHold: true) {
                hold(e, key: key, uid: uid)
                continue
            }
            out.append(e)
        }
        if held.count > KubernetesEnricher.maxHeld {
            // bounded memory: the oldest go on unattributed
            let n = held.count - KubernetesEnricher.maxHeld
            for var h in held.prefix(n) { _ = attribute(&h.event, uid: h.podUID, mayHold: false); out.append(h.event) }
            held.removeFirst(n)
            heldKeys = [:]
            for h in held { heldKeys[h.key, default: 0] += 1 }
        }
        return out
    }

    /// Held events whose wait is over (call it periodically).
    public func release() -> [OISPEvent] {
        lock.lock(); defer { lock.unlock() }
        return releaseLocked()
    }

    /// Every held event, attributed as far as possible (at shutdown).
    public func drain() -> [OISPEvent] {
        lock.lock(); defer { lock.unlock() }
        let out = held.map { h -> OISPEvent in var e = h.event; _ = attribute(&e, uid: h.podUID, mayHold: false); return e }
        held = []; heldKeys = [:]
        return out
    }

    private func hold(_ e: OISPEvent, key: String, uid: String?) {
        held.append((e, key, uid))
        heldKeys[key, default: 0] += 1
    }

    private func releaseLocked() -> [OISPEvent] {
        guard !held.isEmpty else { return [] }
        var out: [OISPEvent] = [], keep: [(event: OISPEvent, key: String, podUID: String?)] = []
        var stillHeld = Set<String>()
        for var h in held {
            if !stillHeld.contains(h.key) && attribute(&h.event, uid: h.podUID, mayHold: true) {
                out.append(h.event)
            } else {
                stillHeld.insert(h.key)
                keep.append(h)
            }
        }
        held = keep
        heldKeys = [:]
        for h in held { heldKeys[h.key, default: 0] += 1 }
        return out
    }

    /// Sets `ext["oisp.k8s"]`; false when the event should wait (only with `mayHold`).
    private func attribute(_ e: inout OISPEvent, uid: String?, mayHold: Bool) -> Bool {
        switch cache.lookup(containerID: e.process?.containerID, podUID: uid) {
        case .attributed(let a):
            var ext = e.ext ?? JSONObject()
            ext[KubernetesEnricher.extKey] = .object(a)
            e.ext = ext
            _stats.attributed += 1
        case .pending:
            if mayHold { return false }
            _stats.unattributed += 1
        case .unattributed:
            _stats.unattributed += 1
        case .notInPod:
            break
        }
        return true
    }
}
