/// A template version together with the values it was installed with.
public struct Revision: Sendable, Equatable {
    public var version: String
    public var values: RawJSON

    public init(version: String, values: RawJSON) {
        self.version = version
        self.values = values
    }
}

/// The operation under way and when (and how) it ends. `dueAt == nil` means it waits for the control API
/// (the `manual` profile).
public struct PendingTransition: Sendable, Equatable {
    public var operation: Operation
    public var dueAt: Instant?
    public var outcome: Outcome
    /// What a rollback restores.
    public var target: Revision?

    public init(operation: Operation, dueAt: Instant?, outcome: Outcome, target: Revision? = nil) {
        self.operation = operation
        self.dueAt = dueAt
        self.outcome = outcome
        self.target = target
    }
}

/// One resource of an emulated service (a CCE add-on, a ModelArts plug-in): the service-neutral record the store
/// keeps and the engine moves. Its kind's `LifecycleTable` names its phases.
public struct Instance: Sendable, Equatable {
    public var id: String
    /// The emulated API that owns it (`cce`, `autopilot`, `modelarts`); services never see each other's.
    public var service: String
    /// The isolation scope inside the service, its scope fields joined by `/` (CCE: a cluster id; ModelArts:
    /// `project/pool`).
    public var scope: String
    /// Its name within the scope (add-ons and plug-ins: the template's name); unique per service and scope.
    public var template: String
    public var current: Revision
    /// What a rollback would restore; its presence is what makes an instance rollbackable.
    public var previous: Revision?
    /// The version before the last revision change (an upgrade, or a rollback): what CCE shows as
    /// `status.previousVersion`. Outlives `previous`: after a rollback nothing is kept, but this names the version
    /// rolled back from. nil on records stored before it was kept: then `previous` tells.
    public var previousVersion: String?
    /// Free-form metadata the client sent (CCE: metadata.annotations).
    public var annotations: RawJSON
    public var phase: Phase
    public var reason: String
    public var message: String
    public var pending: PendingTransition?
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, service: String, scope: String, template: String, current: Revision,
        previous: Revision? = nil, previousVersion: String? = nil, annotations: RawJSON = .emptyObject, phase: Phase,
        reason: String = "", message: String = "", pending: PendingTransition? = nil,
        createdAt: Instant, updatedAt: Instant
    ) {
        self.id = id
        self.service = service
        self.scope = scope
        self.template = template
        self.current = current
        self.previous = previous
        self.previousVersion = previousVersion
        self.annotations = annotations
        self.phase = phase
        self.reason = reason
        self.message = message
        self.pending = pending
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public var isRollbackable: Bool { previous != nil }

    /// `previousVersion`, or for records stored before it was kept, the kept revision's.
    public var shownPreviousVersion: String? { previousVersion ?? previous?.version }

    /// An operation is under way: any other operation on the instance is a conflict until it settles.
    public var isInFlight: Bool { pending != nil }
}
