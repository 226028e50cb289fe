import AddonMockCore
import AddonMockKit

/// Control-API JSON <-> fault rules.
///
///     {"match": {"method", "route", "service", "template", "operation", and the services' scope fields:
///                "cluster", "project", "pool"},
///      "outcome": "installFailed" | "upgradeFailed" | "rollbackFailed" | "deleteFailed" | "abnormal",  "reason", "message"
///        -- or --
///      "status": 429, "code": "…", "message": "…", "latencyMs": 250 | {"min": 100, "max": 500}, "drop": true,
///      "times": N, "probability": 0.25}
struct FaultSpec {
    let match: FaultMatch
    let effect: FaultEffect
    let times: Int?
    let probability: Double

    /// What rules may name: the services' names (as routes are tagged), their scope fields, their lifecycle tables.
    struct Vocabulary: Sendable {
        let services: [String]
        let scopeFields: [String]
        let tables: [LifecycleTable]

        /// Every operation of every table, in table order.
        var operations: [Operation] { tables.flatMap(\.operations).uniqued }
    }

    static func decode(_ body: BodyReader, _ vocabulary: Vocabulary) throws(APIError) -> FaultSpec {
        try body.allowOnly(["match", "outcome", "reason", "message", "status", "code", "latencyMs", "drop", "times", "probability"])
        var match = FaultMatch()
        if let m = try body.optionalObject("match") {
            try m.allowOnly(Set(["method", "route", "service", "template", "operation"] + vocabulary.scopeFields))
            match.method = try m.optionalString("method")?.uppercased()
            match.route = try m.optionalString("route")
            match.service = try m.optionalString("service")
            if let s = match.service, !vocabulary.services.contains(s) {
                throw APIError(.badRequest, "match.service must be one of \(vocabulary.services.joined(separator: ", ")), got \"\(s)\"")
            }
            match.template = try m.optionalString("template")
            for field in vocabulary.scopeFields { match.scope[field] = try m.optionalString(field) }
            if let op = try m.optionalString("operation") {
                guard vocabulary.operations.contains(Operation(op)) else {
                    throw APIError(.badRequest, "match.operation must be \(vocabulary.operations.map(\.rawValue).orList), got \"\(op)\"")
                }
                match.operation = Operation(op)
            }
        }

        let message = try body.optionalString("message")
        let effect: FaultEffect
        if let outcome = try body.optionalString("outcome") {
            for key in ["status", "code", "latencyMs", "drop"] where body.optional(key) != nil {
                throw APIError(.badRequest, "\(key) is for HTTP faults and cannot be combined with outcome (a lifecycle fault)")
            }
            guard let failure = ForcedFailure.parse(outcome, tables: vocabulary.tables, operation: match.operation) else {
                let names = vocabulary.tables.flatMap { table in table.operations.compactMap { table.steps[$0]?.failed.rawValue } }.uniqued
                throw APIError(.badRequest, "outcome must be \(names.joined(separator: ", ")) or abnormal, got \"\(outcome)\"")
            }
            if let op = failure.operation {
                if let m = match.operation, m != op {
                    throw APIError(.badRequest, "outcome \(outcome) cannot happen to a \(m.rawValue) (match.operation)")
                }
                match.operation = op
            }
            effect = .lifecycle(failure, reason: try body.optionalString("reason"), message: message)
        } else {
            if match.operation != nil {
                throw APIError(.badRequest, "match.operation is for outcome rules; HTTP faults match on method and route")
            }
            if body.optional("reason") != nil { throw APIError(.badRequest, "reason is for outcome rules") }
            let status = try body.optionalInt("status", in: 400...599)
            let code = try body.optionalString("code")
            if code != nil && status == nil { throw APIError(.badRequest, "code needs status") }
            if message != nil && status == nil { throw APIError(.badRequest, "message needs status (or outcome)") }
            let latency = try decodeLatency(body)
            let drop = try body.optionalBool("drop") ?? false
            if drop && status != nil { throw APIError(.badRequest, "drop closes the connection: it cannot also answer with a status") }
            guard status != nil || latency != nil || drop else {
                throw APIError(.badRequest, "a fault needs an effect: outcome, status, latencyMs or drop")
            }
            effect = .http(HTTPFault(latencyMs: latency, status: status, code: code, message: message, drop: drop))
        }
        let probability = try body.optionalNumber("probability") ?? 1
        guard probability > 0 && probability <= 1 else {
            throw APIError(.badRequest, "probability must be more than 0 and at most 1, got \(probability)")
        }
        return FaultSpec(
            match: match, effect: effect, times: try body.optionalInt("times", in: 1...1_000_000),
            probability: probability)
    }

    private static func decodeLatency(_ body: BodyReader) throws(APIError) -> ClosedRange<Int64>? {
        let limit = 0...60_000
        switch body.optional("latencyMs") {
        case nil: return nil
        case .number?:
            let ms = Int64(try body.optionalInt("latencyMs", in: limit)!)
            return ms...ms
        case .object?:
            let range = try body.object("latencyMs")
            try range.allowOnly(["min", "max"])
            guard let lo = try range.optionalInt("min", in: limit), let hi = try range.optionalInt("max", in: limit) else {
                throw APIError(.badRequest, "latencyMs as a range needs min and max")
            }
            guard lo <= hi else { throw APIError(.badRequest, "latencyMs.min must not exceed latencyMs.max") }
            return Int64(lo)...Int64(hi)
        case let other?:
            throw APIError(.badRequest, "latencyMs must be a number or {\"min\":…,\"max\":…}, got \(other.typeName)")
        }
    }

    static func write(_ rule: FaultRule, to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", rule.id)
        w.key("match")
        w.beginObject()
        let m = rule.match
        for (k, v) in [("method", m.method), ("route", m.route), ("service", m.service), ("template", m.template)] {
            if let v { w.field(k, v) }
        }
        for (k, v) in m.scope.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        if let op = m.operation { w.field("operation", op.rawValue) }
        w.endObject()
        switch rule.effect {
        case let .lifecycle(failure, reason, message):
            w.field("outcome", failure.name)
            if let reason { w.field("reason", reason) }
            if let message { w.field("message", message) }
        case .http(let f):
            if let s = f.status { w.key("status"); w.number(Int64(s)) }
            if let c = f.code { w.field("code", c) }
            if let m = f.message { w.field("message", m) }
            if let l = f.latencyMs {
                w.key("latencyMs")
                if l.lowerBound == l.upperBound {
                    w.number(l.lowerBound)
                } else {
                    w.beginObject(); w.key("min"); w.number(l.lowerBound); w.key("max"); w.number(l.upperBound); w.endObject()
                }
            }
            if f.drop { w.field("drop", true) }
        }
        w.key("times"); if let r = rule.remaining { w.number(Int64(r + rule.fired)) } else { w.null() }
        w.key("remaining"); if let r = rule.remaining { w.number(Int64(r)) } else { w.null() }
        w.key("fired"); w.number(Int64(rule.fired))
        w.key("probability"); w.numberLiteral(String(rule.probability))
        w.endObject()
    }
}
