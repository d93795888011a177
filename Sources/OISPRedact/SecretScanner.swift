#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// [A-Za-z0-9_-] by byte value, built once.
private let keyCharTable: UnsafePointer<Bool> = {
    let t = UnsafeMutablePointer<Bool>.allocate(capacity: 256)
    for c in 0..<256 { t[c] = SecretScanner.isKeyChar(UInt8(c)) }
    return UnsafePointer(t)
}()

/// A detected secret or PII span in UTF-8 bytes.
public struct Finding: Equatable, Sendable {
    public var start: Int
    public var end: Int
    public var type: String
}

/// Detectors for secrets and PII, written as one pass over UTF-8 bytes (no regex on the hot
/// path): provider API keys by their documented prefixes and lengths, JWTs, private key blocks,
/// bearer tokens and `api_key=`-style assignments, AWS secret keys near an access key id or
/// keyword, emails, credit cards with the Luhn check and known issuer prefixes, US SSNs with
/// the SSA's validity rules, formatted phone numbers, IPv4 and IPv6 (validated by inet_pton),
/// and sensitive HTTP header lines. Custom patterns use NSRegularExpression, compiled once.
public struct SecretScanner: Sendable {
    public struct Toggles: Sendable {
        public var apiKeys = true, emails = true, creditCards = true, ssn = true, phones = true, ips = true
        public var jwt = true, privateKeys = true
        public init() {}
    }
    public var toggles: Toggles
    public let custom: [(name: String, regex: NSRegularExpression)]
    /// Every `Finding.type` the built-in detectors give (custom patterns add their own names).
    public static let builtinTypes = ["api_key", "auth_header", "aws_secret_key", "credit_card", "email", "ip_address",
                                      "jwt", "password", "phone", "private_key", "ssn"]
    /// The finding types this scanner can report: the built-in ones and the custom names.
    public var findingTypes: [String] { SecretScanner.builtinTypes + custom.map(\.name) }

    public init(toggles: Toggles = Toggles(), custom: [(name: String, regex: NSRegularExpression)] = []) {
        self.toggles = toggles
        self.custom = custom
    }

