import CZlibCrypto
import Foundation
import Logging

/// What happens when the spool is full.
public enum SpoolOverflow: String, Sendable {
    case dropOldest = "drop_oldest", dropNewest = "drop_newest", block
}

/// Where a `peek` ended: hand it to `commit` once its records were delivered.
public struct SpoolPosition: Sendable, Equatable {
    public let segment: Int
    public let offset: Int
    /// Records between the cursor at `peek` and this position.
    let records: Int
}

/// An append-only, checksummed, segmented on-disk queue for one exporter: batches go here when
/// the memory queue is full or the backend is down, and are replayed in order when it recovers
/// and after a restart. Each record is `magic | length | crc32 | payload`; a torn or corrupt
/// record is detected, skipped (resynchronising on the next magic) and counted — never a crash.
/// The read position is persisted after each delivered batch (at-least-once across crashes).
public final class DiskSpool: @unchecked Sendable {
    static let magic: UInt32 = 0x4F49_5350 // "OISP"
    /// Segment size: at most 16 MiB, and small enough that the budget (or the filesystem, when smaller) holds about eight of them,
    /// so `drop_oldest` frees space an eighth at a time even for a small spool.
    let segmentBytes: Int
    public let dir: URL
    public let maxBytes: Int64
    public let overflow: SpoolOverflow
    private let lock = NSCondition()
    private var segments: [Int] = []            // segment ids, oldest first
    private var readSeg = 0, readOffset = 0      // cursor (segment id, byte offset)
    private var writeHandle: FileHandle?
    private var writeSeg = -1, writeSize = 0
    private var totalBytes: Int64 = 0
    private var pendingRecords = 0               // records written and not yet delivered or dropped
    public private(set) var corruptSkipped: UInt64 = 0
    public private(set) var droppedForSpace: UInt64 = 0

    /// Records read back carry their fields (the exporter reads them).
    public var recordFields = RecordFieldLevel.off

    public init(dir: URL, maxBytes: Int64, overflow: SpoolOverflow) throws {
        self.dir = dir
        self.maxBytes = maxBytes
        self.overflow = overflow
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // an eighth of the budget or of the filesystem, whichever is smaller: on a filesystem
        // smaller than the budget, drop_oldest still frees an eighth at a time
        var st = statvfs()
        let fsBytes = statvfs(dir.path, &st) == 0 ? Int64(st.f_blocks) * Int64(st.f_frsize) : Int64.max
        segmentBytes = Int(min(Int64(16 << 20), max(Int64(4096), min(maxBytes, fsBytes) / 8)))
        segments = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .compactMap { $0.hasPrefix("seg-") && $0.hasSuffix(".spool") ? Int($0.dropFirst(4).dropLast(6)) : nil }.sorted()
        if let c = try? String(contentsOf: dir.appendingPathComponent("cursor"), encoding: .utf8) {
            let p = c.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if p.count == 2 { readSeg = p[0]; readOffset = p[1] }
        }
        segments.removeAll { $0 < readSeg }
        if let first = segments.first, readSeg < first { readSeg = first; readOffset = 0 }
        if segments.isEmpty { readSeg = 0; readOffset = 0 }
        totalBytes = segments.reduce(0) { $0 + Int64(size(of: $1)) } - Int64(segments.first == readSeg ? readOffset : 0)
        // what an earlier run left: counted once (record headers only), so the shutdown report
        // can say how many events wait on disk
        pendingRecords = totalBytes > 0 ? segments.reduce(0) { $0 + countRecords(segment: $1, from: $1 == readSeg ? readOffset : 0) } : 0
    }

