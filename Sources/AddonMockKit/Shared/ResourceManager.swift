import AddonMockCore
import AddonMockStore

/// Runs the lifecycle engine over the store for every service. Reads derive the state from record + clock
/// without writing; writes first settle the record they touch, then are committed (`Database.write`) before
/// whoever made them is answered: a request's writes are passed its `RequestWrites`, and its answer waits.
///
/// Single-record reads go through a `ResourceCache`; every change to a row goes through `save`, `add` or
/// `remove` here, which is what keeps that cache true, and what makes an owner's delete reach the resources it
/// owns (`ResourceRelation`). Nothing else in the process writes resource rows.
public final class ResourceManager: Sendable {
    public let database: Database
    public let engine: LifecycleEngine
    public let clock: any Clock
    public let cache: ResourceCache
    /// Row changes written but not yet committed (appended under the writer lock): what `committed` is told once
    /// they are durable.
    private let written = Locked<[ResourceChange]>([])
    /// Records with an operation in flight, by service and scope, as committed: kept as writes happen, so that
    /// "is anything in flight here" is answered without reading a row.
    private let inFlight: Locked<[String: [String: Int]]>
    /// Writes transitions down as they fall due (started by `startSweeping`).
    private let sweeper: DueSweeper
    /// Which services' records own which others'.
    private let relations: [ResourceRelation]
    /// Per service, the fields its kind shows beside the engine's: read into each change as it is made.
    private let shownFields: [String: [ShownField]]
    /// Records stored per service, moved by every commit's creations and deletions (nil after a reset until next
    /// asked); `generation` counts commits, so a count read from the database meanwhile is not kept stale.
    private let stored: Locked<(counts: [String: Int]?, generation: Int)>

    /// `committed`: told every durable change to a resource row, in commit order (the event stream); `shown`: per
    /// service, the fields each change carries beside the engine's.
    public init(
        database: Database, engine: LifecycleEngine, clock: any Clock, cacheBytes: Int = 64 << 20,
        relations: [ResourceRelation] = [], shown: [String: [ShownField]] = [:],
        committed: (@Sendable ([ResourceChange]) -> Void)? = nil
    ) {
        self.database = database
        self.engine = engine
        self.clock = clock
        self.relations = relations
        self.shownFields = shown
        let stored = Locked<(counts: [String: Int]?, generation: Int)>((nil, 0))
        self.stored = stored
        let cache = ResourceCache(byteBudget: cacheBytes)
        self.cache = cache
        var counts: [String: [String: Int]] = [:]
        for (service, scope, n) in (try? database.read { try $0.inFlightCounts() }) ?? [] { counts[service, default: [:]][scope] = n }
        let inFlight = Locked(counts)
        self.inFlight = inFlight
        let sweeper = DueSweeper(clock: clock)
        self.sweeper = sweeper
        (clock as? VirtualClock)?.onChange { sweeper.clockChanged() }
        database.afterCommit { [written] durable in
            cache.committed()
            let changes = written.withLock { w in
                defer { w = [] }
                return w
            }
            guard durable, !changes.isEmpty else { return }
            inFlight.withLock { counts in
                for change in changes { Self.count(change, in: &counts) }
            }
            stored.withLock { s in
                s.generation += 1
                for change in changes {
                    switch change.kind {
                    case .created: s.counts?[change.service, default: 0] += 1
                    case .deleted: s.counts?[change.service, default: 0] -= 1
                    case .reset: s.counts = nil
                    case .transition, .updated: break
                    }
                }
            }
            if let earliest = changes.lazy.compactMap(\.dueAt).min() { sweeper.scheduled(earliest) }
            committed?(changes)
        }
    }

    /// Starts writing transitions down as they fall due; `stopSweeping` ends it.
    public func startSweeping() {
        sweeper.start(
            sweep: { [weak self] in _ = try? self?.sweep() },
            nextDue: { [weak self] in try? self?.database.read { try $0.nextDue() } })
    }
    public func stopSweeping() { sweeper.stop() }

    private static func count(_ change: ResourceChange, in counts: inout [String: [String: Int]]) {
        if change.kind == .reset {
            // Everything the reset matched is gone, in flight or not.
            let services = change.service.isEmpty ? Array(counts.keys) : change.service.split(separator: ",").map(String.init)
            for service in services {
                if change.scope.isEmpty {
                    counts[service] = nil
                } else {
                    counts[service] = counts[service]?.filter { !(change.scope == $0.key || change.isPrefixScope && $0.key.hasPrefix(change.scope)) }
                }
            }
            return
        }
        let delta = (change.operation != nil ? 1 : 0) - (change.wasInFlight ? 1 : 0)
        guard delta != 0 else { return }
        let n = counts[change.service, default: [:]][change.scope, default: 0] + delta
        counts[change.service, default: [:]][change.scope] = n > 0 ? n : nil
    }

