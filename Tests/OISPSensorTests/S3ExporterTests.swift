import Foundation
import OISPEvent
import XCTest

/// The S3 exporter against moto's S3 server with signature checking on (an IAM user's key; a
/// wrong SigV4 fails), objects read back with boto3.
final class S3ExporterTests: XCTestCase {
    var dir: URL!
    var moto: Process?
    var port = 0
    var keyID = "", secret = ""
    static var python: String { TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/python").path }

    /// moto's server on 127.0.0.1:`port` (its request log to `log` when given).
    static func startMoto(port: Int, env: [String: String], log: URL? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/moto_server").path)
        p.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try log.map { try FileHandle(forWritingTo: $0) } ?? FileHandle.nullDevice
        try p.run()
        return p
    }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { XCTFail("run `make test-peers`"); throw XCTSkip("no venv") }
        dir = try TestSupport.tempDir("s3")
        port = try TestSupport.freePort()
        moto = try Self.startMoto(port: port, env: ["INITIAL_NO_AUTH_ACTION_COUNT": "4"])
        // IAM user with an S3 policy, its key, and the bucket: the 4 unauthenticated actions
        let setup = """
        import boto3, json, time
        kw = dict(endpoint_url="http://127.0.0.1:\(port)", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
        for i in range(100):
            try:
                iam = boto3.client("iam", **kw); iam.create_user(UserName="oisp"); break
            except Exception: time.sleep(0.1)
        iam.put_user_policy(UserName="oisp", PolicyName="s3", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        k = iam.create_access_key(UserName="oisp")["AccessKey"]
        boto3.client("s3", **kw).create_bucket(Bucket="oisp-archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        # use up whatever is left of the unauthenticated budget, so signatures are checked from here on
        bad = boto3.client("s3", endpoint_url=kw["endpoint_url"], region_name="eu-west-1", aws_access_key_id=k["AccessKeyId"], aws_secret_access_key="wrong")
        for i in range(10):
            try: bad.list_buckets()
            except Exception: break
        print(k["AccessKeyId"], k["SecretAccessKey"])
        """
        let s = try TestSupport.run(Self.python, ["-c", setup])
        let parts = s.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(parts.count, 2, s.stderr)
        keyID = parts.first ?? ""; secret = parts.last ?? ""
    }

    override func tearDown() {
        moto?.terminate(); moto?.waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
    }

    /// The Fluent Bit docs' S3 block, translated to TOML.
    func config(storeDir: URL) throws -> URL {
        let cfg = dir.appendingPathComponent("s3.toml")
        try TestSupport.write("""
        [export.s3]
        enabled = true
        bucket = "oisp-archive"
        region = "eu-west-1"
        endpoint = "http://127.0.0.1:\(port)"
        store_dir = "\(storeDir.path)"
        total_file_size = "100M"
        upload_timeout = "1m"
        use_put_object = "On"
        s3_key_format = "/year=%Y/month=%m/day=%d/hour=%H/$UUID.json"
        compression = "gzip"
        """, to: cfg)
        return cfg
    }

    /// Every object's decompressed lines → event ids.
    func objects() throws -> (keys: [String], ids: [String]) {
        let o = try objectsWithETags()
        return (o.keys, o.ids)
    }

