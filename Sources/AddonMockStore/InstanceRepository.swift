import AddonMockCore

/// Instance rows <-> domain records. Called inside `Database.read`/`write`, so each method runs under the
/// connection lock and, for writes, inside the caller's transaction.
extension Connection {
    private static let columns = """
        id, service, scope, template, version, values_json, previous_version, previous_values_json, \
        annotations_json, phase, reason, message, pending_operation, pending_due, pending_outcome, pending_reason, \
        pending_message, pending_target_version, pending_target_values_json, created_at, updated_at, previous_version_shown
        """

    // Built once: statements are cached by their text, and these run on every request.
    private static let byID = "SELECT \(columns) FROM instances WHERE id = ?1"
    private static let byName = "SELECT \(columns) FROM instances WHERE service = ?1 AND scope = ?2 AND template = ?3"
    private static let byScope = "SELECT \(columns) FROM instances WHERE service = ?1 AND scope = ?2 ORDER BY created_at, rowid"
    private static let insertRow = "INSERT INTO instances (\(columns)) VALUES (\((1...22).map { "?\($0)" }.joined(separator: ", ")))"

    public func instance(id: String) throws -> Instance? {
        try first(Self.byID, [.text(id)])
    }

    public func instance(service: String, scope: String, template: String) throws -> Instance? {
        try first(Self.byName, [.text(service), .text(scope), .text(template)])
    }

    /// Oldest first (creation order within the same millisecond), a stable order for list responses.
    public func instances(service: String, scope: String) throws -> [Instance] {
        try all(Self.byScope, [.text(service), .text(scope)])
    }

    /// Every instance whose pending transition is due at `now`.
    public func dueInstances(at now: Instant, limit: Int = 1000) throws -> [Instance] {
        try all(
            "SELECT \(Self.columns) FROM instances WHERE pending_due <= ?1 ORDER BY pending_due LIMIT ?2",
            [.integer(now.milliseconds), .integer(Int64(limit))])
    }

    /// When the earliest pending transition falls due (an index lookup); nil when none is scheduled.
    public func nextDue() throws -> Instant? {
        let s = try statement("SELECT min(pending_due) FROM instances WHERE pending_due IS NOT NULL")
        defer { s.finish() }
        return try s.step() && !s.isNull(0) ? Instant(milliseconds: s.int64(0)) : nil
    }

    /// How many records of each service and scope have an operation in flight (stored), for the counts kept
    /// from then on as writes happen.
    public func inFlightCounts() throws -> [(service: String, scope: String, count: Int)] {
        let s = try statement(
            "SELECT service, scope, count(*) FROM instances WHERE pending_operation IS NOT NULL GROUP BY service, scope")
        defer { s.finish() }
        var out: [(String, String, Int)] = []
        while try s.step() { out.append((s.text(0), s.text(1), Int(s.int64(2)))) }
        return out
    }

    /// One record of `services` with an operation in flight, in `scope` (or, with `scopePrefix`, in a scope starting
    /// with it; neither: anywhere), oldest first: the example a wait's timeout names.
    public func firstInFlight(services: [String], scope: String? = nil, scopePrefix: String? = nil) throws -> Instance? {
        var values: [SQLValue] = services.map { .text($0) }
        var sql = "SELECT \(Self.columns) FROM instances WHERE pending_operation IS NOT NULL AND service IN ("
        sql += services.indices.map { "?\($0 + 1)" }.joined(separator: ",") + ")"
        if let scope { values.append(.text(scope)); sql += " AND scope = ?\(values.count)" }
        if let scopePrefix {
            values.append(.text(scopePrefix))
            sql += " AND substr(scope, 1, length(?\(values.count))) = ?\(values.count)"
        }
        return try first(sql + " ORDER BY created_at, rowid LIMIT 1", values)
    }

    public func instanceCount() throws -> Int {
        Int(try scalarInt("SELECT count(*) FROM instances") ?? 0)
    }

    public func insert(_ i: Instance) throws {
        try run(Self.insertRow, Self.values(of: i))
    }

    /// Writes every mutable column; `id`, service, scope, template and creation time never change.
    public func update(_ i: Instance) throws {
        try run(
            """
            UPDATE instances SET version = ?5, values_json = ?6, previous_version = ?7, previous_values_json = ?8,
                annotations_json = ?9, phase = ?10, reason = ?11, message = ?12, pending_operation = ?13, pending_due = ?14,
                pending_outcome = ?15, pending_reason = ?16, pending_message = ?17, pending_target_version = ?18,
                pending_target_values_json = ?19, updated_at = ?21, previous_version_shown = ?22
            WHERE id = ?1 AND service = ?2 AND scope = ?3 AND template = ?4 AND created_at = ?20
            """, Self.values(of: i))
    }

    public func deleteInstance(id: String) throws {
        try run("DELETE FROM instances WHERE id = ?1", [.text(id)])
    }

    /// Deletes every instance, or those of `services` in `scope`, or (with `scopePrefix`) in scopes starting
    /// with it. Returns how many went.
    public func deleteInstances(services: [String]? = nil, scope: String? = nil, scopePrefix: String? = nil) throws -> Int {
        var sql = "DELETE FROM instances WHERE 1"
        var values: [SQLValue] = []
        if let services {
            sql +=
                " AND service IN ("
                + services.map { service -> String in
                    values.append(.text(service))
                    return "?\(values.count)"
                }.joined(separator: ",") + ")"
        }
        if let scope { values.append(.text(scope)); sql += " AND scope = ?\(values.count)" }
        if let scopePrefix {
            // substr rather than LIKE: scope text may hold % or _.
            values.append(.text(scopePrefix))
            sql += " AND substr(scope, 1, length(?\(values.count))) = ?\(values.count)"
        }
        try run(sql, values)
        return changes
    }

