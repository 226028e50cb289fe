import AddonMockCore
import AddonMockStore

/// Runs the lifecycle engine over the store for every service. Reads derive the state from record + clock
/// without writing; writes first settle the record they touch, then are committed (`Database.write`) before
/// whoever made them is answered: a request's writes are passed its `RequestWrites`, and its answer waits.
///
/// Single-instance reads go through an `InstanceCache`; every change to a row goes through `save`, `add` or
/// `remove` here, which is what keeps that cache true. Nothing else in the process writes instance rows.
public final class InstanceManager: Sendable {
    public let database: Database
    public let engine: LifecycleEngine
    public let clock: any Clock
    public let cache: InstanceCache
    /// Row changes written but not yet committed (appended under the writer lock): what `committed` is told once
    /// they are durable.
    private let written = Locked<[ResourceChange]>([])
    /// Records with an operation in flight, by service and scope, as committed: kept as writes happen, so that
    /// "is anything in flight here" is answered without reading a row.
    private let inFlight: Locked<[String: [String: Int]]>
    /// Writes transitions down as they fall due (started by `startSweeping`).
    private let sweeper: DueSweeper

    /// `committed`: told every durable change to an instance row, in commit order (the event stream).
    public init(
        database: Database, engine: LifecycleEngine, clock: any Clock, cacheBytes: Int = 64 << 20,
        committed: (@Sendable ([ResourceChange]) -> Void)? = nil
    ) {
        self.database = database
        self.engine = engine
        self.clock = clock
        let cache = InstanceCache(byteBudget: cacheBytes)
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
    public func firstInFlight(services: [String], scope: String?, isPrefix: Bool) throws -> Instance? {
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

    /// The instance as it is now, or nil if it never existed or has finished deleting.
    public func instance(id: String) throws -> Instance? { try view(id: id)?.instance }

    /// `instance(id:)` with the renderings kept for its stored record.
    public func view(id: String) throws -> InstanceView? {
        try view(cached: { cache.entry(id: id) }, stored: { try $0.instance(id: id) })
    }

    /// `instance(service:scope:template:)` with the renderings kept for its stored record.
    public func view(service: String, scope: String, template: String) throws -> InstanceView? {
        try view(
            cached: { cache.entry(service: service, scope: scope, template: template) },
            stored: { try $0.instance(service: service, scope: scope, template: template) })
    }

    /// A cache hit, or the stored record read (and remembered, if no commit happened meanwhile).
    private func view(
        cached: () -> InstanceCache.Entry?,
        stored: (AddonMockStore.Connection) throws -> Instance?
    ) throws -> InstanceView? {
        let now = clock.now()
        if let hit = cached() { return cache.view(of: hit, at: now, engine: engine) }
        let generation = cache.generation
        return try database.read(stored).flatMap { cache.view(of: cache.remember($0, readSince: generation), at: now, engine: engine) }
    }

    public func instances(service: String, scope: String) throws -> [Instance] {
        let now = clock.now()
        return try database.read { try $0.instances(service: service, scope: scope) }
            .compactMap { engine.settled($0, at: now) }
    }

    public func instance(service: String, scope: String, template: String) throws -> Instance? {
        try view(service: service, scope: scope, template: template)?.instance
    }

    /// Creates the instance of `template` in `scope`, or, when one still exists there, lets `modify` change it
    /// (or throw: CCE answers a second install with a 409, ModelArts upgrades the plug-in).
    public func createOrModify(
        service: String, scope: String, template: String, for request: RequestWrites? = nil,
        create: (Instant) throws -> Instance,
        modify: (inout Instance, Instant) throws -> Void
    ) throws -> Instance {
        try write(for: request) { conn in
            let now = clock.now()
            let stored = try conn.instance(service: service, scope: scope, template: template)
            if let stored, engine.settled(stored, at: now) != nil {
                return try change(stored, in: conn, at: now, belongs: { _ in true }, notFound: { preconditionFailure() }, modify)
            }
            if let stored { try remove(stored, conn) }
            let instance = try create(now)
            if let settled = engine.settled(instance, at: now) { try add(settled, conn) }
            return instance
        }
    }

    /// Creates, in one transaction, each record whose id (if it has one) and slot (service, scope, name) are free,
    /// made for the time of the write; a slot whose record has finished deleting is free. Returns how many were
    /// created. (Imports and seed files: entries that are there already are skipped, never overwritten.)
    public func createWhereFree(
        _ entries: [(id: String?, service: String, scope: String, name: String, make: (Instant) -> Instance)], for request: RequestWrites? = nil
    ) throws -> Int {
        try write(for: request) { conn in
            let now = clock.now()
            var created = 0
            for e in entries {
                if let id = e.id, try conn.instance(id: id) != nil { continue }
                if let stored = try conn.instance(service: e.service, scope: e.scope, template: e.name) {
                    guard engine.settled(stored, at: now) == nil else { continue }
                    try remove(stored, conn)
                }
                if let settled = engine.settled(e.make(now), at: now) { try add(settled, conn) }
                created += 1
            }
            return created
        }
    }

    /// Stores the new instances `make` returns (each with a fresh id) in one transaction; returns them settled at
    /// the time of the write (a check due at once is already finished).
    public func create(for request: RequestWrites? = nil, _ make: (Instant) throws -> [Instance]) throws -> [Instance] {
        try write(for: request) { conn in
            let now = clock.now()
            let made = try make(now).compactMap { engine.settled($0, at: now) }
            for instance in made { try add(instance, conn) }
            return made
        }
    }

    /// Settles the instance, lets `change` start an operation on it (or throw), and commits the result.
    /// `belongs` filters out instances of another service or scope (they are "not found" to this caller).
    public func modify(
        id: String, for request: RequestWrites? = nil, belongs: (Instance) -> Bool, notFound: () -> any Error,
        _ change: (inout Instance, Instant) throws -> Void
    ) throws -> Instance {
        try write(for: request) { conn in
            try self.change(try conn.instance(id: id), in: conn, at: clock.now(), belongs: belongs, notFound: notFound, change)
        }
    }

    public func modify(
        service: String, scope: String, template: String, for request: RequestWrites? = nil,
        notFound: () -> any Error, _ change: (inout Instance, Instant) throws -> Void
    ) throws -> Instance {
        try write(for: request) { conn in
            let stored = try conn.instance(service: service, scope: scope, template: template)
            return try self.change(stored, in: conn, at: clock.now(), belongs: { _ in true }, notFound: notFound, change)
        }
    }

    /// Inside a write transaction: settle `stored`, apply `change`, persist. A refused change still persists
    /// what settling learned; a record that finished deleting is removed and reported as not found.
    private func change(
        _ stored: Instance?, in conn: AddonMockStore.Connection, at now: Instant,
        belongs: (Instance) -> Bool, notFound: () -> any Error,
        _ change: (inout Instance, Instant) throws -> Void
    ) throws -> Instance {
        guard let stored else { throw notFound() }
        guard let live = engine.settled(stored, at: now) else {
            try remove(stored, conn)
            throw notFound()
        }
        guard belongs(live) else { throw notFound() }
        var next = live
        do {
            try change(&next, now)
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
        id: String, for request: RequestWrites? = nil, belongs: (Instance) -> Bool,
        notFound: () -> any Error
    ) throws -> Instance? {
        try write(for: request) { conn in
            let now = clock.now()
            guard let stored = try conn.instance(id: id), belongs(stored) else { throw notFound() }
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

    /// `advance` found the instance settled.
    public struct NothingInFlight: Error, CustomStringConvertible {
        public let id: String
        public let phase: Phase
        public var description: String { "instance \(id) is \(phase): no operation is in flight to advance" }
    }

    /// Every instance of `services`, settled: for the control API.
    public func allInstances(services: [String]) throws -> [Instance] {
        let now = clock.now()
        return try database.read { try $0.allInstances(services: services) }.compactMap { engine.settled($0, at: now) }
    }

    /// Deletes instances (all, or a scope) in one transaction; returns how many.
    public func reset(
        services: [String]? = nil, scope: String? = nil, scopePrefix: String? = nil,
        for request: RequestWrites? = nil
    ) throws -> Int {
        try write(for: request) { conn in
            cache.forgetAll()
            let deleted = try conn.deleteInstances(services: services, scope: scope, scopePrefix: scopePrefix)
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
        guard try database.read({ try !$0.dueInstances(at: clock.now(), limit: 1).isEmpty }) else { return 0 }
        return try write(for: nil) { conn in
            let now = clock.now()
            var applied = 0
            while true {
                let due = try conn.dueInstances(at: now, limit: 500)
                for stored in due {
                    if let live = engine.settled(stored, at: now) { try save(live, replacing: stored, conn) } else { try remove(stored, conn) }
                }
                applied += due.count
                if due.count < 500 { return applied }
            }
        }
    }

    // MARK: row changes: the only writers of instance rows, each inside a write transaction
    //
    // Callers store records settled at the time of the write: a transition due at once (the instant profile)
    // then costs no second write by the sweep, and readers, who settle on read, see the same either way.

    private func save(_ instance: Instance, replacing old: Instance, _ conn: AddonMockStore.Connection) throws {
        cache.forget(id: instance.id)
        try conn.update(instance)
        note(ResourceChange(instance, from: old))
    }

    private func add(_ instance: Instance, _ conn: AddonMockStore.Connection) throws {
        cache.forget(id: instance.id)
        try conn.insert(instance)
        note(ResourceChange(instance, from: nil))
    }

    private func remove(_ old: Instance, _ conn: AddonMockStore.Connection) throws {
        cache.forget(id: old.id)
        try conn.deleteInstance(id: old.id)
        note(ResourceChange(deleted: old, at: clock.now()))
    }
}