    /// One record of `services` with an operation in flight in `scope` (a prefix when `isPrefix`; nil: anywhere).
    public func firstInFlight(services: [String], scope: String?, isPrefix: Bool) throws -> Resource? {
        try database.read { try $0.firstInFlight(services: services, scope: isPrefix ? nil : scope, scopePrefix: isPrefix ? scope : nil) }
    }

    /// How many records of `services` in the scopes `includes` accepts have an operation in flight (committed).
    public func inFlightCount(services: [String], where includes: (String) -> Bool = { _ in true }) -> Int {
        inFlight.withLock { counts in
            services.reduce(0) { sum, service in sum + (counts[service] ?? [:]).reduce(0) { $0 + (includes($1.key) ? $1.value : 0) } }
        }
    }

    /// `Database.write`, whose row changes are noted for `committed`; a write that throws is undone, and so are
    /// the changes it noted.
    private func write<T>(for request: RequestWrites?, _ body: (AddonMockStore.Connection) throws -> T) throws -> T {
        try database.write(for: request) { conn in
            let mark = written.withLock { $0.count }
            do {
                return try body(conn)
            } catch {
                written.withLock { $0.removeSubrange(mark...) }
                throw error
            }
        }
    }

    private func note(_ change: ResourceChange) { written.withLock { $0.append(change) } }

    /// Whether `service` has any record stored: answered from counts kept as commits happen, so asking costs no
    /// read (a parent lookup for a kind nobody created, on every add-on install, is skipped with it).
    public func hasRecords(service: String) -> Bool {
        let (counts, generation) = stored.withLock { ($0.counts, $0.generation) }
        if let counts { return (counts[service] ?? 0) > 0 }
        let read = (try? database.read { try $0.countsByService() }) ?? [:]
        stored.withLock { s in if s.generation == generation { s.counts = read } }
        return (read[service] ?? 0) > 0
    }

    /// The resource as it is now, or nil if it never existed or has finished deleting.
    public func resource(id: String) throws -> Resource? { try view(id: id)?.resource }

    /// `resource(id:)` with the renderings kept for its stored record.
    public func view(id: String) throws -> ResourceView? {
        try view(cached: { cache.entry(id: id) }, stored: { try $0.resource(id: id) })
    }

    /// `resource(service:scope:name:)` with the renderings kept for its stored record.
    public func view(service: String, scope: String, name: String) throws -> ResourceView? {
        try view(
            cached: { cache.entry(service: service, scope: scope, name: name) },
            stored: { try $0.resource(service: service, scope: scope, name: name) })
    }

    /// A cache hit, or the stored record read (and remembered, if no commit happened meanwhile).
    private func view(
        cached: () -> ResourceCache.Entry?,
        stored: (AddonMockStore.Connection) throws -> Resource?
    ) throws -> ResourceView? {
        let now = clock.now()
        let record: Resource
        if let hit = cached() {
            if let view = cache.view(of: hit, at: now, engine: engine) { return view }
            record = hit.stored
        } else {
            let generation = cache.generation
            guard let read = try database.read(stored) else { return nil }
            if let view = cache.view(of: cache.remember(read, readSince: generation), at: now, engine: engine) { return view }
            record = read
        }
        settledIntoDeletion(record)
        return nil
    }

    /// A record read as deleted because its delete fell due, not yet written down by the sweeper: if it owns
    /// others by a cascade, they go only when that is written, so write it now — whoever is told the owner is gone
    /// then finds what it owned gone too. Rare (a read in the moments after a delete's due time).
    private func settledIntoDeletion(_ record: Resource) {
        guard relations.contains(where: { $0.link.onDelete == .cascade && $0.ownerServices.contains(record.service) }) else { return }
        _ = try? sweep()
    }

    /// The answer to a list of `service` in `scope`: each item rendered by `render` (kept with its record as
    /// `renderer`, so a GET's body serves its list item too) and joined by `join`. The whole answer is kept until a
    /// write to a record of `service` in `scope` commits or something in it falls due (`ResourceCache`), so a list
    /// asked again is a lookup.
    public func list(
        service: String, scope: String, renderer: String, render: (Resource) -> [UInt8], join: ([[UInt8]]) -> [UInt8]
    ) throws -> ListAnswer {
        let now = clock.now()
        if let kept = cache.list(service: service, scope: scope, renderer: renderer, at: now) { return kept }
        let generation = cache.generation
        let items = try views(service: service, scope: scope, at: now, readSince: generation)
        let answer = ListAnswer(ids: items.map(\.resource.id), body: join(items.map { $0.body(renderer, render) }))
        cache.keep(answer, of: items, service: service, scope: scope, renderer: renderer, readSince: generation)
        return answer
    }

