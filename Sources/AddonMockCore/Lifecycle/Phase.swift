/// The phase of a managed instance, named as CCE names add-on statuses. Other services map these names
/// to their own vocabulary (ModelArts: installing -> Pending, running -> Running, ...).
public enum Phase: String, Sendable, CaseIterable {
    case installing, upgrading, rollbacking, deleting
    case running, available, abnormal, unknown
    case installFailed, upgradeFailed, rollbackFailed, deleteFailed

    /// An operation is under way: any other operation on the instance is a conflict until it settles.
    public var isInFlight: Bool {
        switch self {
        case .installing, .upgrading, .rollbacking, .deleting: return true
        default: return false
        }
    }
}

/// What a client asked the instance to do.
public enum Operation: String, Sendable, CaseIterable {
    case install, upgrade, rollback, delete

    public var inFlightPhase: Phase {
        switch self {
        case .install: return .installing
        case .upgrade: return .upgrading
        case .rollback: return .rollbacking
        case .delete: return .deleting
        }
    }

    public var failedPhase: Phase {
        switch self {
        case .install: return .installFailed
        case .upgrade: return .upgradeFailed
        case .rollback: return .rollbackFailed
        case .delete: return .deleteFailed
        }
    }

    /// Present participle for messages ("is installing").
    public var gerund: String { inFlightPhase.rawValue }
}

/// How an operation ends. Decided when the operation begins (by rule, probability or request), so the
/// stored record alone determines the future and a restart replays it exactly.
public enum Outcome: Sendable, Equatable {
    case succeed
    /// Ends in the operation's failed phase (installFailed, upgradeFailed, ...).
    case fail(reason: String, message: String)
    /// Ends in `abnormal`: the operation went through but the result is unhealthy.
    case abnormal(reason: String, message: String)
}
