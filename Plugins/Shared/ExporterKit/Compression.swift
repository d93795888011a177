// The one compression of the kit: gzip with zlib (the option: `compressionOption` in Options.swift).
import CZlibCrypto
import Foundation

/// gzip with zlib.
public func gzipData(_ d: Data) -> Data { d.withUnsafeBytes { Data(gzip($0)) } }
/// gzip of a body built as bytes.
public func gzipData(_ b: [UInt8]) -> [UInt8] { b.withUnsafeBytes { gzip($0) } }

func gzip(_ input: UnsafeRawBufferPointer) -> [UInt8] {
    var strm = z_stream()
    deflateInit2_(&strm, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&strm) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&strm, UInt(input.count))) + 32)
    let n: Int = out.withUnsafeMutableBufferPointer { ob in
        strm.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        strm.avail_in = UInt32(input.count)
        strm.next_out = ob.baseAddress; strm.avail_out = UInt32(ob.count)
        _ = deflate(&strm, Z_FINISH)
        return ob.count - Int(strm.avail_out)
    }
    out.removeLast(out.count - n)
    return out
}
