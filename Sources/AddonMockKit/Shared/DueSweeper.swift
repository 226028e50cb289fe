import AddonMockCore

/// Writes transitions down when they fall due, on a thread of its own that sleeps until the earliest due time (an
/// index lookup), so that each transition's event — and every wait it ends — comes at its due time, and nothing
/// runs while nothing is due. A write that schedules something earlier, or a change of the clock, wakes it to look
/// again; a pinned clock makes it sleep until the clock moves. Reads never need it: they settle records themselves.
public final class DueSweeper: Sendable {
    private struct State {
        /// Bumped by everything that may change the next due time.
        public var generation = 0
        /// The due time the thread sleeps until (milliseconds on the emulator's clock); nil: none, or pinned.
        public var sleepingUntil: Int64?
        public var stopped = false
        public var running = false
    }

    private let state = Locked(State())
    private let clock: any Clock

    public init(clock: any Clock) { self.clock = clock }

    /// `sweep` writes what is due; `nextDue` says when the earliest pending transition is due.
    public func start(sweep: @escaping @Sendable () -> Void, nextDue: @escaping @Sendable () -> Instant?) {
        state.withLock { $0.running = true }
        if !DetachedThread.start({ [self] in run(sweep: sweep, nextDue: nextDue) }) { state.withLock { $0.running = false } }
    }

    /// A committed write scheduled a transition due at `dueAt`: look again if that is earlier than the sleep.
    public func scheduled(_ dueAt: Instant) {
        // On a pinned clock only what is due already matters; the rest waits for the clock to move.
        if clock.isPinned && dueAt > clock.now() { return }
        let wake = state.withLock { s -> Bool in
            if let until = s.sleepingUntil, dueAt.milliseconds >= until { return false }
            s.generation += 1
            return true
        }
        if wake { state.broadcast() }
    }

    /// The clock moved (or was pinned or unpinned): what is due now may have changed.
    public func clockChanged() {
        state.withLock { $0.generation += 1 }
        state.broadcast()
    }

    /// Returns once the thread has ended.
    public func stop() {
        state.withLock { $0.stopped = true }
        state.broadcast()
        state.wait(until: { !$0.running }, timeoutMicroseconds: 10_000_000) { _ in }
    }

    private func run(sweep: @Sendable () -> Void, nextDue: @Sendable () -> Instant?) {
        defer {
            state.withLock { $0.running = false }
            state.broadcast()
        }
        while true {
            let generation = state.withLock { $0.generation }
            sweep()
            let next = clock.isPinned ? nil : nextDue()
            // The clock reads whole milliseconds (rounded down), so waiting out the difference wakes at or just past
            // the due time. Due in the past can only mean the clock moved since the sweep: look again at once.
            let waitMicroseconds = next.map { max(0, $0.milliseconds - clock.now().milliseconds) * 1000 }
            state.withLock { $0.sleepingUntil = next?.milliseconds }
            let stopped: Bool = state.wait(
                until: { $0.stopped || $0.generation != generation },
                timeoutMicroseconds: waitMicroseconds.map { Int(min($0, 3_600_000_000)) },
                then: { s in
                    s.sleepingUntil = nil
                    return s.stopped
                })
            if stopped { return }
        }
    }
}
