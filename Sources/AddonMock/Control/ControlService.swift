import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The emulator's own API under `/_mock` (not part of Huawei's): health, reset, clock, forced states, fault rules,
/// the request journal, the effective configuration and the OpenAPI document. Bad input is a 400 naming the problem.
struct ControlService {
    static let serviceName = "control"
    /// Open even with `--control-token`: health checks and readiness probes carry no secrets.
    static let healthPattern = "/_mock/health"
    static let eventsPattern = "/_mock/events"
    static let consolePattern = "/_mock/ui"
    /// Served without the control token: health (readiness probes carry no secrets).
    static let openPatterns: Set<String> = [healthPattern]
    /// Routes a browser opens without headers of its own (the console page, its event stream): they also take the
    /// control token as `?access_token=`, which the journal and the access log show masked.
    static let tokenInQueryPatterns: Set<String> = [eventsPattern, consolePattern]

    let registry: ServiceRegistry
    let manager: ResourceManager
    let clock: VirtualClock
    let faults: FaultBook
    let journal: Journal
    let configuration: Configuration
    let seeder: Seeder?
    /// The kinds `seed.json`, exports and imports hold, with their services' catalogs.
    let seedKinds: [Seeder.Kind]
    /// What `/_mock/events` streams.
    let events: EventLog
    /// Where its batches are looked for and rendered: a thread that yields the CPU to requests, woken by the log.
    let pump: EventPump
    /// The `/_mock/wait`s held now, woken by the log.
    let waits: WaitBook
    /// The OpenAPI document with `servers` pointing at this server (set once the port is known).
    let openAPI: @Sendable () -> [UInt8]
    let listening: @Sendable () -> String
    /// This process: an id made at start-up and when it started. A page or a client that sees another id (in
    /// `/_mock/config` or a stream's `hello`) is talking to a new server, whose world and cursors are not the old one's.
    let instance: ServerInstance

    var mounted: MountedAPI {
        MountedAPI(
            name: Self.serviceName, pathPrefixes: ["/_mock/"], errorFormat: ControlErrorFormat(), routes: routes,
            describe: { _ in RequestScope() }, emulated: false)
    }

