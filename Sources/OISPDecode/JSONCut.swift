import OISPEvent

/// What a JSON document with a part left out still holds. A request body over
/// `max_capture_bytes` in one write reaches the decoder as its first bytes and its last ones;
/// rather than nothing, what was whole in each is read: at the start, the document up to the last
/// comma outside a string, with the containers still open there closed (a comma follows a
/// complete member or item, and inside a string every quote is escaped, so one pass finds it); at
/// the end, the root object's members that lie whole after the gap, found by reading backwards
/// from its closing brace (where every quote's escaping is known).
public enum JSONCut {
    /// The document's start and end around a gap, read for what each holds whole: the start's
    /// members, then the end's root members the start did not have. nil when neither held any.
    public static func whole(prefix: ArraySlice<UInt8>, suffix: ArraySlice<UInt8>) -> JSONValue? {
        let head = whole(prefix: prefix)
        let tail = rootMembers(suffix: suffix)
        guard !tail.isEmpty else { return head }
        var o = head?.objectValue ?? JSONObject()
        guard head == nil || head?.objectValue != nil else { return head } // an array at the root
        for (k, v) in tail where o[k] == nil { o[k] = v }
        return .object(o)
    }

    /// The members of a root object that lie whole in `bytes`, the end of the document (its
    /// start missing), in document order.
    public static func rootMembers(suffix bytes: ArraySlice<UInt8>) -> [(String, JSONValue)] {
        var end = bytes.endIndex
        while end > bytes.startIndex, [9, 10, 13, 32].contains(bytes[end - 1]) { end -= 1 }
        guard end > bytes.startIndex, bytes[end - 1] == UInt8(ascii: "}") else { return [] }
        var members: [(String, JSONValue)] = []
        var depth = 1, inString = false
        var memberEnd = end - 1 // the root's closing brace
        var i = end - 2
        func take(_ from: Int) {
            var doc: [UInt8] = [UInt8(ascii: "{")]
            doc.append(contentsOf: bytes[from..<memberEnd])
            doc.append(UInt8(ascii: "}"))
            if let m = (try? JSONParser.parse(doc))?.objectValue, m.count == 1 { for (k, v) in m { members.append((k, v)) } }
        }
        while i >= bytes.startIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                // escaped when an odd run of backslashes precedes it; a run reaching the start
                // cannot be told: stop there
                var j = i - 1
                while j >= bytes.startIndex, bytes[j] == UInt8(ascii: "\\") { j -= 1 }
                if j < bytes.startIndex { break }
                if (i - 1 - j) % 2 == 0 { inString.toggle() }
            } else if !inString {
                switch c {
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth += 1
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth -= 1
                    if depth == 0 { take(i + 1); return members.reversed() } // the root's start after all
                case UInt8(ascii: ","):
                    if depth == 1 { take(i + 1); memberEnd = i }
                default: break
                }
            }
            i -= 1
        }
        return members.reversed()
    }

    /// The whole part of a cut document (an object or an array at its root), or nil when not
    /// even its first member or item came whole.
    public static func whole(prefix bytes: ArraySlice<UInt8>) -> JSONValue? {
        var stack: [UInt8] = []        // the closers of the containers open
        var lastStack: [UInt8] = []    // … where the last cut point was
        var lastCut = -1
        var inString = false, escaped = false
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
            } else {
                switch c {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"): stack.append(UInt8(ascii: "}"))
                case UInt8(ascii: "["): stack.append(UInt8(ascii: "]"))
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard stack.popLast() == c else { return nil } // not JSON
                    if stack.isEmpty { return try? JSONParser.parse(bytes[..<(i + 1)]) } // whole after all
                case UInt8(ascii: ","):
                    guard !stack.isEmpty else { return nil }
                    lastCut = i
                    lastStack = stack
                default: break
                }
            }
            i += 1
        }
        guard lastCut >= 0 else { return nil }
        var doc = Array(bytes[..<lastCut])
        doc.append(contentsOf: lastStack.reversed())
        return try? JSONParser.parse(doc)
    }
}