    /// `resources(service:scope:)` through the cache: a record read before (by a list or by id) costs a lookup rather
    /// than a decode, and its renderings are reused; one not kept yet is kept (unless a commit happened since
    /// `generation`).
    private func views(service: String, scope: String, at now: Instant, readSince generation: UInt64) throws -> [ResourceView] {
        var hits: [ResourceCache.Entry] = []
        let stored = try database.read { conn in
            try conn.resources(service: service, scope: scope) { id, updatedAt in
                guard let entry = cache.entry(id: id), entry.stored.updatedAt == updatedAt else { return nil }
                hits.append(entry)
                return entry.stored
            }
        }
        var entries = stored.map { $0.knownAnswer.map { hits[$0] } }
        // Kept in one acquisition of the cache's lock; a list longer than a quarter of the cache is not kept: it
        // would push out what reads by id keep.
        if stored.count <= cache.capacity / 4 {
            let misses = entries.indices.filter { entries[$0] == nil }
            for (i, entry) in zip(misses, cache.remember(misses.map { stored[$0].resource }, readSince: generation)) {
                entries[i] = entry
            }
        }
        var live: [ResourceView] = []
        live.reserveCapacity(stored.count)
        for (record, entry) in zip(stored.lazy.map(\.resource), entries) {
            if let entry {
                if let view = cache.view(of: entry, at: now, engine: engine) { live.append(view) } else { settledIntoDeletion(record) }
            } else if let settled = engine.settled(record, at: now) {
                live.append(cache.unkeptView(settled))
            } else {
                settledIntoDeletion(record)
            }
        }
        return live
    }

    /// The resources of `service` in `scope`, oldest first.
    public func resources(service: String, scope: String) throws -> [Resource] {
        let now = clock.now()
        let stored = try database.read { try $0.resources(service: service, scope: scope) }
        var live: [Resource] = []
        live.reserveCapacity(stored.count)
        for record in stored {
            if let settled = engine.settled(record, at: now) { live.append(settled) } else { settledIntoDeletion(record) }
        }
        return live
    }

    public func resource(service: String, scope: String, name: String) throws -> Resource? {
        try view(service: service, scope: scope, name: name)?.resource
    }

    /// Creates the resource `name` in `scope`, or, when one still exists there, lets `modify` change it
    /// (or throw: CCE answers a second install with a 409, ModelArts upgrades the plug-in).
    public func createOrModify(
        service: String, scope: String, name: String, for request: RequestWrites? = nil,
        create: (Instant) throws -> Resource,
        modify: (inout Resource, Instant) throws -> Void
    ) throws -> Resource {
        try write(for: request) { conn in
            let now = clock.now()
            let stored = try conn.resource(service: service, scope: scope, name: name)
            if let stored, engine.settled(stored, at: now) != nil {
                return try change(stored, in: conn, at: now, belongs: { _ in true }, notFound: { preconditionFailure() }, modify)
            }
            if let stored { try remove(stored, conn) }
            let resource = try create(now)
            if let settled = engine.settled(resource, at: now) { try add(settled, conn) }
            return resource
        }
    }

    /// Creates, in one transaction, each record whose id (if it has one) and slot (service, scope, name) are free,
    /// made for the time of the write; a slot whose record has finished deleting is free. Returns how many were
    /// created. (Imports and seed files: entries that are there already are skipped, never overwritten.)
    public func createWhereFree(
        _ entries: [(id: String?, service: String, scope: String, name: String, make: (Instant) -> Resource)], for request: RequestWrites? = nil
    ) throws -> Int {
        try write(for: request) { conn in
            let now = clock.now()
            var created = 0
            for e in entries {
                if let id = e.id, try conn.resource(id: id) != nil { continue }
                if let stored = try conn.resource(service: e.service, scope: e.scope, name: e.name) {
                    guard engine.settled(stored, at: now) == nil else { continue }
                    try remove(stored, conn)
                }
                if let settled = engine.settled(e.make(now), at: now) { try add(settled, conn) }
                created += 1
            }
            return created
        }
    }

