#if canImport(Glibc)
import Glibc
#endif

/// Load-time trust checks. The sensor runs as root beside BPF programs and loads plugins
/// in-process, so a plugin file and the directory holding it must be owned by root (or by the
/// sensor's own user) and writable by nobody else.
public enum PluginSecurity {
    /// Returns nil when `path` may be loaded, else the reason it may not.
    public static func check(path: String) -> String? {
        guard let real = realpath(path, nil) else {
            return "cannot resolve \(path): \(String(cString: strerror(errno)))"
        }
        let resolved = String(cString: real)
        free(real)
        var st = stat()
        guard stat(resolved, &st) == 0 else { return "cannot stat \(resolved): \(String(cString: strerror(errno)))" }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return "\(resolved) is not a regular file" }
        if let why = ownership(st, what: "file", path: resolved) { return why }
        let dir = parentDirectory(resolved)
        var dst = stat()
        guard stat(dir, &dst) == 0 else { return "cannot stat directory \(dir): \(String(cString: strerror(errno)))" }
        if let why = ownership(dst, what: "directory", path: dir) { return why }
        return nil
    }

    /// Checks a plugin directory itself (used when listing).
    public static func checkDirectory(_ dir: String) -> String? {
        var st = stat()
        guard stat(dir, &st) == 0 else { return "cannot stat directory \(dir): \(String(cString: strerror(errno)))" }
        return ownership(st, what: "directory", path: dir)
    }

    static func ownership(_ st: stat, what: String, path: String) -> String? {
        let me = geteuid()
        if st.st_uid != 0 && st.st_uid != me {
            return "\(what) \(path) is owned by uid \(st.st_uid), not by root or the sensor's user (uid \(me))"
        }
        let mode = st.st_mode
        // A sticky world-writable directory (like /tmp) is still refused: others can add files.
        if mode & S_IWOTH != 0 { return "\(what) \(path) is world-writable (mode \(String(mode & 0o7777, radix: 8)))" }
        if mode & S_IWGRP != 0 {
            return "\(what) \(path) is group-writable (mode \(String(mode & 0o7777, radix: 8)))"
        }
        return nil
    }

    static func parentDirectory(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/") else { return "." }
        return i == p.startIndex ? "/" : String(p[..<i])
    }
}
