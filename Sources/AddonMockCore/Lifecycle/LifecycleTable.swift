/// A resource kind's lifecycle as data, the way kwok writes stages: per operation the phase it shows while in
/// flight, where it ends on success and on failure, which phases it may start from, how long it takes, and what it
/// does to the resource's documents. `LifecycleEngine` runs any table; a new kind writes a table, not engine code.
public struct LifecycleTable: Sendable {
    public struct Step: Sendable {
        public var inFlight: Phase
        /// nil: the resource is gone once the step succeeds.
        public var succeeded: Phase?
        public var failed: Phase
        /// The settled phases the step may start from; nil: any.
        public var startsFrom: Set<Phase>?
        /// How long it takes under the `realistic` profile (a template in the catalog may say otherwise).
        public var duration: StepDuration
        /// How long it takes under the `fast` profile: at most 200 ms.
        public var fastMs: Int64
        public var effect: Effect

        public init(
            inFlight: Phase, succeeded: Phase?, failed: Phase, startsFrom: Set<Phase>? = nil,
            duration: StepDuration = StepDuration(baseMs: 3_000, jitterMs: 1_000), fastMs: Int64 = 100, effect: Effect = .none
        ) {
            self.inFlight = inFlight
            self.succeeded = succeeded
            self.failed = failed
            self.startsFrom = startsFrom
            self.duration = duration
            self.fastMs = min(200, max(0, fastMs))
            self.effect = effect
        }
    }

    /// What a step does to the resource beyond its phase, written by the kind: when it begins (it may change the
    /// resource, refuse, and name what success will apply) and when it succeeds (it applies that). An upgrade that
    /// keeps the old revision for a rollback, a rollback that brings it back, a scale that reaches its size.
    public struct Effect: Sendable {
        /// `input`: what the request gave the step (a new revision); returns the step's target.
        public var begin: (@Sendable (_ resource: inout Resource, _ input: RawJSON?) throws(LifecycleError) -> RawJSON?)?
        public var succeed: (@Sendable (_ resource: inout Resource, _ target: RawJSON?) -> Void)?

        public init(
            begin: (@Sendable (_ resource: inout Resource, _ input: RawJSON?) throws(LifecycleError) -> RawJSON?)? = nil,
            succeed: (@Sendable (_ resource: inout Resource, _ target: RawJSON?) -> Void)? = nil
        ) {
            self.begin = begin
            self.succeed = succeed
        }

        public static let none = Effect()
    }

    public let steps: [Operation: Step]
    /// The operations in the order messages, documents and the console list them.
    public let operations: [Operation]
    /// The step a new resource begins in (add-ons: install; clusters: create).
    public let create: Operation
    /// Where an operation ends when its outcome is `abnormal`.
    public let degraded: Phase
    /// Every phase a resource can rest in, in the order error messages list them.
    public let settled: [Phase]
    /// Settled phases that mean healthy: forcing one clears the reason.
    public let healthy: Set<Phase>

    /// `steps` in their order; the first is the one a new resource begins in unless `create` says otherwise.
    public init(steps: KeyValuePairs<Operation, Step>, create: Operation? = nil, degraded: Phase, settled: [Phase], healthy: Set<Phase>) {
        self.steps = Dictionary(uniqueKeysWithValues: steps.map { ($0.key, $0.value) })
        operations = steps.map(\.key)
        self.create = create ?? operations[0]
        self.degraded = degraded
        self.settled = settled
        self.healthy = healthy
    }

    /// The phases a resource shows while an operation is in flight, in the order of the operations.
    public var inFlightPhases: [Phase] { operations.compactMap { steps[$0]?.inFlight } }

    /// The operation whose failed phase this is.
    public func operation(failingInto phase: Phase) -> Operation? {
        operations.first { steps[$0]?.failed == phase }
    }

    /// The operation whose in-flight phase this is.
    public func operation(inFlightAs phase: Phase) -> Operation? {
        operations.first { steps[$0]?.inFlight == phase }
    }
}
