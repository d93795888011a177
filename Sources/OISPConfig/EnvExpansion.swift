/// `${VAR}` and `${VAR:-default}` expansion, as in shells and Fluent Bit. `$${` escapes a
/// literal `${`. Unset variables without a default expand to "" and are reported.
public enum EnvExpansion {
    public static func expand(_ s: String, env: [String: String], unset: inout [String]) -> String {
        guard s.contains("$") else { return s }
        let u = Array(s.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < u.count {
            if u[i] == "$", i + 2 < u.count, u[i + 1] == "$", u[i + 2] == "{" {
                out.append("$"); out.append("{"); i += 3; continue
            }
            if u[i] == "$", i + 1 < u.count, u[i + 1] == "{", let close = u[(i + 2)...].firstIndex(of: "}") {
                let inner = String(String.UnicodeScalarView(u[(i + 2)..<close]))
                var name = inner
                var def: String?
                if let r = inner.range(of: ":-") {
                    name = String(inner[..<r.lowerBound]); def = String(inner[r.upperBound...])
                }
                if let v = env[name], !(v.isEmpty && def != nil) {
                    out.append(contentsOf: v.unicodeScalars)
                } else if let def {
                    out.append(contentsOf: def.unicodeScalars)
                } else {
                    unset.append(name)
                }
                i = close + 1
                continue
            }
            out.append(u[i]); i += 1
        }
        return String(out)
    }
}
