/// Rewrites TOML 1.1 syntax that TOMLKit 0.6 (toml++ 3.4, TOML 1.0) rejects into TOML 1.0 that
/// means the same, keeping every line number: inline tables spanning several lines are joined
/// onto one line (the removed newlines are re-emitted after the closing brace), comments inside
/// them are dropped, and trailing commas before `}` are removed.
/// It also records the line of every key, so semantic errors can name a line.
struct TOMLNormalizer {
    /// Output text and `dotted.key.path → 1-based line`.
    static func normalize(_ src: String) -> (text: String, keyLines: [String: Int], error: (line: Int, message: String)?) {
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
        var bracketDepth = 0        // open `[` of array values
        var headerError: (line: Int, message: String)?

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
                if j < s.count && s[j] == "[" && bracketDepth == 0 {
                    let isArray = j + 1 < s.count && s[j + 1] == "["
                    var k = j + (isArray ? 2 : 1)
                    while k < s.count && (s[k] == " " || s[k] == "\t") { k += 1 }
                    // toml++ asserts (instead of reporting) on a header that does not start with a key
                    if k >= s.count || !(isBareKeyChar(s[k]) || s[k] == "\"" || s[k] == "'") {
                        if headerError == nil { headerError = (line, "table header must start with a key name") }
                    } else if let (parts, _) = parseKey(k) { table = parts; record(parts) }
                    // copy the header line as it is
                    while i < s.count && s[i] != "\n" { out.append(s[i]); i += 1 }
                    atLineStart = false
                    continue
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
            case "[":
                bracketDepth += 1
                out.append(c); i += 1
            case "]":
                if bracketDepth > 0 { bracketDepth -= 1 }
                out.append(c); i += 1
            default:
                out.append(c); i += 1
            }
        }
        return (String(out), keyLines, headerError)
    }
}

extension TOMLNormalizer {
    /// toml++ 3.4 asserts (debug) or assumes (release) instead of reporting some malformed value
    /// positions; find them first and report them as syntax errors: a missing value after `=`,
    /// `[`, `{` or `,` (empty arrays/tables and trailing commas in arrays stay valid).
    static func checkValuePositions(_ text: String) -> (line: Int, message: String)? {
        let s = Array(text.unicodeScalars)
        var i = 0, line = 1
        var last: Unicode.Scalar = "\n"     // last significant character outside strings/comments
        var lastLine = 1
        var atLineStart = true
        while i < s.count {
            let c = s[i]
            if c == "\n" {
                if last == "=" { return (lastLine, "expected a value after '='") }
                line += 1; atLineStart = true; i += 1; continue
            }
            if c == " " || c == "\t" || c == "\r" { i += 1; continue }
            if c == "#" {
                if last == "=" { return (lastLine, "expected a value after '='") }
                while i < s.count && s[i] != "\n" { i += 1 }
                continue
            }
            if atLineStart && c == "[" && last != "[" && last != "," && last != "=" {
                // table header: skip to the end of the line
                while i < s.count && s[i] != "\n" { i += 1 }
                last = "\n"; atLineStart = false
                continue
            }
            atLineStart = false
            if c == "\"" || c == "'" {
                let triple = i + 2 < s.count && s[i + 1] == c && s[i + 2] == c
                i += triple ? 3 : 1
                while i < s.count {
                    if s[i] == "\\" && c == "\"" { i += 2; continue }
                    if s[i] == "\n" { if !triple { break }; line += 1 }
                    if s[i] == c && (!triple || (i + 2 < s.count && s[i + 1] == c && s[i + 2] == c)) { i += triple ? 3 : 1; break }
                    i += 1
                }
                last = "v"; lastLine = line
                continue
            }
            switch (last, c) {
            case ("=", ","), ("=", "]"), ("=", "}"), ("=", "="):
                return (line, "expected a value after '='")
            case ("[", ","), ("[", "}"), ("{", ","), ("{", "]"), ("{", "="), (",", ","), (",", "}"), (",", "="):
                return (line, "expected a value before '\(c)'")
            default: break
            }
            last = (c == "=" || c == "[" || c == "]" || c == "{" || c == "}" || c == ",") ? c : "v"
            lastLine = line
            i += 1
        }
        if last == "=" { return (lastLine, "expected a value after '='") }
        return nil
    }
}
