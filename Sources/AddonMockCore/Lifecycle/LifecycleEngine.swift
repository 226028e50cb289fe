/// Why an operation may not start now. Services turn these into their own 409 bodies.
public enum LifecycleError: Error, Equatable, CustomStringConvertible {
    /// Another operation is under way.
    case busy(id: String, phase: Phase)
    /// Rollback asked of an instance with no previous version.
    case notRollbackable(id: String)
    /// Rollback asked in a phase that does not allow it.
    case rollbackNotAllowed(id: String, phase: Phase)

    public var description: String {
        switch self {
        case let .busy(id, phase):
            return "instance \(id) is \(phase.rawValue); wait until the operation finishes"
        case let .notRollbackable(id):
            return "instance \(id) has no previous version to roll back to (isRollbackable is false)"
        case let .rollbackNotAllowed(id, phase):
            let allowed = LifecycleEngine.rollbackPhases.map(\.rawValue).sorted().joined(separator: ", ")
            return "instance \(id) is \(phase.rawValue); rollback is allowed only when it is one of: \(allowed)"
        }
    }
}

/// The state machine. Pure: it never reads a clock or storage, it is handed `now` and a record.
///
///     installing  -> running | installFailed
///     upgrading   -> running | upgradeFailed
///     rollbacking -> running | rollbackFailed   (running restores the previous revision)
///     deleting    -> gone    | deleteFailed
public struct LifecycleEngine: Sendable {
    public static let rollbackPhases: Set<Phase> = [.running, .available, .abnormal, .upgradeFailed, .rollbackFailed]

    public let timing: Timing

    public init(timing: Timing) { self.timing = timing }

    /// A new instance, installing.
    public func install(id: String, service: ServiceKind, scope: String, template: String, revision: Revision,
                        annotations: RawJSON, templateTiming: TimingTable?, outcome: Outcome, now: Instant) -> Instance {
        var instance = Instance(id: id, service: service, scope: scope, template: template, current: revision,
                                annotations: annotations, phase: .installing, createdAt: now, updatedAt: now)
        schedule(.install, on: &instance, templateTiming: templateTiming, outcome: outcome, now: now)
        return instance
    }

    /// Starts `op` on a settled instance. `upgrade` needs `revision` (the new version and values). `outcome` is
    /// evaluated only once the operation is allowed, so a refused request consumes no forced outcome.
    /// Throws `LifecycleError` when the operation may not start, or what `outcome` throws.
    public func begin(_ op: Operation, on instance: inout Instance, revision: Revision? = nil,
                      templateTiming: TimingTable?, outcome: @autoclosure () throws -> Outcome, now: Instant) throws {
        guard !instance.phase.isInFlight else { throw LifecycleError.busy(id: instance.id, phase: instance.phase) }
        var target: Revision?
        switch op {
        case .install:
            preconditionFailure("install creates a new instance: use install(...)")
        case .upgrade:
            guard revision != nil else { preconditionFailure("upgrade needs the new revision") }
        case .rollback:
            guard let previous = instance.previous else { throw LifecycleError.notRollbackable(id: instance.id) }
            guard Self.rollbackPhases.contains(instance.phase) else {
                throw LifecycleError.rollbackNotAllowed(id: instance.id, phase: instance.phase)
            }
            target = previous
        case .delete:
            break
        }
        let decided = try outcome()
        if op == .upgrade, let revision {
            instance.previous = instance.current
            instance.current = revision
        }
        schedule(op, on: &instance, templateTiming: templateTiming, outcome: decided, now: now, target: target)
    }

    private func schedule(_ op: Operation, on instance: inout Instance, templateTiming: TimingTable?,
                          outcome: Outcome, now: Instant, target: Revision? = nil) {
        let due = timing.delay(for: op, templateTiming: templateTiming).map { now.adding(milliseconds: $0) }
        instance.phase = op.inFlightPhase
        instance.reason = ""
        instance.message = ""
        instance.updatedAt = now
        instance.pending = PendingTransition(operation: op, dueAt: due, outcome: outcome, target: target)
    }

    /// The instance as it is at `now`: every transition due by then is applied, in order, each stamped with
    /// its own due time. Returns nil when the instance has been deleted.
    public func settled(_ instance: Instance, at now: Instant) -> Instance? {
        var instance = instance
        while let pending = instance.pending, let due = pending.dueAt, due <= now {
            guard let next = complete(instance, at: due) else { return nil }
            instance = next
        }
        return instance
    }

    /// Applies the pending transition now, whatever its due time: the control API's "advance".
    /// Returns nil when that deletes the instance; the instance unchanged when nothing is pending.
    public func complete(_ instance: Instance, at when: Instant) -> Instance? {
        guard let pending = instance.pending else { return instance }
        var next = instance
        next.pending = nil
        next.updatedAt = when
        switch pending.outcome {
        case .succeed:
            switch pending.operation {
            case .delete:
                return nil
            case .rollback:
                if let target = pending.target { next.current = target }
                next.previous = nil
            case .install, .upgrade:
                break
            }
            next.phase = .running
            next.reason = ""
            next.message = ""
        case let .fail(reason, message):
            next.phase = pending.operation.failedPhase
            next.reason = reason
            next.message = message
        case let .abnormal(reason, message):
            next.phase = .abnormal
            next.reason = reason
            next.message = message
        }
        return next
    }
}
