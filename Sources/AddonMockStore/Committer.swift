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
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Highest number handed out / settled (committed or rolled back). Under `mutex`.
    private var written: UInt64 = 0
    private var settled: UInt64 = 0
    /// Failed commits, newest last, as ranges of numbers they held; kept short (failures are rare).
    private var failures: [(range: ClosedRange<UInt64>, error: any Error)] = []
    private var callbacks: [(number: UInt64, call: @Sendable ((any Error)?) -> Void)] = []
    private var stopping = false
    /// Whether the thread is there to commit; without it (before `start`, after `stop`) writers commit themselves.
    private var running = false
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
    private let quiet = QuietSignal()

    init(gatherMicroseconds: UInt32, commit: @escaping () -> [Outcome]) {
        self.gatherMicroseconds = gatherMicroseconds
        self.commit = commit
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { context in
            let committer = Unmanaged<Committer>.fromOpaque(context!).takeRetainedValue()
            committer.run()
            return nil
        }, context)
        precondition(rc == 0, "cannot start the committer thread")
        thread = t
        locked { running = true }
    }

    /// Commits what is outstanding, tells every waiter, and ends the thread; later writes commit themselves.
    func stop() {
        locked { stopping = true; pthread_cond_broadcast(changed) }
        // The last reference may be dropped by a callback on the committer thread itself: it cannot join itself.
        if let thread {
            if pthread_equal(thread, pthread_self()) != 0 { pthread_detach(thread) } else { pthread_join(thread, nil) }
        }
        thread = nil
    }

    /// Called after a write ran (outside the connection lock): wakes the committer.
    func wrote(_ ticket: CommitTicket) {
        let inline: Bool = locked {
            if ticket.number > written {
                written = ticket.number
                pthread_cond_broadcast(changed)
            }
            return !running
        }
        if inline { commitOnce() }
    }

    /// Blocks until the commit covering `ticket` has happened; throws what made it roll back.
    func waitDurable(_ ticket: CommitTicket) throws {
        let failure: (any Error)? = locked {
            while settled < ticket.number { pthread_cond_wait(changed, mutex) }
            return rollback(covering: ticket.number)
        }
        if let failure { throw failure }
    }

    /// Calls `call` once `ticket` is settled: with nil when committed, with the error when rolled back.
    /// Immediately, on this thread, when it already is.
    func whenDurable(_ ticket: CommitTicket, _ call: @escaping @Sendable ((any Error)?) -> Void) {
        let now: (any Error)?? = locked {
            if settled >= ticket.number { return .some(rollback(covering: ticket.number)) }
            callbacks.append((ticket.number, call))
            return .none
        }
        if let now { call(now) }
    }

    func isDurable(_ ticket: CommitTicket) -> Bool { locked { settled >= ticket.number && rollback(covering: ticket.number) == nil } }

    func requestStarted() { openRequests.add(1, ordering: .sequentiallyConsistent) }

    /// Sequentially consistent, with the committer's check: either it sees no request open or this thread sees
    /// it waiting (a missed wake-up would only cost the gathering time-out).
    func requestFinished() {
        if openRequests.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 { quiet.signal() }
    }

    private func rollback(covering number: UInt64) -> (any Error)? {
        failures.last { $0.range.contains(number) }?.error
    }

    private func run() {
        pthread_mutex_lock(mutex)
        while true {
            while written == settled && !stopping { pthread_cond_wait(changed, mutex) }
            if written == settled && stopping { break }
            let stop = stopping
            pthread_mutex_unlock(mutex)
            // While requests are still being answered, each may add a write to this commit: wait for them to
            // finish (bounded). A lone write, or the last of a burst, is committed at once.
            if gatherMicroseconds > 0 && !stop {
                quiet.wait(microseconds: gatherMicroseconds) { openRequests.load(ordering: .sequentiallyConsistent) > 0 }
            }
            commitOnce()
            pthread_mutex_lock(mutex)
        }
        running = false
        pthread_mutex_unlock(mutex)
    }

    /// Commits the open transaction (on whichever thread calls it) and tells whoever waits on what it covered.
    private func commitOnce() {
        let outcomes = commit()
        let due: [(call: @Sendable ((any Error)?) -> Void, error: (any Error)?)] = locked {
            var due: [(call: @Sendable ((any Error)?) -> Void, error: (any Error)?)] = []
            for outcome in outcomes where outcome.through > settled {
                if let error = outcome.error {
                    failures.append(((settled + 1)...outcome.through, error))
                    if failures.count > 64 { failures.removeFirst(failures.count - 64) }
                }
                settled = outcome.through
                due += callbacks.filter { $0.number <= settled }.map { ($0.call, outcome.error) }
                callbacks.removeAll { $0.number <= settled }
            }
            written = max(written, settled)
            pthread_cond_broadcast(changed)
            return due
        }
        for callback in due { callback.call(callback.error) }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
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

/// The condition the committer sleeps on while requests are in flight; the request that leaves last wakes it.
/// Signalled only when somebody waits, so answering a request costs an atomic load here.
private final class QuietSignal: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let waiters = Atomic<Int>(0)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    func wait(microseconds: UInt32, while busy: () -> Bool) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + Int(microseconds) * 1000
        deadline.tv_sec += nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_mutex_lock(mutex)
        waiters.add(1, ordering: .sequentiallyConsistent)
        // Checked after registering as a waiter: a request leaving after this check finds the waiter and signals.
        while busy() {
            if pthread_cond_timedwait(cond, mutex, &deadline) == ETIMEDOUT { break }
        }
        waiters.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }

    func signal() {
        guard waiters.load(ordering: .sequentiallyConsistent) > 0 else { return }
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
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
