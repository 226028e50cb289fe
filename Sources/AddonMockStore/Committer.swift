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
            if gatherMicroseconds > 0 && !stop { Acknowledgement.waitForQuiet(microseconds: gatherMicroseconds) }
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

/// Lets a thread run writes without waiting for their commit: the HTTP layer holds the answer back instead,
/// and serves other connections meanwhile. Writes outside `deferring` wait for their commit as before.
public enum Acknowledgement {
    /// One per thread, reused by every request it answers (no allocation per request).
    private final class Box {
        var active = false
        var ticket: CommitTicket?
        var database: Database?
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let p = $0 { Unmanaged<Box>.fromOpaque(p).release() } }
        return key
    }()

    private static var threadBox: Box {
        if let p = pthread_getspecific(key) { return Unmanaged<Box>.fromOpaque(p).takeUnretainedValue() }
        let box = Box()
        pthread_setspecific(key, Unmanaged.passRetained(box).toOpaque())
        return box
    }

    /// Threads inside `deferring`: requests being answered, any of which may still add a write.
    private static let inFlight = Atomic<Int>(0)
    private static let quiet = QuietSignal()

    /// Runs `body`; writes it makes are not waited for. Returns what to wait for before answering, if anything.
    public static func deferring<T>(_ body: () throws -> T) rethrows -> (T, PendingCommit?) {
        let box = threadBox
        let outer = (box.active, box.ticket, box.database)
        box.active = true
        box.ticket = nil
        box.database = nil
        inFlight.add(1, ordering: .sequentiallyConsistent)
        defer {
            (box.active, box.ticket, box.database) = outer
            // Sequentially consistent, with the waiter's count: either the committer sees no request in flight
            // or this thread sees it waiting (a missed wake-up would only cost the gathering time-out).
            if inFlight.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 { quiet.signal() }
        }
        let result = try body()
        guard let ticket = box.ticket, let database = box.database else { return (result, nil) }
        return (result, PendingCommit(database: database, ticket: ticket))
    }

    /// Inside `deferring`: records the write and returns true. Outside: returns false (the caller waits).
    static func record(_ ticket: CommitTicket, of database: Database) -> Bool {
        guard let p = pthread_getspecific(key) else { return false }
        let box = Unmanaged<Box>.fromOpaque(p).takeUnretainedValue()
        guard box.active else { return false }
        box.ticket = max(box.ticket ?? ticket, ticket)
        box.database = database
        return true
    }

    /// Returns once no request is being answered, or after `microseconds`.
    static func waitForQuiet(microseconds: UInt32) {
        quiet.wait(microseconds: microseconds) { inFlight.load(ordering: .sequentiallyConsistent) > 0 }
    }
}

/// A process-wide condition the committer sleeps on while requests are in flight; the request that leaves
/// last wakes it. Signalled only when somebody waits, so answering a request costs an atomic load here.
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
