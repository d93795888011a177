import Foundation
import OISPEvent
import XCTest

/// The Kafka exporter plugin against librdkafka's mock cluster (a real Kafka-protocol broker),
/// read back with kcat.
final class KafkaExporterTests: XCTestCase {
    var dir: URL!
    var mock: Process!
    var mockIn: Pipe!
    var bootstrap = ""

    override func setUpWithError() throws {
        dir = try TestSupport.tempDir("kafka")
        let exe = dir.appendingPathComponent("kafka_mock")
        let cc = try TestSupport.run("/usr/bin/env", ["cc", "-o", exe.path, TestSupport.fixtures.appendingPathComponent("kafka_mock.c").path, "-lrdkafka"])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        mock = Process()
        mock.executableURL = exe
        mockIn = Pipe()
        let out = Pipe()
        mock.standardInput = mockIn
        mock.standardOutput = out
        mock.standardError = FileHandle.nullDevice
        try mock.run()
        // first line with an address is the bootstrap list
        var buf = Data()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            buf.append(out.fileHandleForReading.availableData)
            if let s = String(data: buf, encoding: .utf8), let line = s.split(separator: "\n").first(where: { $0.contains("127.0.0.1:") }) {
                bootstrap = String(line); break
            }
        }
        XCTAssertFalse(bootstrap.isEmpty, "mock cluster did not start")
    }

    override func tearDown() {
        try? mockIn.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
        mock.terminate()
        try? FileManager.default.removeItem(at: dir)
    }

    func send(_ cmd: String) { try? mockIn.fileHandleForWriting.write(contentsOf: Data((cmd + "\n").utf8)) }

    func fixtures(count: Int) throws -> (URL, [String]) {
        let f = dir.appendingPathComponent("fixtures.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "--count", "\(count)", "--output", f.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ids = TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        return (f, ids)
    }

    /// `brokers` is TOML: an array by default, or e.g. a comma-separated string.
    func config(extra: String = "", brokers: String? = nil, compression: String = "snappy") throws -> URL {
        let cfg = dir.appendingPathComponent("kafka.toml")
        try TestSupport.write("""
        [export.kafka]
        enabled = true
        brokers = \(brokers ?? "[\"\(bootstrap)\"]")
        topic = "oisp-events"
        compression = "\(compression)"
        batch_size = 100
        \(extra)
        """, to: cfg)
        return cfg
    }

    /// Every message in the topic, via kcat (`-J`), and the codec of every record batch the
    /// consumer fetched: librdkafka's `msg` debug log ends each "Enqueue N message(s) … fetch
    /// queue (…, <codec>)" line with the batch's compression as read from its attributes.
    func consume() throws -> ([JSONValue], [String]) {
        let r = try TestSupport.run("/usr/bin/env", ["kcat", "-C", "-b", bootstrap, "-t", "oisp-events", "-J", "-e", "-o", "beginning",
                                                     "-X", "debug=msg"], timeout: 60)
        let msgs = r.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        let codecs = r.stderr.split(separator: "\n").filter { $0.contains("Enqueue") && $0.contains("fetch queue") }.compactMap { line -> String? in
            guard let open = line.lastIndex(of: ","), let close = line.lastIndex(of: ")"), open < close else { return nil }
            return line[line.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
        }
        return (msgs, codecs)
    }

    func testReplayDeliversEveryEventOnceWithSnappy() throws {
        let (input, ids) = try fixtures(count: 30)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", try config().path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let (msgs, codecs) = try consume()
        let got = msgs.compactMap { $0["payload"]?.stringValue }.map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        XCTAssertEqual(got.count, ids.count, "every event once")
        XCTAssertEqual(Set(got), Set(ids))
        XCTAssertFalse(codecs.isEmpty, "the consumer fetched record batches")
        XCTAssertEqual(Set(codecs), ["snappy"], "every fetched batch is snappy-compressed")
        let first = try XCTUnwrap(msgs.first)
        let headers = first["headers"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(headers.contains("event_type") && headers.contains("oisp_version"), "\(headers)")
        let payload = try OISPEvent(jsonBytes: Array(first["payload"]!.stringValue!.utf8))
        XCTAssertEqual(headers[headers.firstIndex(of: "event_type")! + 1], payload.eventType)
    }

    func testBrokerDownAtStartThenUpDeliversEverything() throws {
        let (input, ids) = try fixtures(count: 10)
        send("down")
        usleep(300_000)
        let cfg = try config(extra: "timeout_ms = 2000\nretry_on_failure = { initial_interval_ms = 300, max_interval_ms = 2000 }")
        let err = dir.appendingPathComponent("replay.err")
        let p = try TestSupport.startSensor(["replay", "--input", input.path, "-c", cfg.path, "--shutdown-timeout", "60"], stderrFile: err)
        sleep(10)
        XCTAssertTrue(p.isRunning, "the sensor stays up while the broker is down")
        send("up")
        p.waitUntilExit()
        let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("will retry"), "retries were logged")
        let (msgs, _) = try consume()
        let got = msgs.compactMap { $0["payload"]?.stringValue }.map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        XCTAssertEqual(Set(got), Set(ids), "nothing lost")
        XCTAssertLessThanOrEqual(got.count, ids.count * 2, "duplicates only within at-least-once retries")
    }

    /// A record over the broker's size limit is refused on its own: the rest of its batch is
    /// delivered once, and the refused ones are logged by event id and counted as dropped.
    func testOversizedRecordIsRefusedAloneAndTheBatchGoesOn() throws {
        let (input, ids) = try fixtures(count: 30)
        let big = [4, 17]
        try TestSupport.addDataMember(input, at: big, TestSupport.blobMember(bytes: 36_000))
        let cfg = try config(extra: "\n[export.kafka.librdkafka]\n\"message.max.bytes\" = \"20000\"")
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path])
        XCTAssertEqual(r.status, 75, "events were lost, and the exit status says so: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("refused for good"), r.stderr)
        XCTAssertTrue(r.stderr.contains("dropped_rejected=2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("exported=\(ids.count - 2)"), r.stderr)
        XCTAssertTrue(r.stderr.contains(ids[big[0]]), "the refused record is named by its event id")
        let (msgs, _) = try consume()
        let got = msgs.compactMap { $0["payload"]?.stringValue }.map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let expected = ids.enumerated().filter { !big.contains($0.offset) }.map(\.element)
        XCTAssertEqual(got.sorted(), expected.sorted(), "every other event of the batch, once")
    }

    func testBadConfigIsRefusedWithTheKey() throws {
        let cfg = try config(extra: "key_mode = \"random\"")
        let (input, _) = try fixtures(count: 1)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path, "--output", dir.appendingPathComponent("o.jsonl").path])
        // the host checks the value against the plugin's option table first: file:line, key, allowed values
        XCTAssertTrue(r.stderr.contains("\(cfg.path):7: key 'export.kafka.key_mode': the kafka exporter expects one of event_id, host, pid, none, got 'random'"), r.stderr)
        XCTAssertFalse(TestSupport.lines(dir.appendingPathComponent("o.jsonl")).isEmpty, "other outputs keep working")
        let bad = try config(extra: "tls_verify = \"sometimes\"")
        let r2 = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", bad.path])
        XCTAssertTrue(r2.stderr.contains("key 'export.kafka.tls_verify': the kafka exporter expects a boolean"), r2.stderr)
        // idempotence needs acks = all: asking for both is a contradiction, named by key
        let both = try config(extra: "acks = 1\nidempotence = true")
        let r3 = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", both.path])
        XCTAssertTrue(r3.stderr.contains("key 'acks'") && r3.stderr.contains("idempotence"), r3.stderr)
    }

    /// An explicit acks other than all works (as with the Java producer, it turns the default
    /// idempotence off) and the keys follow key_mode; a comma-separated brokers string works too.
    func testAcksOneWithPidKeysAndBrokersString() throws {
        let (input, ids) = try fixtures(count: 20)
        let cfg = try config(extra: "acks = \"1\"\nkey_mode = \"pid\"", brokers: "\"\(bootstrap), \(bootstrap)\"", compression: "lz4")
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("idempotent producer is off"), r.stderr)
        let (msgs, codecs) = try consume()
        let events = msgs.compactMap { $0["payload"]?.stringValue }.map { try! OISPEvent(jsonBytes: Array($0.utf8)) }
        XCTAssertEqual(Set(events.map(\.eventID)), Set(ids), "every event")
        for (m, e) in zip(msgs, events) {
            XCTAssertEqual(m["key"]?.stringValue, e.process.map { "\($0.pid)" }, "key_mode pid")
        }
        XCTAssertFalse(codecs.isEmpty, "the consumer fetched record batches")
        XCTAssertEqual(Set(codecs), ["lz4"], "every fetched batch is lz4-compressed")
    }
}
