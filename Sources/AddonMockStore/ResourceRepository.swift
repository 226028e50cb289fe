import AddonMockCore

/// Resource rows <-> domain records, the same for every kind: its documents are stored as JSON text and read back
/// member by member. Called inside `Database.read`/`write`, so each method runs under the connection lock and, for
/// writes, inside the caller's transaction.
extension Connection {
    private static let columns = """
        id, service, scope, name, spec_json, status_json, phase, reason, message, pending_operation, pending_due, \
        pending_outcome, pending_reason, pending_message, pending_target_json, created_at, updated_at
        """
    private static let columnCount: Int32 = 17

    // Built once: statements are cached by their text, and these run on every request.
    private static let byID = "SELECT \(columns) FROM resources WHERE id = ?1"
    private static let byName = "SELECT \(columns) FROM resources WHERE service = ?1 AND scope = ?2 AND name = ?3"
    /// Unordered: the unique (service, scope, name) index finds the rows, and `resources(service:scope:)` orders the
    /// few it finds itself — an `ORDER BY` here made SQLite open its sorter for every list (1.6k instructions of a
    /// one-item list, Benchmarks/instructions.py).
    private static let byScope = "SELECT \(columns), rowid FROM resources WHERE service = ?1 AND scope = ?2"
    private static let insertRow = "INSERT INTO resources (\(columns)) VALUES (\((1...columnCount).map { "?\($0)" }.joined(separator: ", ")))"

    public func resource(id: String) throws -> Resource? {
        try first(Self.byID, [.text(id)])
    }

    public func resource(service: String, scope: String, name: String) throws -> Resource? {
        try first(Self.byName, [.text(service), .text(scope), .text(name)])
    }

    /// Oldest first (creation order within the same millisecond), a stable order for list responses.
    public func resources(service: String, scope: String) throws -> [Resource] {
        try resources(service: service, scope: scope) { _, _ in nil }.map(\.resource)
    }

    /// `resources(service:scope:)`, where `known` may hand back the record a row holds (by its id and when it was
    /// last changed) from a cache, so that row is not decoded (its documents not split again). Each record comes
    /// back with which of `known`'s answers it is (0 for the first record `known` gave, 1 for the second...; nil
    /// when decoded), so the caller finds what it kept beside that answer by position — a table by id, built and
    /// searched afterwards, cost a list of 100 300k instructions. (Not generic over what the caller keeps: across
    /// modules that ran unspecialised, copying every record through the runtime.)
    public func resources(
        service: String, scope: String, known: (_ id: String, _ updatedAt: Instant) -> Resource?
    ) throws -> [(resource: Resource, knownAnswer: Int?)] {
        let stmt = try statement(Self.byScope, [.text(service), .text(scope)])
        defer { stmt.finish() }
        var found: [(resource: Resource, knownAnswer: Int?, row: Int64)] = []
        var answers = 0
        while try stmt.step() {
            if let resource = known(stmt.text(0), Instant(milliseconds: stmt.int64(16))) {
                found.append((resource, answers, stmt.int64(Self.columnCount)))
                answers += 1
            } else {
                found.append((try Self.decode(stmt), nil, stmt.int64(Self.columnCount)))
            }
        }
        if found.count > 1 { found.sort { ($0.resource.createdAt, $0.row) < ($1.resource.createdAt, $1.row) } }
        return found.map { ($0.resource, $0.knownAnswer) }
    }

    /// Every resource whose pending transition is due at `now`.
    public func dueResources(at now: Instant, limit: Int = 1000) throws -> [Resource] {
        try all(
            "SELECT \(Self.columns) FROM resources WHERE pending_operation IS NOT NULL AND pending_due <= ?1 ORDER BY pending_due LIMIT ?2",
            [.integer(now.milliseconds), .integer(Int64(limit))])
    }

    /// When the earliest pending transition falls due (an index lookup); nil when none is scheduled.
    public func nextDue() throws -> Instant? {
        let s = try statement("SELECT min(pending_due) FROM resources WHERE pending_operation IS NOT NULL AND pending_due IS NOT NULL")
        defer { s.finish() }
        return try s.step() && !s.isNull(0) ? Instant(milliseconds: s.int64(0)) : nil
    }

