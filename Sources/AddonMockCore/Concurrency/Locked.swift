#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex, with a condition to wait on it: the one lock and the one condition type of
/// the process (clock, journal, fault rules, the writer, the committer, the HTTP server's connection book).
///
/// Not `Synchronization.Mutex`: on Linux that is a priority-inheritance futex that goes to the kernel on
/// every contended acquire instead of briefly spinning, which showed up in profiles of two worker threads
/// serving the same route; and it has no condition to wait on.
public final class Locked<State>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let changed: UnsafeMutablePointer<pthread_cond_t>
    @usableFromInline var state: State

    public init(_ initial: State) {
        state = initial
        mutex = .allocate(capacity: 1)
        changed = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if canImport(Glibc)
        // Spin a little before sleeping: every critical section here is a few hundred nanoseconds.
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        #endif
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        var conditionAttributes = pthread_condattr_t()
        pthread_condattr_init(&conditionAttributes)
        #if canImport(Glibc)
        // Deadlines are on the monotonic clock: a wall-clock step never stretches or cuts a wait.
        pthread_condattr_setclock(&conditionAttributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(changed, &conditionAttributes)
        pthread_condattr_destroy(&conditionAttributes)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    @inlinable
    public func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Waits (releasing the lock meanwhile) until `ready` holds or, with a `timeoutMicroseconds`, that much time
    /// has passed; then runs `body` under the lock. Waiters wake on `broadcast()`.
    public func wait<T>(
        until ready: (inout State) -> Bool, timeoutMicroseconds: Int? = nil,
        then body: (inout State) throws -> T
    ) rethrows -> T {
        var deadline = timespec()
        if let timeoutMicroseconds {
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let nanoseconds = Int(deadline.tv_nsec) + timeoutMicroseconds * 1000
            deadline.tv_sec += nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(&state) {
            if timeoutMicroseconds == nil {
                pthread_cond_wait(changed, mutex)
            } else if pthread_cond_timedwait(changed, mutex, &deadline) == ETIMEDOUT {
                break
            }
        }
        return try body(&state)
    }

    /// Wakes every waiter to check its condition again. Call it after the change, under the lock or not.
    public func broadcast() { pthread_cond_broadcast(changed) }
}
