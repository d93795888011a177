#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OISPCapture

/// After start-up, gives the kernel back the read-only file pages (code and constant data of the
/// executable and its libraries) this process touched only while starting: BPF loading, probe
/// attachment, the /proc scan and one-time initialisers. A long-running node agent then keeps
/// only the pages its steady loop uses; anything needed again is faulted back in from the page
/// cache or the file. `MADV_PAGEOUT` (Linux 5.4+) reclaims only pages no other process maps, so
/// shared libraries' common pages are untouched. Writable and anonymous memory is left alone.
/// - Returns: the number of mappings advised (0 where the kernel does not support it).
@discardableResult
public func releaseStartupPages() -> Int {
    // read to its end (ProcFS): a Foundation read stopped after the first ~20 mappings, so the
    // libraries after them were never advised
    guard let maps = ProcFS.text("/proc/self/maps") else { return 0 }
    let pageout: Int32 = 21 // MADV_PAGEOUT
    var advised = 0
    for line in maps.split(separator: "\n") {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count >= 6, f[5].hasPrefix("/"), !f[1].contains("w") else { continue }
        let r = f[0].split(separator: "-")
        guard r.count == 2, let lo = UInt(r[0], radix: 16), let hi = UInt(r[1], radix: 16), hi > lo,
              let p = UnsafeMutableRawPointer(bitPattern: lo) else { continue }
        if madvise(p, Int(hi - lo), pageout) == 0 { advised += 1 }
    }
    return advised
}
