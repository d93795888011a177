import COISPBPF

/// A record from the kernel side, decoded from the ring buffer.
public enum CaptureRecord: Sendable {
    /// Plaintext at the TLS boundary: one chunk of one SSL_read/SSL_write call.
    case sslData(SSLData)
    case exec(pid: UInt32, ppid: UInt32, uid: UInt32, tsMono: UInt64, comm: String, filename: String)
    case exit(pid: UInt32, ppid: UInt32, uid: UInt32, tsMono: UInt64, comm: String, exitStatus: Int32)
    case connect(Connect)
    /// An accepted inbound connection (the peer's address).
    case accept(Connect)

    public struct SSLData: Sendable {
        public var pid: UInt32
        public var tid: UInt32
        public var uid: UInt32
        public var tsMono: UInt64
        public var comm: String
        /// The SSL* (connection identity inside the process).
        public var ssl: UInt64
        /// true for SSL_write (app → network), false for SSL_read.
        public var isWrite: Bool
        public var truncated: Bool
        /// On a cut's empty record: the call's last bytes follow it (OISP_FLAG_TAIL), and the
        /// first of them says where the bytes left out end.
        public var tailFollows = false
        /// No data: the connection ended (OISP_FLAG_CLOSED).
        public var closed: Bool = false
        /// Where it was captured: `enum oisp_stack` (OpenSSL, Go, GnuTLS, NSS, BoringSSL, rustls, plain HTTP).
        public var stack: UInt32 = 0
        /// The stack's name as events spell it.
        public var stackName: String { CaptureRecord.stackName(stack) }
        /// Bytes the call transferred in all.
        public var totalLength: Int
        /// Offset of this chunk within the call.
        public var offset: Int
        public var bytes: [UInt8]

        public init(pid: UInt32, tid: UInt32, uid: UInt32, tsMono: UInt64, comm: String, ssl: UInt64, isWrite: Bool,
                    truncated: Bool = false, closed: Bool = false, stack: UInt32 = 0, totalLength: Int, offset: Int = 0, bytes: [UInt8]) {
            self.pid = pid; self.tid = tid; self.uid = uid; self.tsMono = tsMono; self.comm = comm; self.ssl = ssl
            self.isWrite = isWrite; self.truncated = truncated; self.closed = closed; self.stack = stack
            self.totalLength = totalLength; self.offset = offset; self.bytes = bytes
        }
    }

    public struct Connect: Sendable {
        public var pid: UInt32
        public var tid: UInt32
        public var uid: UInt32
        public var tsMono: UInt64
        public var comm: String
        public var fd: Int32
        /// 0 or -errno (-115 EINPROGRESS for non-blocking sockets).
        public var result: Int32
        public var ip: String
        public var port: UInt16
        public var isIPv6: Bool
    }

    public static func stackName(_ s: UInt32) -> String {
        switch s {
        case UInt32(OISP_STACK_GO.rawValue): return "go_tls"
        case UInt32(OISP_STACK_GNUTLS.rawValue): return "gnutls"
        case UInt32(OISP_STACK_NSS.rawValue): return "nss"
        case UInt32(OISP_STACK_BORINGSSL.rawValue): return "boringssl"
        case UInt32(OISP_STACK_PLAIN.rawValue): return "plain_http"
        case UInt32(OISP_STACK_RUSTLS.rawValue): return "rustls"
        default: return "openssl"
        }
    }

    static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            let end = raw.firstIndex(of: 0) ?? raw.count
            return String(decoding: raw[..<end], as: UTF8.self)
        }
    }

    /// Decodes one ring-buffer sample; nil for unknown or short records.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> CaptureRecord? {
        guard raw.count >= MemoryLayout<oisp_ev_header>.size else { return nil }
        let h = raw.loadUnaligned(as: oisp_ev_header.self)
        let comm = cString(h.comm)
        switch Int32(h.kind) {
        case Int32(OISP_EV_SSL_DATA.rawValue):
            let dataOffset = MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.stack)! + 4 // data[] follows stack
            guard raw.count >= dataOffset else { return nil }
            var ssl: UInt64 = 0, dir: UInt32 = 0, flags: UInt32 = 0, total: UInt32 = 0, off: UInt32 = 0, len: UInt32 = 0
            ssl = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.ssl)!, as: UInt64.self)
            dir = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.direction)!, as: UInt32.self)
            flags = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.flags)!, as: UInt32.self)
            total = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.total_len)!, as: UInt32.self)
            off = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.offset)!, as: UInt32.self)
            len = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.len)!, as: UInt32.self)
            let stack = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_ssl_data>.offset(of: \oisp_ssl_data.stack)!, as: UInt32.self)
            let n = min(Int(len), raw.count - dataOffset)
            let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: raw[dataOffset..<(dataOffset + n)]))
            var d = SSLData(pid: h.pid, tid: h.tid, uid: h.uid, tsMono: h.ts_ns, comm: comm, ssl: ssl,
                            isWrite: dir == UInt32(OISP_DIR_WRITE.rawValue),
                            truncated: flags & UInt32(OISP_FLAG_TRUNCATED) != 0,
                            closed: flags & UInt32(OISP_FLAG_CLOSED) != 0,
                            stack: stack, totalLength: Int(total), offset: Int(off), bytes: bytes)
            d.tailFollows = flags & UInt32(OISP_FLAG_TAIL) != 0
            return .sslData(d)
        case Int32(OISP_EV_EXEC.rawValue):
            guard raw.count >= MemoryLayout<oisp_exec>.size else { return nil }
            let e = raw.loadUnaligned(as: oisp_exec.self)
            return .exec(pid: h.pid, ppid: e.ppid, uid: h.uid, tsMono: h.ts_ns, comm: comm, filename: cString(e.filename))
        case Int32(OISP_EV_EXIT.rawValue):
            guard raw.count >= MemoryLayout<oisp_exit>.size else { return nil }
            let e = raw.loadUnaligned(as: oisp_exit.self)
            return .exit(pid: h.pid, ppid: e.ppid, uid: h.uid, tsMono: h.ts_ns, comm: comm, exitStatus: e.exit_code)
        case Int32(OISP_EV_CONNECT.rawValue), Int32(OISP_EV_ACCEPT.rawValue):
            guard raw.count >= MemoryLayout<oisp_connect>.size else { return nil }
            let e = raw.loadUnaligned(as: oisp_connect.self)
            let v6 = e.family == 10
            let ip = withUnsafeBytes(of: e.addr) { a -> String in
                if !v6 { return "\(a[0]).\(a[1]).\(a[2]).\(a[3])" }
                var groups: [String] = []
                for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(a[i]) << 8 | UInt16(a[i + 1]), radix: 16)) }
                if groups[0...4].allSatisfy({ $0 == "0" }) && groups[5] == "ffff" {
                    return "\(a[12]).\(a[13]).\(a[14]).\(a[15])"
                }
                return groups.joined(separator: ":")
            }
            let conn = Connect(pid: h.pid, tid: h.tid, uid: h.uid, tsMono: h.ts_ns, comm: comm, fd: e.fd,
                               result: e.ret, ip: ip, port: e.port, isIPv6: v6 && !ip.utf8.contains(46))
            return Int32(h.kind) == Int32(OISP_EV_ACCEPT.rawValue) ? .accept(conn) : .connect(conn)
        default:
            return nil
        }
    }
}
