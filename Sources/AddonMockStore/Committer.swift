import AddonMockCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A write that has run inside the open transaction, numbered in the order writes ran. It is durable once a
/// commit has covered its number.
public struct CommitTicket: Sendable, Comparable {
    let number: UInt64
    public static func < (a: CommitTicket, b: CommitTicket) -> Bool { a.number < b.number }
}

/// Commits the writer's open transaction from its own thread, so the threads that ran the writes can go on
/// serving while the commit's page writes happen, and every write that ran meanwhile shares the next commit.
///
/// Writes are numbered under the connection lock, in the order they ran; a commit takes that lock, so it
/// covers exactly the numbers handed out before it. Waiters are told in number order once their commit
/// has happened (or failed: then every write in it was rolled back).
final class Committer: @unchecked Sendable {
    private struct State {
        /// Highest number handed out / settled (committed or rolled back).
        var written: UInt64 = 0
        var settled: UInt64 = 0
        /// Failed commits, newest last, as ranges of numbers they held; kept short (failures are rare).
        var failures: [(range: ClosedRange<UInt64>, error: any Error)] = []
        var callbacks: [(number: UInt64, call: @Sendable ((any Error)?) -> Void)] = []
        var stopping = false
        /// Whether the thread is there to commit; without it (before `start`, after `stop`) writers commit themselves.
        var running = false

        func rollback(covering number: UInt64) -> (any Error)? {
            failures.last { $0.range.contains(number) }?.error
        }
    }

    private let state = Locked(State())
    /// Set by `start`, cleared by `stop` (both on the thread that owns the database).
    private var thread: pthread_t?
    /// The commit itself: returns, in ascending order, through which number writes were settled and how (nil
    /// for committed, else why they were rolled back). Usually one outcome; two when the transaction had been
    /// abandoned earlier and a new one was committed.
    typealias Outcome = (through: UInt64, error: (any Error)?)
    private let commit: () -> [Outcome]
    /// At most how long a commit waits for requests still being answered (whose writes may join it): more
    /// writes per commit under load for at most this much latency. Zero commits as soon as there is a write.
    let gatherMicroseconds: UInt32
    /// Requests open (`RequestWrites`), any of which may still add a write to the next commit.
    private let openRequests = Atomic<Int>(0)
    /// How many threads wait in `quiet` for the open requests to finish (a finishing request signals only then).
    private let quietWaiters = Atomic<Int>(0)
    private let quiet = Locked(())

