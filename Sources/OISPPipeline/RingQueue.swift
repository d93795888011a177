/// A bounded FIFO ring buffer. Not thread-safe: the owner holds a lock.
///
/// Storage grows by doubling as the number of queued elements grows (never past `capacity`),
/// so memory follows what is actually waiting — a queue drained as fast as it fills stays
/// small however many elements pass through it.
struct RingQueue<Element> {
    fileprivate var storage: [Element?] = []
    fileprivate var head = 0
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == capacity }

    /// Appends; when full, removes and returns the oldest element to make room.
    @discardableResult
    mutating func pushDroppingOldest(_ e: Element) -> Element? {
        var dropped: Element?
        if count == capacity { dropped = popFirst() }
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = e
        count += 1
        return dropped
    }

    /// Doubles the storage (up to `capacity`), laying the elements out from index 0.
    private mutating func grow() {
        let size = min(capacity, max(16, storage.count * 2))
        var bigger = [Element?]()
        bigger.reserveCapacity(size)
        for k in 0..<count { bigger.append(storage[(head + k) % storage.count].take()) }
        bigger.append(contentsOf: repeatElement(nil, count: size - count))
        storage = bigger
        head = 0
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let e = storage[head].take() // moved out: no copy, no extra reference counting
        head = (head + 1) % storage.count
        count -= 1
        if count == 0 {
            head = 0
            if storage.count > 4096 { storage = [] } // a burst is over: give its memory back
        }
        return e
    }

    /// Removes up to `n` elements from the front.
    mutating func popFirst(_ n: Int) -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(min(n, count))
        while out.count < n, let e = popFirst() { out.append(e) }
        return out
    }
}

extension RingQueue where Element == ExportRecord {
    /// The bytes the queued records would take in a spool segment.
    var encodedSize: Int {
        guard count > 0 else { return 0 }
        var n = 0
        for k in 0..<count { if let r = storage[(head + k) % storage.count] { n += DiskSpool.encodedSize(CollectionOfOne(r)) } }
        return n
    }
}
