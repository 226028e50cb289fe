/// How long a transition takes: `base` plus a uniform jitter in `[-jitter, +jitter]`, in milliseconds.
public struct StepDuration: Sendable, Equatable {
    public var baseMs: Int64
    public var jitterMs: Int64

    public init(baseMs: Int64, jitterMs: Int64 = 0) {
        self.baseMs = baseMs
        self.jitterMs = jitterMs
    }
}

/// One duration per operation.
public struct TimingTable: Sendable, Equatable {
    public var durations: [Operation: StepDuration]

    public init(_ durations: [Operation: StepDuration]) { self.durations = durations }

    public subscript(op: Operation) -> StepDuration? { durations[op] }
}

/// How fast the world moves (`--profile`).
public enum Profile: String, Sendable, CaseIterable {
    /// Seconds per step with jitter; per-template durations from the fixtures apply.
    case realistic
    /// At most 200 ms per step: quick tests that still observe the in-flight state.
    case fast
    /// The response that starts an operation shows it in flight; the next read shows it settled.
    case instant
    /// Nothing moves until the control API advances it.
    case manual

    public static let realisticDefaults = TimingTable([
        .install: StepDuration(baseMs: 6_000, jitterMs: 2_000),
        .upgrade: StepDuration(baseMs: 5_000, jitterMs: 2_000),
        .rollback: StepDuration(baseMs: 4_000, jitterMs: 1_500),
        .delete: StepDuration(baseMs: 3_000, jitterMs: 1_000),
    ])

    public static let fastDefaults = TimingTable([
        .install: StepDuration(baseMs: 150),
        .upgrade: StepDuration(baseMs: 120),
        .rollback: StepDuration(baseMs: 100),
        .delete: StepDuration(baseMs: 80),
    ])
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

    /// Milliseconds until the operation settles, or nil when it waits for the control API.
    public func delay(for op: Operation, templateTiming: TimingTable?) -> Int64? {
        switch profile {
        case .manual: return nil
        case .instant: return 0
        case .fast: return Profile.fastDefaults[op]?.baseMs ?? 100
        case .realistic:
            let d = templateTiming?[op] ?? Profile.realisticDefaults[op] ?? StepDuration(baseMs: 3_000)
            let jitter = d.jitterMs > 0 ? random.next(in: -d.jitterMs...d.jitterMs) : 0
            return max(0, d.baseMs + jitter)
        }
    }
}