    func path(_ seg: Int) -> URL { dir.appendingPathComponent(String(format: "seg-%010d.spool", seg)) }
    func size(of seg: Int) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path(seg).path))?[.size] as? Int) ?? 0 }

    /// Bytes held (not yet delivered).
    public var bytes: Int64 { lock.withLock { max(0, totalBytes) } }
    public var isEmpty: Bool { lock.withLock { totalBytes <= 0 } }
    /// Records held (not yet delivered), as counted from their headers.
    public var records: Int { lock.withLock { totalBytes <= 0 ? 0 : max(0, pendingRecords) } }

    static func encode(_ r: ExportRecord) -> [UInt8] {
        var p = [UInt8]()
        func str(_ s: String) { let u = Array(s.utf8); p += withUnsafeBytes(of: UInt16(u.count).littleEndian, Array.init); p += u }
        str(r.eventID); str(r.eventType); str(r.partitionKey)
        p += withUnsafeBytes(of: r.timestampNs.littleEndian, Array.init)
        p += withUnsafeBytes(of: r.flags.littleEndian, Array.init)
        p += r.json
        let crc = p.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return withUnsafeBytes(of: magic.littleEndian, Array.init) + withUnsafeBytes(of: UInt32(p.count).littleEndian, Array.init)
            + withUnsafeBytes(of: crc.littleEndian, Array.init) + p
    }

    static func decode(_ p: ArraySlice<UInt8>, fields: RecordFieldLevel = .off) -> ExportRecord? {
        var i = p.startIndex
        func u16() -> Int? { guard i + 2 <= p.endIndex else { return nil }; defer { i += 2 }; return Int(p[i]) | Int(p[i + 1]) << 8 }
        func str() -> String? { guard let n = u16(), i + n <= p.endIndex else { return nil }; defer { i += n }; return String(decoding: p[i..<(i + n)], as: UTF8.self) }
        guard let id = str(), let type = str(), let pk = str(), i + 12 <= p.endIndex else { return nil }
        var ts: Int64 = 0, flags: UInt32 = 0
        for k in 0..<8 { ts |= Int64(p[i + k]) << (8 * k) }
        i += 8
        for k in 0..<4 { flags |= UInt32(p[i + k]) << (8 * k) }
        i += 4
        return ExportRecord(eventID: id, eventType: type, timestampNs: ts, partitionKey: pk, flags: flags, json: Array(p[i...]), fields: fields)
    }

    /// What one `appendDetailed` did.
    public struct AppendResult: Sendable, Equatable {
        /// Records of older appends deleted to make room (`drop_oldest`): for the budget
        /// (`spool_max_bytes`) or, `droppedForDisk` of them, because the filesystem was full.
        public var droppedOldest = 0
        public var droppedForDisk = 0
        /// Records of this append not written: over the budget (`drop_newest`), or, `refusedForDisk`
        /// of them, because the filesystem had no room (or another write error) and the policy
        /// could not make any.
        public var refused = 0
        public var refusedForDisk = 0
        /// The write error that cost records, naming the directory and its free space.
        public var diskError: String?
    }

    /// Appends records (fsync'd). Returns how many were dropped to make room (drop_oldest) or
    /// refused (drop_newest); with `block` it waits for room.
    /// - Parameter mayBlock: false for the exporter's own thread (records it already took from
    ///   the memory queue): with `block` it must not wait for room only it can make, so those
    ///   are written over the budget (by at most one queue's worth).
    public func append(_ records: [ExportRecord], mayBlock: Bool = true) -> (droppedOldest: Int, refused: Int) {
        let r = appendDetailed(records, mayBlock: mayBlock)
        return (r.droppedOldest, r.refused)
    }

    /// Whether `bytes` of event JSON (plus record framing) would not fit on the spool's
    /// filesystem now (statvfs).
    public func wouldNotFit(bytes: Int) -> Bool { writeWouldFail(bytes + bytes / 32 + (64 << 10)) }

    /// The bytes `records` take in a spool segment (framing included).
    public static func encodedSize<C: Collection>(_ records: C) -> Int where C.Element == ExportRecord {
        records.reduce(0) { $0 + 12 + 6 + 12 + $1.storage.count + $1.eventType.utf8.count }
    }

    /// `append` in pieces of at most a quarter segment, so a large append (everything queued,
    /// moved to disk when the backend fails) keeps to the policy on a filesystem smaller than
    /// it: `drop_oldest` keeps its newest records, `drop_newest` its oldest (once a piece is
    /// refused, the rest is too). See `appendPiece`.
    public func appendDetailed(_ records: [ExportRecord], mayBlock: Bool = true) -> AppendResult {
        var total = AppendResult()
        guard !records.isEmpty else { return total }
        appendLock.lock(); defer { appendLock.unlock() } // one append's pieces stay together
        let pieceMax = max(4096, segmentBytes / 4)
        var i = 0
        while i < records.count {
            var j = i, bytes = 0
            while j < records.count && (j == i || bytes + records[j].storage.count + 64 <= pieceMax) { bytes += records[j].storage.count + 64; j += 1 }
            let piece = Array(records[i..<j])
            var r: AppendResult
            if overflow == .dropNewest, let forDisk = total.refused > 0 ? total.refusedForDisk > 0 : lock.withLock({ refusingUntilRoom }) {
                // keep the oldest run contiguous: after one refusal, the rest is refused too
                r = AppendResult()
                r.refused = piece.count
                if forDisk { r.refusedForDisk = piece.count }
                lock.withLock { droppedForSpace += UInt64(piece.count) }
            } else {
                r = appendPiece(piece, mayBlock: mayBlock)
            }
            total.droppedOldest += r.droppedOldest; total.droppedForDisk += r.droppedForDisk
            total.refused += r.refused; total.refusedForDisk += r.refusedForDisk
            total.diskError = r.diskError ?? total.diskError
            i = j
        }
        return total
    }

    /// `append`, telling budget losses from losses to a full filesystem. A write that fails
    /// (ENOSPC, EDQUOT, EIO) is cut back to the last whole record, then the policy applies as
    /// for the budget: `drop_oldest` deletes the oldest segment and writes again, `drop_newest`
    /// refuses the records, `block` waits until delivery frees a segment (only when it may
    /// block; else the records are refused). Refused and dropped records are counted here.
    private func appendPiece(_ records: [ExportRecord], mayBlock: Bool) -> AppendResult {
        var result = AppendResult()
        guard !records.isEmpty else { return result }
        var data = [UInt8]()
        for r in records { data += DiskSpool.encode(r) }
        lock.lock(); defer { lock.unlock() }
        var diskFull = false // the last write failed: "full" means the filesystem, not the budget
        var announcedWait = false
        room: while true {
            budget: while diskFull || totalBytes + Int64(data.count) > maxBytes {
                switch overflow {
                case .dropNewest:
                    droppedForSpace += UInt64(records.count)
                    refusingUntilRoom = diskFull
                    result.refused = records.count
                    if diskFull { result.refusedForDisk = records.count }
                    return result
                case .block:
                    if !mayBlock {
                        if diskFull { break } // cannot wait for room only its caller makes: refused below
                        break budget          // over the budget, by at most one queue's worth
                    }
                    if diskFull && !announcedWait {
                        // said once per wait: the writer is held until delivery frees room
                        announcedWait = true
                        logger?.error("spool write failed: \(lastDiskError ?? "no space"); spool_overflow=block: waiting for room (delivery frees it)",
                                      metadata: ["exporter": "\(exporterName)", "dir": "\(dir.path)"])
                    }
                    let before = totalBytes
                    _ = lock.wait(until: Date().addingTimeInterval(1))
                    // a full filesystem: try again once delivery has freed something (or each second)
                    if diskFull && totalBytes <= before { diskFull = writeWouldFail(data.count) }
                    else { diskFull = false }
                    continue
                case .dropOldest:
                    // drop the oldest whole segment (never the one being written: when everything
                    // sits in that one, start a new segment first so the old one can go)
                    if segments.count == 1, let only = segments.first, only == writeSeg,
                       size(of: only) > (only == readSeg ? readOffset : 0) {
                        try? writeHandle?.close()
                        openSegment(only + 1)
                        continue
                    }
                    guard segments.count > 1, let oldest = segments.first else { break }
                    let n = countRecords(segment: oldest, from: oldest == readSeg ? readOffset : 0)
                    let sz = size(of: oldest) - (oldest == readSeg ? readOffset : 0)
                    try? FileManager.default.removeItem(at: path(oldest))
                    segments.removeFirst()
                    totalBytes -= Int64(sz)
                    result.droppedOldest += n
                    if diskFull { result.droppedForDisk += n }
                    droppedForSpace += UInt64(n)
                    pendingRecords -= n
                    readSeg = segments.first ?? writeSeg
                    readOffset = 0
                    persistCursor()
                    diskFull = false // room was made: write again
                    continue
                }
                // no room can be made
                droppedForSpace += UInt64(records.count)
                result.refused = records.count
                if diskFull { result.refusedForDisk = records.count; result.diskError = result.diskError ?? lastDiskError }
                return result
            }
            if writeHandle == nil || writeSize + data.count > segmentBytes {
                try? writeHandle?.close()
                openSegment((segments.last ?? readSeg) + (segments.isEmpty ? 0 : 1))
            }
            do {
                guard let h = writeHandle else { throw CocoaError(.fileWriteUnknown) }
                try h.write(contentsOf: data)
                try h.synchronize()
                writeSize += data.count
                totalBytes += Int64(data.count)
                pendingRecords += records.count
                break room
            } catch {
                // cut a partial write back to the last whole record, then let the policy make room
                try? writeHandle?.truncate(atOffset: UInt64(writeSize))
                _ = try? writeHandle?.seekToEnd()
                lastDiskError = describeWriteError(error, need: data.count)
                result.diskError = lastDiskError
                diskFull = true
                if overflow == .dropOldest && segments.count <= 1 && (segments.first.map { size(of: $0) } ?? 0) == 0 {
                    // nothing of ours to delete: the filesystem is full of something else
                    droppedForSpace += UInt64(records.count)
                    result.refused = records.count
                    result.refusedForDisk = records.count
                    return result
                }
            }
        }
        lock.broadcast()
        return result
    }

    /// Where a writer held by `block` on a full filesystem says so (set by the exporter's worker).
    public var logger: Logger?
    public var exporterName = ""

    /// Serialises whole appends (their pieces), never held by `commit` or `peek`.
    private let appendLock = NSLock()
    /// drop_newest refused records: everything new is refused until delivery frees space, so
    /// what is kept stays the oldest run (a smaller append must not slip into the gap).
    /// (nil: not refusing; else whether it was for the filesystem rather than the budget)
    private var refusingUntilRoom: Bool?

    /// The last write error, worded for the log (directory, need, free space).
    private var lastDiskError: String?

    /// A write error worded for the log: the directory, what the write needed, and the
    /// filesystem's free space (statvfs), e.g. "no space left on device writing 524288 bytes to
    /// the spool in /var/lib/oisp/spool/otlp (free 12288 of 2097152 bytes)".
    func describeWriteError(_ error: Error, need: Int) -> String {
        let ns = error as NSError
        var why = ns.localizedDescription
        if ns.domain == NSPOSIXErrorDomain {
            why = String(cString: strerror(Int32(ns.code)))
        } else if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            why = String(cString: strerror(Int32(u.code)))
        }
        return "\(why.lowercased()) writing \(need) bytes to the spool in \(dir.path) (\(DiskSpool.freeSpace(dir.path)))"
    }

    /// "free F of T bytes" for the filesystem holding `path`.
    public static func freeSpace(_ path: String) -> String {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return "free space unknown: \(String(cString: strerror(errno)))" }
        let free = UInt64(st.f_bavail) * UInt64(st.f_frsize), total = UInt64(st.f_blocks) * UInt64(st.f_frsize)
        return "free \(free) of \(total) bytes"
    }

    /// Whether a write of `n` bytes would still fail for want of space (free blocks, statvfs).
    private func writeWouldFail(_ n: Int) -> Bool {
        var st = statvfs()
        guard statvfs(dir.path, &st) == 0 else { return false }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize) < UInt64(n)
    }

    /// Makes `seg` the segment appended to (created if new).
    private func openSegment(_ seg: Int) {
        writeSeg = seg
        if segments.isEmpty { readSeg = writeSeg; readOffset = 0 }
        if !FileManager.default.fileExists(atPath: path(writeSeg).path) {
            FileManager.default.createFile(atPath: path(writeSeg).path, contents: nil)
        }
        writeHandle = try? FileHandle(forWritingTo: path(writeSeg))
        _ = try? writeHandle?.seekToEnd()
        writeSize = size(of: writeSeg)
        if !segments.contains(writeSeg) { segments.append(writeSeg) }
    }

    /// The bytes of a segment from `offset` on: at least `atLeast` of them when the file has
    /// them, else up to `chunk` (peek reads what it needs, not whole 16 MiB segments).
    private func read(_ seg: Int, from offset: Int, atLeast: Int = 0, chunk: Int) -> [UInt8]? {
        guard let h = FileHandle(forReadingAtPath: path(seg).path) else { return nil }
        defer { try? h.close() }
        guard (try? h.seek(toOffset: UInt64(offset))) != nil else { return nil }
        return (try? h.read(upToCount: max(atLeast, chunk))).map { [UInt8]($0) } ?? []
    }

    /// Whole records in a segment from `from` on, hopping from header to header (the segment is
    /// read a chunk at a time, never whole).
    private func countRecords(segment: Int, from: Int) -> Int {
        guard let h = FileHandle(forReadingAtPath: path(segment).path) else { return 0 }
        defer { try? h.close() }
        let fileSize = size(of: segment)
        var n = 0, i = from
        var base = -1, b = [UInt8]()
        while i + 12 <= fileSize {
            if base < 0 || i < base || i + 12 > base + b.count {
                guard (try? h.seek(toOffset: UInt64(i))) != nil, let d = try? h.read(upToCount: 1 << 20), d.count >= 12 else { break }
                base = i; b = [UInt8](d)
            }
            let k = i - base
            let len = Int(b[k + 4]) | Int(b[k + 5]) << 8 | Int(b[k + 6]) << 16 | Int(b[k + 7]) << 24
            if i + 12 + len > fileSize { break }
            n += 1; i += 12 + len
        }
        return n
    }

    /// Reads up to `max` records from the cursor without consuming them; the returned token
    /// is passed to `commit` once they were delivered.
    public func peek(max: Int) -> (records: [ExportRecord], next: SpoolPosition)? {
        lock.lock(); defer { lock.unlock() }
        if !segments.isEmpty && !segments.contains(readSeg) {
            // the cursor's segment is gone (dropped for space): go on from the next one there is
            readSeg = segments.first { $0 > readSeg } ?? segments[0]; readOffset = 0
        }
        var seg = readSeg, off = readOffset
        var out: [ExportRecord] = []
        let chunk = 1 << 20, maxRecord = 64 << 20
        func u32(_ b: [UInt8], _ k: Int) -> Int { Int(b[k]) | Int(b[k + 1]) << 8 | Int(b[k + 2]) << 16 | Int(b[k + 3]) << 24 }
        var resyncing = false // inside a corrupt stretch: count it once, however long it is
        var passed = 0        // records moved over, delivered or not (corrupt ones too)
        while out.count < max, let idx = segments.firstIndex(of: seg) {
            // `b` holds the segment's bytes from file offset `base` on, read a chunk at a time
            var base = off
            var b = read(seg, from: base, chunk: chunk) ?? []
            var eof = b.count < chunk
            while out.count < max {
                var k = off - base
                if !eof {
                    // the header and the whole record must be in `b`: else read on from `off`
                    let len = k + 12 <= b.count ? u32(b, k + 4) : 0
                    let need = 12 + (len <= maxRecord ? len : 0)
                    if k + need > b.count {
                        base = off
                        b = read(seg, from: base, atLeast: need, chunk: chunk) ?? []
                        eof = b.count < Swift.max(chunk, need)
                        k = 0
                    }
                }
                if k + 12 > b.count { break }
                let len = u32(b, k + 4)
                if u32(b, k) != Int(DiskSpool.magic) || len > maxRecord || (k + 12 + len > b.count && seg != writeSeg) {
                    // corrupt or torn: resynchronise on the next magic
                    if !resyncing { corruptSkipped += 1 }
                    resyncing = true
                    var j = k + 1
                    while j + 4 <= b.count && !(b[j] == 0x50 && b[j + 1] == 0x53 && b[j + 2] == 0x49 && b[j + 3] == 0x4F) { j += 1 }
                    // not found in this chunk: go on from its last bytes (a magic may straddle)
                    off = base + (j + 4 <= b.count || eof ? Swift.min(j, b.count) : Swift.max(k + 1, b.count - 3))
                    continue
                }
                if k + 12 + len > b.count { break } // still being written
                resyncing = false
                let payload = b[(k + 12)..<(k + 12 + len)]
                let actual = payload.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
                if actual == UInt32(u32(b, k + 8)), let r = DiskSpool.decode(payload, fields: recordFields) { out.append(r) } else { corruptSkipped += 1 }
                off += 12 + len
                passed += 1
            }
            if out.count >= max { break }
            if seg == writeSeg || idx + 1 >= segments.count { break }
            seg = segments[idx + 1]; off = 0
        }
        if out.isEmpty && (seg != readSeg || off != readOffset) {
            // only corrupt data was passed: move the cursor over it
            commitLocked(SpoolPosition(segment: seg, offset: off, records: passed))
        }
        return out.isEmpty ? nil : (out, SpoolPosition(segment: seg, offset: off, records: passed))
    }

    /// Marks everything before `next` as delivered.
    public func commit(_ next: SpoolPosition) {
        lock.lock(); defer { lock.unlock() }
        commitLocked(next)
        lock.broadcast()
    }

    private func commitLocked(_ position: SpoolPosition) {
        let next = (position.segment, position.offset)
        // a batch read before its segment was dropped for space: the cursor is already past it
        guard next.0 > readSeg || (next.0 == readSeg && next.1 >= readOffset) else { return }
        refusingUntilRoom = nil
        pendingRecords -= position.records
        var freed = 0
        while let first = segments.first, first < next.0 {
            freed += size(of: first) - (first == readSeg ? readOffset : 0)
            if first != writeSeg { try? FileManager.default.removeItem(at: path(first)) }
            segments.removeFirst()
        }
        freed += next.1 - (next.0 == readSeg ? readOffset : 0)
        readSeg = next.0; readOffset = next.1
        totalBytes -= Int64(freed)
        if readSeg == writeSeg && readOffset >= writeSize {
            // fully drained: start over with an empty segment
            try? writeHandle?.close(); writeHandle = nil
            try? FileManager.default.removeItem(at: path(writeSeg))
            segments.removeAll { $0 == writeSeg }
            readOffset = 0
            totalBytes = 0
            pendingRecords = 0
        }
        persistCursor()
    }

    private func persistCursor() {
        try? "\(readSeg) \(readOffset)\n".write(to: dir.appendingPathComponent("cursor"), atomically: true, encoding: .utf8)
    }
}
