/// What a request or an operation is, as far as fault rules can tell.
public struct FaultSubject: Sendable, Equatable {
    public var method: String
    /// The route pattern the request matched, e.g. `/api/v3/addons/{id}`.
    public var route: String
    /// The service name routes are tagged with (`cce`, `autopilot`, `modelarts`, …).
    public var service: String
    public var template: String?
    /// The scope fields the service reads from the request (CCE: cluster; ModelArts: project, pool).
    public var scope: [String: String]
    /// Known only when an operation begins (lifecycle rules).
    public var operation: Operation?

    public init(
        method: String, route: String, service: String, template: String? = nil, scope: [String: String] = [:],
        operation: Operation? = nil
    ) {
        self.method = method
        self.route = route
        self.service = service
        self.template = template
        self.scope = scope
        self.operation = operation
    }
}

/// Conditions a subject must meet; an absent field matches anything.
public struct FaultMatch: Sendable, Equatable {
    public var method: String?
    public var route: String?
    public var service: String?
    public var template: String?
    /// Scope fields that must equal the subject's (e.g. `cluster`).
    public var scope: [String: String]
    public var operation: Operation?

    public init(
        method: String? = nil, route: String? = nil, service: String? = nil, template: String? = nil,
        scope: [String: String] = [:], operation: Operation? = nil
    ) {
        self.method = method
        self.route = route
        self.service = service
        self.template = template
        self.scope = scope
        self.operation = operation
    }

    public func matches(_ s: FaultSubject) -> Bool {
        func ok(_ want: String?, _ have: String?) -> Bool { want == nil || want == have }
        return (method == nil || method!.uppercased() == s.method.uppercased())
            && ok(route, s.route) && ok(service, s.service) && ok(template, s.template)
            && scope.allSatisfy { s.scope[$0.key] == $0.value }
            && (operation == nil || operation == s.operation)
    }
}

/// How a forced lifecycle failure ends: in the failed phase of a given operation, or in the kind's degraded
/// phase whatever the operation (ModelArts shows every failure as Abnormal).
public enum ForcedFailure: Sendable, Equatable {
    case failedPhase(Phase, of: Operation)
    case abnormal

    /// `abnormal`, or a failed phase of one of `tables`: of `operation` when it fails into it (several steps may
    /// share a failed phase), else of the first step that does.
    public static func parse(_ text: String, tables: [LifecycleTable], operation: Operation? = nil) -> ForcedFailure? {
        if text == "abnormal" || text == "Abnormal" { return .abnormal }
        if let operation, tables.contains(where: { $0.steps[operation]?.failed.rawValue == text }) {
            return .failedPhase(Phase(text), of: operation)
        }
        for table in tables {
            if let op = table.operation(failingInto: Phase(text)) { return .failedPhase(Phase(text), of: op) }
        }
        return nil
    }

    public var name: String {
        switch self {
        case .failedPhase(let p, _): return p.rawValue
        case .abnormal: return "abnormal"
        }
    }

    /// The operation whose failure this is, if it names one.
    public var operation: Operation? {
        guard case .failedPhase(_, let op) = self else { return nil }
        return op
    }
}

/// What a rule does when it fires: fail the operation (lifecycle rule), or delay, refuse or drop the request (HTTP rule).
public enum FaultEffect: Sendable, Equatable {
    case lifecycle(ForcedFailure, reason: String?, message: String?)
    case http(HTTPFault)
}

public struct HTTPFault: Sendable, Equatable {
    /// Milliseconds to wait before answering: a fixed value when both bounds are equal.
    public var latencyMs: ClosedRange<Int64>?
    /// Answer with this status (in the service's error format) instead of serving the request.
    public var status: Int?
    public var code: String?
    public var message: String?
    /// Close the connection without an answer.
    public var drop: Bool

    public init(latencyMs: ClosedRange<Int64>? = nil, status: Int? = nil, code: String? = nil, message: String? = nil, drop: Bool = false) {
        self.latencyMs = latencyMs
        self.status = status
        self.code = code
        self.message = message
        self.drop = drop
    }
}

/// A fault rule and its firing budget.
public struct FaultRule: Sendable, Equatable {
    public let id: String
    public let match: FaultMatch
    public let effect: FaultEffect
    /// How many more times it may fire; nil = without limit.
    public var remaining: Int?
    /// Chance of firing on each match, from the seeded generator so a run repeats.
    public let probability: Double
    public var fired: Int = 0

    public init(id: String, match: FaultMatch, effect: FaultEffect, times: Int?, probability: Double) {
        self.id = id
        self.match = match
        self.effect = effect
        self.remaining = times
        self.probability = probability
    }

    public var isExhausted: Bool { remaining == 0 }

    public var isLifecycle: Bool {
        if case .lifecycle = effect { return true }
        return false
    }

    /// Decides whether the rule fires for `subject`, consuming one of its firings if so. `roll` gives a uniform
    /// number in [0, 1) and is only called for rules with a probability below 1, so certain rules do not move
    /// the generator (adding one does not change which probabilistic faults fire).
    public mutating func fire(for subject: FaultSubject, roll: () -> Double) -> Bool {
        guard !isExhausted, match.matches(subject) else { return false }
        if probability < 1, roll() >= probability { return false }
        if let r = remaining { remaining = r - 1 }
        fired += 1
        return true
    }
}

extension SeededRandom {
    /// Uniform in [0, 1).
    public func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
