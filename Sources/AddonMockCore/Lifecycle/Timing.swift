/// How long a transition takes: `base` plus a uniform jitter in `[-jitter, +jitter]`, in milliseconds.
public struct StepDuration: Sendable, Equatable {
    public var baseMs: Int64
    public var jitterMs: Int64

    public init(baseMs: Int64, jitterMs: Int64 = 0) {
        self.baseMs = baseMs
        self.jitterMs = jitterMs
    }
}

/// One duration per operation: a template's own (`timing` in a catalog), which overrides its kind's table under
/// the `realistic` profile.
public struct TimingTable: Sendable, Equatable {
    public var durations: [Operation: StepDuration]

    public init(_ durations: [Operation: StepDuration]) { self.durations = durations }

    public subscript(op: Operation) -> StepDuration? { durations[op] }
}

/// How fast the world moves (`--profile`).
public enum Profile: String, Sendable, CaseIterable {
    /// Each step as long as its table says (seconds, with jitter); per-template durations from the fixtures apply.
    case realistic
    /// At most 200 ms per step (each table says how long within that): quick tests that still see the in-flight state.
    case fast
    /// The response that starts an operation shows it in flight; the next read shows it settled.
    case instant
    /// Nothing moves until the control API advances it.
    case manual
}

/// Decides due times. Only `realistic` honours the per-template table from the fixtures: the other profiles
/// exist to be predictable.
public struct Timing: Sendable {
    public let profile: Profile
    private let random: SeededRandom

    public init(profile: Profile, random: SeededRandom) {
        self.profile = profile
        self.random = random
    }

    /// Milliseconds until `step` (operation `op`) settles, or nil when it waits for the control API.
    public func delay(for op: Operation, _ step: LifecycleTable.Step, templateTiming: TimingTable?) -> Int64? {
        switch profile {
        case .manual: return nil
        case .instant: return 0
        case .fast: return step.fastMs
        case .realistic:
            let d = templateTiming?[op] ?? step.duration
            let jitter = d.jitterMs > 0 ? random.next(in: -d.jitterMs...d.jitterMs) : 0
            return max(0, d.baseMs + jitter)
        }
    }
}
