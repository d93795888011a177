import OISPEvent

/// What a JSON document cut short still holds. A request body over `max_capture_bytes` in one
/// write reaches the decoder as its first bytes only; rather than nothing, its members and items
/// that were whole before the cut are read: the document up to the last comma outside a string,
/// with the containers still open there closed. (A comma follows a complete member or item, and
/// inside a string every quote is escaped, so the cut is found in one pass.)
enum JSONCut {
    /// The whole part of a cut document (an object or an array at its root), or nil when not
    /// even its first member or item came whole.
    static func whole(prefix bytes: ArraySlice<UInt8>) -> JSONValue? {
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
