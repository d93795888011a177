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
    /// Threads made and not yet out of their loop.
    private var alive = 0
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
            alive += 1
            let t = Thread { [self] in loop() }
            t.name = name
            t.start()
        }
        cond.unlock()
    }

    /// Idle threads end now, busy ones after their job. Waits up to `wait` until every thread has
    /// left its loop, so none is still running or releasing what its last job held (a sink, a
    /// plugin instance) while the process goes on to exit. A caller that knows a job will not
    /// return (a hung plugin call) passes 0.
    func stop(wait: TimeInterval = 2) {
        let until = Date().addingTimeInterval(wait)
        cond.lock()
        stopped = true
        cond.broadcast()
        while alive > 0, cond.wait(until: until) {}
        cond.unlock()
    }

    private func loop() {
        cond.lock()
        while true {
            if !jobs.isEmpty {
                do {
                    let job = jobs.removeFirst()
                    cond.unlock()
                    job()
                } // the job, and what it captured, is released here, before the lock is taken
                cond.lock()
                continue
            }
            if stopped { break }
            idle += 1
            cond.wait()
            idle -= 1
        }
        alive -= 1
        cond.broadcast() // for stop's wait
        cond.unlock()
    }
}
