/// Counters of one exporter, kept for the Prometheus endpoint and `oisp` status output.
public struct ExporterStats: Sendable, Equatable {
    /// Events handed to this exporter's queue.
    public var received: UInt64 = 0
    /// Events the backend accepted.
    public var exported: UInt64 = 0
    /// Batches sent (first attempts).
    public var batches: UInt64 = 0
    /// Retry attempts made.
    public var retries: UInt64 = 0
    /// Export calls that returned RETRY.
    public var failedRetryable: UInt64 = 0
    /// Export calls that returned PERMANENT.
    public var failedPermanent: UInt64 = 0
    /// Events dropped, by reason: `queue_full`, `permanent`, `retry_exhausted`, `shutdown`,
    /// `spool_full`, `rejected`.
    public var dropped: [String: UInt64] = [:]
    /// Events written to the disk spool in this run (some may have been delivered from it since).
    public var spooled: UInt64 = 0
    /// Events waiting in the disk spool now (this run's and an earlier run's): delivered first
    /// on the next start.
    public var spoolPending: Int = 0
    public var queueLength: Int = 0
    public var queueCapacity: Int = 0
    /// Sum and count of batch latencies (first try to final answer), seconds.
    public var batchLatencySum: Double = 0
    public var batchLatencyCount: UInt64 = 0

    public var droppedTotal: UInt64 { dropped.values.reduce(0, +) }
}
