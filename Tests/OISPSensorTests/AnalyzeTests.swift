import Foundation
import OISPEvent
import XCTest

/// `oisp analyze`: the decoded calls of GenAIMetricsTests (OpenAI streamed, Anthropic cached,
/// Gemini, an unknown model, a rate-limited call) summarised as JSON and as tables; a recording
/// without costs is priced as the sensor would, one with costs keeps them.
final class AnalyzeTests: XCTestCase {
    func testAnalyzeInventoryUsageCostSlowestAndFailed() throws {
        let dir = try TestSupport.tempDir("analyze")
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("raw.jsonl"), priced = dir.appendingPathComponent("priced.jsonl")
        try TestSupport.write(GenAIMetricsTests.events().map { $0.jsonString() }.joined(separator: "\n") + "\n{broken\n", to: raw)
        // the same calls through the sensor's stages: each response carries its cost
        XCTAssertEqual(try TestSupport.run(TestSupport.oisp, ["replay", "--input", raw.path, "--output", priced.path]).status, 0)

        for file in [raw, priced] {
            let r = try TestSupport.run(TestSupport.oisp, ["analyze", "--input", file.path, "--format", "json", "--top", "3"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let j = try JSONParser.parse(r.stdout)
            print(file.lastPathComponent, r.stdout.prefix(400))
            let t = j["totals"]
            XCTAssertEqual(t?["calls"], 5)
            XCTAssertEqual(t?["failed"], 1)
            XCTAssertEqual(t?["input_tokens"]?.intValue, 1200 + 2120 + 1000 + 10, "inputs with cached tokens")
            XCTAssertEqual(t?["output_tokens"]?.intValue, 300 + 40 + 500 + 5, "outputs with reasoning")
            XCTAssertEqual(t?["cache_read_tokens"]?.intValue, 1024 + 2000 + 400)
            XCTAssertEqual(t?["reasoning_tokens"], 300)
            XCTAssertEqual(t?["cost"]?["USD"]?.doubleValue ?? 0, 0.0002832 + 0.00156 + 0.001442, accuracy: 1e-12)
            XCTAssertEqual(j["unpriced"], ["no_usage": 1, "unknown_model": 1])
            XCTAssertEqual(j["unpriced_models"], ["openai/gpt-9-turbo-preview": 1])
            XCTAssertEqual(j["providers"]?["openai"]?["calls"], 3)
            XCTAssertEqual(j["providers"]?["google"]?["calls"], 1)
            XCTAssertEqual(j["models"]?["anthropic/claude-sonnet-4-5-20250929"]?["cost"]?["USD"]?.doubleValue ?? 0, 0.00156, accuracy: 1e-12)
            XCTAssertEqual(j["workloads"]?["shop/Deployment/checkout"]?["calls"], 1)
            XCTAssertEqual(j["processes"]?["python3"]?["calls"], 5)
            let slow = j["slowest"]?.arrayValue ?? []
            XCTAssertEqual(slow.count, 3)
            let lat = slow.compactMap { $0["latency_ms"]?.intValue }
            XCTAssertEqual(lat, lat.sorted(by: >), "slowest first")
            XCTAssertEqual(slow.first?["model"], "gpt-4o-mini-2024-07-18", "the streamed call is the slowest")
            let failed = j["failed"]?.arrayValue ?? []
            XCTAssertEqual(failed.count, 1)
            XCTAssertEqual(failed.first?["status_code"], 429)
            XCTAssertEqual(failed.first?["error"], "requests: Rate limit reached for gpt-4o")
        }
        XCTAssertTrue(try TestSupport.run(TestSupport.oisp, ["analyze", "--input", raw.path]).stderr.contains("raw.jsonl:11: skipping invalid line"))

        let table = try TestSupport.run(TestSupport.oisp, ["analyze", "--input", priced.path])
        XCTAssertEqual(table.status, 0, table.stderr)
        print(table.stdout)
        XCTAssertTrue(table.stdout.contains("5 AI calls (1 failed)"))
        XCTAssertTrue(table.stdout.contains("cost: 0.003285 USD; not priced: 1 no_usage, 1 unknown_model"), table.stdout)
        XCTAssertTrue(table.stdout.contains("models not in the price table: openai/gpt-9-turbo-preview (1)"))
        let row = table.stdout.split(separator: "\n").first { $0.hasPrefix("anthropic/claude-sonnet-4-5-20250929") }.map(String.init) ?? ""
        XCTAssertEqual(row.split(separator: " ", omittingEmptySubsequences: true).map(String.init),
                       ["anthropic/claude-sonnet-4-5-20250929", "1", "0", "2120", "40", "42", "42", "0.001560", "USD"], row)
        XCTAssertTrue(table.stdout.contains("failed calls"))
        XCTAssertEqual(try TestSupport.run(TestSupport.oisp, ["analyze", "--input", priced.path, "--format", "yaml"]).status, 64)
    }
}