    /// Up to `limit` instances of `services` with ids after `after` (nil: from the first), in id order: a page of a
    /// walk through all of them that holds no more than a page (exports, the control API's listing).
    public func instancesPage(services: [String], after: String?, limit: Int) throws -> [Instance] {
        var values: [SQLValue] = services.map { .text($0) }
        // `+service`: not the (service, scope, template) index, which would sort every row of the service for each
        // page; the primary key's index walks ids in order and stops after `limit`.
        var sql = "SELECT \(Self.columns) FROM instances WHERE +service IN (" + services.indices.map { "?\($0 + 1)" }.joined(separator: ",") + ")"
        if let after {
            values.append(.text(after))
            sql += " AND id > ?\(values.count)"
        }
        values.append(.integer(Int64(limit)))
        return try all(sql + " ORDER BY id LIMIT ?\(values.count)", values)
    }

    /// Every instance of the given services, oldest first (for the control API's listing).
    public func allInstances(services: [String]) throws -> [Instance] {
        var values: [SQLValue] = []
        let list = services.map { s -> String in
            values.append(.text(s)); return "?\(values.count)"
        }.joined(separator: ",")
        return try all("SELECT \(Self.columns) FROM instances WHERE service IN (\(list)) ORDER BY created_at, rowid", values)
    }

    private static func values(of i: Instance) -> [SQLValue] {
        let p = i.pending
        var outcome: SQLValue = .null, reason: SQLValue = .null, message: SQLValue = .null
        switch p?.outcome {
        case .succeed?: outcome = .text("succeed")
        case let .fail(r, m)?: outcome = .text("fail"); reason = .text(r); message = .text(m)
        case let .abnormal(r, m)?: outcome = .text("abnormal"); reason = .text(r); message = .text(m)
        case nil: break
        }
        return [
            .text(i.id), .text(i.service), .text(i.scope), .text(i.template),
            .text(i.current.version), .utf8(i.current.values.bytes),
            i.previous.map { .text($0.version) } ?? .null, i.previous.map { .utf8($0.values.bytes) } ?? .null,
            .utf8(i.annotations.bytes), .text(i.phase.rawValue), .text(i.reason), .text(i.message),
            p.map { .text($0.operation.rawValue) } ?? .null,
            p?.dueAt.map { .integer($0.milliseconds) } ?? .null,
            outcome, reason, message,
            p?.target.map { .text($0.version) } ?? .null, p?.target.map { .utf8($0.values.bytes) } ?? .null,
            .integer(i.createdAt.milliseconds), .integer(i.updatedAt.milliseconds),
            i.previousVersion.map { .text($0) } ?? .null,
        ]
    }

    private func first(_ sql: String, _ values: [SQLValue]) throws -> Instance? {
        let stmt = try statement(sql, values)
        defer { stmt.finish() }
        return try stmt.step() ? try Self.decode(stmt) : nil
    }

    private func all(_ sql: String, _ values: [SQLValue]) throws -> [Instance] {
        let stmt = try statement(sql, values)
        defer { stmt.finish() }
        var out: [Instance] = []
        while try stmt.step() { out.append(try Self.decode(stmt)) }
        return out
    }

    /// A row with an empty service or phase, or an unknown operation or outcome, was not written by this program.
    public struct CorruptRow: Error, CustomStringConvertible {
        public let id: String
        public let field: String
        public var description: String { "instance \(id) has an invalid \(field) in the database" }
    }

    private static func decode(_ s: Statement) throws -> Instance {
        let id = s.text(0)
        let service = s.text(1), phase = Phase(s.text(9))
        guard !service.isEmpty else { throw CorruptRow(id: id, field: "service") }
        guard !phase.rawValue.isEmpty else { throw CorruptRow(id: id, field: "phase") }
        var pending: PendingTransition?
        if let opName = s.optionalText(12) {
            guard let op = Operation(rawValue: opName) else { throw CorruptRow(id: id, field: "pending_operation") }
            let outcome: Outcome
            switch s.optionalText(14) {
            case "fail"?: outcome = .fail(reason: s.optionalText(15) ?? "", message: s.optionalText(16) ?? "")
            case "abnormal"?: outcome = .abnormal(reason: s.optionalText(15) ?? "", message: s.optionalText(16) ?? "")
            case "succeed"?, nil: outcome = .succeed
            default: throw CorruptRow(id: id, field: "pending_outcome")
            }
            let target = s.optionalText(17).map { Revision(version: $0, values: RawJSON(trusted: s.bytes(18))) }
            pending = PendingTransition(
                operation: op, dueAt: s.isNull(13) ? nil : Instant(milliseconds: s.int64(13)),
                outcome: outcome, target: target)
        }
        return Instance(
            id: id, service: service, scope: s.text(2), template: s.text(3),
            current: Revision(version: s.text(4), values: RawJSON(trusted: s.bytes(5))),
            previous: s.optionalText(6).map { Revision(version: $0, values: RawJSON(trusted: s.bytes(7))) },
            previousVersion: s.optionalText(21),
            annotations: RawJSON(trusted: s.bytes(8)), phase: phase, reason: s.text(10), message: s.text(11),
            pending: pending, createdAt: Instant(milliseconds: s.int64(19)), updatedAt: Instant(milliseconds: s.int64(20)))
    }
}
