import AddonMockCore
import Dispatch
import Glibc

/// Polls held answers whose work can wait — the event stream's batches, which render every event a subscriber
/// takes — on one thread of its own at the lowest CPU priority (`SCHED_IDLE`). Under a load that saturates the CPU,
/// request threads get it first and a subscriber's batches come later and larger: a subscriber takes from requests
/// none of the CPU its events cost to render. The thread exists only while something is held.
final class IdleTicker: Sendable {
    /// One held answer, asked until it says it is done.
    typealias Tick = @Sendable () -> Bool

    private struct State {
        var ticks: [Tick] = []
        /// Added since the thread last looked: ask at once rather than at the next interval.
        var added = false
        var running = false
    }

    let intervalMs: Int
    /// Linux's `SCHED_IDLE` (sched.h defines it only for GNU sources).
    static let idlePolicy: Int32 = 5
    private let state = Locked(State())

    init(intervalMs: Int) {
        self.intervalMs = intervalMs
    }

    /// Waits until its thread has ended (it does once nothing is held); false if it still runs after the timeout.
    func waitUntilThreadEnds(timeoutMicroseconds: Int) -> Bool {
        state.wait(until: { !$0.running }, timeoutMicroseconds: timeoutMicroseconds) { !$0.running }
    }

    /// Asks `tick` soon (on the ticker's thread), then every `intervalMs` until it returns true.
    func add(_ tick: @escaping Tick) {
        let start = state.withLock { s in
            s.ticks.append(tick)
            s.added = true
            defer { s.running = true }
            return !s.running
        }
        guard start else { return state.broadcast() }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self)
        let rc = pthread_create(
            &thread, nil,
            { context in
                let ticker = Unmanaged<IdleTicker>.fromOpaque(context!).takeRetainedValue()
                // SCHED_IDLE rather than nice 19: a thread of any other policy that wakes (a request, the
                // committer) takes the CPU from it at once, where a niced thread may finish its time slice first.
                var parameters = sched_param()
                pthread_setschedparam(pthread_self(), IdleTicker.idlePolicy, &parameters)
                ticker.run()
                return nil
            }, context.toOpaque())
        guard rc == 0 else {
            // No thread to be had (a process limit): batches are still answered, at normal priority.
            context.release()
            return DispatchQueue.global().async { [self] in run() }
        }
        pthread_detach(thread)
    }

    private func run() {
        while true {
            let due: [Tick]? = state.withLock { s in
                guard !s.ticks.isEmpty else {
                    s.running = false
                    return nil
                }
                defer { s.ticks = [] }
                s.added = false
                return s.ticks
            }
            guard let due else { return state.broadcast() }
            let waiting = due.filter { !$0() }
            state.withLock { $0.ticks.insert(contentsOf: waiting, at: 0) }
            state.wait(until: { $0.added }, timeoutMicroseconds: intervalMs * 1000) { _ in }
        }
    }
}
