import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one source of "now" for the lifecycle engine. Everything time-dependent takes a clock,
/// so tests and the control API can move time instead of sleeping.
public protocol Clock: Sendable {
    func now() -> Instant
    /// Time stands still (until the control API moves it): nothing falls due by waiting.
    var isPinned: Bool { get }
}

extension Clock {
    public var isPinned: Bool { false }
}

public struct SystemClock: Clock {
    public init() {}
    public func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(milliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}

/// Real time shifted by an offset, or pinned to a fixed instant. Advancing moves both modes forward,
/// which is how tests (and later the control API) make due transitions happen without waiting.
///
/// Read several times per request from every worker and changed only by the control API, so reads take no lock: a
/// sequence lock. A change (serialised by `changing`) makes `version` odd, stores both fields, and makes it even
/// again; a read retries while it sees an odd version or the version moved under it. Every access is sequentially
/// consistent, which on x86 costs the readers nothing over plain loads.
public final class VirtualClock: Clock {
    private static let unpinned = Int64.min
    private let base: any Clock
    private let version = Atomic<UInt64>(0)
    private let offsetMs = Atomic<Int64>(0)
    /// Milliseconds of the pinned instant, or `unpinned` (an instant no time the control API parses can name).
    private let pinnedMs = Atomic<Int64>(VirtualClock.unpinned)
    private let changing = Locked(())
    /// Told after every change (the sweeper, which then looks for what fell due); set up at start-up.
    private let observers = Locked<[@Sendable () -> Void]>([])

    public init(base: any Clock = SystemClock(), pinnedAt: Instant? = nil) {
        self.base = base
        if let pinnedAt { pinnedMs.store(pinnedAt.milliseconds, ordering: .sequentiallyConsistent) }
    }

    /// The pinned instant `pinnedMs` holds, if any.
    private static func instant(_ pinnedMs: Int64) -> Instant? { pinnedMs == unpinned ? nil : Instant(milliseconds: pinnedMs) }

    /// The offset and the pinned instant as one consistent pair.
    private func read() -> (offsetMs: Int64, pinned: Instant?) {
        while true {
            let before = version.load(ordering: .sequentiallyConsistent)
            guard before & 1 == 0 else {
                sched_yield() // a change is under way: let its thread finish it
                continue
            }
            let offset = offsetMs.load(ordering: .sequentiallyConsistent)
            let pinned = pinnedMs.load(ordering: .sequentiallyConsistent)
            if version.load(ordering: .sequentiallyConsistent) == before {
                return (offset, Self.instant(pinned))
            }
        }
    }

    /// Calls `observer` after every change of the clock, on the changing thread.
    public func onChange(_ observer: @escaping @Sendable () -> Void) { observers.withLock { $0.append(observer) } }

    /// Changes both fields as one: `change` gets the current pair and returns the new one; then tells the observers.
    private func change(_ change: (_ offsetMs: Int64, _ pinned: Instant?) -> (offsetMs: Int64, pinned: Instant?)) {
        defer { for observer in observers.withLock({ $0 }) { observer() } }
        changing.withLock { _ in
            let (offset, pinned) = change(
                offsetMs.load(ordering: .sequentiallyConsistent), Self.instant(pinnedMs.load(ordering: .sequentiallyConsistent)))
            version.add(1, ordering: .sequentiallyConsistent)
            offsetMs.store(offset, ordering: .sequentiallyConsistent)
            pinnedMs.store(pinned?.milliseconds ?? Self.unpinned, ordering: .sequentiallyConsistent)
            version.add(1, ordering: .sequentiallyConsistent)
        }
    }

    public func now() -> Instant {
        let (offset, pinned) = read()
        return pinned ?? base.now().adding(milliseconds: offset)
    }

    public func advance(milliseconds ms: Int64) {
        change { offset, pinned in pinned.map { (offset, $0.adding(milliseconds: ms)) } ?? (offset + ms, nil) }
    }

    public func pin(at instant: Instant? = nil) {
        let at = instant ?? now()
        change { offset, _ in (offset, at) }
    }

    /// Lets time run again from where it was pinned (it never jumps backwards by unpinning).
    public func unpin() {
        let real = base.now()
        change { offset, pinned in (pinned.map { $0.milliseconds - real.milliseconds } ?? offset, nil) }
    }

    public var isPinned: Bool { read().pinned != nil }

    /// How far ahead of real time the clock is (while not pinned).
    public var offsetMilliseconds: Int64 { read().offsetMs }

    /// Back to real time, unpinned.
    public func reset() { change { _, _ in (0, nil) } }
}
