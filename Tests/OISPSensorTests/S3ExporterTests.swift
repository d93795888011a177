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

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { XCTFail("run `make test-peers`"); throw XCTSkip("no venv") }
        dir = try TestSupport.tempDir("s3")
        port = try TestSupport.freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/moto_server").path)
        p.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        p.environment = ProcessInfo.processInfo.environment.merging(["INITIAL_NO_AUTH_ACTION_COUNT": "4"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        moto = p
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
        let r = try TestSupport.run(Self.python, ["-c", """
        import boto3, gzip, json, subprocess
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:\(port)", region_name="eu-west-1", aws_access_key_id="\(keyID)", aws_secret_access_key="\(secret)")
        out = {"keys": [], "ids": []}
        for o in s3.list_objects_v2(Bucket="oisp-archive").get("Contents", []):
            out["keys"].append(o["Key"])
            # moto rejects boto3's signature for keys containing '='; curl's SigV4 GET works
            raw = subprocess.run(["curl", "-sf", "--aws-sigv4", "aws:amz:eu-west-1:s3", "--user", "\(keyID):\(secret)", "-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                  "http://127.0.0.1:\(port)/oisp-archive/" + o["Key"]], capture_output=True, check=True).stdout
            body = gzip.decompress(raw)
            out["ids"] += [json.loads(l)["event_id"] for l in body.splitlines() if l]
        print(json.dumps(out))
        """])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try JSONParser.parse(r.stdout)
        return (j["keys"]?.arrayValue?.compactMap(\.stringValue) ?? [], j["ids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
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
        // 1. wrong secret: S3 refuses the signature; nothing is lost, the chunk stays
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "2", "-o", f.path]).status, 0)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let bad = try TestSupport.run(TestSupport.sensor, ["replay", "--input", f.path, "-c", cfg.path],
                                      env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": "wrong-secret"])
        XCTAssertTrue(bad.stderr.contains("403"), bad.stderr)
        XCTAssertEqual(try objects().ids.count, 0)
        // 2. a sensor killed (SIGKILL) while it holds chunks
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["demo", "-n", "100", "--interval-ms", "100", "-c", cfg.path]
        p.environment = ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        sleep(3)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let chunks = try FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("s3").path).filter { $0.hasPrefix("chunk-") }
        XCTAssertGreaterThanOrEqual(chunks.count, 1, "chunks left behind: \(chunks)")
        var kept: [String] = []
        for c in chunks { kept += TestSupport.lines(store.appendingPathComponent("s3/\(c)")).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID } }
        XCTAssertTrue(Set(ids).isSubset(of: Set(kept)))
        // 3. restart: leftovers upload
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "0", "-c", cfg.path], env: ["AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("from an earlier run will be uploaded"), r.stderr)
        XCTAssertEqual(Set(try objects().ids), Set(kept), "everything that was on disk is in S3")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.appendingPathComponent("s3").path).filter { $0.hasPrefix("chunk-") }, [])
    }
}