    func objectsWithETags() throws -> (keys: [String], ids: [String], etags: [String]) {
        let r = try TestSupport.run(Self.python, ["-c", """
        import boto3, gzip, json, subprocess
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:\(port)", region_name="eu-west-1", aws_access_key_id="\(keyID)", aws_secret_access_key="\(secret)")
        out = {"keys": [], "ids": []}
        for o in s3.list_objects_v2(Bucket="oisp-archive").get("Contents", []):
            out["keys"].append(o["Key"])
            # moto rejects boto3's signature for keys containing '='; curl's SigV4 GET works
            raw = subprocess.run(["curl", "-sf", "--aws-sigv4", "aws:amz:eu-west-1:s3", "--user", "\(keyID):\(secret)", "-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                  "http://127.0.0.1:\(port)/oisp-archive/" + o["Key"]], capture_output=True, check=True).stdout
            body = gzip.decompress(raw) if raw[:2] == bytes([0x1f, 0x8b]) else raw
            out.setdefault("etags", []).append(o["ETag"])
            out["ids"] += [json.loads(l)["event_id"] for l in body.splitlines() if l]
        print(json.dumps(out))
        """])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try JSONParser.parse(r.stdout)
        return (j["keys"]?.arrayValue?.compactMap(\.stringValue) ?? [], j["ids"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                j["etags"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    func testReplayUploadsEveryEventWithTheKeyFormat() throws {
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "3", "-o", f.path]).status, 0)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let store = dir.appendingPathComponent("store")
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", try config(storeDir: store).path],
                                    env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        XCTAssertEqual(r.status, 0, r.stderr)
        let (keys, got) = try objects()
        XCTAssertEqual(Set(got), Set(ids))
        XCTAssertEqual(got.count, ids.count)
        XCTAssertTrue(keys.allSatisfy { $0.hasPrefix("year=") && $0.contains("/month=") && $0.hasSuffix(".json") }, "\(keys)")
    }

    func testWrongSignatureKeepsChunksAndKilledSensorUploadsAfterRestart() throws {
        let store = dir.appendingPathComponent("store")
        let cfg = try config(storeDir: store)
        // 1. wrong secret: S3 refuses the signature; nothing is lost, the chunk stays. First make
        //    sure moto is checking signatures right now (its free-action budget is used up).
        var refused = false
        for _ in 0..<10 where !refused {
            let probe = try TestSupport.run("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "x",
                                                             "--aws-sigv4", "aws:amz:eu-west-1:s3", "--user", "\(keyID):wrong-secret",
                                                             "-H", "x-amz-content-sha256: 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
                                                             "http://127.0.0.1:\(port)/oisp-archive/probe"])
            refused = probe.stdout.hasPrefix("403")
        }
        XCTAssertTrue(refused, "moto accepts a wrong signature")
        _ = try TestSupport.run("/usr/bin/env", ["curl", "-s", "-X", "DELETE", "--aws-sigv4", "aws:amz:eu-west-1:s3", "--user", "\(keyID):\(secret)",
                                                 "-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                                 "http://127.0.0.1:\(port)/oisp-archive/probe"])
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "2", "-o", f.path]).status, 0)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let bad = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", cfg.path],
                                      env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": "wrong-secret"])
        XCTAssertTrue(bad.stderr.contains("403"), bad.stderr)
        XCTAssertEqual(try objects().ids.count, 0)
        // 2. a sensor killed (SIGKILL) while it holds a chunk of its own (the first run's leftover
        //    may be uploaded by then: leftovers go up as soon as the exporter starts)
        func chunkNames() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("s3").path)) ?? []).filter { $0.hasPrefix("chunk-") }
        }
        let leftover = Set(chunkNames())
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["demo", "-n", "100", "--interval-ms", "100", "-c", cfg.path]
        p.environment = ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<200 where chunkNames().allSatisfy({ leftover.contains($0) }) { usleep(100_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let chunks = try FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("s3").path).filter { $0.hasPrefix("chunk-") }
        XCTAssertGreaterThanOrEqual(chunks.count, 1, "chunks left behind: \(chunks)")
        var kept: [String] = []
        for c in chunks { kept += TestSupport.lines(store.appendingPathComponent("s3/\(c)")).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID } }
        // the second sensor may already have uploaded the first run's leftover chunk (its upload
        // thread does so at start, with good credentials): those events are in S3, the rest on disk
        let uploadedBeforeKill = Set(try objects().ids)
        XCTAssertTrue(Set(ids).isSubset(of: Set(kept).union(uploadedBeforeKill)), "the refused run's events are on disk or in S3")
        // 3. restart: leftovers upload
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "0", "-c", cfg.path], env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("from an earlier run will be uploaded"), r.stderr)
        XCTAssertEqual(Set(try objects().ids), Set(kept).union(uploadedBeforeKill), "everything that was on disk is in S3")
        XCTAssertTrue(Set(ids).isSubset(of: Set(try objects().ids)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("s3").path).filter { $0.hasPrefix("chunk-") }, [])
    }

    /// An S3 endpoint that takes connections and never answers: uploads run beside the exports
    /// (as Fluent Bit's s3 output uploads on its own timer), so no export call waits on S3 and the
    /// host's call timeout never fires; every event is in a chunk on disk, and a restart against
    /// a working S3 uploads them all.
    func testStalledS3NeverHoldsUpThePipeline() throws {
        let portFile = dir.appendingPathComponent("stall.port")
        let stall = Process()
        stall.executableURL = URL(fileURLWithPath: Self.python)
        stall.arguments = ["-c", """
        import socket, sys, threading, time
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
        open(sys.argv[1], "w").write(str(s.getsockname()[1]))
        held = []
        while True:
            c, _ = s.accept(); held.append(c)  # read nothing back, answer nothing
        """, portFile.path]
        stall.standardOutput = FileHandle.nullDevice
        stall.standardError = FileHandle.nullDevice
        try stall.run()
        defer { stall.terminate(); stall.waitUntilExit() }
        var stallPort = ""
        for _ in 0..<100 where stallPort.isEmpty { usleep(50_000); stallPort = (try? String(contentsOf: portFile, encoding: .utf8)) ?? "" }
        XCTAssertFalse(stallPort.isEmpty, "the stalling peer did not start")
        let store = dir.appendingPathComponent("store")
        let cfg = dir.appendingPathComponent("stall.toml")
        try TestSupport.write("""
        [export.s3]
        enabled = true
        bucket = "oisp-archive"
        region = "eu-west-1"
        endpoint = "http://127.0.0.1:\(stallPort)"
        store_dir = "\(store.path)"
        total_file_size = "1K"
        use_put_object = true
        batch_size = 2
        timeout_ms = 3000
        """, to: cfg)
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "10", "-o", f.path]).status, 0)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        func onDisk() -> [String] {
            let d = store.appendingPathComponent("s3")
            let chunks = ((try? FileManager.default.contentsOfDirectory(atPath: d.path)) ?? []).filter { $0.hasPrefix("chunk-") }
            return chunks.flatMap { TestSupport.lines(d.appendingPathComponent($0)).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID } }
        }
        let errFile = dir.appendingPathComponent("stall.err")
        let t0 = Date()
        let p = try TestSupport.startSensor(["replay", "--input", f.path, "-c", cfg.path], stderrFile: errFile,
                                            env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        // the five 2-event batches are written as fast as they come: none waits for an upload
        // (waiting would cost one 3 s S3 timeout per finished chunk, 12 s or more in all)
        var written = TimeInterval.infinity
        while Date().timeIntervalSince(t0) < 30 {
            if Set(onDisk()) == Set(ids) { written = Date().timeIntervalSince(t0); break }
            usleep(100_000)
        }
        p.waitUntilExit()
        let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        XCTAssertLessThan(written, 8, "every batch was on disk only after \(written) s: exports waited on S3")
        XCTAssertFalse(stderr.contains("did not return within timeout_ms"), "an export call waited on S3: \(stderr)")
        XCTAssertTrue(stderr.contains("exporter flush failed"), "the stalled upload is reported: \(stderr)")
        XCTAssertEqual(onDisk().sorted(), ids.sorted(), "every event is on disk, once")
        XCTAssertGreaterThan(try FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("s3").path).count, 1,
                             "each 2-event batch finishes a 1K chunk")
        // S3 back: the chunks go up on the next start
        let up = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "0", "-c", try config(storeDir: store).path],
                                     env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        XCTAssertEqual(up.status, 0, up.stderr)
        XCTAssertEqual(try objects().ids.sorted(), ids.sorted())
    }

    /// use_put_object = false (Fluent Bit's default): one object built from upload_chunk_size
    /// parts — S3 gives a multipart object an ETag ending in "-<parts>".
    func testMultipartUploadInParts() throws {
        let f = dir.appendingPathComponent("big.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["bench", "make-input", "-o", f.path, "--count", "8000"]).status, 0)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let size = try FileManager.default.attributesOfItem(atPath: f.path)[.size] as! Int
        // the docs' block with multipart instead of PutObject, no compression, a plain key
        let cfg = try config(storeDir: dir.appendingPathComponent("store"))
        let docs = try String(contentsOf: cfg, encoding: .utf8)
        try TestSupport.write(docs.replacingOccurrences(of: "use_put_object = \"On\"", with: "use_put_object = false\nupload_chunk_size = \"5M\"\nbatch_size = 4000")
                                  .replacingOccurrences(of: "compression = \"gzip\"", with: "")
                                  .replacingOccurrences(of: "/year=%Y/month=%m/day=%d/hour=%H/$UUID.json", with: "/oisp/$TAG/$UUID.jsonl"), to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", cfg.path],
                                    env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("(multipart)"), r.stderr)
        let o = try objectsWithETags()
        XCTAssertEqual(o.ids.count, ids.count)
        XCTAssertEqual(Set(o.ids), Set(ids))
        XCTAssertEqual(o.etags.count, 1, "one object: \(o.keys)")
        let parts = (size + (5 << 20) - 1) / (5 << 20)
        XCTAssertGreaterThanOrEqual(parts, 2)
        XCTAssertTrue(o.etags.first?.hasSuffix("-\(parts)\"") ?? false, "ETag \(o.etags) for \(size) bytes")
        // a part size S3 would refuse is a config error, said plainly
        try TestSupport.write((try String(contentsOf: cfg, encoding: .utf8)).replacingOccurrences(of: "upload_chunk_size = \"5M\"", with: "upload_chunk_size = \"1M\""), to: cfg)
        let bad = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", cfg.path],
                                      env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        XCTAssertTrue(bad.stderr.contains("upload_chunk_size"), bad.stderr)
    }

    /// EKS IRSA-style credentials: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN → STS
    /// AssumeRoleWithWebIdentity (moto's STS; a moto without signature checking, since real STS
    /// takes that call unsigned) → the temporary key and session token sign the uploads.
    func testWebIdentityCredentialsFromSTS() throws {
        let port2 = try TestSupport.freePort()
        let log = dir.appendingPathComponent("moto2.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = try Self.startMoto(port: port2, env: [:], log: log)
        defer { p.terminate(); p.waitUntilExit() }
        let mk = try TestSupport.run(Self.python, ["-c", """
        import boto3, time
        for i in range(100):
            try:
                boto3.client("s3", endpoint_url="http://127.0.0.1:\(port2)", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b").create_bucket(Bucket="irsa"); break
            except Exception: time.sleep(0.1)
        """])
        XCTAssertEqual(mk.status, 0, mk.stderr)
        let token = dir.appendingPathComponent("token")
        let secretToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b2lzcCJ9.c2lnbmF0dXJlLXZhbHVl"
        try TestSupport.write(secretToken, to: token)
        let cfg = dir.appendingPathComponent("irsa.toml")
        try TestSupport.write("""
        [export.s3]
        enabled = true
        bucket = "irsa"
        region = "us-east-1"
        endpoint = "http://127.0.0.1:\(port2)"
        sts_endpoint = "http://127.0.0.1:\(port2)"
        store_dir = "\(dir.appendingPathComponent("irsa-store").path)"
        use_put_object = true
        s3_key_format = "/irsa/$UUID.jsonl"
        """, to: cfg)
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "2", "-o", f.path]).status, 0)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let env = ["AWS_WEB_IDENTITY_TOKEN_FILE": token.path, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/oisp-sensor"]
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", cfg.path, "-v"], env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("temporary credentials from STS AssumeRoleWithWebIdentity"), r.stderr)
        XCTAssertFalse(r.stderr.contains(secretToken), "the web identity token reached the log")
        let moto = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(moto.contains("\"POST / HTTP/1.1\" 200"), "STS was asked: \(moto)")
        let got = try TestSupport.run(Self.python, ["-c", """
        import boto3, json
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:\(port2)", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        ids = []
        for o in s3.list_objects_v2(Bucket="irsa").get("Contents", []):
            ids += [json.loads(l)["event_id"] for l in s3.get_object(Bucket="irsa", Key=o["Key"])["Body"].read().splitlines() if l]
        print(json.dumps(ids))
        """])
        XCTAssertEqual(got.status, 0, got.stderr)
        XCTAssertEqual(Set(try JSONParser.parse(got.stdout).arrayValue?.compactMap(\.stringValue) ?? []), Set(ids))
        // half a configuration is refused with the missing piece named
        let half = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", cfg.path], env: ["AWS_WEB_IDENTITY_TOKEN_FILE": token.path])
        XCTAssertTrue(half.stderr.contains("AWS_ROLE_ARN"), half.stderr)
    }
}
