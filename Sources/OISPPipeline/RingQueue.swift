/// A bounded FIFO ring buffer. Not thread-safe: the owner holds a lock.
struct RingQueue<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage = []
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == capacity }

    /// Appends; when full, removes and returns the oldest element to make room.
    @discardableResult
    mutating func pushDroppingOldest(_ e: Element) -> Element? {
        var dropped: Element?
        if count == capacity { dropped = popFirst() }
        if storage.count < capacity && (head + count) == storage.count {
            storage.append(e)
        } else {
            if storage.count < capacity {
                // grow lazily: linearise then append
                storage = (0..<count).map { storage[(head + $0) % storage.count] }
                head = 0
                storage.append(e)
            } else {
                storage[(head + count) % capacity] = e
            }
        }
        count += 1
        return dropped
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let e = storage[head].take() // moved out: no copy, no extra reference counting
        head = (head + 1) % storage.count
        count -= 1
        if count == 0 { head = 0; if storage.count < capacity { storage.removeAll(keepingCapacity: true) } }
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
