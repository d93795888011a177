/// Rewrites TOML 1.1 syntax that TOMLKit 0.6 (toml++ 3.4, TOML 1.0) rejects into TOML 1.0 that
/// means the same, keeping every line number: inline tables spanning several lines are joined
/// onto one line (the removed newlines are re-emitted after the closing brace), comments inside
/// them are dropped, and trailing commas before `}` are removed.
/// It also records the line of every key, so semantic errors can name a line.
struct TOMLNormalizer {
    /// Output text and `dotted.key.path → 1-based line`.
    static func normalize(_ src: String) -> (text: String, keyLines: [String: Int]) {
        let s = Array(src.unicodeScalars)
        var out = String.UnicodeScalarView()
        out.reserveCapacity(s.count)
        var keyLines: [String: Int] = [:]
        var line = 1
        var i = 0
        var braceDepth = 0          // depth of inline tables `{`
        var pendingNewlines = 0     // newlines swallowed inside the current multi-line inline table
        var table: [String] = []    // current [table] path
        var atLineStart = true
        var inlineKeyStack: [String] = [] // key path of inline tables we are inside

        func isBareKeyChar(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-"
        }
        // Parses a (possibly dotted, possibly quoted) key starting at j; returns parts and end index.
        func parseKey(_ start: Int) -> ([String], Int)? {
            var j = start
            var parts: [String] = []
            while j < s.count {
                while j < s.count && (s[j] == " " || s[j] == "\t") { j += 1 }
                guard j < s.count else { return nil }
                if s[j] == "\"" || s[j] == "'" {
                    let q = s[j]; j += 1
                    var part = String.UnicodeScalarView()
                    while j < s.count && s[j] != q && s[j] != "\n" {
                        if q == "\"" && s[j] == "\\" && j + 1 < s.count { part.append(s[j + 1]); j += 2; continue }
                        part.append(s[j]); j += 1
                    }
                    guard j < s.count && s[j] == q else { return nil }
                    j += 1
                    parts.append(String(part))
                } else {
                    var part = String.UnicodeScalarView()
                    while j < s.count && isBareKeyChar(s[j]) { part.append(s[j]); j += 1 }
                    if part.isEmpty { return nil }
                    parts.append(String(part))
                }
                while j < s.count && (s[j] == " " || s[j] == "\t") { j += 1 }
                if j < s.count && s[j] == "." { j += 1; continue }
                return (parts, j)
            }
            return nil
        }
        func record(_ path: [String]) {
            let k = path.joined(separator: ".")
            if keyLines[k] == nil { keyLines[k] = line }
        }

        while i < s.count {
            let c = s[i]
            if atLineStart && braceDepth == 0 {
                var j = i
                while j < s.count && (s[j] == " " || s[j] == "\t") { j += 1 }
                if j < s.count && s[j] == "[" {
                    let isArray = j + 1 < s.count && s[j + 1] == "["
                    if let (parts, _) = parseKey(j + (isArray ? 2 : 1)) { table = parts; record(parts) }
                } else if j < s.count, s[j] != "#", s[j] != "\n", let (parts, e) = parseKey(j), e < s.count, s[e] == "=" {
                    record(table + parts)
                    inlineKeyStack = table + parts
                }
                atLineStart = false
            }
            switch c {
            case "\"", "'":
                // strings (basic, literal, multi-line): copy verbatim
                let triple = i + 2 < s.count && s[i + 1] == c && s[i + 2] == c
                if triple {
                    out.append(c); out.append(c); out.append(c); i += 3
                    while i < s.count {
                        if s[i] == "\\" && c == "\"" && i + 1 < s.count { out.append(s[i]); out.append(s[i + 1]); if s[i + 1] == "\n" { line += 1 }; i += 2; continue }
                        if s[i] == c && i + 2 < s.count && s[i + 1] == c && s[i + 2] == c {
                            out.append(c); out.append(c); out.append(c); i += 3
                            while i < s.count && s[i] == c { out.append(c); i += 1 }
                            break
                        }
                        if s[i] == "\n" { line += 1 }
                        out.append(s[i]); i += 1
                    }
                } else {
                    out.append(c); i += 1
                    while i < s.count && s[i] != "\n" {
                        if s[i] == "\\" && c == "\"" && i + 1 < s.count { out.append(s[i]); out.append(s[i + 1]); i += 2; continue }
                        out.append(s[i])
                        if s[i] == c { i += 1; break }
                        i += 1
                    }
                }
                continue
            case "#":
                if braceDepth > 0 {
                    while i < s.count && s[i] != "\n" { i += 1 }   // comment inside inline table: drop
                } else {
                    while i < s.count && s[i] != "\n" { out.append(s[i]); i += 1 }
                }
                continue
            case "{":
                braceDepth += 1
                out.append(c); i += 1
                // record keys of the inline table that start on later lines
                continue
            case "}":
                if braceDepth > 0 {
                    // drop a trailing comma before `}`
                    var k = out.count
                    var idx = out.endIndex
                    while k > 0 {
                        let prev = out.index(before: idx)
                        let pc = out[prev]
                        if pc == " " || pc == "\t" { idx = prev; k -= 1; continue }
                        if pc == "," { out.remove(at: prev) }
                        break
                    }
                    braceDepth -= 1
                }
                out.append(c); i += 1
                if braceDepth == 0 && pendingNewlines > 0 {
                    // re-emit swallowed newlines after the rest of this line
                    var rest = String.UnicodeScalarView()
                    while i < s.count && s[i] != "\n" { rest.append(s[i]); i += 1 }
                    out.append(contentsOf: rest)
                    for _ in 0..<pendingNewlines { out.append("\n") }
                    pendingNewlines = 0
                }
                continue
            case "\n":
                line += 1
                if braceDepth > 0 {
                    pendingNewlines += 1
                    out.append(" ")
                    i += 1
                    // key inside a multi-line inline table
                    var j = i
                    while j < s.count && (s[j] == " " || s[j] == "\t") { j += 1 }
                    if let (parts, e) = parseKey(j), e < s.count, s[e] == "=" { record(inlineKeyStack + parts) }
                    continue
                }
                atLineStart = true
                out.append(c); i += 1
                continue
            default:
                out.append(c); i += 1
            }
        }
        return (String(out), keyLines)
    }
}