    /// Stores the new resources `make` returns (each with a fresh id) in one transaction; returns them settled at
    /// the time of the write (a check due at once is already finished).
    public func create(for request: RequestWrites? = nil, _ make: (Instant) throws -> [Resource]) throws -> [Resource] {
        try write(for: request) { conn in
            let now = clock.now()
            let made = try make(now).compactMap { engine.settled($0, at: now) }
            for resource in made { try add(resource, conn) }
            return made
        }
    }

    /// Settles the resource, lets `change` start an operation on it (or throw), and commits the result.
    /// `belongs` filters out resources of another service or scope (they are "not found" to this caller).
    public func modify(
        id: String, for request: RequestWrites? = nil, belongs: (Resource) -> Bool, notFound: () -> any Error,
        _ change: (inout Resource, Instant) throws -> Void
    ) throws -> Resource {
        try write(for: request) { conn in
            try self.change(try conn.resource(id: id), in: conn, at: clock.now(), belongs: belongs, notFound: notFound, change)
        }
    }

    public func modify(
        service: String, scope: String, name: String, for request: RequestWrites? = nil,
        notFound: () -> any Error, _ change: (inout Resource, Instant) throws -> Void
    ) throws -> Resource {
        try write(for: request) { conn in
            let stored = try conn.resource(service: service, scope: scope, name: name)
            return try self.change(stored, in: conn, at: clock.now(), belongs: { _ in true }, notFound: notFound, change)
        }
    }

    /// Inside a write transaction: settle `stored`, apply `change`, persist. A refused change still persists
    /// what settling learned; a record that finished deleting is removed and reported as not found. A delete
    /// that starts on an owner whose owned resources block it is refused (409).
    private func change(
        _ stored: Resource?, in conn: AddonMockStore.Connection, at now: Instant,
        belongs: (Resource) -> Bool, notFound: () -> any Error,
        _ change: (inout Resource, Instant) throws -> Void
    ) throws -> Resource {
        guard let stored else { throw notFound() }
        guard let live = engine.settled(stored, at: now) else {
            try remove(stored, conn)
            throw notFound()
        }
        guard belongs(live) else { throw notFound() }
        var next = live
        do {
            try change(&next, now)
            if let op = next.pending?.operation, op != live.pending?.operation, removes(op, next) { try checkNotBlocked(next, conn, at: now) }
        } catch {
            if live != stored { try save(live, replacing: stored, conn) }
            throw error
        }
        if let settled = engine.settled(next, at: now) {
            if settled != stored { try save(settled, replacing: stored, conn) }
        } else {
            try remove(stored, conn)
        }
        return next
    }

    /// Applies the pending transition now, whatever its due time (the control API's "advance").
    /// Returns nil when that completed a delete.
    public func advance(
        id: String, for request: RequestWrites? = nil, belongs: (Resource) -> Bool,
        notFound: () -> any Error
    ) throws -> Resource? {
        try write(for: request) { conn in
            let now = clock.now()
            guard let stored = try conn.resource(id: id), belongs(stored) else { throw notFound() }
            guard let live = engine.settled(stored, at: now) else {
                try remove(stored, conn)
                throw notFound()
            }
            guard live.pending != nil else {
                if live != stored { try save(live, replacing: stored, conn) }
                throw NothingInFlight(id: id, phase: live.phase)
            }
            guard let next = engine.complete(live, at: now) else {
                try remove(stored, conn)
                return nil
            }
            try save(next, replacing: stored, conn)
            return next
        }
    }

    /// `advance` found the resource settled.
    public struct NothingInFlight: Error, CustomStringConvertible {
        public let id: String
        public let phase: Phase
        public var description: String { "\(id) is \(phase): no operation is in flight to advance" }
    }

    /// Up to `limit` resources of `services` with ids after `after`, in id order, settled: a page of the control
    /// API's listing. `next` is the id the next page starts after, nil when this page was the last (a resource whose
    /// delete fell due is left out of the page without ending the walk early).
    public func resourcesPage(services: [String], after: String?, limit: Int) throws -> (items: [Resource], next: String?) {
        let now = clock.now()
        let rows = try database.read { try $0.resourcesPage(services: services, after: after, limit: limit) }
        return (rows.compactMap { engine.settled($0, at: now) }, rows.count == limit ? rows.last?.id : nil)
    }

    /// Every resource of `services`, settled: for the control API.
    public func allResources(services: [String]) throws -> [Resource] {
        let now = clock.now()
        return try database.read { try $0.allResources(services: services) }.compactMap { engine.settled($0, at: now) }
    }