    private var routes: [ServiceRoute] {
        [
            // Registered only once the database is open and the catalogs loaded: 200 means ready.
            ServiceRoute("GET", Self.healthPattern) { _ in .json(200, Array(#"{"status":"ok"}"#.utf8)) },
            ServiceRoute("POST", "/_mock/reset") { try reset($0) },
            ServiceRoute("GET", "/_mock/clock") { _ in .json(200, clockBody()) },
            ServiceRoute("POST", "/_mock/clock") { try setClock($0) },
            ServiceRoute("GET", "/_mock/resources/{kind}") { try listResources($0) },
            ServiceRoute("GET", "/_mock/resources/{kind}/{id}") { try showResource($0) },
            ServiceRoute("POST", "/_mock/resources/{kind}/{id}/status") { try forceStatus($0) },
            ServiceRoute("GET", "/_mock/faults") { _ in .json(200, faultsBody(faults.rules)) },
            ServiceRoute("POST", "/_mock/faults") { try addFault($0) },
            ServiceRoute("DELETE", "/_mock/faults") { _ in .json(200, counted("deleted", faults.removeAll())) },
            ServiceRoute("GET", "/_mock/faults/{id}") { try fault($0, remove: false) },
            ServiceRoute("DELETE", "/_mock/faults/{id}") { try fault($0, remove: true) },
            ServiceRoute("GET", "/_mock/requests") { try requests($0) },
            ServiceRoute("GET", "/_mock/config") { _ in .json(200, configBody()) },
            ServiceRoute("GET", "/_mock/openapi.json") { _ in .json(200, openAPI()) },
            ServiceRoute("POST", "/_mock/wait") { try wait($0) },
            ServiceRoute("GET", "/_mock/export") { _ in try export() },
            ServiceRoute("GET", Self.eventsPattern) { try streamEvents($0) },
            ServiceRoute("GET", Self.consolePattern) { _ in consolePage() },
            ServiceRoute("GET", "/_mock/") { _ in Self.redirect(to: "/_mock/ui") },
            ServiceRoute("GET", "/") { _ in Self.redirect(to: "/_mock/ui") },
            ServiceRoute("POST", Self.importPattern) { try importWorld($0) },
        ]
    }

    // MARK: reset

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

    // MARK: export and import

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

    // MARK: clock

    /// Tells the event stream where the clock now stands.
    private func clockChanged() { events.publish(.clock(now: clock.now(), pinned: clock.isPinned)) }

    private func clockBody() -> [UInt8] {
        let now = clock.now()
        var w = JSONWriter()
        w.beginObject()
        w.field("now", now.rfc3339)
        w.key("nowMs"); w.number(now.milliseconds)
        w.field("pinned", clock.isPinned)
        w.key("offsetMs"); w.number(clock.offsetMilliseconds)
        w.endObject()
        return w.bytes
    }

    /// `{"advanceSeconds": n}` or `{"advanceMs": n}`, `{"pin": true | "RFC 3339"}`, `{"unpin": true}`.
    /// Pinning or unpinning happens first, then the advance. Time never goes backwards.
    private func setClock(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try ctx.body()
        try body.allowOnly(["advanceSeconds", "advanceMs", "pin", "unpin"])
        let seconds = try body.optionalNumber("advanceSeconds"), ms = try body.optionalNumber("advanceMs")
        if seconds != nil && ms != nil { throw APIError(.badRequest, "give advanceSeconds or advanceMs, not both") }
        let advance = seconds.map { $0 * 1000 } ?? ms
        if let advance, !(0...(10 * 365 * 86_400_000.0)).contains(advance) {
            throw APIError(.badRequest, "the clock only moves forward, by at most ten years at a time")
        }
        let unpin = try body.optionalBool("unpin") ?? false
        let pin = body.optional("pin")
        guard advance != nil || unpin || pin != nil else {
            throw APIError(.badRequest, "nothing to do: give advanceSeconds, advanceMs, pin or unpin")
        }
        if pin != nil && unpin { throw APIError(.badRequest, "give pin or unpin, not both") }
        // RFC 3339 has four-digit years: every time the server writes must stay one, clock and exports included.
        let last = Instant(milliseconds: Instant.latest.milliseconds - 999)
        if let advance, clock.now().milliseconds + Int64(advance.rounded()) > last.milliseconds {
            throw APIError(
                .badRequest,
                "the clock cannot move past \(last.rfc3339) (RFC 3339 years have four digits); it is \(clock.now().rfc3339) now")
        }
        switch pin {
        case nil, .bool(false)?: break
        case .bool(true)?: clock.pin()
        case .string(let text)?:
            guard let at = Instant(rfc3339: text) else { throw APIError(.badRequest, "pin must be true or an RFC 3339 time, got \"\(text)\"") }
            guard at <= last else { throw APIError(.badRequest, "the clock cannot be pinned past \(last.rfc3339), got \"\(text)\"") }
            guard at >= clock.now() else {
                throw APIError(
                    .badRequest, "cannot pin the clock at \(text): it is before now (\(clock.now().rfc3339)) and time never goes backwards")
            }
            clock.pin(at: at)
        case let other?: throw APIError(.badRequest, "pin must be true or an RFC 3339 time, got \(other.typeName)")
        }
        if unpin { clock.unpin() }
        if let advance { clock.advance(milliseconds: Int64(advance.rounded())) }
        // What fell due is written before the answer (the sweeper would, a moment later): a script that moves the
        // clock then reads finds a deleted cluster's node pools and add-ons gone too.
        _ = try manager.sweep()
        clockChanged()
        return .json(200, clockBody())
    }

    // MARK: resources

    private func resourceKind(_ ctx: RequestContext) throws(APIError) -> ResourceKind {
        let name = ctx.parameters["kind"]
        guard let kind = registry.kind(named: name) else {
            throw APIError(.notFound, "unknown resource kind \"\(name)\": use \(registry.kinds.map(\.name).orList)")
        }
        return kind
    }

    /// Every resource of the kind, oldest first; with `limit` (1 to 10,000) or `after` (an id), a page in id order
    /// (`limit` default 1,000) and `next`, the `after` of the next page (null after the last): a walk through 100,000
    /// holds one page at a time, where the whole list would hold them all.
    private func listResources(_ ctx: RequestContext) throws -> HTTPResponse {
        let kind = try resourceKind(ctx)
        let limitText = ctx.request.queryValue("limit"), after = ctx.request.queryValue("after")
        let paged = limitText != nil || after != nil
        var items: [Resource]
        var next: String?
        if paged {
            var limit = Self.defaultPage
            if let limitText {
                guard let n = Int(limitText), (1...Self.maxPage).contains(n) else {
                    throw APIError(.badRequest, "limit must be a whole number from 1 to \(Self.maxPage), got \"\(limitText)\"")
                }
                limit = n
            }
            if let after, !after.isEmpty { try IdentifierRule.check(after, field: "after") }
            (items, next) = try manager.resourcesPage(services: kind.services, after: after.flatMap { $0.isEmpty ? nil : $0 }, limit: limit)
        } else {
            items = try manager.allResources(services: kind.services)
        }
        var w = JSONWriter(capacity: 256 * items.count + 64)
        w.beginObject()
        w.key("items")
        w.beginArray()
        for i in items { writeResource(i, kind, to: &w) }
        w.endArray()
        if paged {
            w.key("next")
            w.optionalString(next)
        }
        w.endObject()
        return .json(200, w.bytes)
    }

    static let defaultPage = 1_000
    static let maxPage = 10_000

    private func showResource(_ ctx: RequestContext) throws -> HTTPResponse {
        let kind = try resourceKind(ctx)
        guard let i = try manager.resource(id: ctx.parameters["id"]), kind.services.contains(i.service) else { throw resourceNotFound(ctx) }
        return .json(200, resourceBody(i, kind))
    }

    /// `{"status": "abnormal", "reason": "…", "message": "…"}` sets a settled status at once (cancelling any
    /// operation in flight); `{"advance": true}` completes the operation in flight now, with its decided outcome.
    private func forceStatus(_ ctx: RequestContext) throws -> HTTPResponse {
        let kind = try resourceKind(ctx)
        let id = ctx.parameters["id"]
        let body = try ctx.body()
        try body.allowOnly(["status", "reason", "message", "advance"])
        let belongs: (Resource) -> Bool = { kind.services.contains($0.service) }
        let advance = try body.optionalBool("advance") ?? false
        let statusText = try body.optionalString("status")
        if advance {
            guard statusText == nil else { throw APIError(.badRequest, "give status or advance, not both") }
            let next: Resource?
            do {
                next = try manager.advance(id: id, for: ctx.writes, belongs: belongs, notFound: { resourceNotFound(ctx) })
            } catch let settled as ResourceManager.NothingInFlight {
                throw APIError(.conflict, "\(kind.singular) \(settled.description)")
            }
            guard let next else { return .json(200, Array(#"{"id":"\#(id)","deleted":true}"#.utf8)) }
            return .json(200, resourceBody(next, kind))
        }
        guard let statusText else { throw APIError(.badRequest, "status is required (or advance: true)") }
        guard let phase = kind.settledPhase(named: statusText) else {
            throw APIError(.badRequest, "status must be a settled state: \(kind.settledPhaseNames.joined(separator: ", ")); got \"\(statusText)\"")
        }
        let reason = try body.optionalString("reason"), message = try body.optionalString("message")
        let forced = try manager.modify(id: id, for: ctx.writes, belongs: belongs, notFound: { resourceNotFound(ctx) }) { resource, now in
            resource.phase = phase
            resource.pending = nil
            resource.reason = reason ?? (kind.lifecycle.healthy.contains(phase) ? "" : "ForcedByControlAPI")
            resource.message = message ?? ""
            resource.updatedAt = now
        }
        ctx.touched(forced)
        return .json(200, resourceBody(forced, kind))
    }

    private func resourceNotFound(_ ctx: RequestContext) -> APIError {
        APIError(.notFound, "no \(registry.kind(named: ctx.parameters["kind"])?.singular ?? ctx.parameters["kind"]) with id \(ctx.parameters["id"])")
    }

    private func resourceBody(_ i: Resource, _ kind: ResourceKind) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        writeResource(i, kind, to: &w)
        return w.bytes
    }

    /// A record as the control plane shows every kind: id, kind, service, scope fields, name (also under the kind's
    /// name field), the kind's shown fields, status and phase, reason and message, the operation in flight and the
    /// timestamps.
    func writeResource(_ i: Resource, _ kind: ResourceKind, to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", i.id)
        w.field("kind", kind.name)
        w.field("service", i.service)
        let values = kind.scopeValues(of: i.scope)
        for (n, field) in kind.scopeFields.enumerated() { w.field(field, n < values.count ? String(values[n]) : "") }
        w.field("name", i.name)
        if kind.nameField != "name" { w.field(kind.nameField, i.name) }
        for shown in kind.shown { w.field(shown.name, shown.value(i)) }
        w.field("status", kind.status(i.phase))
        w.field("phase", i.phase.rawValue)
        w.field("reason", i.reason)
        w.field("message", i.message)
        w.key("pending")
        if let p = i.pending {
            w.beginObject()
            w.field("operation", p.operation.rawValue)
            w.key("dueAt"); w.optionalString(p.dueAt?.rfc3339)
            switch p.outcome {
            case .succeed: w.field("outcome", "succeed")
            case .fail: w.field("outcome", "fail")
            case .abnormal: w.field("outcome", "abnormal")
            }
            w.endObject()
        } else {
            w.null()
        }
        w.field("createdAt", i.createdAt.rfc3339)
        w.field("updatedAt", i.updatedAt.rfc3339)
        w.endObject()
    }

    // MARK: faults

    private func addFault(_ ctx: RequestContext) throws -> HTTPResponse {
        let spec = try FaultSpec.decode(try ctx.body(), registry.faultVocabulary)
        let rule = faults.add(match: spec.match, effect: spec.effect, times: spec.times, probability: spec.probability)
        var w = JSONWriter()
        FaultSpec.write(rule, to: &w)
        return .json(201, w.bytes)
    }

    private func fault(_ ctx: RequestContext, remove: Bool) throws -> HTTPResponse {
        let id = ctx.parameters["id"]
        let found = remove ? faults.remove(id: id) : faults.rules.first { $0.id == id }
        guard let rule = found else { throw APIError(.notFound, "no fault rule \(id)") }
        var w = JSONWriter()
        FaultSpec.write(rule, to: &w)
        return .json(200, w.bytes)
    }

    private func faultsBody(_ rules: [FaultRule]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("faults")
        w.beginArray()
        for r in rules { FaultSpec.write(r, to: &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private func counted(_ key: String, _ n: Int) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key(key); w.number(Int64(n))
        w.endObject()
        return w.bytes
    }

    // MARK: journal

    /// `?method=&path=&status=429|4xx&since=RFC3339&after=SEQ&limit=N&control=true`
    private func requests(_ ctx: RequestContext) throws -> HTTPResponse {
        var f = Journal.Filter()
        let q = ctx.request
        let known: Set<String> = ["method", "path", "status", "since", "after", "limit", "control"]
        for (k, _) in q.query ?? [] where !known.contains(k) {
            throw APIError(.badRequest, "unknown query parameter \(k); expected one of: \(known.sorted().joined(separator: ", "))")
        }
        f.method = q.queryValue("method")?.uppercased()
        f.pathPrefix = q.queryValue("path")
        if let status = q.queryValue("status") {
            if status.count == 3, status.hasSuffix("xx"), let c = Int(status.prefix(1)), (1...5).contains(c) {
                f.statusClass = c
            } else if let s = Int(status), (0...599).contains(s) {
                f.status = s
            } else {
                throw APIError(.badRequest, "status must be a code such as 429 or a class such as 4xx, got \"\(status)\"")
            }
        }
        if let since = q.queryValue("since") {
            guard let at = Instant(rfc3339: since) else { throw APIError(.badRequest, "since must be an RFC 3339 time, got \"\(since)\"") }
            f.since = at
        }
        if let after = q.queryValue("after") {
            guard let n = Int(after), n >= 0 else { throw APIError(.badRequest, "after must be a journal sequence number, got \"\(after)\"") }
            f.afterSequence = n
        }
        if let limit = q.queryValue("limit") {
            guard let n = Int(limit), (1...journal.capacity).contains(n) else {
                throw APIError(.badRequest, "limit must be from 1 to \(journal.capacity), got \"\(limit)\"")
            }
            f.limit = n
        }
        switch q.queryValue("control") {
        case nil, "false": break
        case "true": f.includeControl = true
        case let other?: throw APIError(.badRequest, "control must be true or false, got \"\(other)\"")
        }

        let entries = journal.entries(f)
        var w = JSONWriter(capacity: 256 * entries.count + 64)
        w.beginObject()
        w.key("requests")
        w.beginArray()
        for e in entries { e.write(to: &w) }
        w.endArray()
        w.key("capacity"); w.number(Int64(journal.capacity))
        w.endObject()
        return .json(200, w.bytes)
    }

    // MARK: config

    private func configBody() -> [UInt8] {
        let c = configuration
        var w = JSONWriter()
        w.beginObject()
        w.field("version", AddonMockVersion.current)
        w.field("instance", instance.id)
        w.field("startedAt", instance.startedAt)
        w.field("listening", listening())
        w.key("settings")
        w.beginObject()
        func setting(_ name: String, _ value: () -> Void) {
            w.key(name)
            w.beginObject()
            w.key("value"); value()
            w.field("source", c.sources[name] ?? "default")
            w.endObject()
        }
        setting("host") { w.string(c.host) }
        setting("port") { w.number(Int64(c.port)) }
        setting("db") { w.string(c.database) }
        setting("profile") { w.string(c.profile.rawValue) }
        setting("fixtures") { w.optionalString(c.fixtures) }
        setting("seed") { w.number(Int64(bitPattern: c.seed)) }
        setting("log-level") { w.string(c.logLevel) }
        setting("auth") { w.string(c.auth.rawValue) }
        setting("credentials") {
            w.beginArray(); for k in c.credentials { w.string(k.masked) }; w.endArray()
        }
        setting("address-file") { w.optionalString(c.addressFile) }
        setting("control-token") { c.controlToken == nil ? w.null() : w.string("****") }
        setting("request-timeout") { w.number(Int64(c.requestTimeoutSeconds)) }
        setting("idle-timeout") { w.number(Int64(c.idleTimeoutSeconds)) }
        setting("max-connections") { w.number(Int64(c.maxConnections)) }
        setting("max-held") { w.number(Int64(c.maxHeld)) }
        setting("allowed-hosts") {
            if let hosts = c.allowedHosts { w.beginArray(); for h in hosts { w.string(h) }; w.endArray() } else { w.null() }
        }
        setting("cors") {
            if let origins = c.corsOrigins { w.beginArray(); for o in origins { w.string(o) }; w.endArray() } else { w.null() }
        }
        setting("cache-mib") { w.number(Int64(c.cacheBytes >> 20)) }
        setting("body-budget-mib") { w.number(Int64(c.bodyBudgetBytes >> 20)) }
        setting("drain-timeout") { w.numberLiteral(String(Double(c.drainTimeoutMs) / 1000)) }
        w.endObject()
        w.key("journalCapacity"); w.number(Int64(journal.capacity))
        w.field("seedFile", seeder != nil)
        w.endObject()
        return w.bytes
    }
}

struct ControlErrorFormat: ErrorFormat {
    func code(for kind: APIError.Kind) -> String { "MOCK.\(APIError(kind, "").status)" }
    func body(code: String, message: String) -> [UInt8] { codeAndMessageBody(code: code, message: message) }
}

/// One run of the server (see `ControlService.instance`).
struct ServerInstance: Sendable {
    let id: String
    /// RFC 3339, the machine's time (not the virtual clock's).
    let startedAt: String

    static func starting() -> ServerInstance {
        ServerInstance(id: Identifiers.uuid(), startedAt: SystemClock().now().rfc3339)
    }

    /// The first event of every stream: `event: hello` with the instance, so a reconnecting client learns whether
    /// the server it reached is the one it was following.
    var helloFrame: [UInt8] {
        Array("event: hello\ndata: {\"instance\":\"\(id)\",\"startedAt\":\"\(startedAt)\"}\n\n".utf8)
    }
}