    /// How many records each service has.
    public func countsByService() throws -> [String: Int] {
        let s = try statement("SELECT service, count(*) FROM resources GROUP BY service")
        defer { s.finish() }
        var out: [String: Int] = [:]
        while try s.step() { out[s.text(0)] = Int(s.int64(1)) }
        return out
    }

    /// How many records of each service and scope have an operation in flight (stored), for the counts kept
    /// from then on as writes happen. Read from the in-flight index, which the planner would pass over for the
    /// (service, scope, name) one, ordered as GROUP BY wants but as large as the table: 45 ms against 0.7 ms at 100k
    /// records, 100 of them in flight.
    public func inFlightCounts() throws -> [(service: String, scope: String, count: Int)] {
        let s = try statement(
            """
            SELECT service, scope, count(*) FROM resources INDEXED BY resources_pending
            WHERE pending_operation IS NOT NULL GROUP BY service, scope
            """)
        defer { s.finish() }
        var out: [(String, String, Int)] = []
        while try s.step() { out.append((s.text(0), s.text(1), Int(s.int64(2)))) }
        return out
    }

    /// One record of `services` with an operation in flight, in `scope` (or, with `scopePrefix`, in a scope starting
    /// with it; neither: anywhere), oldest first: the example a wait's timeout names.
    public func firstInFlight(services: [String], scope: String? = nil, scopePrefix: String? = nil) throws -> Resource? {
        var values: [SQLValue] = services.map { .text($0) }
        var sql = "SELECT \(Self.columns) FROM resources WHERE pending_operation IS NOT NULL AND service IN ("
        sql += services.indices.map { "?\($0 + 1)" }.joined(separator: ",") + ")"
        if let scope { values.append(.text(scope)); sql += " AND scope = ?\(values.count)" }
        if let scopePrefix {
            values.append(.text(scopePrefix))
            sql += " AND substr(scope, 1, length(?\(values.count))) = ?\(values.count)"
        }
        return try first(sql + " ORDER BY created_at, rowid LIMIT 1", values)
    }

    public func resourceCount() throws -> Int {
        Int(try scalarInt("SELECT count(*) FROM resources") ?? 0)
    }

    public func insert(_ r: Resource) throws {
        try run(Self.insertRow, Self.values(of: r))
    }

    /// Writes every mutable column; `id`, service, scope, name and creation time never change.
    public func update(_ r: Resource) throws {
        try run(
            """
            UPDATE resources SET spec_json = ?5, status_json = ?6, phase = ?7, reason = ?8, message = ?9,
                pending_operation = ?10, pending_due = ?11, pending_outcome = ?12, pending_reason = ?13, pending_message = ?14,
                pending_target_json = ?15, updated_at = ?17
            WHERE id = ?1 AND service = ?2 AND scope = ?3 AND name = ?4 AND created_at = ?16
            """, Self.values(of: r))
    }

    public func deleteResource(id: String) throws {
        try run("DELETE FROM resources WHERE id = ?1", [.text(id)])
    }