    /// Deletes resources (all, or a scope) in one transaction; returns how many. A reset deletes rows as they
    /// are, without running deletes: what a scope's reset leaves of another scope's is left.
    public func reset(
        services: [String]? = nil, scope: String? = nil, scopePrefix: String? = nil,
        for request: RequestWrites? = nil
    ) throws -> Int {
        try write(for: request) { conn in
            cache.forgetAll()
            let deleted = try conn.deleteResources(services: services, scope: scope, scopePrefix: scopePrefix)
            if deleted > 0 {
                note(ResourceChange(reset: deleted, services: services, scope: scope ?? scopePrefix, isPrefix: scopePrefix != nil, at: clock.now()))
            }
            return deleted
        }
    }

    /// Writes every transition that is due into the database (deleting finished deletes). Reads are correct
    /// without this; it keeps the file an honest picture of the world, and its changes are the events that tell
    /// subscribers and waits. Runs at start-up and, from `startSweeping` on, whenever something falls due.
    @discardableResult
    public func sweep() throws -> Int {
        // Most looks find nothing: look with one indexed read before taking a write transaction.
        guard try database.read({ try !$0.dueResources(at: clock.now(), limit: 1).isEmpty }) else { return 0 }
        return try write(for: nil) { conn in
            let now = clock.now()
            var applied = 0
            while true {
                let due = try conn.dueResources(at: now, limit: 500)
                for stored in due {
                    if let live = engine.settled(stored, at: now) { try save(live, replacing: stored, conn) } else { try remove(stored, conn) }
                }
                applied += due.count
                if due.count < 500 { return applied }
            }
        }
    }

    // MARK: owners and what they own

    /// Whether `op` removes the resource when it succeeds (its kind's delete).
    private func removes(_ op: Operation, _ r: Resource) -> Bool {
        engine.table(for: r.service)?.steps[op].map { $0.succeeded == nil } ?? false
    }

    /// Throws a 409 when `owner` owns resources whose relation blocks its delete.
    private func checkNotBlocked(_ owner: Resource, _ conn: AddonMockStore.Connection, at now: Instant) throws {
        for relation in relations where relation.link.onDelete == .block && relation.ownerServices.contains(owner.service) {
            let owned = try conn.resources(services: relation.ownedServices, scope: relation.link.scope(of: owner), inside: false)
                .filter { engine.settled($0, at: now) != nil }
            guard let first = owned.first else { continue }
            throw APIError(
                .conflict,
                "\(owner.id) still has \(owned.count) \(relation.ownedNoun) (e.g. \(first.name) \(first.id)); delete \(owned.count == 1 ? "it" : "them") first"
            )
        }
    }

    // MARK: row changes: the only writers of resource rows, each inside a write transaction
    //
    // Callers store records settled at the time of the write: a transition due at once (the instant profile)
    // then costs no second write by the sweep, and readers, who settle on read, see the same either way.

    private func save(_ resource: Resource, replacing old: Resource, _ conn: AddonMockStore.Connection) throws {
        cache.forget(old)
        if (resource.service, resource.scope) != (old.service, old.scope) { cache.forget(resource) }
        try conn.update(resource)
        note(ResourceChange(resource, from: old, shown: shownFields[resource.service] ?? []))
    }

    private func add(_ resource: Resource, _ conn: AddonMockStore.Connection) throws {
        cache.forget(resource)
        try conn.insert(resource)
        note(ResourceChange(resource, from: nil, shown: shownFields[resource.service] ?? []))
    }

    /// Deletes the row, and with it (depth first, each its own change, at the owner's time) every resource it
    /// owns by a cascading relation.
    private func remove(_ old: Resource, _ conn: AddonMockStore.Connection, ownerGoneAt: Instant? = nil) throws {
        cache.forget(old)
        try conn.deleteResource(id: old.id)
        let change = ResourceChange(deleted: old, at: ownerGoneAt ?? clock.now(), shown: shownFields[old.service] ?? [])
        note(change)
        for relation in relations where relation.link.onDelete == .cascade && relation.ownerServices.contains(old.service) {
            for owned in try conn.resources(services: relation.ownedServices, scope: relation.link.scope(of: old), inside: false) {
                try remove(owned, conn, ownerGoneAt: change.at)
            }
        }
    }
}

/// Records of `ownedServices` belong to a record of `ownerServices` as its kind's `ParentLink` says.
public struct ResourceRelation: Sendable {
    public var ownerServices: [String]
    public var ownedServices: [String]
    /// The owned kind's name, for messages (`addons`).
    public var ownedNoun: String
    public var link: ParentLink

    public init(ownerServices: [String], ownedServices: [String], ownedNoun: String, link: ParentLink) {
        self.ownerServices = ownerServices
        self.ownedServices = ownedServices
        self.ownedNoun = ownedNoun
        self.link = link
    }
}
