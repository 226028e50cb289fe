/// Why an operation may not start now. Services turn these into their own 409 bodies.
public enum LifecycleError: Error, Equatable, CustomStringConvertible {
    /// Another operation is under way.
    case busy(id: String, phase: Phase)
    /// A step that restores a kept revision, asked of a resource that keeps none.
    case nothingKept(id: String, operation: Operation)
    /// The step may not start from the resource's phase.
    case notAllowed(id: String, operation: Operation, phase: Phase, allowed: Set<Phase>)
    /// The resource's kind has no such step.
    case unsupported(id: String, operation: Operation)

    public var description: String {
        switch self {
        case let .busy(id, phase):
            return "instance \(id) is \(phase); wait until the operation finishes"
        case let .nothingKept(id, operation):
            return
                "instance \(id) has no previous version to \(operation == .rollback ? "roll back" : operation.rawValue) to (isRollbackable is false)"
        case let .notAllowed(id, operation, phase, allowed):
            let names = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            return "instance \(id) is \(phase); \(operation.rawValue) is allowed only when it is one of: \(names)"
        case let .unsupported(id, operation):
            return "instance \(id) does not support \(operation.rawValue)"
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

    private func step(_ op: Operation, of instance: Instance) throws(LifecycleError) -> LifecycleTable.Step {
        guard let step = tables[instance.service]?.steps[op] else { throw .unsupported(id: instance.id, operation: op) }
        return step
    }

    /// A new instance, in its kind's install step.
    public func install(
        id: String, service: String, scope: String, template: String, revision: Revision,
        annotations: RawJSON, templateTiming: TimingTable?, outcome: Outcome, now: Instant
    ) -> Instance {
        var instance = Instance(
            id: id, service: service, scope: scope, template: template, current: revision,
            annotations: annotations, phase: "", createdAt: now, updatedAt: now)
        guard let step = try? step(.install, of: instance) else { preconditionFailure("\(service) has no install step") }
        schedule(.install, step, on: &instance, templateTiming: templateTiming, outcome: outcome, now: now)
        return instance
    }

    /// Starts `op` on a settled instance. A step that replaces the revision needs `revision`. `outcome` is
    /// evaluated only once the operation is allowed, so a refused request consumes no forced outcome.
    /// Throws `LifecycleError` when the operation may not start, or what `outcome` throws.
    public func begin(
        _ op: Operation, on instance: inout Instance, revision: Revision? = nil,
        templateTiming: TimingTable?, outcome: @autoclosure () throws -> Outcome, now: Instant
    ) throws {
        guard !instance.isInFlight else { throw LifecycleError.busy(id: instance.id, phase: instance.phase) }
        let step = try step(op, of: instance)
        var target: Revision?
        switch step.effect {
        case .none:
            break
        case .replaceRevision:
            guard revision != nil else { preconditionFailure("\(op) replaces the revision: pass the new one") }
        case .restoreKept:
            guard let kept = instance.previous else { throw LifecycleError.nothingKept(id: instance.id, operation: op) }
            target = kept
        }
        if let allowed = step.startsFrom, !allowed.contains(instance.phase) {
            throw LifecycleError.notAllowed(id: instance.id, operation: op, phase: instance.phase, allowed: allowed)
        }
        let decided = try outcome()
        if step.effect == .replaceRevision, let revision {
            instance.previous = instance.current
            instance.previousVersion = instance.current.version
            instance.current = revision
        }
        schedule(op, step, on: &instance, templateTiming: templateTiming, outcome: decided, now: now, target: target)
    }

    private func schedule(
        _ op: Operation, _ step: LifecycleTable.Step, on instance: inout Instance, templateTiming: TimingTable?,
        outcome: Outcome, now: Instant, target: Revision? = nil
    ) {
        let due = timing.delay(for: op, templateTiming: templateTiming).map { now.adding(milliseconds: $0) }
        instance.phase = step.inFlight
        instance.reason = ""
        instance.message = ""
        instance.updatedAt = now
        instance.pending = PendingTransition(operation: op, dueAt: due, outcome: outcome, target: target)
    }

    /// The instance as it is at `now`: every transition due by then is applied, in order, each stamped with
    /// its own due time. Returns nil when the instance has been deleted; a record of a service without a table
    /// (one this build does not serve) as it is.
    public func settled(_ instance: Instance, at now: Instant) -> Instance? {
        guard tables[instance.service] != nil else { return instance }
        var instance = instance
        while let pending = instance.pending, let due = pending.dueAt, due <= now {
            guard let next = complete(instance, at: due) else { return nil }
            instance = next
        }
        return instance
    }

    /// Applies the pending transition now, whatever its due time: the control API's "advance".
    /// Returns nil when that removes the instance; the instance unchanged when nothing is pending (or its
    /// service has no table: a row this build does not serve is left as it is).
    public func complete(_ instance: Instance, at when: Instant) -> Instance? {
        guard let pending = instance.pending, let table = tables[instance.service],
            let step = table.steps[pending.operation]
        else { return instance }
        var next = instance
        next.pending = nil
        next.updatedAt = when
        switch pending.outcome {
        case .succeed:
            guard let succeeded = step.succeeded else { return nil }
            if step.effect == .restoreKept {
                if let target = pending.target {
                    next.previousVersion = next.current.version
                    next.current = target
                }
                next.previous = nil
            }
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
