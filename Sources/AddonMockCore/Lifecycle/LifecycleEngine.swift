/// Why an operation may not start now. Services turn these into their own 409 bodies.
public enum LifecycleError: Error, Equatable, CustomStringConvertible {
    /// Another operation is under way.
    case busy(id: String, phase: Phase)
    /// A step that restores something kept, asked of a resource that keeps nothing.
    case nothingKept(id: String, operation: Operation, what: String)
    /// The step may not start from the resource's phase.
    case notAllowed(id: String, operation: Operation, phase: Phase, allowed: Set<Phase>)
    /// The resource's kind has no such step.
    case unsupported(id: String, operation: Operation)

    public var description: String {
        switch self {
        case let .busy(id, phase):
            return "\(id) is \(phase); wait until the operation finishes"
        case let .nothingKept(id, _, what):
            return "\(id) has \(what)"
        case let .notAllowed(id, operation, phase, allowed):
            let names = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            return "\(id) is \(phase); \(operation.rawValue) is allowed only when it is one of: \(names)"
        case let .unsupported(id, operation):
            return "\(id) does not support \(operation.rawValue)"
        }
    }
}

/// Runs every kind's `LifecycleTable`. Pure: it never reads a clock or storage, it is handed `now` and a record,
/// and the table of the record's service.
public struct LifecycleEngine: Sendable {
    public let timing: Timing
    private let tables: [String: LifecycleTable]

    /// `tables`: each stored service name's lifecycle.
    public init(timing: Timing, tables: [String: LifecycleTable]) {
        self.timing = timing
        self.tables = tables
    }

    public func table(for service: String) -> LifecycleTable? { tables[service] }

    private func step(_ op: Operation, of resource: Resource) throws(LifecycleError) -> LifecycleTable.Step {
        guard let step = tables[resource.service]?.steps[op] else { throw .unsupported(id: resource.id, operation: op) }
        return step
    }

    /// A new resource, in its kind's create step.
    public func create(
        id: String, service: String, scope: String, name: String, spec: JSONDocument, status: JSONDocument = .empty,
        templateTiming: TimingTable? = nil, outcome: Outcome, now: Instant
    ) -> Resource {
        var resource = Resource(
            id: id, service: service, scope: scope, name: name, spec: spec, status: status, phase: "", createdAt: now, updatedAt: now)
        guard let table = tables[service], let step = table.steps[table.create] else { preconditionFailure("\(service) has no table") }
        schedule(table.create, step, on: &resource, templateTiming: templateTiming, outcome: outcome, now: now, target: nil)
        return resource
    }

    /// Starts `op` on a settled resource, with what the request gave it (`input`, for the step's effect).
    /// `outcome` is evaluated only once the operation is allowed, so a refused request consumes no forced outcome.
    /// Throws `LifecycleError` when the operation may not start, or what `outcome` throws.
    public func begin(
        _ op: Operation, on resource: inout Resource, input: RawJSON? = nil, templateTiming: TimingTable?,
        outcome: @autoclosure () throws -> Outcome, now: Instant
    ) throws {
        guard !resource.isInFlight else { throw LifecycleError.busy(id: resource.id, phase: resource.phase) }
        let step = try step(op, of: resource)
        if let allowed = step.startsFrom, !allowed.contains(resource.phase) {
            throw LifecycleError.notAllowed(id: resource.id, operation: op, phase: resource.phase, allowed: allowed)
        }
        var changed = resource
        let target = try step.effect.begin?(&changed, input)
        let decided = try outcome()
        resource = changed
        schedule(op, step, on: &resource, templateTiming: templateTiming, outcome: decided, now: now, target: target)
    }

    private func schedule(
        _ op: Operation, _ step: LifecycleTable.Step, on resource: inout Resource, templateTiming: TimingTable?,
        outcome: Outcome, now: Instant, target: RawJSON?
    ) {
        let due = timing.delay(for: op, step, templateTiming: templateTiming).map { now.adding(milliseconds: $0) }
        resource.phase = step.inFlight
        resource.reason = ""
        resource.message = ""
        resource.updatedAt = now
        resource.pending = PendingTransition(operation: op, dueAt: due, outcome: outcome, target: target)
    }

    /// The resource as it is at `now`: every transition due by then is applied, in order, each stamped with
    /// its own due time. Returns nil when the resource has been deleted; a record of a service without a table
    /// (one this build does not serve) as it is.
    public func settled(_ resource: Resource, at now: Instant) -> Resource? {
        guard tables[resource.service] != nil else { return resource }
        var resource = resource
        while let pending = resource.pending, let due = pending.dueAt, due <= now {
            guard let next = complete(resource, at: due) else { return nil }
            resource = next
        }
        return resource
    }

    /// Applies the pending transition now, whatever its due time: the control API's "advance".
    /// Returns nil when that removes the resource; the resource unchanged when nothing is pending (or its
    /// service has no table: a row this build does not serve is left as it is).
    public func complete(_ resource: Resource, at when: Instant) -> Resource? {
        guard let pending = resource.pending, let table = tables[resource.service],
            let step = table.steps[pending.operation]
        else { return resource }
        var next = resource
        next.pending = nil
        next.updatedAt = when
        switch pending.outcome {
        case .succeed:
            guard let succeeded = step.succeeded else { return nil }
            step.effect.succeed?(&next, pending.target)
            next.phase = succeeded
            next.reason = ""
            next.message = ""
        case let .fail(reason, message):
            next.phase = step.failed
            next.reason = reason
            next.message = message
        case let .abnormal(reason, message):
            next.phase = table.degraded
            next.reason = reason
            next.message = message
        }
        return next
    }
}
