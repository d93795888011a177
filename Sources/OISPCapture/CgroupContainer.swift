/// The container a process runs in, as its cgroup path names it: the container id, the runtime
/// whose naming it follows and, for a Kubernetes pod, the pod's UID.
///
/// Read from `/proc/<pid>/cgroup` (cgroup v1: one line per hierarchy; v2: the single `0::` line),
/// under either cgroup driver of the kubelet and the runtimes:
///
/// | driver / runtime | path (last segments) |
/// |---|---|
/// | cgroupfs, containerd / dockershim | `/kubepods/besteffort/pod<uid>/<id>` (Guaranteed: `/kubepods/pod<uid>/<id>`) |
/// | cgroupfs, CRI-O | `/kubepods/burstable/pod<uid>/crio-<id>` |
/// | systemd, containerd | `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<u_i_d>.slice/cri-containerd-<id>.scope` |
/// | systemd, CRI-O | `…/kubepods-pod<u_i_d>.slice/crio-<id>.scope` (`crio-conmon-<id>.scope` is the runtime's monitor, not the container) |
/// | systemd, cri-dockerd | `…/kubepods-besteffort-pod<u_i_d>.slice/docker-<id>.scope` |
/// | containerd's own systemd form | `/system.slice/containerd.service/kubepods-besteffort-pod<u_i_d>.slice:cri-containerd:<id>` |
/// | Docker | `/docker/<id>`, `/system.slice/docker-<id>.scope` |
/// | Podman | `/machine.slice/libpod-<id>.scope` |
///
/// Nested (kind: `/kubelet.slice/kubelet-kubepods.slice/…`) and cgroup-namespaced (`/../..`)
/// paths parse the same way, segment by segment.
public struct CgroupContainer: Equatable, Sendable {
    /// The 64-hex-digit container id.
    public var id: String
    /// `containerd`, `cri-o`, `docker`, `podman`, or nil when the path does not say.
    public var runtime: String?
    /// The pod's UID (dashed, as the API server writes it), when the path is under `kubepods`.
    public var podUID: String?

    public init(id: String, runtime: String? = nil, podUID: String? = nil) {
        self.id = id; self.runtime = runtime; self.podUID = podUID
    }

    /// The container named by the contents of `/proc/<pid>/cgroup`, or nil for a process that is
    /// in no container. A pod's sandbox-less processes (a pod cgroup without a container
    /// segment) give nil too: there is no container to name.
    /// - Parameter text: the file's contents.
    /// - Returns: the container, its runtime and pod UID.
    public static func parse(_ text: String) -> CgroupContainer? {
        var found: CgroupContainer?
        for line in text.split(separator: "\n") {
            // "hierarchy-id:controllers:path"; the path may itself hold ':'
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            guard let c = parse(path: fields[2]) else { continue }
            if c.podUID != nil { return c }
            if found == nil { found = c }
        }
        return found
    }

    /// The container named by one cgroup path.
    /// - Parameter path: a path such as `/kubepods/besteffort/pod<uid>/<id>`.
    /// - Returns: the container (the deepest container segment wins), or nil.
    public static func parse<S: StringProtocol>(path: S) -> CgroupContainer? {
        var id: String?, runtime: String?, podUID: String?
        var underKubepods = false, previous: Substring = ""
        // containerd's systemd form joins the last segments with ':'
        for seg in path.split(whereSeparator: { $0 == "/" || $0 == ":" }).map(Substring.init) {
            let name = strip(seg)
            if name.hasPrefix("kubepods") || name.hasPrefix("kubelet-kubepods") { underKubepods = true }
            if underKubepods, let uid = podSegment(name) { podUID = uid; id = nil; runtime = nil }
            if let (cid, rt) = containerSegment(name, previous: previous) { id = cid; runtime = rt }
            previous = name
        }
        guard let id else { return nil }
        return CgroupContainer(id: id, runtime: runtime, podUID: underKubepods ? podUID : nil)
    }

    static func strip(_ s: Substring) -> Substring {
        for suffix in [".scope", ".slice"] where s.hasSuffix(suffix) { return s.dropLast(suffix.count) }
        return s
    }

    static let runtimePrefixes: [(prefix: String, runtime: String)] = [
        ("cri-containerd-", "containerd"), ("crio-", "cri-o"), ("docker-", "docker"), ("libpod-", "podman"),
    ]

    /// A container id with its runtime from one segment (`cri-containerd-<id>`, `crio-<id>`,
    /// `docker-<id>`, `libpod-<id>`, or a bare id; `cri-containerd` alone before a bare id in
    /// containerd's `:`-joined form).
    static func containerSegment(_ s: Substring, previous: Substring) -> (String, String?)? {
        if isHex64(s) {
            switch previous {
            case "docker": return (String(s), "docker")
            case "cri-containerd": return (String(s), "containerd")
            case "crio": return (String(s), "cri-o")
            default: return (String(s), nil)
            }
        }
        for (prefix, runtime) in runtimePrefixes where s.hasPrefix(prefix) {
            let rest = s.dropFirst(prefix.count)
            if isHex64(rest) { return (String(rest), runtime) }
        }
        return nil
    }

    /// The pod UID in a `pod<uid>` segment, alone (cgroupfs) or after the QoS slice prefix
    /// (`kubepods-besteffort-pod<u_i_d>`, systemd, underscores for dashes). Static pods' UIDs are
    /// 32 hex digits without dashes (the manifest's hash).
    static func podSegment(_ s: Substring) -> String? {
        guard let r = s.range(of: "pod", options: .backwards),
              r.lowerBound == s.startIndex || s[s.index(before: r.lowerBound)] == "-" else { return nil }
        let uid = s[r.upperBound...].replacingOccurrences(of: "_", with: "-").lowercased()
        return isUID(uid) ? uid : nil
    }

    static func isHex(_ c: Character) -> Bool { c.isASCII && c.isHexDigit && !c.isUppercase }

    static func isHex64<S: StringProtocol>(_ s: S) -> Bool { s.count == 64 && s.allSatisfy(isHex) }

    /// 8-4-4-4-12 hex digits, or 32 hex digits.
    static func isUID(_ s: String) -> Bool {
        if s.count == 32 { return s.allSatisfy(isHex) }
        let groups = s.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(isHex) }
    }
}