    @inline(__always) static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    }
    @inline(__always) static func isKeyChar(_ c: UInt8) -> Bool { isAlnum(c) || c == 95 || c == 45 } // [A-Za-z0-9_-]
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    @inline(__always) static func isAlpha(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
    @inline(__always) static func isBase64(_ c: UInt8) -> Bool { isAlnum(c) || c == 47 || c == 43 }
    @inline(__always) static func isUpperOrDigit(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || isDigit(c) }
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c + 32 : c }

    static func hasPrefix(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ p: StaticString) -> Bool {
        let n = p.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let s = p.utf8Start
        for k in 0..<n where b[i + k] != s[k] { return false }
        return true
    }
    static func hasPrefixCI(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ p: StaticString) -> Bool {
        let n = p.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let s = p.utf8Start
        for k in 0..<n where lower(b[i + k]) != s[k] { return false }
        return true
    }
    static func run(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ pred: (UInt8) -> Bool) -> Int {
        var j = i
        while j < b.count && pred(b[j]) { j += 1 }
        return j
    }

    /// Scans a string's bytes; findings are sorted and non-overlapping.
    public func scan(_ s: String) -> [Finding] {
        var s = s
        return s.withUTF8 { scan(bytes: $0) }
    }

    /// Whether `b` holds what some built-in detector needs: a digit, one of `: ; < = > ? @ A J - _`,
    /// the word "bearer" in any case, or 8 bytes (8-aligned) above `*` (a run of base64). Every built-in finding has one — a prefixed key a `-`,
    /// `_`, digit or `A…`; a JWT `eyJ`; a private key block `-----`; an assignment `=` or `:`; an
    /// email `@`; cards, SSNs, phones and IPv4 digits; IPv6 and header lines `:`; an AWS secret a
    /// digit; a bearer token "bearer" — so text without any (most prose) is passed over eight
    /// bytes at a time instead of word by word. Custom patterns are not covered by this.
    static func mayHoldFinding(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = b.baseAddress else { return false }
        let n = b.count
        let ones = Bytes8.ones, lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        @inline(__always) func bearer(at k: Int) -> Bool { k + 6 <= n && hasPrefixCI(b, k, "bearer") }
        var j = 0
        while j + 8 <= n {
            let w = Bytes8.load(base + j)
            // a word without a byte below `+` (no space, quote or control byte) may be part of
            // base64 hiding a finding: the detector wants 16+ such bytes, and any run of 15+
            // holds a whole aligned word
            if (w &- ones &* 0x2B) & ~w & Bytes8.highs == 0 { return true }
            let t = w & lows
            // a byte in 0x30...0x41 (digits, `: ; < = > ? @ A`): ASCII bytes only (`& ~w`)
            if ((ones &* 0xC1) &- t) & ~w & (t &+ ones &* 0x50) & Bytes8.highs != 0 { return true }
            if Bytes8.equal(w, 0x2D) | Bytes8.equal(w, 0x5F) | Bytes8.equal(w, 0x4A) != 0 { return true }
            if Bytes8.equal(w | (ones &* 0x20), 0x62) != 0 { // a `b` or `B`: is it "bearer"?
                for k in j..<(j + 8) where base[k] | 0x20 == 0x62 && bearer(at: k) { return true }
            }
            j += 8
        }
        while j < n {
            let c = base[j]
            if (c >= 0x30 && c <= 0x41) || c == 0x2D || c == 0x5F || c == 0x4A || (c | 0x20 == 0x62 && bearer(at: j)) { return true }
            j += 1
        }
        return false
    }

    public func scan(bytes b: UnsafeBufferPointer<UInt8>) -> [Finding] {
        mayFind(b) ? scanWords(b) : []
    }

    /// False when `scanWords` certainly finds nothing in `b` (no custom pattern, and no byte a
    /// built-in detector needs).
    @inline(__always) func mayFind(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        !custom.isEmpty || SecretScanner.mayHoldFinding(b)
    }

    /// The detectors, word by word (no pre-check).
    func scanWords(_ b: UnsafeBufferPointer<UInt8>) -> [Finding] { scanWords(b, depth: 0) }

    /// Shortest base64 run that is decoded and scanned (12 bytes decoded: an SSN with a label).
    static let base64MinRun = 16
    /// Base64 inside base64 is followed this deep.
    static let base64MaxDepth = 2

    /// A run of base64 or base64url (`token=sk-proj-…` as `dG9rZW49c2st…`: Basic-auth values,
    /// data URLs, SDK debug dumps) that decodes to text holding a finding: the whole run is the
    /// finding, typed by what it hides. Cost is bounded: binary payloads (images, audio) are
    /// given up after their first 48 decoded bytes.
    func base64Run(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, depth: Int) -> Finding? {
        guard depth < SecretScanner.base64MaxDepth else { return nil }
        var e = i
        var std = false, url = false
        let n = b.count
        while e < n {
            let c = b[e]
            if SecretScanner.isAlnum(c) { e += 1; continue }
            if c == 43 || c == 47 { std = true; e += 1; continue }  // + /
            if c == 45 || c == 95 { url = true; e += 1; continue }  // - _
            break
        }
        let len = e - i
        guard len >= SecretScanner.base64MinRun, !(std && url) else { return nil }
        var end = e
        while end < n && end - e < 2 && b[end] == 61 { end += 1 } // '=' padding
        var out = [UInt8]()
        out.reserveCapacity(len * 3 / 4)
        var acc: UInt32 = 0, bits = 0
        for k in i..<e {
            let c = b[k]
            let v: UInt32
            switch c {
            case 65...90: v = UInt32(c - 65)
            case 97...122: v = UInt32(c - 71)
            case 48...57: v = UInt32(c + 4)
            case 43, 45: v = 62
            default: v = 63 // / _
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                let byte = UInt8(truncatingIfNeeded: acc >> UInt32(bits))
                // text only: control bytes (but tab, CR, LF) and DEL mean a binary payload
                if (byte < 32 && byte != 9 && byte != 10 && byte != 13) || byte == 127 { return nil }
                out.append(byte)
            }
        }
        guard out.count >= 12, String(validating: out, as: UTF8.self) != nil else { return nil }
        let inner = out.withUnsafeBufferPointer { d in mayFind(d) ? scanWords(d, depth: depth + 1) : [] }
        guard let first = inner.first else { return nil }
        return Finding(start: i, end: end, type: first.type)
    }

    func scanWords(_ b: UnsafeBufferPointer<UInt8>, depth: Int) -> [Finding] {
        let kc = keyCharTable // one table load per byte in the word loops below
        var out: [Finding] = []
        let n = b.count
        var i = 0
        var lastAWSKeyEnd = -10_000
        var lineStart = true
        while i < n {
            let c = b[i]
            let prev: UInt8 = i > 0 ? b[i - 1] : 32
            if lineStart, let f = headerLine(b, i) { out.append(f); i = f.end; lineStart = false; continue }
            lineStart = c == 10
            let tokenStart = !kc[Int(prev)] && prev != 46 && prev != 47 && prev != 43
            if tokenStart && SecretScanner.isAlpha(c) {
                // A short word of letters and digits (most of any prose) can only start `bearer `,
                // an `…key=`-style assignment, an IPv6 address or an AWS secret: every other
                // detector needs 10+ word characters. Skip it whole when none of those fits.
                var e = i + 1
                while e < n && kc[Int(b[e])] { e += 1 }
                let len = e - i
                if len < 10 {
                    let l = SecretScanner.lower(c)
                    var maybe = len == 6 && l == 98 // bearer
                    if !maybe && len >= 3 && (l == 97 || l == 115 || l == 99 || l == 116 || l == 112) {
                        switch (SecretScanner.lower(b[e - 3]), SecretScanner.lower(b[e - 2]), SecretScanner.lower(b[e - 1])) {
                        case (107, 101, 121), (114, 101, 116), (107, 101, 110), (111, 114, 100), (115, 119, 100), (112, 119, 100): maybe = true
                        default: break
                        }
                    }
                    if !maybe && e < n && (b[e] == 58 || b[e] == 46) { maybe = true }                 // IPv6
                    // AWS secret: 40 base64 characters, so a short word must go on with '/' or '+'
                    if !maybe && e < n && (b[e] == 47 || b[e] == 43) { maybe = true }
                    if !maybe { i = e; lineStart = false; continue }
                }
            }
            if tokenStart {
                if let f = token(b, i) {
                    if f.type == "api_key" && (SecretScanner.hasPrefix(b, i, "AKIA") || SecretScanner.hasPrefix(b, i, "ASIA")) { lastAWSKeyEnd = f.end }
                    out.append(f); i = f.end; continue
                }
                if SecretScanner.isAlnum(c), i + SecretScanner.base64MinRun <= n, let f = base64Run(b, i, depth: depth) { out.append(f); i = f.end; continue }
                // cheap gates first: an AWS secret is exactly 40 base64 characters
                if toggles.apiKeys, i + 40 <= n, SecretScanner.isBase64(b[i + 39]), i + 40 == n || !SecretScanner.isBase64(b[i + 40]),
                   let f = awsSecret(b, i, nearKey: i - lastAWSKeyEnd < 200) { out.append(f); i = f.end; continue }
                if SecretScanner.isDigit(c) || c == 43 || c == 40, let f = numeric(b, i) { out.append(f); i = f.end; continue }
                if toggles.ips, SecretScanner.isHex(c) || c == 58, let f = ipv6(b, i) { out.append(f); i = f.end; continue }
            }
            if c == 64, toggles.emails, let f = email(b, i) { // '@'
                // drop a finding the email overlaps (its local part may have matched a token)
                while let last = out.last, last.end > f.start { out.removeLast() }
                out.append(f); i = f.end; continue
            }
            i += 1
            // the rest of a word: no position inside a run of [A-Za-z0-9_-] starts a token, a line
            // or an email, so step over it at once
            if kc[Int(c)] {
                while i < n && kc[Int(b[i])] { i += 1 }
                lineStart = false
            }
        }
        if !custom.isEmpty {
            let str = String(decoding: b, as: UTF8.self)
            let ns = str as NSString
            for (name, re) in custom {
                for m in re.matches(in: str, range: NSRange(location: 0, length: ns.length)) where m.range.length > 0 {
                    let pre = ns.substring(to: m.range.location).utf8.count
                    let len = ns.substring(with: m.range).utf8.count
                    out.append(Finding(start: pre, end: pre + len, type: name))
                }
            }
            out.sort { $0.start < $1.start }
            var merged: [Finding] = []
            for f in out { if let l = merged.last, f.start < l.end { continue }; merged.append(f) }
            out = merged
        }
        return out
    }

    static let sensitiveHeaders: [StaticString] = ["authorization:", "proxy-authorization:", "x-api-key:", "api-key:", "x-goog-api-key:",
                                                   "cookie:", "set-cookie:", "x-amz-security-token:"]

    /// `Authorization: …` style lines in captured HTTP text: the value is always removed.
    func headerLine(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Finding? {
        guard i < b.count else { return nil }
        let c = SecretScanner.lower(b[i])
        guard c == 97 || c == 112 || c == 120 || c == 99 || c == 115 else { return nil }
        for h in SecretScanner.sensitiveHeaders where SecretScanner.hasPrefixCI(b, i, h) {
            var s = i + h.utf8CodeUnitCount
            while s < b.count && b[s] == 32 { s += 1 }
            var e = s
            while e < b.count && b[e] != 13 && b[e] != 10 { e += 1 }
            guard e > s else { return nil }
            return Finding(start: s, end: e, type: "auth_header")
        }
        return nil
    }

    /// Prefix-identified keys, JWTs, private key blocks, bearer tokens and assignments.
    func token(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Finding? {
        let c = b[i]
        let key = SecretScanner.isKeyChar
        func keyAfter(_ prefixLen: Int, min: Int, max: Int = 512, needDigit: Bool = true, charset: (UInt8) -> Bool = SecretScanner.isKeyChar) -> Finding? {
            let s = i + prefixLen
            let e = SecretScanner.run(b, s, charset)
            let len = e - s
            guard len >= min && len <= max else { return nil }
            if needDigit {
                var digits = 0, letters = 0
                for k in s..<e { if SecretScanner.isDigit(b[k]) { digits += 1 } else if SecretScanner.isAlnum(b[k]) { letters += 1 } }
                guard digits >= 2 && letters >= 2 else { return nil }
            }
            return Finding(start: i, end: e, type: "api_key")
        }
        if toggles.apiKeys {
            switch c {
            case 115: // s
                if SecretScanner.hasPrefix(b, i, "sk-") {
                    // a provider's own key prefix says "key" by itself: no digits asked of what
                    // follows (a placeholder or a test key of one letter is redacted too); a bare
                    // `sk-` needs some (`sk-learn-…` is prose)
                    let named = SecretScanner.hasPrefix(b, i, "sk-proj-") || SecretScanner.hasPrefix(b, i, "sk-ant-")
                        || SecretScanner.hasPrefix(b, i, "sk-svcacct-") || SecretScanner.hasPrefix(b, i, "sk-admin-")
                        || SecretScanner.hasPrefix(b, i, "sk-or-v1-")
                    return keyAfter(3, min: 20, needDigit: !named)
                }
                if SecretScanner.hasPrefix(b, i, "sk_live_") || SecretScanner.hasPrefix(b, i, "sk_test_") { return keyAfter(8, min: 16, needDigit: false, charset: SecretScanner.isAlnum) }
            case 114: // r
                if SecretScanner.hasPrefix(b, i, "rk_live_") || SecretScanner.hasPrefix(b, i, "rk_test_") { return keyAfter(8, min: 16, needDigit: false, charset: SecretScanner.isAlnum) }
                if SecretScanner.hasPrefix(b, i, "r8_") { return keyAfter(3, min: 30, charset: SecretScanner.isAlnum) }
            case 65: // A
                if SecretScanner.hasPrefix(b, i, "AIza") {
                    let e = SecretScanner.run(b, i + 4, key)
                    if e - i - 4 == 35 { return Finding(start: i, end: e, type: "api_key") }
                }
                if SecretScanner.hasPrefix(b, i, "AKIA") || SecretScanner.hasPrefix(b, i, "ASIA") || SecretScanner.hasPrefix(b, i, "AGPA")
                    || SecretScanner.hasPrefix(b, i, "AIDA") || SecretScanner.hasPrefix(b, i, "AROA") {
                    let e = SecretScanner.run(b, i + 4, SecretScanner.isUpperOrDigit)
                    if e - i - 4 == 16, e >= b.count || !SecretScanner.isAlnum(b[e]) { return Finding(start: i, end: e, type: "api_key") }
                }
            case 103: // g
                if SecretScanner.hasPrefix(b, i, "github_pat_") { return keyAfter(11, min: 22, needDigit: false, charset: { SecretScanner.isAlnum($0) || $0 == 95 }) }
                if b.count > i + 3, SecretScanner.hasPrefix(b, i, "gh"), [112, 111, 117, 115, 114].contains(b[i + 2]), b[i + 3] == 95 {
                    let e = SecretScanner.run(b, i + 4, SecretScanner.isAlnum)
                    if e - i - 4 >= 36 && e - i - 4 <= 255 { return Finding(start: i, end: e, type: "api_key") }
                }
                if SecretScanner.hasPrefix(b, i, "gsk_") { return keyAfter(4, min: 20, needDigit: false, charset: SecretScanner.isAlnum) }
                // GitLab personal, project and group access tokens
                if SecretScanner.hasPrefix(b, i, "glpat-") { return keyAfter(6, min: 20, max: 4096, needDigit: false, charset: { SecretScanner.isAlnum($0) || $0 == 45 || $0 == 95 }) }
            case 120: // x
                if SecretScanner.hasPrefix(b, i, "xox"), i + 4 < b.count, [98, 112, 97, 114, 115, 101].contains(b[i + 3]), b[i + 4] == 45 {
                    return keyAfter(5, min: 10, charset: { SecretScanner.isAlnum($0) || $0 == 45 })
                }
                if SecretScanner.hasPrefix(b, i, "xai-") { return keyAfter(4, min: 20, needDigit: false, charset: SecretScanner.isAlnum) }
            case 104: // h
                if SecretScanner.hasPrefix(b, i, "hf_") { return keyAfter(3, min: 30, max: 64, needDigit: false, charset: SecretScanner.isAlnum) }
            case 112: // p
                if SecretScanner.hasPrefix(b, i, "pplx-") { return keyAfter(5, min: 20, needDigit: false, charset: SecretScanner.isAlnum) }
            default: break
            }
        }
        if c == 101, toggles.jwt, SecretScanner.hasPrefix(b, i, "eyJ") { // JWT: three base64url segments
            let e1 = SecretScanner.run(b, i, key)
            guard e1 - i >= 10, e1 < b.count, b[e1] == 46 else { return nil }
            let e2 = SecretScanner.run(b, e1 + 1, key)
            guard e2 - e1 - 1 >= 10, e2 < b.count, b[e2] == 46 else { return nil }
            let e3 = SecretScanner.run(b, e2 + 1, key)
            guard e3 - e2 - 1 >= 10 else { return nil }
            return Finding(start: i, end: e3, type: "jwt")
        }
        if c == 45, toggles.privateKeys, SecretScanner.hasPrefix(b, i, "-----BEGIN ") { // private key block
            var j = i + 11
            let lineEnd = min(b.count, i + 80)
            var isPrivate = false
            while j + 16 <= lineEnd { if SecretScanner.hasPrefix(b, j, "PRIVATE KEY-----") { isPrivate = true; break }; j += 1 }
            guard isPrivate else { return nil }
            var k = j + 16
            while k + 9 <= b.count {
                if SecretScanner.hasPrefix(b, k, "-----END ") {
                    var e = k + 9
                    while e + 5 <= b.count && !SecretScanner.hasPrefix(b, e, "-----") { e += 1 }
                    return Finding(start: i, end: min(b.count, e + 5), type: "private_key")
                }
                k += 1
            }
            return Finding(start: i, end: b.count, type: "private_key") // unterminated: redact the rest
        }
        if toggles.apiKeys {
            if (c == 66 || c == 98), SecretScanner.hasPrefixCI(b, i, "bearer ") {
                let s = SecretScanner.run(b, i + 7, { $0 == 32 })
                let e = SecretScanner.run(b, s, { SecretScanner.isKeyChar($0) || $0 == 46 || $0 == 126 || $0 == 43 || $0 == 47 || $0 == 61 })
                if e - s >= 16 { return Finding(start: s, end: e, type: "api_key") }
            }
            if let f = assignment(b, i) { return f }
        }
        return nil
    }

    static let assignmentKeywords: [StaticString] = ["api_key", "apikey", "api-key", "access_key", "secret_key", "client_secret",
                                                     "auth_token", "access_token", "secret", "token", "password", "passwd", "pwd"]
    /// The keywords as lower-case bytes with '-' read as '_' (how a word is compared against them).
    static let assignmentKeywordBytes: [[UInt8]] = assignmentKeywords.map { k in
        UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount).map { $0 == 45 ? 95 : $0 }
    }

    /// `api_key = "…"`, `"password": "…"`, `token: …` — the value is redacted.
    func assignment(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Finding? {
        let c = SecretScanner.lower(b[i])
        guard c == 97 || c == 115 || c == 99 || c == 116 || c == 112 else { return nil }
        // the keyword may end a longer identifier, e.g. OPENAI_API_KEY or aws_secret_access_key
        var e = SecretScanner.run(b, i, { SecretScanner.isKeyChar($0) })
        guard e - i >= 3, e - i <= 64 else { return nil }
        // cheap filter before any allocation: keyword endings
        let l3 = (SecretScanner.lower(b[e - 3]), SecretScanner.lower(b[e - 2]), SecretScanner.lower(b[e - 1]))
        switch l3 {
        case (107, 101, 121), (114, 101, 116), (107, 101, 110): break // key ret ken
        case (111, 114, 100), (115, 119, 100), (112, 119, 100): break // ord swd pwd
        default: return nil
        }
        // lower-cased, '-' read as '_', compared as bytes: most candidates end here, unallocated
        @inline(__always) func folded(_ k: Int) -> UInt8 { let c = SecretScanner.lower(b[k]); return c == 45 ? 95 : c }
        let wordStart = i, wordEnd = e
        guard SecretScanner.assignmentKeywordBytes.contains(where: { kw in
            kw.count <= wordEnd - wordStart && kw.indices.allSatisfy { kw[$0] == folded(wordEnd - kw.count + $0) }
        }) else { return nil }
        let w = String(decoding: (wordStart..<wordEnd).map(folded), as: UTF8.self)
        while e < b.count && (b[e] == 34 || b[e] == 39 || b[e] == 32) { e += 1 }
        guard e < b.count, b[e] == 61 || b[e] == 58 else { return nil }
        e += 1
        while e < b.count && (b[e] == 32 || b[e] == 34 || b[e] == 39) { e += 1 }
        let s = e
        let v = SecretScanner.run(b, s, { $0 > 32 && $0 != 34 && $0 != 39 && $0 != 44 && $0 != 59 && $0 != 125 && $0 != 41 })
        guard v - s >= 8 else { return nil }
        // values that are obviously not secrets: numbers, booleans, placeholders
        let val = String(decoding: UnsafeBufferPointer(rebasing: b[s..<v]), as: UTF8.self)
        if val.allSatisfy({ $0.isNumber }) || ["true", "false", "null", "none", "required", "optional"].contains(val.lowercased()) { return nil }
        if val.hasPrefix("${") || val.hasPrefix("<") || val.hasPrefix("os.environ") || val.hasPrefix("process.env") { return nil }
        if (w.contains("aws") || w.contains("secret_access")) && v - s == 40 { return Finding(start: s, end: v, type: "aws_secret_key") }
        return Finding(start: s, end: v, type: w.contains("pass") || w == "pwd" ? "password" : "api_key")
    }

    /// A 40-character AWS secret access key, only near an access key id or a secret keyword.
    func awsSecret(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, nearKey: Bool) -> Finding? {
        let e = SecretScanner.run(b, i, { SecretScanner.isAlnum($0) || $0 == 47 || $0 == 43 })
        guard e - i == 40, e >= b.count || !(b[e] == 61 || SecretScanner.isKeyChar(b[e])) else { return nil }
        var upper = 0, lower = 0, digit = 0
        for k in i..<e { let c = b[k]; if c >= 65 && c <= 90 { upper += 1 } else if c >= 97 && c <= 122 { lower += 1 } else if SecretScanner.isDigit(c) { digit += 1 } }
        guard upper >= 3 && lower >= 3 && digit >= 1 else { return nil }
        var context = nearKey
        if !context {
            let from = max(0, i - 60)
            let before = String(decoding: UnsafeBufferPointer(rebasing: b[from..<i]), as: UTF8.self).lowercased()
            context = before.contains("secret") || before.contains("aws")
        }
        return context ? Finding(start: i, end: e, type: "aws_secret_key") : nil
    }

    /// Credit cards (Luhn + issuer prefix), SSNs, phone numbers, IPv4 — anything starting with
    /// a digit, '+' or '('.
    func numeric(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Finding? {
        let c = b[i]
        guard SecretScanner.isDigit(c) || c == 43 || c == 40 else { return nil }
        if SecretScanner.isDigit(c), toggles.ips, let f = ipv4(b, i) { return f }
        // collect digits with separators
        var digits: [UInt8] = []
        var seps: [UInt8] = []
        var groups: [Int] = []
        var j = i, cur = 0
        if c == 43 || c == 40 { j += 1 }
        while j < b.count && digits.count <= 19 {
            let d = b[j]
            if SecretScanner.isDigit(d) { digits.append(d - 48); cur += 1; j += 1; continue }
            // a country code before an area code in parentheses: `+1 (415) 555-0132` is one number
            if c == 43, d == 32, cur > 0, groups.isEmpty, j + 2 < b.count, b[j + 1] == 40, SecretScanner.isDigit(b[j + 2]) {
                groups.append(cur); cur = 0; seps.append(d); j += 2
                continue
            }
            if (d == 32 || d == 45 || d == 46 || d == 41 || d == 40) && j + 1 < b.count && (SecretScanner.isDigit(b[j + 1]) || (d == 41 && b[j + 1] == 32 && j + 2 < b.count && SecretScanner.isDigit(b[j + 2]))) && cur > 0 {
                groups.append(cur); cur = 0; seps.append(d); j += 1
                if d == 41 && j < b.count && b[j] == 32 { j += 1 }
                continue
            }
            break
        }
        if cur > 0 { groups.append(cur) }
        let end = j
        // must not run into more word characters (e.g. hex ids, versions like 1.2.3-beta)
        if end < b.count && (SecretScanner.isAlnum(b[end]) || b[end] == 95) { return nil }
        let n = digits.count
        let sepSet = Set(seps)
        // SSN: ddd-dd-dddd
        if toggles.ssn, c != 43, c != 40, groups == [3, 2, 4], sepSet == [45] {
            let area = Int(digits[0]) * 100 + Int(digits[1]) * 10 + Int(digits[2])
            let group = Int(digits[3]) * 10 + Int(digits[4])
            let serial = digits[5...].reduce(0) { $0 * 10 + Int($1) }
            if area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 { return Finding(start: i, end: end, type: "ssn") }
            return nil
        }
        // credit card: 13-19 digits, one kind of separator (space or dash) or none, Luhn, issuer prefix
        if toggles.creditCards, c != 43, c != 40, n >= 13 && n <= 19, sepSet.isSubset(of: [32, 45]), sepSet.count <= 1,
           groups.count == 1 || groups.dropLast().allSatisfy({ $0 == 4 }) || groups == [4, 6, 5] || groups == [4, 6, 4] {
            if SecretScanner.luhn(digits) && SecretScanner.knownIssuer(digits) { return Finding(start: i, end: end, type: "credit_card") }
        }
        // phone: +CC …, (ddd) ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd; 10-15 digits, formatted
        if toggles.phones, n >= 10 && n <= 15 {
            let formattedNA = groups == [3, 3, 4] || groups == [1, 3, 3, 4]
            if c == 43 && groups.count >= 2 { return Finding(start: i, end: end, type: "phone") }
            if c == 40 && (groups == [3, 3, 4]) { return Finding(start: i, end: end, type: "phone") }
            if formattedNA && !sepSet.isEmpty && sepSet.isSubset(of: [45, 46, 32]) && sepSet.count == 1 { return Finding(start: i, end: end, type: "phone") }
        }
        return nil
    }

    static func luhn(_ d: [UInt8]) -> Bool {
        var sum = 0
        for (k, x) in d.reversed().enumerated() {
            var v = Int(x)
            if k % 2 == 1 { v *= 2; if v > 9 { v -= 9 } }
            sum += v
        }
        return sum % 10 == 0
    }

    static func knownIssuer(_ d: [UInt8]) -> Bool {
        let p2 = Int(d[0]) * 10 + Int(d[1])
        let p4 = p2 * 100 + Int(d[2]) * 10 + Int(d[3])
        let n = d.count
        if d[0] == 4 { return n == 13 || n == 16 || n == 19 }                       // Visa
        if (51...55).contains(p2) || (2221...2720).contains(p4) { return n == 16 }   // Mastercard
        if p2 == 34 || p2 == 37 { return n == 15 }                                  // Amex
        if p4 == 6011 || p2 == 65 || (644...649).contains(p4 / 10) { return n >= 16 } // Discover
        if (3528...3589).contains(p4) { return n >= 16 }                            // JCB
        if p2 == 36 || p2 == 38 || (300...305).contains(p4 / 10) { return n >= 14 }  // Diners
        if p2 == 62 { return n >= 16 }                                              // UnionPay
        return false
    }

    func ipv4(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Finding? {
        if i > 0 && (b[i - 1] == 118 || b[i - 1] == 86) { return nil } // v1.2.3.4
        var j = i
        for part in 0..<4 {
            let s = j
            var v = 0
            while j < b.count && SecretScanner.isDigit(b[j]) && j - s < 3 { v = v * 10 + Int(b[j] - 48); j += 1 }
            guard j > s, v <= 255, !(j - s > 1 && b[s] == 48) else { return nil }
            if part < 3 { guard j < b.count, b[j] == 46 else { return nil }; j += 1 }
        }
        if j < b.count && (SecretScanner.isAlnum(b[j]) || (b[j] == 46 && j + 1 < b.count && SecretScanner.isDigit(b[j + 1]))) { return nil }
        return Finding(start: i, end: j, type: "ip_address")
    }

    func ipv6(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Finding? {
        let e = SecretScanner.run(b, i, { SecretScanner.isHex($0) || $0 == 58 || $0 == 46 })
        guard e - i >= 3, e - i <= 45 else { return nil }
        var colons = 0
        for k in i..<e where b[k] == 58 { colons += 1 }
        guard colons >= 2 else { return nil }
        var end = e
        while end > i && (b[end - 1] == 46) { end -= 1 }
        let s = String(decoding: UnsafeBufferPointer(rebasing: b[i..<end]), as: UTF8.self)
        var addr = in6_addr()
        guard inet_pton(AF_INET6, s, &addr) == 1 else { return nil }
        return Finding(start: i, end: end, type: "ip_address")
    }

    @inline(__always) static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) }

    func email(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> Finding? {
        var s = at
        while s > 0 {
            let c = b[s - 1]
            if SecretScanner.isAlnum(c) || c == 46 || c == 95 || c == 37 || c == 43 || c == 45 { s -= 1 } else { break }
        }
        guard s < at, b[s] != 46 else { return nil }
        var e = at + 1
        var lastDot = -1
        while e < b.count {
            let c = b[e]
            if SecretScanner.isAlnum(c) || c == 45 { e += 1 } else if c == 46 && e + 1 < b.count && SecretScanner.isAlnum(b[e + 1]) { lastDot = e; e += 1 } else { break }
        }
        guard lastDot > at + 1, e - lastDot - 1 >= 2 else { return nil }
        for k in (lastDot + 1)..<e where !(b[k] >= 65 && b[k] <= 90 || b[k] >= 97 && b[k] <= 122) { return nil }
        return Finding(start: s, end: e, type: "email")
    }
}