    init(gatherMicroseconds: UInt32, commit: @escaping () -> [Outcome]) {
        self.gatherMicroseconds = gatherMicroseconds
        self.commit = commit
    }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(
            &t, nil,
            { context in
                let committer = Unmanaged<Committer>.fromOpaque(context!).takeRetainedValue()
                committer.run()
                return nil
            }, context)
        precondition(rc == 0, "cannot start the committer thread")
        thread = t
        state.withLock { $0.running = true }
    }

    /// Commits what is outstanding, tells every waiter, and ends the thread; later writes commit themselves.
    func stop() {
        state.withLock { $0.stopping = true }
        state.broadcast()
        // The last reference may be dropped by a callback on the committer thread itself: it cannot join itself.
        if let thread {
            if pthread_equal(thread, pthread_self()) != 0 { pthread_detach(thread) } else { pthread_join(thread, nil) }
        }
        thread = nil
    }

    /// Called after a write ran (outside the connection lock): wakes the committer.
    func wrote(_ ticket: CommitTicket) {
        let (inline, wake): (Bool, Bool) = state.withLock { s in
            let newer = ticket.number > s.written
            if newer { s.written = ticket.number }
            return (!s.running, newer)
        }
        if wake { state.broadcast() }
        if inline { commitOnce() }
    }

    /// Blocks until the commit covering `ticket` has happened; throws what made it roll back.
    func waitDurable(_ ticket: CommitTicket) throws {
        let failure = state.wait(until: { $0.settled >= ticket.number }) { $0.rollback(covering: ticket.number) }
        if let failure { throw failure }
    }

    /// Calls `call` once `ticket` is settled: with nil when committed, with the error when rolled back.
    /// Immediately, on this thread, when it already is.
    func whenDurable(_ ticket: CommitTicket, _ call: @escaping @Sendable ((any Error)?) -> Void) {
        let now: (any Error)?? = state.withLock { s -> (any Error)?? in
            if s.settled >= ticket.number { return .some(s.rollback(covering: ticket.number)) }
            s.callbacks.append((ticket.number, call))
            return .none
        }
        if let now { call(now) }
    }

    func isDurable(_ ticket: CommitTicket) -> Bool {
        state.withLock { $0.settled >= ticket.number && $0.rollback(covering: ticket.number) == nil }
    }

    func requestStarted() { openRequests.add(1, ordering: .sequentiallyConsistent) }

    /// Sequentially consistent, with the committer's check: either it sees no request open or this thread sees
    /// it waiting (a missed wake-up would only cost the gathering time-out).
    func requestFinished() {
        guard openRequests.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
            quietWaiters.load(ordering: .sequentiallyConsistent) > 0
        else { return }
        quiet.withLock { _ in }
        quiet.broadcast()
    }

    private func run() {
        while true {
            let stop: Bool? = state.wait(until: { $0.written != $0.settled || $0.stopping }) { s in
                s.written == s.settled && s.stopping ? nil : s.stopping
            }
            guard let stop else { break }
            // While requests are still being answered, each may add a write to this commit: wait for them to
            // finish (bounded). A lone write, or the last of a burst, is committed at once.
            if gatherMicroseconds > 0 && !stop {
                quietWaiters.add(1, ordering: .sequentiallyConsistent)
                // Checked after registering as a waiter: a request leaving after this check finds the waiter and signals.
                quiet.wait(
                    until: { _ in openRequests.load(ordering: .sequentiallyConsistent) == 0 },
                    timeoutMicroseconds: Int(gatherMicroseconds)
                ) { _ in }
                quietWaiters.subtract(1, ordering: .sequentiallyConsistent)
            }
            commitOnce()
        }
        state.withLock { $0.running = false }
    }

    /// Commits the open transaction (on whichever thread calls it) and tells whoever waits on what it covered.
    private func commitOnce() {
        let outcomes = commit()
        let due: [(call: @Sendable ((any Error)?) -> Void, error: (any Error)?)] = state.withLock { s in
            var due: [(call: @Sendable ((any Error)?) -> Void, error: (any Error)?)] = []
            for outcome in outcomes where outcome.through > s.settled {
                if let error = outcome.error {
                    s.failures.append(((s.settled + 1)...outcome.through, error))
                    if s.failures.count > 64 { s.failures.removeFirst(s.failures.count - 64) }
                }
                s.settled = outcome.through
                due += s.callbacks.filter { $0.number <= s.settled }.map { ($0.call, outcome.error) }
                s.callbacks.removeAll { $0.number <= s.settled }
            }
            s.written = max(s.written, s.settled)
            return due
        }
        state.broadcast()
        for callback in due { callback.call(callback.error) }
    }
}

/// The writes one request makes: they do not wait for their commit; the request's answer does, and the
/// thread goes on serving other connections meanwhile. Made by `Database.beginRequest()`, passed explicitly to
/// every write the request makes, and ended once the request is answered (`end()` says what to wait for).
/// While a request is open the committer may gather its writes into the commit it is about to make.
///
/// Only the thread answering the request touches it, hence `@unchecked Sendable`.
public final class RequestWrites: @unchecked Sendable {
    let database: Database
    private var ticket: CommitTicket?
    private var ended = false

    init(database: Database) {
        self.database = database
        database.committer.requestStarted()
    }

    deinit { if !ended { database.committer.requestFinished() } }

    func record(_ written: CommitTicket) { ticket = max(ticket ?? written, written) }

    /// The request is answered: nothing more will be written for it. Returns the commit its answer waits for,
    /// or nil when it wrote nothing.
    public func end() -> PendingCommit? {
        if !ended {
            ended = true
            database.committer.requestFinished()
        }
        return ticket.map { PendingCommit(database: database, ticket: $0) }
    }
}

/// The commit an answer has to wait for.
public struct PendingCommit: Sendable {
    let database: Database
    let ticket: CommitTicket

    /// Calls `call` once the commit has happened (nil) or rolled back (its error); perhaps at once.
    public func whenDone(_ call: @escaping @Sendable ((any Error)?) -> Void) {
        database.committer.whenDurable(ticket, call)
    }

    /// Blocks until then.
    public func wait() throws { try database.committer.waitDurable(ticket) }
}
