import AddonMockCore
import AddonMockHTTP
import AddonMockKit
import Synchronization

/// The fault rules in force, in creation order: the first lifecycle rule that fires decides an outcome; HTTP rules
/// compose (see `httpFault`). Kept in memory: a restart starts with none, like the journal. Probabilistic rules draw from a generator seeded by `--seed`.
final class FaultBook: OutcomeDecider {
    static let outcomeHeader = "X-Addonmock-Outcome"
    static let reasonHeader = "X-Addonmock-Reason"

    private struct State {
        var rules: [FaultRule] = []
        var nextID = 1
    }

    private let state = Locked(State())
    /// How many rules there are (exhausted ones too), stored under the lock by `changeRules`: with none, which is how most requests
    /// find the book, they do not take the lock the workers share.
    private let ruleCount = Atomic<Int>(0)
    private let random: SeededRandom
    /// Each stored service name's resource kind: its scope fields and lifecycle table.
    private let kinds: [String: ResourceKind]

    init(seed: UInt64, kinds: [String: ResourceKind]) {
        // A stream of its own, so timing jitter and fault draws do not shift each other.
        random = SeededRandom(seed: seed ^ 0x5EED_FA17_5EED_FA17)
        self.kinds = kinds
    }

    var rules: [FaultRule] { state.withLock { $0.rules } }

    func add(match: FaultMatch, effect: FaultEffect, times: Int?, probability: Double) -> FaultRule {
        changeRules { s in
            let rule = FaultRule(id: "fault-\(s.nextID)", match: match, effect: effect, times: times, probability: probability)
            s.nextID += 1
            s.rules.append(rule)
            return rule
        }
    }

    func remove(id: String) -> FaultRule? {
        changeRules { s in
            guard let i = s.rules.firstIndex(where: { $0.id == id }) else { return nil }
            return s.rules.remove(at: i)
        }
    }

    @discardableResult
    func removeAll() -> Int {
        changeRules { s in
            defer { s.rules = [] }
            return s.rules.count
        }
    }

    /// Adds or removes rules under the lock, and keeps `ruleCount` in step: every change to the list goes through here.
    private func changeRules<T>(_ body: (inout State) -> T) -> T {
        state.withLock { s in
            defer { ruleCount.store(s.rules.count, ordering: .releasing) }
            return body(&s)
        }
    }

    /// The HTTP faults for this request, with the ids of the rules that fired. A delay and an answer compose: the
    /// first rule that fires with a latency gives the delay, the first that fires with a status or a drop gives
    /// the answer, so a latency rule never hides a status rule after it. `subject` is only built (it may parse the
    /// body) when some HTTP rule could fire.
    func httpFault(for subject: () -> FaultSubject) -> (ids: String, fault: HTTPFault)? {
        guard ruleCount.load(ordering: .acquiring) > 0 else { return nil }
        let armed = state.withLock { s in s.rules.contains { !$0.isLifecycle && !$0.isExhausted } }
        guard armed else { return nil }
        let subject = subject()
        return state.withLock { s in
            var ids: [String] = []
            var combined = HTTPFault()
            for i in s.rules.indices {
                guard case .http(let f) = s.rules[i].effect else { continue }
                let answers = f.status != nil || f.drop
                let wanted = (f.latencyMs != nil && combined.latencyMs == nil) || (answers && combined.status == nil && !combined.drop)
                guard wanted, s.rules[i].fire(for: subject, roll: random.nextUnit) else { continue }
                ids.append(s.rules[i].id)
                if combined.latencyMs == nil { combined.latencyMs = f.latencyMs }
                if answers && combined.status == nil && !combined.drop {
                    (combined.status, combined.code, combined.message, combined.drop) = (f.status, f.code, f.message, f.drop)
                    break
                }
            }
            return ids.isEmpty ? nil : (ids.joined(separator: ","), combined)
        }
    }

    func latency(_ range: ClosedRange<Int64>) -> Int64 { random.next(in: range) }

    // MARK: OutcomeDecider

    func outcome(
        for operation: Operation, service: String, scope: String, template: String,
        _ ctx: RequestContext
    ) throws(APIError) -> Outcome {
        if let header = ctx.request.headers[Self.outcomeHeader] {
            return try outcome(
                fromHeader: header, operation: operation, table: kinds[service]?.lifecycle, template: template,
                reason: ctx.request.headers[Self.reasonHeader])
        }
        // Every write starts an operation: with no lifecycle rule in force, nothing is built for matching.
        guard ruleCount.load(ordering: .acquiring) > 0, state.withLock({ s in s.rules.contains { $0.isLifecycle && !$0.isExhausted } })
        else { return .succeed }
        let subject = ctx.faultSubject(template: template, scope: kinds[service]?.fields(of: scope) ?? [:], operation: operation)
        let fired: (String, ForcedFailure, String?, String?)? = state.withLock { s in
            for i in s.rules.indices {
                guard case let .lifecycle(failure, reason, message) = s.rules[i].effect else { continue }
                if s.rules[i].fire(for: subject, roll: random.nextUnit) { return (s.rules[i].id, failure, reason, message) }
            }
            return nil
        }
        guard let (id, failure, reason, message) = fired else { return .succeed }
        return Self.failure(
            failure, operation: operation, template: template, source: "fault rule \(id)",
            reason: reason, message: message)
    }

    private func outcome(
        fromHeader value: String, operation: Operation, table: LifecycleTable?, template: String,
        reason: String?
    ) throws(APIError) -> Outcome {
        let failedPhase = table?.steps[operation]?.failed
        switch value {
        case "succeed", "success": return .succeed
        case "fail", "failed":
            return Self.failure(
                failedPhase.map { .failedPhase($0, of: operation) } ?? .abnormal, operation: operation,
                template: template, source: Self.outcomeHeader, reason: reason, message: nil)
        default:
            guard let failure = ForcedFailure.parse(value, tables: table.map { [$0] } ?? [], operation: operation) else {
                let phases = table.map { t in t.operations.compactMap { t.steps[$0]?.failed.rawValue } } ?? []
                throw APIError(
                    .badRequest, "\(Self.outcomeHeader) must be succeed, fail, abnormal or one of \(phases.joined(separator: ", ")); got \"\(value)\""
                )
            }
            if let op = failure.operation, op != operation {
                throw APIError(
                    .badRequest,
                    "\(Self.outcomeHeader) \(value) does not apply to this request, which starts \(operation.rawValue.withArticle)"
                )
            }
            return Self.failure(
                failure, operation: operation, template: template, source: Self.outcomeHeader,
                reason: reason, message: nil)
        }
    }

    static func failure(
        _ failure: ForcedFailure, operation: Operation, template: String?, source: String,
        reason: String?, message: String?
    ) -> Outcome {
        let defaultReason: String
        switch failure {
        case .abnormal: defaultReason = "Abnormal"
        case .failedPhase(let p, _): defaultReason = p.rawValue.prefix(1).uppercased() + p.rawValue.dropFirst()
        }
        let reason = reason ?? defaultReason
        let message = message ?? "\(operation.rawValue) of \(template ?? "the resource") failed (forced by \(source))"
        if case .abnormal = failure { return .abnormal(reason: reason, message: message) }
        return .fail(reason: reason, message: message)
    }
}
