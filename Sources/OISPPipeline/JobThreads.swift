import Foundation

/// Long-lived threads for an exporter's plugin calls and concurrent batches. A job goes to an
/// idle thread, or to a new one when none is idle, and the thread stays for the next job — so a
/// batch does not pay for making a thread (a mapped stack, a guard page, first-touch faults),
/// which a per-batch thread did and which showed in profiles of fast exporters. A thread whose
/// job never returns (a hung plugin call) is simply never idle again; the host's timeout has
/// already given up on it.
final class JobThreads: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [() -> Void] = []
    private var idle = 0
    private var stopped = false
    private let name: String

    init(name: String) { self.name = name }

    /// Runs `job` on one of the threads, at once.
    func run(_ job: @escaping () -> Void) {
        cond.lock()
        jobs.append(job)
        // every queued job needs a waiting thread of its own; otherwise make one
        if idle >= jobs.count {
            cond.signal()
        } else {
            let t = Thread { [self] in loop() }
            t.name = name
            t.start()
        }
        cond.unlock()
    }

    /// Idle threads end now, busy ones after their job.
    func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    private func loop() {
        cond.lock()
        while true {
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                cond.unlock()
                job()
                cond.lock()
                continue
            }
            if stopped { break }
            idle += 1
            cond.wait()
            idle -= 1
        }
        cond.unlock()
    }
}
