/// Which emulated API owns an instance. Instances of different services never see each other.
public enum ServiceKind: String, Sendable, CaseIterable {
    case cce
    case autopilot
    case modelarts
}

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

/// One installed add-on (or, later, plug-in): the service-neutral record the store keeps and the engine moves.
public struct Instance: Sendable, Equatable {
    public var id: String
    public var service: ServiceKind
    /// The isolation scope inside the service: a cluster id for CCE, `project/pool` for ModelArts.
    public var scope: String
    public var template: String
    public var current: Revision
    /// What a rollback would restore; its presence is what makes an instance rollbackable.
    public var previous: Revision?
    /// Free-form metadata the client sent (CCE: metadata.annotations).
    public var annotations: RawJSON
    public var phase: Phase
    public var reason: String
    public var message: String
    public var pending: PendingTransition?
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(id: String, service: ServiceKind, scope: String, template: String, current: Revision,
                previous: Revision? = nil, annotations: RawJSON = .emptyObject, phase: Phase,
                reason: String = "", message: String = "", pending: PendingTransition? = nil,
                createdAt: Instant, updatedAt: Instant) {
        self.id = id
        self.service = service
        self.scope = scope
        self.template = template
        self.current = current
        self.previous = previous
        self.annotations = annotations
        self.phase = phase
        self.reason = reason
        self.message = message
        self.pending = pending
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public var isRollbackable: Bool { previous != nil }
}
