import OISPEvent

/// What Kubernetes says about one pod, as far as events need it.
public struct PodMetadata: Equatable, Sendable {
    public var name: String
    public var namespace: String
    public var uid: String
    public var nodeName: String?
    public var serviceAccount: String?
    public var labels: [String: String] = [:]
    /// The pod's controller as its `ownerReferences` name it (e.g. ReplicaSet `web-7d4b9c8f6d`).
    public var owner: Workload?
    /// The workload a user knows (e.g. Deployment `web`), derived from the owner.
    public var workload: Workload?
    /// Containers by name, from the spec (init and ephemeral ones included).
    public var containers: [Container] = []

    public struct Workload: Equatable, Sendable {
        public var kind: String
        public var name: String
        public init(kind: String, name: String) { self.kind = kind; self.name = name }
    }

    public struct Container: Equatable, Sendable {
        public var name: String
        /// The image as the spec names it (`ghcr.io/acme/chat:1.4`).
        public var image: String?
        /// The running container's id (no `containerd://` prefix), once the status has it.
        public var id: String?
        /// The runtime named by the status's id scheme (`containerd`, `cri-o`, `docker`).
        public var runtime: String?
        /// The image's digest reference from the status (`…@sha256:…`).
        public var imageID: String?
        public init(name: String, image: String? = nil, id: String? = nil, runtime: String? = nil, imageID: String? = nil) {
            self.name = name; self.image = image; self.id = id; self.runtime = runtime; self.imageID = imageID
        }
    }

    public init(name: String, namespace: String, uid: String) {
        self.name = name; self.namespace = namespace; self.uid = uid
    }

    /// The workload behind a controller, by the rules the controllers name things with:
    /// a ReplicaSet `<deployment>-<pod-template-hash>` belongs to that Deployment (when the pod's
    /// `pod-template-hash` label is the suffix); a Job `<cronjob>-<minutes since the epoch>` to that
    /// CronJob; StatefulSet, DaemonSet, ReplicationController and a bare Job are workloads
    /// themselves. A static pod's owner (its Node) is no workload.
    /// - Parameters:
    ///   - owner: the controlling owner reference.
    ///   - labels: the pod's labels.
    /// - Returns: the workload, or nil.
    public static func workload(owner: Workload, labels: [String: String]) -> Workload? {
        switch owner.kind {
        case "ReplicaSet":
            if let hash = labels["pod-template-hash"], !hash.isEmpty, owner.name.hasSuffix("-" + hash) {
                return Workload(kind: "Deployment", name: String(owner.name.dropLast(hash.count + 1)))
            }
            return owner
        case "Job":
            if let dash = owner.name.lastIndex(of: "-") {
                let suffix = owner.name[owner.name.index(after: dash)...]
                if suffix.count >= 8, suffix.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    return Workload(kind: "CronJob", name: String(owner.name[..<dash]))
                }
            }
            return owner
        case "Node":
            return nil
        default:
            return owner
        }
    }

    /// `containerd://<id>` → (`<id>`, `containerd`); CRI-O's `cri-o://` and `docker://` alike.
    public static func splitContainerID(_ s: String) -> (id: String, runtime: String?)? {
        guard !s.isEmpty else { return nil }
        guard let r = s.range(of: "://") else { return (s, nil) }
        let id = String(s[r.upperBound...])
        return id.isEmpty ? nil : (id, String(s[..<r.lowerBound]))
    }

    /// The pods of a kubelet `/pods` answer (a v1 `PodList`) or an API server pod list.
    /// - Parameter bytes: the response body.
    /// - Throws: `PodListError` when it is not JSON or not a `PodList`.
    /// - Returns: the pods, in list order.
    public static func parsePodList<C: Collection>(_ bytes: C) throws -> [PodMetadata] where C.Element == UInt8 {
        let doc: JSONValue
        do { doc = try JSONParser.parse(bytes) } catch { throw PodListError(message: "not JSON: \(error)") }
        guard doc["kind"]?.stringValue == "PodList", let items = doc["items"]?.arrayValue else {
            throw PodListError(message: "expected a v1 PodList, got kind \(doc["kind"]?.stringValue ?? "none")")
        }
        return items.compactMap(pod)
    }

    static func pod(_ item: JSONValue) -> PodMetadata? {
        let meta = item["metadata"]
        guard let name = meta?["name"]?.stringValue, let uid = meta?["uid"]?.stringValue else { return nil }
        var p = PodMetadata(name: name, namespace: meta?["namespace"]?.stringValue ?? "default", uid: uid)
        for (k, v) in meta?["labels"]?.objectValue ?? JSONObject() { if let s = v.stringValue { p.labels[k] = s } }
        let owners = meta?["ownerReferences"]?.arrayValue ?? []
        if let o = owners.first(where: { $0["controller"]?.boolValue == true }) ?? owners.first,
           let kind = o["kind"]?.stringValue, let oname = o["name"]?.stringValue {
            p.owner = Workload(kind: kind, name: oname)
            p.workload = workload(owner: p.owner!, labels: p.labels)
        }
        let spec = item["spec"]
        p.nodeName = spec?["nodeName"]?.stringValue
        p.serviceAccount = spec?["serviceAccountName"]?.stringValue ?? spec?["serviceAccount"]?.stringValue
        for key in ["containers", "initContainers", "ephemeralContainers"] {
            for c in spec?[key]?.arrayValue ?? [] {
                guard let n = c["name"]?.stringValue else { continue }
                p.containers.append(Container(name: n, image: c["image"]?.stringValue))
            }
        }
        let status = item["status"]
        for key in ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"] {
            for c in status?[key]?.arrayValue ?? [] {
                guard let n = c["name"]?.stringValue else { continue }
                let i = p.containers.firstIndex { $0.name == n } ?? { p.containers.append(Container(name: n)); return p.containers.count - 1 }()
                if let (id, rt) = c["containerID"]?.stringValue.flatMap(splitContainerID) { p.containers[i].id = id; p.containers[i].runtime = rt }
                if p.containers[i].image == nil { p.containers[i].image = c["image"]?.stringValue }
                p.containers[i].imageID = c["imageID"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            }
        }
        return p
    }

    /// The `ext["oisp.k8s"]` object of an event from `container` in this pod (nil container: the
    /// pod is known, which of its containers is not yet).
    /// - Parameters:
    ///   - container: the container, when known.
    ///   - labelKeys: the label allow-list.
    /// - Returns: the object, flat so that record accessors reach every field in one step.
    public func attribution(container: Container?, labelKeys: [String]) -> JSONObject {
        var o = JSONObject()
        o["namespace"] = .string(namespace)
        o["pod_name"] = .string(name)
        o["pod_uid"] = .string(uid)
        if let c = container {
            o["container_name"] = .string(c.name)
            o.set("container_image", c.image.map(JSONValue.string))
            o.set("container_image_id", c.imageID.map(JSONValue.string))
        }
        if let w = workload {
            o["workload_kind"] = .string(w.kind)
            o["workload_name"] = .string(w.name)
        }
        if let ow = owner, ow != workload {
            o["owner_kind"] = .string(ow.kind)
            o["owner_name"] = .string(ow.name)
        }
        o.set("node_name", nodeName.map(JSONValue.string))
        o.set("service_account", serviceAccount.map(JSONValue.string))
        var ls = JSONObject()
        for k in labelKeys { if let v = labels[k] { ls[k] = .string(v) } }
        if !ls.isEmpty { o["labels"] = .object(ls) }
        return o
    }
}

/// A `/pods` answer that is not a pod list.
public struct PodListError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
