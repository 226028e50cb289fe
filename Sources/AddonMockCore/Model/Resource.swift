/// The operation under way and when (and how) it ends. `dueAt == nil` means it waits for the control API
/// (the `manual` profile).
public struct PendingTransition: Sendable, Equatable {
    public var operation: Operation
    public var dueAt: Instant?
    public var outcome: Outcome
    /// What the step applies when it succeeds, if it applies anything (a rollback: the revision it restores; a
    /// scale: the size it reaches), as its kind's table reads it.
    public var target: RawJSON?

    public init(operation: Operation, dueAt: Instant?, outcome: Outcome, target: RawJSON? = nil) {
        self.operation = operation
        self.dueAt = dueAt
        self.outcome = outcome
        self.target = target
    }
}

/// One resource of an emulated service (a CCE add-on, a cluster, a ModelArts plug-in, a pool): the record the store
/// keeps and the engine moves, the same for every kind. What a kind is made of is its documents — `spec` (what the
/// client asked for: an add-on's version and values, a node pool's size) and `status` (what the kind reports
/// beyond its phase) — which only the kind's service and table read; the engine's own fields are the phase, the
/// failure reason and message, and the operation in flight. Its kind's `LifecycleTable` names its phases.
public struct Resource: Sendable, Equatable {
    public var id: String
    /// The stored service that owns it (`cce`, `autopilot`, `modelarts`); services never see each other's.
    public var service: String
    /// The isolation scope inside the service, its kind's scope fields joined by `/` (add-ons: a cluster id;
    /// plug-ins: `project/pool`).
    public var scope: String
    /// Its name, unique per service and scope (add-ons and plug-ins: their template's name; a cluster: its name).
    public var name: String
    public var spec: JSONDocument
    public var status: JSONDocument
    public var phase: Phase
    public var reason: String
    public var message: String
    public var pending: PendingTransition?
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, service: String, scope: String, name: String, spec: JSONDocument = .empty, status: JSONDocument = .empty,
        phase: Phase, reason: String = "", message: String = "", pending: PendingTransition? = nil, createdAt: Instant,
        updatedAt: Instant
    ) {
        self.id = id
        self.service = service
        self.scope = scope
        self.name = name
        self.spec = spec
        self.status = status
        self.phase = phase
        self.reason = reason
        self.message = message
        self.pending = pending
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// An operation is under way: any other operation on the resource is a conflict until it settles.
    public var isInFlight: Bool { pending != nil }
}
