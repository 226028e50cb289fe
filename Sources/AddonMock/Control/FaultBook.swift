import AddonMockCore
import AddonMockHTTP

/// The fault rules in force, in creation order (the first rule that fires wins). Kept in memory: a restart
/// starts with none, like the journal. Probabilistic rules draw from a generator seeded by `--seed`.
final class FaultBook: OutcomeDecider {
    static let outcomeHeader = "X-Addonmock-Outcome"
    static let reasonHeader = "X-Addonmock-Reason"

    private struct State {
        var rules: [FaultRule] = []
        var nextID = 1
    }

    private let state = Locked(State())
    private let random: SeededRandom

    init(seed: UInt64) {
        // A stream of its own, so timing jitter and fault draws do not shift each other.
        random = SeededRandom(seed: seed ^ 0x5EED_FA17_5EED_FA17)
    }

    var rules: [FaultRule] { state.withLock { $0.rules } }

    func add(match: FaultMatch, effect: FaultEffect, times: Int?, probability: Double) -> FaultRule {
        state.withLock { s in
            let rule = FaultRule(id: "fault-\(s.nextID)", match: match, effect: effect, times: times, probability: probability)
            s.nextID += 1
            s.rules.append(rule)
            return rule
        }
    }

    func remove(id: String) -> FaultRule? {
        state.withLock { s in
            guard let i = s.rules.firstIndex(where: { $0.id == id }) else { return nil }
            return s.rules.remove(at: i)
        }
    }

    @discardableResult
    func removeAll() -> Int {
        state.withLock { s in
            defer { s.rules = [] }
            return s.rules.count
        }
    }

    /// The first HTTP rule that fires for this request, with its id. `subject` is only built (it may parse the
    /// body) when some HTTP rule could fire.
    func httpFault(for subject: () -> FaultSubject) -> (id: String, fault: HTTPFault)? {
        let armed = state.withLock { s in s.rules.contains { !$0.isLifecycle && !$0.isExhausted } }
        guard armed else { return nil }
        return fire(subject()) { rule in
            if case .http(let f) = rule.effect { return f }
            return nil
        }
    }

    private func fire<T>(_ subject: FaultSubject, _ select: (FaultRule) -> T?) -> (id: String, fault: T)? {
        state.withLock { s in
            for i in s.rules.indices {
                guard let value = select(s.rules[i]) else { continue }
                if s.rules[i].fire(for: subject, roll: random.nextUnit) { return (s.rules[i].id, value) }
            }
            return nil
        }
    }

    func latency(_ range: ClosedRange<Int64>) -> Int64 { random.next(in: range) }

    // MARK: OutcomeDecider

    func outcome(for operation: Operation, subject: FaultSubject, request: HTTPRequest) throws(APIError) -> Outcome {
        var subject = subject
        subject.operation = operation
        if let header = request.headers[Self.outcomeHeader] {
            return try outcome(fromHeader: header, operation: operation, subject: subject, reason: request.headers[Self.reasonHeader])
        }
        let fired = fire(subject) { rule -> (ForcedFailure, String?, String?)? in
            if case let .lifecycle(failure, reason, message) = rule.effect { return (failure, reason, message) }
            return nil
        }
        guard let (id, (failure, reason, message)) = fired else { return .succeed }
        return Self.failure(failure, operation: operation, template: subject.template, source: "fault rule \(id)",
                            reason: reason, message: message)
    }

    private func outcome(fromHeader value: String, operation: Operation, subject: FaultSubject, reason: String?) throws(APIError) -> Outcome {
        switch value {
        case "succeed", "success": return .succeed
        case "fail", "failed":
            return Self.failure(.failedPhase(operation.failedPhase), operation: operation, template: subject.template,
                                source: Self.outcomeHeader, reason: reason, message: nil)
        default:
            guard let failure = ForcedFailure.parse(value) else {
                throw APIError(.badRequest, "\(Self.outcomeHeader) must be succeed, fail, abnormal or one of installFailed, upgradeFailed, rollbackFailed, deleteFailed; got \"\(value)\"")
            }
            if let op = failure.operation, op != operation {
                throw APIError(.badRequest, "\(Self.outcomeHeader) \(value) does not apply to this request, which starts a\(operation == .install || operation == .upgrade ? "n" : "") \(operation.rawValue)")
            }
            return Self.failure(failure, operation: operation, template: subject.template, source: Self.outcomeHeader,
                                reason: reason, message: nil)
        }
    }

    static func failure(_ failure: ForcedFailure, operation: Operation, template: String?, source: String,
                        reason: String?, message: String?) -> Outcome {
        let defaultReason: String
        switch failure {
        case .abnormal: defaultReason = "Abnormal"
        case .failedPhase(let p): defaultReason = p.rawValue.prefix(1).uppercased() + p.rawValue.dropFirst()
        }
        let reason = reason ?? defaultReason
        let message = message ?? "\(operation.rawValue) of \(template ?? "the instance") failed (forced by \(source))"
        if case .abnormal = failure { return .abnormal(reason: reason, message: message) }
        return .fail(reason: reason, message: message)
    }
}
