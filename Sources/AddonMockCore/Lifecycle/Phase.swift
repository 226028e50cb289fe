/// A lifecycle state. The core gives it no names: each resource kind's `LifecycleTable` names its phases
/// (CCE add-ons: `installing`, `running`, `upgradeFailed`, …; clusters: `Creating`, `Available`, `Hibernation`),
/// and what is stored is that name.
public struct Phase: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ name: String) { rawValue = name }
    public init(stringLiteral name: String) { rawValue = name }

    public var description: String { rawValue }
}

/// What a client asked a resource to do: a verb of its kind's table (add-ons: install, upgrade, rollback, delete;
/// a cluster also hibernate and awake). Open, like `Phase`: the core knows none of them.
public struct Operation: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ name: String) { rawValue = name }
    public init(stringLiteral name: String) { rawValue = name }

    public var description: String { rawValue }
}

/// How an operation ends. Decided when the operation begins (by rule, probability or request), so the
/// stored record alone determines the future and a restart replays it exactly.
public enum Outcome: Sendable, Equatable {
    case succeed
    /// Ends in the operation's failed phase (the table's `failed`, e.g. installFailed).
    case fail(reason: String, message: String)
    /// Ends in the table's `degraded` phase: the operation went through but the result is unhealthy.
    case abnormal(reason: String, message: String)
}
