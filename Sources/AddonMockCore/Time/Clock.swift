#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one source of "now" for the lifecycle engine. Everything time-dependent takes a clock,
/// so tests and the control API can move time instead of sleeping.
public protocol Clock: Sendable {
    func now() -> Instant
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
public final class VirtualClock: Clock {
    private struct State {
        var offsetMs: Int64 = 0
        var pinned: Instant?
    }
    private let base: any Clock
    private let state = Locked(State())

    public init(base: any Clock = SystemClock(), pinnedAt: Instant? = nil) {
        self.base = base
        state.withLock { $0.pinned = pinnedAt }
    }

    public func now() -> Instant {
        state.withLock { s in s.pinned ?? base.now().adding(milliseconds: s.offsetMs) }
    }

    public func advance(milliseconds ms: Int64) {
        state.withLock { s in
            if let p = s.pinned { s.pinned = p.adding(milliseconds: ms) } else { s.offsetMs += ms }
        }
    }

    public func pin(at instant: Instant? = nil) {
        let at = instant ?? now()
        state.withLock { $0.pinned = at }
    }

    /// Lets time run again from where it was pinned (it never jumps backwards by unpinning).
    public func unpin() {
        let real = base.now()
        state.withLock { s in
            if let p = s.pinned { s.offsetMs = p.milliseconds - real.milliseconds }
            s.pinned = nil
        }
    }

    public var isPinned: Bool { state.withLock { $0.pinned != nil } }

    /// How far ahead of real time the clock is (while not pinned).
    public var offsetMilliseconds: Int64 { state.withLock { $0.offsetMs } }

    /// Back to real time, unpinned.
    public func reset() { state.withLock { $0 = State() } }
}
