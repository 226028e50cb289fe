import AddonMockCore

/// One durable change to a stored resource, as the event stream (`GET /_mock/events`) tells it: created, moved
/// to another phase (or to another operation's schedule), changed in place, deleted; or a reset that deleted a
/// batch. Made by `ResourceManager` as it writes rows, delivered once the commit is durable. A class: the event log
/// and every batch that reads it hand out references, not copies. It keeps the record without its documents (the
/// event log keeps 10,000 changes; a spec can be megabytes) and the kind's shown fields read from them.
public final class ResourceChange: Sendable {
    public enum Kind: String, Sendable {
        case created, transition, updated, deleted, reset
    }

    public let kind: Kind
    /// The record after the change (for a deletion, as it was before) without its spec and status. nil for a reset.
    public let record: Resource?
    /// Its kind's shown fields (`ResourceKind.shown`), read from the whole record.
    public let shown: [(name: String, value: RawJSON)]
    /// The phase before and after (`from` nil when created; `to` nil when deleted).
    public let from: Phase?
    public let to: Phase?
    /// When it happened on the emulator's clock: a transition that fell due at its due time, whenever it was
    /// written down.
    public let at: Instant
    /// For a reset: how many records it deleted.
    public let count: Int
    /// An operation was in flight before the change (with `operation`, what the in-flight counts move by).
    public let wasInFlight: Bool
    /// For a reset: the services (comma-separated; empty: all) and the scope it deleted.
    private let resetService: String
    private let resetScope: String
    /// For a reset: `scope` is a prefix (every pool of a project), not one whole scope.
    public let isPrefixScope: Bool

    public var id: String { record?.id ?? "" }
    public var service: String { record?.service ?? resetService }
    public var scope: String { record?.scope ?? resetScope }
    public var name: String { record?.name ?? "" }
    /// When the operation now in flight is due (nil: settled, or waiting for an advance).
    public var dueAt: Instant? { kind == .deleted ? nil : record?.pending?.dueAt }
    public var operation: Operation? { kind == .deleted ? nil : record?.pending?.operation }
    /// Why it is in a failed or degraded phase (empty otherwise).
    public var reason: String { kind == .deleted ? "" : record?.reason ?? "" }
    public var message: String { kind == .deleted ? "" : record?.message ?? "" }

    public init(_ resource: Resource, from old: Resource?, shown fields: [ShownField] = []) {
        kind = old == nil ? .created : old!.phase != resource.phase || old!.pending != resource.pending ? .transition : .updated
        record = resource.withoutDocuments
        shown = fields.map { ($0.name, $0.value(resource)) }
        from = old?.phase
        to = resource.phase
        at = resource.updatedAt
        count = 1
        wasInFlight = old?.pending != nil
        resetService = ""
        resetScope = ""
        isPrefixScope = false
    }

    /// `old` deleted: at its delete's due time when that is what removed it (an operation due by `now` that left
    /// nothing is its kind's delete).
    public init(deleted old: Resource, at now: Instant, shown fields: [ShownField] = []) {
        kind = .deleted
        record = old.withoutDocuments
        shown = fields.map { ($0.name, $0.value(old)) }
        from = old.phase
        to = nil
        if let due = old.pending?.dueAt, due <= now { at = due } else { at = now }
        count = 1
        wasInFlight = old.pending != nil
        resetService = ""
        resetScope = ""
        isPrefixScope = false
    }

    public init(reset count: Int, services: [String]?, scope: String?, isPrefix: Bool = false, at now: Instant) {
        kind = .reset
        record = nil
        shown = []
        from = nil
        to = nil
        at = now
        self.count = count
        wasInFlight = false
        resetService = services?.joined(separator: ",") ?? ""
        resetScope = scope ?? ""
        isPrefixScope = isPrefix
    }
}

extension Resource {
    fileprivate var withoutDocuments: Resource {
        var slim = self
        slim.spec = .empty
        slim.status = .empty
        if slim.pending?.target != nil { slim.pending?.target = nil }
        return slim
    }
}
