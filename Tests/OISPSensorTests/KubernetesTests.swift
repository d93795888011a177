import Foundation
import OISPCapture
import OISPConfig
import OISPEvent
import OISPKubernetes
import XCTest

/// Kubernetes attribution without a cluster: cgroup paths as kubelets and runtimes write them,
/// the kubelet's PodList, the workload rules, the cache's refresh policy, `[kubernetes]`.
final class KubernetesTests: XCTestCase {
    static let id = "3f1b6c0e8a9d4e2f7b5c1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f"
    static let uid = "0f5c8a3e-7b2d-4c1e-9a6f-3d8b2e1c4a57"
    static var uidU: String { uid.replacingOccurrences(of: "-", with: "_") }

    // MARK: cgroup paths

    func testCgroupPathsOfEveryDriverAndRuntime() {
        let id = Self.id, uid = Self.uid, u = Self.uidU
        let cases: [(String, String?, String?, String?)] = [   // (file, id, runtime, pod uid)
            // cgroup v1, cgroupfs driver (containerd / dockershim): one line per hierarchy
            ("12:memory:/kubepods/besteffort/pod\(uid)/\(id)\n11:cpu,cpuacct:/kubepods/besteffort/pod\(uid)/\(id)\n1:name=systemd:/kubepods/besteffort/pod\(uid)/\(id)\n",
             id, nil, uid),
            ("4:pids:/kubepods/burstable/pod\(uid)/\(id)\n", id, nil, uid),
            // Guaranteed QoS has no QoS level in the path
            ("3:cpuset:/kubepods/pod\(uid)/\(id)\n", id, nil, uid),
            // cgroupfs, CRI-O
            ("0::/kubepods/burstable/pod\(uid)/crio-\(id)\n", id, "cri-o", uid),
            // cgroup v2, systemd driver, containerd
            ("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope\n", id, "containerd", uid),
            ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/cri-containerd-\(id).scope\n", id, "containerd", uid),
            ("0::/kubepods.slice/kubepods-pod\(u).slice/cri-containerd-\(id).scope\n", id, "containerd", uid),
            // cgroup v1, systemd driver, containerd (every controller line alike)
            ("10:devices:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/cri-containerd-\(id).scope\n"
                + "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/cri-containerd-\(id).scope\n0::/\n",
             id, "containerd", uid),
            // systemd driver, CRI-O, and its conmon (not the container)
            ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/crio-\(id).scope\n", id, "cri-o", uid),
            ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/crio-conmon-\(id).scope\n", nil, nil, nil),
            // systemd driver, cri-dockerd
            ("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice/docker-\(id).scope\n", id, "docker", uid),
            // containerd's own systemd form on cgroup v1
            ("5:memory:/system.slice/containerd.service/kubepods-besteffort-pod\(u).slice:cri-containerd:\(id)\n", id, "containerd", uid),
            // kind: a kubelet inside a container
            ("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope\n",
             id, "containerd", uid),
            // the sensor in its own cgroup namespace sees other pods relative to its root
            ("0::/../../kubepods-besteffort-pod\(u).slice/cri-containerd-\(id).scope\n", id, "containerd", uid),
            // a systemd-managed process inside the container (cgroup v2, nested)
            ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(u).slice/cri-containerd-\(id).scope/init.scope\n", id, "containerd", uid),
            // static pod: the UID is the manifest's hash
            ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8c1f2a9b3d4e5f60718293a4b5c6d7e8.slice/cri-containerd-\(id).scope\n",
             id, "containerd", "8c1f2a9b3d4e5f60718293a4b5c6d7e8"),
            // Docker outside Kubernetes: a container, no pod
            ("12:memory:/docker/\(id)\n11:cpu:/docker/\(id)\n", id, "docker", nil),
            ("0::/system.slice/docker-\(id).scope\n", id, "docker", nil),
            // Podman
            ("0::/machine.slice/libpod-\(id).scope/container\n", id, "podman", nil),
            // not in a container
            ("0::/user.slice/user-1000.slice/session-3.scope\n", nil, nil, nil),
            ("12:memory:/\n11:cpu:/\n0::/\n", nil, nil, nil),
            ("0::/system.slice/containerd.service\n", nil, nil, nil),
            // the pod's cgroup itself (a process in the pod but in no container)
            ("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(u).slice\n", nil, nil, nil),
            // uppercase hex is no container id
            ("0::/docker/\(id.uppercased())\n", nil, nil, nil),
        ]
        for (text, wantID, wantRuntime, wantUID) in cases {
            let c = CgroupContainer.parse(text)
            XCTAssertEqual(c?.id, wantID, text)
            XCTAssertEqual(c?.runtime, wantRuntime, text)
            XCTAssertEqual(c?.podUID, wantUID, text)
        }
    }

    /// Hybrid hosts: v1 controllers say kubepods while the unified line is the root.
    func testHybridHierarchyPrefersThePodLine() {
        let text = "0::/\n1:name=systemd:/docker/\(Self.id)\n7:memory:/kubepods/besteffort/pod\(Self.uid)/\(Self.id)\n"
        XCTAssertEqual(CgroupContainer.parse(text), CgroupContainer(id: Self.id, runtime: nil, podUID: Self.uid))
    }

    func testProcessTableReadsItsOwnCgroup() throws {
        let r = ProcessTable.read(pid: Int64(getpid()))
        let text = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        XCTAssertEqual(r.containerID, CgroupContainer.parse(text)?.id ?? ProcessTable.containerID(fromCgroup: text))
    }

    // MARK: the kubelet's PodList

    static func podList(_ pods: [String]) -> String {
        #"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":["# + pods.joined(separator: ",") + "]}"
    }

    static func pod(name: String, namespace: String = "prod", uid: String, owner: (String, String)? = nil, labels: [String: String] = [:],
                    containers: [(name: String, image: String, id: String?)], node: String = "node-7", sa: String = "default") -> String {
        let ls = labels.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",")
        let own = owner.map { #","ownerReferences":[{"apiVersion":"apps/v1","kind":"\#($0.0)","name":"\#($0.1)","uid":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","controller":true,"blockOwnerDeletion":true}]"# } ?? ""
        let specC = containers.map { #"{"name":"\#($0.name)","image":"\#($0.image)","resources":{},"terminationMessagePath":"/dev/termination-log","imagePullPolicy":"IfNotPresent"}"# }
        let statC = containers.map { c -> String in
            let cid = c.id.map { #""containerID":"containerd://\#($0)","started":true,"# } ?? #""started":false,"#
            return #"{"name":"\#(c.name)","state":{"running":{"startedAt":"2025-12-22T14:00:00Z"}},"lastState":{},"ready":true,"restartCount":0,"image":"\#(c.image)","imageID":"\#(c.image)@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",\#(cid)"volumeMounts":[]}"#
        }
        return #"{"metadata":{"name":"\#(name)","namespace":"\#(namespace)","uid":"\#(uid)","resourceVersion":"1","creationTimestamp":"2025-12-22T14:00:00Z","labels":{\#(ls)}\#(own)},"spec":{"containers":[\#(specC.joined(separator: ","))],"restartPolicy":"Always","serviceAccountName":"\#(sa)","nodeName":"\#(node)"},"status":{"phase":"Running","qosClass":"BestEffort","containerStatuses":[\#(statC.joined(separator: ","))]}}"#
    }

    func testPodListAndWorkloadRules() throws {
        let list = Self.podList([
            Self.pod(name: "chat-7d4b9c8f6d-x2x9z", uid: Self.uid, owner: ("ReplicaSet", "chat-7d4b9c8f6d"),
                     labels: ["app.kubernetes.io/name": "chat", "pod-template-hash": "7d4b9c8f6d", "team": "ml"],
                     containers: [("app", "ghcr.io/acme/chat:1.4", Self.id), ("proxy", "envoyproxy/envoy:v1.31", nil)], sa: "chat"),
            Self.pod(name: "db-0", uid: "11111111-2222-3333-4444-555555555555", owner: ("StatefulSet", "db"), containers: [("pg", "postgres:16", nil)]),
            Self.pod(name: "agent-x1", uid: "21111111-2222-3333-4444-555555555555", owner: ("DaemonSet", "agent"), containers: [("a", "a:1", nil)]),
            Self.pod(name: "nightly-28472910-abcde", uid: "31111111-2222-3333-4444-555555555555", owner: ("Job", "nightly-28472910"), containers: [("j", "j:1", nil)]),
            Self.pod(name: "once-xyz", uid: "41111111-2222-3333-4444-555555555555", owner: ("Job", "once"), containers: [("j", "j:1", nil)]),
            Self.pod(name: "rs-only", uid: "51111111-2222-3333-4444-555555555555", owner: ("ReplicaSet", "legacy-rs"), containers: [("c", "c:1", nil)]),
            Self.pod(name: "kube-apiserver-node-7", namespace: "kube-system", uid: "8c1f2a9b3d4e5f60718293a4b5c6d7e8", owner: ("Node", "node-7"), containers: [("c", "c:1", nil)]),
            Self.pod(name: "bare", uid: "61111111-2222-3333-4444-555555555555", containers: [("c", "c:1", nil)]),
        ])
        let pods = try PodMetadata.parsePodList(Array(list.utf8))
        XCTAssertEqual(pods.count, 8)
        let chat = pods[0]
        XCTAssertEqual(chat.workload, .init(kind: "Deployment", name: "chat"))
        XCTAssertEqual(chat.owner, .init(kind: "ReplicaSet", name: "chat-7d4b9c8f6d"))
        XCTAssertEqual(chat.containers.map(\.name), ["app", "proxy"])
        XCTAssertEqual(chat.containers[0].id, Self.id)
        XCTAssertEqual(chat.containers[0].runtime, "containerd")
        XCTAssertNil(chat.containers[1].id)
        XCTAssertEqual(pods.map { $0.workload?.kind }, ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", nil, nil])
        XCTAssertEqual(pods.map { $0.workload?.name }, ["chat", "db", "agent", "nightly", "once", "legacy-rs", nil, nil])

        let a = chat.attribution(container: chat.containers[0], labelKeys: ["app.kubernetes.io/name", "absent"])
        XCTAssertEqual(JSONValue.object(a).jsonString(), #"{"namespace":"prod","pod_name":"chat-7d4b9c8f6d-x2x9z","pod_uid":"\#(Self.uid)","container_name":"app","container_image":"ghcr.io/acme/chat:1.4","container_image_id":"ghcr.io/acme/chat:1.4@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","workload_kind":"Deployment","workload_name":"chat","owner_kind":"ReplicaSet","owner_name":"chat-7d4b9c8f6d","node_name":"node-7","service_account":"chat","labels":{"app.kubernetes.io/name":"chat"}}"#)
        XCTAssertNil(pods[1].attribution(container: nil, labelKeys: [])["labels"], "no labels unless allowed")

        XCTAssertThrowsError(try PodMetadata.parsePodList(Array(#"{"kind":"Status","status":"Failure"}"#.utf8)))
        XCTAssertThrowsError(try PodMetadata.parsePodList(Array("<html>".utf8)))
    }

    func testWorkloadNameRules() {
        typealias W = PodMetadata.Workload
        XCTAssertEqual(PodMetadata.workload(owner: W(kind: "ReplicaSet", name: "a-b-5f9c"), labels: ["pod-template-hash": "5f9c"]), W(kind: "Deployment", name: "a-b"))
        XCTAssertEqual(PodMetadata.workload(owner: W(kind: "ReplicaSet", name: "a-b-5f9c"), labels: ["pod-template-hash": "other"]), W(kind: "ReplicaSet", name: "a-b-5f9c"))
        XCTAssertEqual(PodMetadata.workload(owner: W(kind: "Job", name: "backup-29000000"), labels: [:]), W(kind: "CronJob", name: "backup"))
        XCTAssertEqual(PodMetadata.workload(owner: W(kind: "Job", name: "migrate-v2"), labels: [:]), W(kind: "Job", name: "migrate-v2"))
        XCTAssertEqual(PodMetadata.workload(owner: W(kind: "Job", name: "run-123"), labels: [:]), W(kind: "Job", name: "run-123"))
        XCTAssertNil(PodMetadata.workload(owner: W(kind: "Node", name: "n"), labels: [:]))
        XCTAssertEqual(PodMetadata.splitContainerID("cri-o://\(Self.id)")?.runtime, "cri-o")
        XCTAssertEqual(PodMetadata.splitContainerID("docker://\(Self.id)")?.id, Self.id)
    }

    // MARK: the cache's refresh policy

    /// A fake kubelet source: the pods it lists now, and how often it was asked.
    final class FakeSource: @unchecked Sendable {
        let lock = NSLock()
        var pods: [PodMetadata] = []
        var calls = 0
        var failure: PodSourceFailure?
        var delay: TimeInterval = 0
        func fetch() -> Result<[PodMetadata], PodSourceFailure> {
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            return lock.withLock {
                calls += 1
                if let failure { return .failure(failure) }
                return .success(pods)
            }
        }
    }

    static func meta(_ n: Int) -> (PodMetadata, String, String) {
        let uid = String(format: "%08x-0000-4000-8000-%012x", n, n)
        let cid = String(repeating: String(format: "%02x", n % 256), count: 32)
        var p = PodMetadata(name: "pod-\(n)", namespace: "ns-\(n % 5)", uid: uid)
        p.containers = [.init(name: "app", image: "img:\(n)", id: cid, runtime: "containerd")]
        return (p, uid, cid)
    }

    func testManyEventsFromManyPodsCostOneFetchPerRefresh() throws {
        let src = FakeSource()
        src.pods = (0..<50).map { Self.meta($0).0 }
        let cache = PodMetadataCache(refreshMs: 400, fetch: src.fetch)
        cache.start()
        defer { cache.stop() }
        XCTAssertTrue(cache.waitForFirstFetch(timeout: 5))
        let start = Date()
        var attributed = 0
        for i in 0..<10_000 {
            let (_, uid, cid) = Self.meta(i % 50)
            if case .attributed(let a) = cache.lookup(containerID: cid, podUID: uid) {
                attributed += 1
                XCTAssertEqual(a["pod_name"]?.stringValue, "pod-\(i % 50)")
            }
            if i % 1000 == 0 { usleep(100_000) }
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(attributed, 10_000)
        XCTAssertLessThanOrEqual(src.calls, 1 + Int(elapsed / 0.4) + 1, "fetches: \(src.calls) in \(elapsed)s")
        // processes outside pods are never looked for
        XCTAssertEqual(cache.lookup(containerID: Self.id, podUID: nil), .notInPod)
        XCTAssertEqual(cache.lookup(containerID: nil, podUID: nil), .notInPod)
    }

    func testANewPodIsFetchedOnMissAndEventsWaitForIt() throws {
        let src = FakeSource()
        src.pods = [Self.meta(1).0]
        let cache = PodMetadataCache(refreshMs: 60_000, missIntervalMs: 200, maxWaitMs: 3000, fetch: src.fetch)
        let enricher = KubernetesEnricher(cache: cache) { _ in Self.meta(2).1 }
        cache.start()
        defer { cache.stop() }
        XCTAssertTrue(cache.waitForFirstFetch(timeout: 5))
        XCTAssertEqual(src.calls, 1)
        // the pod appears after the first fetch; the kubelet answers slowly
        src.lock.withLock { src.pods.append(Self.meta(2).0) }
        src.delay = 0.4
        let (_, _, cid) = Self.meta(2)
        func event(_ n: Int) -> OISPEvent {
            OISPEvent(eventType: "ai.request", process: .init(pid: 100, containerID: cid), data: ["n": .int(Int64(n))])
        }
        var out = enricher.enrich([event(1), event(2)])
        XCTAssertTrue(out.isEmpty, "held while the fetch asked for by the miss is under way")
        let deadline = Date().addingTimeInterval(5)
        while out.count < 2 && Date() < deadline { usleep(20_000); out += enricher.release() }
        XCTAssertEqual(out.map { $0.data["n"]?.intValue }, [1, 2], "in order")
        XCTAssertEqual(out.first?.ext?["oisp.k8s"]?["pod_name"]?.stringValue, "pod-2")
        usleep(1_500_000)
        XCTAssertEqual(src.calls, 2, "one fetch for the miss, though its events were looked up again while it was under way")
        // further events of that pod cost nothing
        out = enricher.enrich((3..<500).map(event))
        XCTAssertEqual(out.count, 497)
        XCTAssertEqual(src.calls, 2)
        XCTAssertEqual(enricher.stats.attributed, 499)
    }

    func testUnknownPodAsksOncePerRefreshAndSourceDownLetsEventsFlow() throws {
        let src = FakeSource()
        let cache = PodMetadataCache(refreshMs: 1500, missIntervalMs: 100, maxWaitMs: 1000, fetch: src.fetch)
        cache.start()
        defer { cache.stop() }
        XCTAssertTrue(cache.waitForFirstFetch(timeout: 5))
        // a pod the kubelet never lists: one early fetch, then it waits for the periodic one
        var results: [PodMetadataCache.Lookup] = []
        for _ in 0..<40 { results.append(cache.lookup(containerID: Self.id, podUID: Self.uid)); usleep(25_000) }
        XCTAssertEqual(results.last, .unattributed)
        XCTAssertEqual(src.calls, 2, "first fetch + one for the miss")

        // the source refuses: lookups do not wait, the failure is logged once with URL and status
        let failing = FakeSource()
        failing.failure = PodSourceFailure(url: "https://node-7:10250/pods", status: 401, message: "Unauthorized")
        let logs = LockedLog()
        let down = PodMetadataCache(refreshMs: 200, log: { logs.add("\($0): \($1)") }, fetch: failing.fetch)
        down.start()
        XCTAssertTrue(down.waitForFirstFetch(timeout: 5))
        XCTAssertEqual(down.lookup(containerID: Self.id, podUID: Self.uid), .unattributed)
        usleep(700_000)
        down.stop()
        XCTAssertEqual(logs.lines.count, 1, "\(logs.lines)")
        XCTAssertTrue(logs.lines[0].contains("https://node-7:10250/pods: HTTP 401 Unauthorized"), logs.lines[0])
        XCTAssertGreaterThanOrEqual(down.stats.fetchFailures, 2)
    }

    final class LockedLog: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func add(_ s: String) { lock.withLock { lines.append(s) } }
    }

    // MARK: [kubernetes]

    func testKubernetesConfigDefaultsAndValidation() throws {
        let off = try SensorConfig.parse("", file: "c.toml", env: [:])
        XCTAssertFalse(off.kubernetes.enabled)
        let inPod = try SensorConfig.parse("", file: "c.toml", env: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "NODE_NAME": "node-7"])
        XCTAssertTrue(inPod.kubernetes.enabled)
        XCTAssertEqual(inPod.kubernetes.kubeletURL, "https://node-7:10250")
        XCTAssertEqual(inPod.kubernetes.tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token")
        XCTAssertEqual(inPod.kubernetes.caFile, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
        XCTAssertTrue(inPod.kubernetes.tlsVerify)
        XCTAssertEqual(inPod.kubernetes.labels, [])
        XCTAssertTrue(inPod.warnings.isEmpty, "\(inPod.warnings)")

        let noNode = try SensorConfig.parse("", file: "c.toml", env: ["KUBERNETES_SERVICE_HOST": "10.96.0.1"])
        XCTAssertTrue(noNode.warnings.contains { $0.key == "kubernetes" && $0.message.contains("NODE_NAME") }, "\(noNode.warnings)")

        let c = try SensorConfig.parse("""
        [kubernetes]
        enabled = true
        source = "kubelet"
        kubelet_url = "https://${HOST_IP}:10250/"
        token_file = "/run/token"
        ca_file = ""
        tls_verify = false
        labels = ["app.kubernetes.io/name", "team"]
        refresh_ms = 5000
        refesh_ms = 1
        """, file: "c.toml", env: ["HOST_IP": "10.0.0.7"])
        XCTAssertEqual(c.kubernetes.kubeletURL, "https://10.0.0.7:10250")
        XCTAssertEqual(c.kubernetes.tokenFile, "/run/token")
        XCTAssertNil(c.kubernetes.caFile)
        XCTAssertFalse(c.kubernetes.tlsVerify)
        XCTAssertEqual(c.kubernetes.labels, ["app.kubernetes.io/name", "team"])
        XCTAssertEqual(c.kubernetes.refreshMs, 5000)
        XCTAssertEqual(c.warnings.map(\.key), ["kubernetes.refesh_ms"])
        XCTAssertEqual(c.warnings.first?.line, 10)

        func failure(_ text: String) -> ConfigError? {
            do { _ = try SensorConfig.parse(text, file: "c.toml", env: [:]); return nil } catch { return error as? ConfigError }
        }
        let api = failure("[kubernetes]\nsource = \"apiserver\"\n")
        XCTAssertEqual(api?.line, 2)
        XCTAssertTrue("\(api!)".contains("not implemented yet"), "\(api!)")
        XCTAssertTrue("\(failure("[kubernetes]\nsource = \"etcd\"\n")!)".contains("kubelet, apiserver"))
        XCTAssertEqual(failure("[kubernetes]\n\nrefresh_ms = 10\n")?.line, 3)
        XCTAssertTrue("\(failure("[kubernetes]\nkubelet_url = \"node-7:10250\"\n")!)".contains("expected an http(s) URL"))
        XCTAssertTrue("\(failure("[kubernetes]\ntls_verify = \"no\"\n")!)".contains("expected a boolean"))
        let noHost = try SensorConfig.parse("[kubernetes]\nkubelet_url = \"https://${NODE_NAME}:10250\"\n", file: "c.toml", env: [:])
        XCTAssertTrue(noHost.warnings.contains { $0.key == "kubernetes.kubelet_url" && $0.message.contains("names no host") }, "\(noHost.warnings)")
        XCTAssertTrue("\(failure("[kubernetes]\nlabels = [\"a b\"]\n")!)".contains("not a Kubernetes label key"))
        // a token file's path is no secret: not masked, no warning in a world-readable file
        XCTAssertFalse(SensorConfig.isSecretKey("token_file"))
    }
}

/// The pod's metadata in the exporters, from replayed events (no kernel): OTLP traces and logs
/// grouped per pod with the Kubernetes resource semantic conventions.
final class KubernetesExportTests: XCTestCase {
    func testOTLPTracesAndLogsGroupedPerPod() throws {
        guard FileManager.default.isExecutableFile(atPath: OTLPExporterTests.python) else { throw XCTSkip("run `make test-peers`") }
        let dir = try TestSupport.tempDir("k8s-otlp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (receiver, grpcPort) = try KubernetesCaptureTests.startReceiver(dir: dir)
        defer { receiver.terminate() }
        func k8s(_ pod: String, _ kind: String, _ workload: String) -> JSONObject {
            ["namespace": "ml", "pod_name": .string(pod), "pod_uid": .string("uid-\(pod)"), "container_name": "app",
             "container_image": "ghcr.io/acme/app@sha256:0123", "workload_kind": .string(kind), "workload_name": .string(workload),
             "node_name": "node-3", "labels": ["app.kubernetes.io/name": .string(workload)]]
        }
        var events: [OISPEvent] = []
        for (i, ext) in [k8s("web-5d8-abc", "Deployment", "web"), k8s("db-0", "StatefulSet", "db"), nil].enumerated() {
            let proc = OISPEvent.Process(pid: Int64(100 + i), name: "python3", containerID: ext == nil ? nil : "c\(i)")
            let host = OISPEvent.Host(hostname: "node-3")
            for j in 0..<2 {
                let rid = "req-\(i)-\(j)"
                events.append(OISPEvent(eventType: "ai.request", host: host, process: proc, ext: ext.map { ["oisp.k8s": .object($0)] },
                                        data: ["request_id": .string(rid), "model": ["id": "gpt-4o"], "request_type": "chat"]))
                events.append(OISPEvent(eventType: "ai.response", host: host, process: proc, ext: ext.map { ["oisp.k8s": .object($0)] },
                                        data: ["request_id": .string(rid), "model": ["id": "gpt-4o"], "success": true]))
            }
        }
        let input = dir.appendingPathComponent("in.jsonl"), cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write(events.map { $0.jsonString() }.joined(separator: "\n") + "\n", to: input)
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:\(grpcPort)"
        protocol = "grpc"
        signals = "traces,logs"
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        usleep(300_000)
        let got = TestSupport.lines(dir.appendingPathComponent("otlp.jsonl")).compactMap { try? JSONParser.parse($0) }
        func attrs(_ x: JSONValue) -> [String: String] {
            var d: [String: String] = [:]
            for a in x["resource"]?["attributes"]?.arrayValue ?? [] {
                d[a["key"]!.stringValue!] = a["value"]?["string_value"]?.stringValue ?? a["value"]?["array_value"]?["values"]?.arrayValue?.first?["string_value"]?.stringValue ?? ""
            }
            return d
        }
        for (signal, key, items) in [("traces", "resource_spans", "spans"), ("logs", "resource_logs", "log_records")] {
            let groups = got.filter { $0["signal"]?.stringValue == signal }.flatMap { $0["request"]?[key]?.arrayValue ?? [] }
            func count(_ g: JSONValue) -> Int {
                (g[signal == "traces" ? "scope_spans" : "scope_logs"]?.arrayValue ?? []).reduce(0) { $0 + ($1[items]?.arrayValue?.count ?? 0) }
            }
            let byPod = Dictionary(grouping: groups) { attrs($0)["k8s.pod.name"] ?? "-" }.mapValues { $0.reduce(0) { $0 + count($1) } }
            XCTAssertEqual(byPod, signal == "traces" ? ["web-5d8-abc": 2, "db-0": 2, "-": 2] : ["web-5d8-abc": 4, "db-0": 4, "-": 4], signal)
            let web = attrs(try XCTUnwrap(groups.first { attrs($0)["k8s.pod.name"] == "web-5d8-abc" }))
            XCTAssertEqual(web["k8s.deployment.name"], "web")
            XCTAssertEqual(web["k8s.namespace.name"], "ml")
            XCTAssertEqual(web["k8s.pod.uid"], "uid-web-5d8-abc")
            XCTAssertEqual(web["container.id"], "c0")
            XCTAssertEqual(web["container.image.name"], "ghcr.io/acme/app")
            XCTAssertNil(web["container.image.tags"], "a digest reference has no tag")
            XCTAssertEqual(web["k8s.node.name"], "node-3")
            XCTAssertEqual(web["k8s.pod.label.app.kubernetes.io/name"], "web")
            XCTAssertEqual(web["service.name"], "oisp-sensor")
            let db = attrs(try XCTUnwrap(groups.first { attrs($0)["k8s.pod.name"] == "db-0" }))
            XCTAssertEqual(db["k8s.statefulset.name"], "db")
            let node = attrs(try XCTUnwrap(groups.first { attrs($0)["k8s.pod.name"] == nil }))
            XCTAssertEqual(node["host.name"], "node-3")
            XCTAssertNil(node["k8s.namespace.name"])
        }
    }
}
