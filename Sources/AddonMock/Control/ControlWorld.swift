import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The world as a whole: `POST /_mock/reset` (everything, or a scope), `GET /_mock/export` and `POST /_mock/import`.
extension ControlService {
    var worldRoutes: [ServiceRoute] {
        [
            ServiceRoute("POST", "/_mock/reset") { try reset($0) },
            ServiceRoute("GET", "/_mock/export") { _ in try export() },
            ServiceRoute("POST", Self.importPattern) { try importWorld($0) },
        ]
    }

    /// Everything, or one cluster / project (/ pool) / service. Fault rules and the journal go too unless kept;
    /// a full reset also returns the clock to real time and re-applies the seed file.
    private func reset(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try BodyReader.parseOptional(ctx.request.body)
        try body.allowOnly(Set(["service", "keepFaults", "keepJournal", "keepClock", "reseed"] + registry.scopeFields))
        var services: [String]?
        if let name = try body.optionalString("service") {
            guard registry.storedServices.contains(name) else {
                throw APIError(.badRequest, "service must be one of \(registry.storedServices.joined(separator: ", ")), got \"\(name)\"")
            }
            services = [name]
        }
        var named: [String: String] = [:]
        for field in registry.scopeFields { named[field] = try body.optionalString(field) }
        let scopes = try registry.scopes(named: named)
        // Every field is read (and so validated) before anything is deleted: a bad request changes nothing.
        let keepFaults = try body.optionalBool("keepFaults") ?? false
        let keepJournal = try body.optionalBool("keepJournal") ?? false
        let keepClock = try body.optionalBool("keepClock") ?? false
        let reseed = try body.optionalBool("reseed") ?? true

        var deleted = 0
        if let scopes {
            for scope in scopes {
                let inKind = services.map { $0.filter(scope.kind.services.contains) } ?? scope.kind.services
                guard !inKind.isEmpty else { continue }
                deleted +=
                    try scope.isPrefix
                    ? manager.reset(services: inKind, scopePrefix: scope.value, for: ctx.writes)
                    : manager.reset(services: inKind, scope: scope.value, for: ctx.writes)
            }
        } else {
            deleted = try manager.reset(services: services, for: ctx.writes)
        }
        let scoped = scopes != nil || services != nil
        let faultsCleared = keepFaults ? 0 : faults.removeAll()
        if !keepJournal { journal.clear() }
        let clockReset = !scoped && !keepClock
        if clockReset {
            clock.reset()
            clockChanged()
        }
        var reseeded = 0
        if !scoped, reseed, let seeder { reseeded = try seeder.apply(to: manager, for: ctx.writes) }

        var w = JSONWriter()
        w.beginObject()
        w.key("deleted"); w.number(Int64(deleted))
        w.key("faultsCleared"); w.number(Int64(faultsCleared))
        w.field("journalCleared", !keepJournal)
        w.field("clockReset", clockReset)
        w.key("reseeded"); w.number(Int64(reseeded))
        w.endObject()
        return .json(200, w.bytes)
    }

    static let importPattern = "/_mock/import"
    /// An exported world may be much larger than an API request: 200,000 add-ons export to about 150 MB. One import
    /// body at a time is received past 1 MiB, outside the budget for bodies in flight.
    static let importBodyBytes = 1 << 30

    /// Streamed from a snapshot, a page at a time (`WorldExportStream`); a `:memory:` database, which has no second
    /// connection for a snapshot, is read whole at once.
    private func export() throws -> HTTPResponse {
        let now = clock.now()
        guard let snapshot = try manager.database.snapshot() else {
            let kinds = try seedKinds.map { seed in (kind: seed, records: try manager.allResources(services: seed.kind.services)) }
            return .json(200, WorldExport.document(kinds, now: now))
        }
        var response = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]))
        response.stream = WorldExportStream(kinds: seedKinds, now: now) { [engine = manager.engine] services, after, limit in
            try snapshot.read { try $0.resourcesPage(services: services, after: after, limit: limit) }.compactMap { engine.settled($0, at: now) }
        }
        return response
    }

    /// Loads a `seed.json` document (an export, or a hand-written seed): every entry whose slot and id are free is
    /// created; nothing is created when any entry is wrong.
    private func importWorld(_ ctx: RequestContext) throws -> HTTPResponse {
        let seeder: Seeder
        do { seeder = try Seeder.parse(ctx.request.body, source: "import", kinds: seedKinds) } catch {
            throw APIError(.badRequest, error.message)
        }
        let created = try seeder.apply(to: manager, for: ctx.writes)
        return .json(200, Array(#"{"created":\#(created),"skipped":\#(seeder.count - created)}"#.utf8))
    }
}
