import Foundation
import OISPEvent
import XCTest

/// The SDK's JSON parser and writer (every event passes through both): strings with a byte that
/// needs an escape at every position around the eight-byte steps, numbers at the edges of
/// Int64, nesting, and errors — checked against Foundation's JSONSerialization as the reference.
final class JSONCodecTests: XCTestCase {
    static let specials: [String] = ["\"", "\\", "\n", "\r", "\t", "\u{1}", "\u{1F}", "/", "é", "🚀", "\u{7F}", " "]

    /// Containers wider and deeper than the parser's member and item stacks start (16): every
    /// object keeps its members in order, every array its items, against Foundation's reading;
    /// a document cut anywhere is an error, and the stacks it leaves are freed (no crash, no leak
    /// through a later parse).
    func testWideAndDeepContainersAndCutDocuments() throws {
        func doc(_ depth: Int) -> String {
            guard depth > 0 else { return #""leaf""# }
            let members = (0..<40).map { i in #""k\#(i)":"# + (i % 13 == 0 ? doc(depth - 1) : i % 2 == 0 ? "[\((0..<(20 + i)).map(String.init).joined(separator: ","))]" : #""v\#(i)-\#(depth)""#) }
            return "{" + members.joined(separator: ",") + "}"
        }
        let text = doc(4)
        let bytes = Array(text.utf8)
        let ours = try JSONParser.parse(bytes)
        var w = JSONWriter()
        w.value(ours)
        XCTAssertEqual(w.bytes, bytes, "written back byte for byte: member order and items kept")
        let theirs = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        XCTAssertEqual(theirs?.count, 40)
        XCTAssertEqual(ours["k2"]?.arrayValue?.count, 22)
        XCTAssertEqual(ours["k13"]?["k13"]?["k26"]?["k1"]?.stringValue, "v1-1")
        XCTAssertEqual(ours["k13"]?["k13"]?["k26"]?["k39"]?.stringValue, "leaf")
        var cut = 0
        for end in stride(from: 1, to: bytes.count, by: 97) {
            XCTAssertThrowsError(try JSONParser.parse(bytes[0..<end]))
            cut += 1
        }
        XCTAssertGreaterThan(cut, 100)
        XCTAssertEqual(try JSONParser.parse(bytes), ours)
    }

    func testStringsWithAnEscapeAtEveryPosition() throws {
        var checked = 0
        for n in 0..<34 {
            for s in Self.specials {
                for at in 0...n {
                    var chars = Array(repeating: Character("a"), count: n)
                    chars.insert(Character(s), at: at)
                    let text = String(chars)
                    var w = JSONWriter()
                    w.string(text)
                    // the writer's form parses back, by us and by Foundation, to the same text
                    XCTAssertEqual(try JSONParser.parse(w.bytes), .string(text))
                    let f = try JSONSerialization.jsonObject(with: Data(w.bytes), options: [.fragmentsAllowed]) as? String
                    XCTAssertEqual(f, text)
                    // Foundation's form (escaped slashes, other escapes) parses to the same text
                    let theirs = try JSONSerialization.data(withJSONObject: [text])
                    XCTAssertEqual(try JSONParser.parse(theirs), .array([.string(text)]))
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 12 * (34 * 35 / 2))
    }

    func testRawControlBytesAndBadEscapesAreRefusedAtEveryPosition() {
        for n in 0..<20 {
            for at in 0...n {
                var b = Array(repeating: UInt8(ascii: "a"), count: n)
                b.insert(0x0A, at: at)
                XCTAssertThrowsError(try JSONParser.parse([0x22] + b + [0x22]), "raw newline at \(at) of \(n)")
                var e = Array(repeating: UInt8(ascii: "a"), count: n)
                e.insert(contentsOf: Array("\\x".utf8), at: at)
                XCTAssertThrowsError(try JSONParser.parse([0x22] + e + [0x22]))
            }
            XCTAssertThrowsError(try JSONParser.parse([0x22] + Array(repeating: UInt8(ascii: "a"), count: n)), "unterminated")
        }
    }

    /// `parse(buffer:skipping:)` (the OTLP exporter without capture_content): the same tree as a
    /// full parse with those members removed at every depth, and the same errors inside them.
    func testSkippedMembersAreCheckedButNotBuilt() throws {
        func removing(_ v: JSONValue, _ names: Set<String>) -> JSONValue {
            switch v {
            case .object(let o):
                return .object(JSONObject(uncheckedEntries: o.entries.filter { !names.contains($0.key) }.map { ($0.key, removing($0.value, names)) }))
            case .array(let a): return .array(a.map { removing($0, names) })
            default: return v
            }
        }
        func parse(_ s: String, _ names: [String]) throws -> JSONValue {
            var s = s
            return try s.withUTF8 { try JSONParser.parse(buffer: $0, skipping: names) }
        }
        let names = ["messages", "content", "tools"]
        var docs = [#"{"data":{"messages":[{"role":"user","content":"hi \"there\" \u00e9\n"}],"model":{"id":"m"}},"content":"x"}"#,
                    #"{"content":{"a":[1,2.5e3,-0,true,false,null,{"content":"deep"}]},"keep":"\ud83d\ude80","tools":[]}"#,
                    #"{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"stop"}],"content":""}"#,
                    #"{"content":1}"#, #"{"a":{"content":"only"}}"#]
        // every key length and position around the eight-byte steps
        for n in 0..<20 { docs.append("{\"\(String(repeating: "k", count: n))\":1,\"content\":\"\(String(repeating: "v", count: n))\",\"z\":\(n)}") }
        var checked = 0
        for d in docs {
            XCTAssertEqual(try parse(d, names), removing(try JSONParser.parse(d), Set(names)), d)
            checked += 1
        }
        XCTAssertEqual(checked, 25)
        // names are matched as written: an escaped spelling of one is kept, not skipped
        let escaped = #"{"con\u0074ent":"escaped key kept"}"#
        XCTAssertEqual(try parse(escaped, names), try JSONParser.parse(escaped))
        // malformed JSON inside a skipped member is still refused
        for bad in [#"{"content":"a\x"}"#, #"{"content":"raw\#ncontrol"}"#, #"{"content":[1,]}"#, #"{"content":{"a" 1}}"#,
                    #"{"content":"unterminated}"#, #"{"content":tru}"#, #"{"content":01}"#, #"{"content":"\u12"}"#] {
            XCTAssertThrowsError(try parse(bad, names), bad)
            XCTAssertThrowsError(try JSONParser.parse(bad), bad)
        }
    }

    func testNumbersAtTheEdges() throws {
        let ints: [Int64] = [0, 1, -1, 9, 10, 99_999_999_999_999_999, -99_999_999_999_999_999, 999_999_999_999_999_999,
                             -999_999_999_999_999_999, Int64.max, Int64.min + 1, 1_764_000_000_000_000_000]
        for i in ints {
            XCTAssertEqual(try JSONParser.parse(Array("\(i)".utf8)), .int(i), "\(i)")
            XCTAssertEqual(try JSONParser.parse(Array("[\(i),\(i)]".utf8)), .array([.int(i), .int(i)]))
        }
        // beyond Int64: a double, as before
        XCTAssertEqual(try JSONParser.parse(Array("9223372036854775808".utf8)), .double(9223372036854775808))
        XCTAssertEqual(try JSONParser.parse(Array("1.5e3".utf8)), .double(1500))
        XCTAssertEqual(try JSONParser.parse(Array("-0.25".utf8)), .double(-0.25))
        for bad in ["01", "-", "1.", ".5", "1e", "+1", "--1", "1.e3"] {
            XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8)), bad)
        }
    }

    func testNestedContainersKeepOrderAndDuplicates() throws {
        let text = #"{"b":[1,{"z":[],"a":{}},[[],[2]]],"a":{"x":"1","x":"2"},"c":[{"k":[{"k":[null,true,false]}]}]}"#
        let v = try JSONParser.parse(Array(text.utf8))
        XCTAssertEqual(v.objectValue?.keys, ["b", "a", "c"])
        XCTAssertEqual(v["a"]?.objectValue?.count, 2, "duplicate keys kept")
        XCTAssertEqual(v["a"]?["x"], "1", "lookups see the first")
        XCTAssertEqual(String(decoding: v.jsonBytes(), as: UTF8.self), text, "written back as read")
        for bad in [#"{"a":1,}"#, "[1,]", #"{"a" 1}"#, "[1 2]", #"{"a":[}"#, "[{]}"] {
            XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8)), bad)
        }
    }
}