    /// Deletes every resource, or those of `services` in `scope`, or (with `scopePrefix`) in scopes starting
    /// with it. Returns how many went.
    public func deleteResources(services: [String]? = nil, scope: String? = nil, scopePrefix: String? = nil) throws -> Int {
        var sql = "DELETE FROM resources WHERE 1"
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

    /// Up to `limit` resources of `services` with ids after `after` (nil: from the first), in id order: a page of a
    /// walk through all of them that holds no more than a page (exports, the control API's listing).
    public func resourcesPage(services: [String], after: String?, limit: Int) throws -> [Resource] {
        var values: [SQLValue] = services.map { .text($0) }
        // `+service`: not the (service, scope, name) index, which would sort every row of the service for each
        // page; the primary key's index walks ids in order and stops after `limit`.
        var sql = "SELECT \(Self.columns) FROM resources WHERE +service IN (" + services.indices.map { "?\($0 + 1)" }.joined(separator: ",") + ")"
        if let after {
            values.append(.text(after))
            sql += " AND id > ?\(values.count)"
        }
        values.append(.integer(Int64(limit)))
        return try all(sql + " ORDER BY id LIMIT ?\(values.count)", values)
    }

    /// Every resource of the given services, oldest first (for the control API's listing).
    public func allResources(services: [String]) throws -> [Resource] {
        var values: [SQLValue] = []
        let list = services.map { s -> String in
            values.append(.text(s)); return "?\(values.count)"
        }.joined(separator: ",")
        return try all("SELECT \(Self.columns) FROM resources WHERE service IN (\(list)) ORDER BY created_at, rowid", values)
    }

    /// The resources of `services` whose scope is `scope` or, with `inside`, starts with `scope/` (the children of a
    /// parent whose own scope and name make it).
    public func resources(services: [String], scope: String, inside: Bool) throws -> [Resource] {
        var values: [SQLValue] = services.map { .text($0) }
        var sql = "SELECT \(Self.columns) FROM resources WHERE service IN (" + services.indices.map { "?\($0 + 1)" }.joined(separator: ",") + ")"
        values.append(.text(inside ? scope + "/" : scope))
        sql += inside ? " AND substr(scope, 1, length(?\(values.count))) = ?\(values.count)" : " AND scope = ?\(values.count)"
        return try all(sql + " ORDER BY created_at, rowid", values)
    }

    private static func values(of r: Resource) -> [SQLValue] {
        let p = r.pending
        var outcome: SQLValue = .null, reason: SQLValue = .null, message: SQLValue = .null
        switch p?.outcome {
        case .succeed?: outcome = .text("succeed")
        case let .fail(rs, m)?: outcome = .text("fail"); reason = .text(rs); message = .text(m)
        case let .abnormal(rs, m)?: outcome = .text("abnormal"); reason = .text(rs); message = .text(m)
        case nil: break
        }
        return [
            .text(r.id), .text(r.service), .text(r.scope), .text(r.name),
            .utf8(r.spec.bytes), .utf8(r.status.bytes),
            .text(r.phase.rawValue), .text(r.reason), .text(r.message),
            p.map { .text($0.operation.rawValue) } ?? .null,
            p?.dueAt.map { .integer($0.milliseconds) } ?? .null,
            outcome, reason, message,
            p?.target.map { .utf8($0.bytes) } ?? .null,
            .integer(r.createdAt.milliseconds), .integer(r.updatedAt.milliseconds),
        ]
    }

    private func first(_ sql: String, _ values: [SQLValue]) throws -> Resource? {
        let stmt = try statement(sql, values)
        defer { stmt.finish() }
        return try stmt.step() ? try Self.decode(stmt) : nil
    }

    private func all(_ sql: String, _ values: [SQLValue]) throws -> [Resource] {
        let stmt = try statement(sql, values)
        defer { stmt.finish() }
        var out: [Resource] = []
        while try stmt.step() { out.append(try Self.decode(stmt)) }
        return out
    }

    /// A row with an empty service or phase, or an unknown outcome, was not written by this program.
    public struct CorruptRow: Error, CustomStringConvertible {
        public let id: String
        public let field: String
        public var description: String { "resource \(id) has an invalid \(field) in the database" }
    }

    private static func decode(_ s: Statement) throws -> Resource {
        let id = s.text(0)
        let service = s.text(1), phase = Phase(s.text(6))
        guard !service.isEmpty else { throw CorruptRow(id: id, field: "service") }
        guard !phase.rawValue.isEmpty else { throw CorruptRow(id: id, field: "phase") }
        var pending: PendingTransition?
        if let opName = s.optionalText(9) {
            guard !opName.isEmpty else { throw CorruptRow(id: id, field: "pending_operation") }
            let outcome: Outcome
            switch s.optionalText(11) {
            case "fail"?: outcome = .fail(reason: s.optionalText(12) ?? "", message: s.optionalText(13) ?? "")
            case "abnormal"?: outcome = .abnormal(reason: s.optionalText(12) ?? "", message: s.optionalText(13) ?? "")
            case "succeed"?, nil: outcome = .succeed
            default: throw CorruptRow(id: id, field: "pending_outcome")
            }
            pending = PendingTransition(
                operation: Operation(opName), dueAt: s.isNull(10) ? nil : Instant(milliseconds: s.int64(10)),
                outcome: outcome, target: s.isNull(14) ? nil : RawJSON(trusted: s.bytes(14)))
        }
        return Resource(
            id: id, service: service, scope: s.text(2), name: s.text(3),
            spec: JSONDocument(trusted: s.bytes(4)), status: JSONDocument(trusted: s.bytes(5)),
            phase: phase, reason: s.text(7), message: s.text(8), pending: pending,
            createdAt: Instant(milliseconds: s.int64(15)), updatedAt: Instant(milliseconds: s.int64(16)))
    }
}
