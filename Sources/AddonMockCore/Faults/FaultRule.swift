/// What a request or an operation is, as far as fault rules can tell.
public struct FaultSubject: Sendable, Equatable {
    public var method: String
    /// The route pattern, e.g. `/api/v3/addons/{id}`.
    public var route: String
    /// `cce`, `autopilot` or `modelarts`.
    public var service: String
    public var template: String?
    public var cluster: String?
    public var project: String?
    public var pool: String?
    /// Known only when an operation begins (lifecycle rules).
    public var operation: Operation?

    public init(method: String, route: String, service: String, template: String? = nil, cluster: String? = nil,
                project: String? = nil, pool: String? = nil, operation: Operation? = nil) {
        self.method = method
        self.route = route
        self.service = service
        self.template = template
        self.cluster = cluster
        self.project = project
        self.pool = pool
        self.operation = operation
    }
}

/// Conditions a subject must meet; an absent field matches anything.
public struct FaultMatch: Sendable, Equatable {
    public var method: String?
    public var route: String?
    public var service: String?
    public var template: String?
    public var cluster: String?
    public var project: String?
    public var pool: String?
    public var operation: Operation?

    public init(method: String? = nil, route: String? = nil, service: String? = nil, template: String? = nil,
                cluster: String? = nil, project: String? = nil, pool: String? = nil, operation: Operation? = nil) {
        self.method = method
        self.route = route
        self.service = service
        self.template = template
        self.cluster = cluster
        self.project = project
        self.pool = pool
        self.operation = operation
    }

    public func matches(_ s: FaultSubject) -> Bool {
        func ok(_ want: String?, _ have: String?) -> Bool { want == nil || want == have }
        return (method == nil || method!.uppercased() == s.method.uppercased())
            && ok(route, s.route) && ok(service, s.service) && ok(template, s.template)
            && ok(cluster, s.cluster) && ok(project, s.project) && ok(pool, s.pool)
            && (operation == nil || operation == s.operation)
    }
}

/// How a forced lifecycle failure ends: in the failed phase of a given operation, or in whatever failure the
/// operation that starts has (ModelArts shows every failure as Abnormal).
public enum ForcedFailure: Sendable, Equatable {
    case failedPhase(Phase)
    case abnormal

    public static func parse(_ text: String) -> ForcedFailure? {
        switch text {
        case "abnormal", "Abnormal": return .abnormal
        default:
            guard let phase = Phase(rawValue: text), Operation.allCases.contains(where: { $0.failedPhase == phase }) else { return nil }
            return .failedPhase(phase)
        }
    }

    public var name: String {
        switch self {
        case .failedPhase(let p): return p.rawValue
        case .abnormal: return "abnormal"
        }
    }

    /// The operation whose failure this is, if it names one.
    public var operation: Operation? {
        guard case .failedPhase(let p) = self else { return nil }
        return Operation.allCases.first { $0.failedPhase == p }
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
