import Foundation
import OISPConfig
import OISPEvent
import XCTest

final class ConfigTests: XCTestCase {
    let otlpConfig = """
    [sensor]
    name = "k8s-${NODE_NAME}"

    [export.otlp]
    enabled = true
    endpoint = "http://otel-collector.observability:4317"
    headers = {
      "x-node-name" = "${NODE_NAME}",
      "x-cluster" = "production"
    }
    """

    func testMultiLineInlineTableAndEnvExpansion() throws {
        let c = try SensorConfig.parse(otlpConfig, file: "config.toml", env: ["NODE_NAME": "worker-7"])
        XCTAssertEqual(c.sensor.name, "k8s-worker-7")
        let otlp = try XCTUnwrap(c.exports.first { $0.name == "otlp" })
        XCTAssertTrue(otlp.enabled)
        XCTAssertEqual(otlp.settings["endpoint"]?.stringValue, "http://otel-collector.observability:4317")
        XCTAssertEqual(otlp.settings["headers"]?["x-node-name"]?.stringValue, "worker-7")
        XCTAssertEqual(otlp.settings["headers"]?["x-cluster"]?.stringValue, "production")
        XCTAssertNil(otlp.settings["enabled"], "host-owned keys are not passed to the plugin")
        XCTAssertTrue(c.warnings.isEmpty, "\(c.warnings)")
    }

    func testTrailingCommasCommentsAndDefaults() throws {
        let text = """
        [export.http]
        enabled = true
        header = {
          # a comment inside the table
          Authorization = "Bearer ${LOG_TOKEN:-dev-token}",
          "X-Scope" = "a,b}",
        }
        uri = "/ingest"   # after
        """
        let c = try SensorConfig.parse(text, file: "c.toml", env: [:])
        let http = try XCTUnwrap(c.exports.first)
        XCTAssertEqual(http.settings["header"]?["Authorization"]?.stringValue, "Bearer dev-token")
        XCTAssertEqual(http.settings["header"]?["X-Scope"]?.stringValue, "a,b}")
        XCTAssertEqual(http.settings["uri"]?.stringValue, "/ingest")
    }

    func testKafkaConfig() throws {
        let text = """
        [export.kafka]
        enabled = true
        brokers = ["kafka-0.kafka:9092", "kafka-1.kafka:9092"]
        topic = "oisp-events"
        compression = "snappy"
        batch_size = 1000
        """
        let c = try SensorConfig.parse(text, file: "c.toml", env: [:])
        let k = try XCTUnwrap(c.exports.first)
        XCTAssertEqual(k.settings["brokers"]?.arrayValue?.count, 2)
        XCTAssertEqual(k.policy.batchSize, 1000)
        XCTAssertEqual(k.settings["topic"]?.stringValue, "oisp-events")
    }

    func testWrongTypeNamesLineAndKey() {
        let text = "[sensor]\nname = \"x\"\n\n[capture]\nssl = \"yes\"\n"
        XCTAssertThrowsError(try SensorConfig.parse(text, file: "/etc/oisp/config.toml", env: [:])) { err in
            let e = err as! ConfigError
            XCTAssertEqual(e.line, 5)
            XCTAssertEqual(e.key, "capture.ssl")
            XCTAssertTrue(e.description.contains("/etc/oisp/config.toml:5"), e.description)
            XCTAssertTrue(e.description.contains("expected a boolean"), e.description)
        }
    }

    func testSyntaxErrorNamesLine() {
        let text = "[sensor]\nname = \"x\"\nheaders = {\n  a = \"1\",\n  b = \n}\n"
        XCTAssertThrowsError(try SensorConfig.parse(text, file: "c.toml", env: [:])) { err in
            let e = err as! ConfigError
            XCTAssertNotNil(e.line)
            XCTAssertTrue(e.description.hasPrefix("c.toml:"), e.description)
        }
        XCTAssertThrowsError(try SensorConfig.parse("[redaction]\nmode = \"paranoid\"\n", file: "c.toml", env: [:])) { err in
            XCTAssertEqual((err as! ConfigError).line, 2)
            XCTAssertTrue("\(err)".contains("safe, full, minimal"))
        }
    }

    func testUnknownKeysAndUnsetVariablesWarn() throws {
        let c = try SensorConfig.parse("[sensor]\nnmae = \"typo\"\nname = \"${MISSING_VAR}\"\n", file: "c.toml", env: [:])
        XCTAssertTrue(c.warnings.contains { $0.key == "sensor.nmae" && $0.line == 2 }, "\(c.warnings)")
        XCTAssertTrue(c.warnings.contains { $0.message.contains("MISSING_VAR") })
    }

    func testMaskedOutputHidesSecrets() throws {
        let c = try SensorConfig.parse("""
        [export.kafka]
        enabled = true
        sasl_password = "${KPASS}"
        headers = { Authorization = "Bearer topsecret" }
        token = "abc"
        topic = "t"
        """, file: "c.toml", env: ["KPASS": "hunter2"])
        let out = c.maskedTOML()
        XCTAssertFalse(out.contains("hunter2"))
        XCTAssertFalse(out.contains("topsecret"))
        XCTAssertFalse(out.contains("\"abc\""))
        XCTAssertTrue(out.contains("topic = \"t\""))
    }

    /// Moving a section (a comment or a key added above it) is not a change of that exporter: a
    /// SIGHUP after such an edit keeps it running; a changed value is a change.
    func testExporterEqualityIgnoresWhereItsLinesStand() throws {
        let text = "[export.http]\nenabled = true\nhost = \"a\"\ntls = { verify = false }\n"
        let a = try SensorConfig.parse(text, file: "c.toml", env: [:]).exports[0]
        let b = try SensorConfig.parse("# a comment\n\n" + text, file: "c.toml", env: [:]).exports[0]
        XCTAssertNotEqual(a.line, b.line)
        XCTAssertNotEqual(a.keyLines["host"], b.keyLines["host"])
        XCTAssertEqual(a, b)
        let c = try SensorConfig.parse(text.replacingOccurrences(of: "\"a\"", with: "\"b\""), file: "c.toml", env: [:]).exports[0]
        XCTAssertNotEqual(a, c)
    }
}
