import AddonMockCore

/// One durable change to a stored resource, as the event stream (`GET /_mock/events`) tells it: created, moved
/// to another phase (or to another operation's schedule), changed in place, deleted; or a reset that deleted a
/// batch. Made by `InstanceManager` as it writes rows, delivered once the commit is durable. A class: the event log
/// and every batch that reads it hand out references, not copies of a dozen strings.
public final class ResourceChange: Sendable {
    public enum Kind: String, Sendable {
        case created, transition, updated, deleted, reset
    }

    public let kind: Kind
    public let id: String
    public let service: String
    public let scope: String
    public let template: String
    public let version: String
    /// The phase before and after (`from` nil when created; `to` nil when deleted).
    public let from: Phase?
    public let to: Phase?
    /// When the operation now in flight is due (nil: settled, or waiting for an advance).
    public let dueAt: Instant?
    public let operation: Operation?
    /// Why it is in a failed or degraded phase (empty otherwise).
    public let reason: String
    public let message: String
    /// When it happened on the emulator's clock: a transition that fell due at its due time, whenever it was
    /// written down.
    public let at: Instant
    /// For a reset: how many records it deleted.
    public let count: Int
    /// An operation was in flight before the change (with `operation`, what the in-flight counts move by).
    public let wasInFlight: Bool
    /// For a reset: `scope` is a prefix (every pool of a project), not one whole scope.
    public let isPrefixScope: Bool

    public init(_ instance: Instance, from old: Instance?) {
        kind = old == nil ? .created : old!.phase != instance.phase || old!.pending != instance.pending ? .transition : .updated
        id = instance.id
        service = instance.service
        scope = instance.scope
        template = instance.template
        version = instance.current.version
        from = old?.phase
        to = instance.phase
        dueAt = instance.pending?.dueAt
        operation = instance.pending?.operation
        reason = instance.reason
        message = instance.message
        at = instance.updatedAt
        count = 1
        wasInFlight = old?.pending != nil
        isPrefixScope = false
    }

    /// `old` deleted: at its delete's due time when that is what removed it.
    public init(deleted old: Instance, at now: Instant) {
        kind = .deleted
        id = old.id
        service = old.service
        scope = old.scope
        template = old.template
        version = old.current.version
        from = old.phase
        to = nil
        dueAt = nil
        operation = nil
        reason = ""
        message = ""
        if let p = old.pending, p.operation == .delete, let due = p.dueAt, due <= now { at = due } else { at = now }
        count = 1
        wasInFlight = old.pending != nil
        isPrefixScope = false
    }

    public init(reset count: Int, services: [String]?, scope: String?, isPrefix: Bool = false, at now: Instant) {
        kind = .reset
        id = ""
        service = services?.joined(separator: ",") ?? ""
        self.scope = scope ?? ""
        template = ""
        version = ""
        from = nil
        to = nil
        dueAt = nil
        operation = nil
        reason = ""
        message = ""
        at = now
        self.count = count
        wasInFlight = false
        isPrefixScope = isPrefix
    }
}
