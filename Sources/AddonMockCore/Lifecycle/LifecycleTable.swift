/// A resource kind's lifecycle as data, the way kwok writes stages: per operation the phase it shows while in
/// flight, where it ends on success and on failure, which phases it may start from, and what it does to the
/// resource's revisions. `LifecycleEngine` runs any table; a new kind writes a table, not engine code.
public struct LifecycleTable: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        public var inFlight: Phase
        /// nil: the resource is gone once the step succeeds.
        public var succeeded: Phase?
        public var failed: Phase
        /// The settled phases the step may start from; nil: any.
        public var startsFrom: Set<Phase>?
        public var effect: Effect

        public init(inFlight: Phase, succeeded: Phase?, failed: Phase, startsFrom: Set<Phase>? = nil, effect: Effect = .none) {
            self.inFlight = inFlight
            self.succeeded = succeeded
            self.failed = failed
            self.startsFrom = startsFrom
            self.effect = effect
        }
    }

    /// What a step does to the resource's revisions.
    public enum Effect: Sendable, Equatable {
        case none
        /// The requested revision becomes current when the step begins; the replaced one is kept (and named as the
        /// previous version), and it is what `restoreKept` brings back.
        case replaceRevision
        /// Needs a kept revision; on success it becomes current again and is no longer kept, and the version it
        /// replaced is named as the previous version.
        case restoreKept
    }

    public var steps: [Operation: Step]
    /// Where an operation ends when its outcome is `abnormal`.
    public var degraded: Phase
    /// Every phase a resource can rest in, in the order error messages list them.
    public var settled: [Phase]
    /// Settled phases that mean healthy: forcing one clears the reason.
    public var healthy: Set<Phase>

    public init(steps: [Operation: Step], degraded: Phase, settled: [Phase], healthy: Set<Phase>) {
        self.steps = steps
        self.degraded = degraded
        self.settled = settled
        self.healthy = healthy
    }

    /// The phases a resource shows while an operation is in flight, in the order of the operations.
    public var inFlightPhases: [Phase] { Operation.allCases.compactMap { steps[$0]?.inFlight } }

    /// The operation whose failed phase this is.
    public func operation(failingInto phase: Phase) -> Operation? {
        Operation.allCases.first { steps[$0]?.failed == phase }
    }
}
