import AddonMockCore
import AddonMockStore

/// Runs the lifecycle engine over the store for every service. Reads derive the state from record + clock
/// without writing; writes first settle the record they touch, then commit, and only then return.
public final class InstanceManager: Sendable {
    public let database: Database
    public let engine: LifecycleEngine
    public let clock: any Clock

    public init(database: Database, engine: LifecycleEngine, clock: any Clock) {
        self.database = database
        self.engine = engine
        self.clock = clock
    }

    /// The instance as it is now, or nil if it never existed or has finished deleting.
    public func instance(id: String) throws -> Instance? {
        let now = clock.now()
        return try database.read { try $0.instance(id: id) }.flatMap { engine.settled($0, at: now) }
    }

    public func instances(service: ServiceKind, scope: String) throws -> [Instance] {
        let now = clock.now()
        return try database.read { try $0.instances(service: service, scope: scope) }
            .compactMap { engine.settled($0, at: now) }
    }

    public func instance(service: ServiceKind, scope: String, template: String) throws -> Instance? {
        let now = clock.now()
        return try database.read { try $0.instance(service: service, scope: scope, template: template) }
            .flatMap { engine.settled($0, at: now) }
    }

    /// Creates the instance of `template` in `scope`, or, when one still exists there, lets `modify` change it
    /// (or throw: CCE answers a second install with a 409, ModelArts upgrades the plug-in).
    public func createOrModify(service: ServiceKind, scope: String, template: String,
                               create: (Instant) throws -> Instance,
                               modify: (inout Instance, Instant) throws -> Void) throws -> Instance {
        try database.write { conn in
            let now = clock.now()
            let stored = try conn.instance(service: service, scope: scope, template: template)
            if let stored, engine.settled(stored, at: now) != nil {
                return try change(stored, in: conn, at: now, belongs: { _ in true }, notFound: { preconditionFailure() }, modify)
            }
            if let stored { try conn.deleteInstance(id: stored.id) }
            let instance = try create(now)
            try conn.insert(instance)
            return instance
        }
    }

    /// Settles the instance, lets `change` start an operation on it (or throw), and commits the result.
    /// `belongs` filters out instances of another service or scope (they are "not found" to this caller).
    public func modify(id: String, belongs: (Instance) -> Bool, notFound: () -> APIError,
                       _ change: (inout Instance, Instant) throws -> Void) throws -> Instance {
        try database.write { conn in
            try self.change(try conn.instance(id: id), in: conn, at: clock.now(), belongs: belongs, notFound: notFound, change)
        }
    }

    public func modify(service: ServiceKind, scope: String, template: String, notFound: () -> APIError,
                       _ change: (inout Instance, Instant) throws -> Void) throws -> Instance {
        try database.write { conn in
            let stored = try conn.instance(service: service, scope: scope, template: template)
            return try self.change(stored, in: conn, at: clock.now(), belongs: { _ in true }, notFound: notFound, change)
        }
    }

    /// Inside a write transaction: settle `stored`, apply `change`, persist. A refused change still persists
    /// what settling learned; a record that finished deleting is removed and reported as not found.
    private func change(_ stored: Instance?, in conn: AddonMockStore.Connection, at now: Instant,
                        belongs: (Instance) -> Bool, notFound: () -> APIError,
                        _ change: (inout Instance, Instant) throws -> Void) throws -> Instance {
        guard let stored else { throw notFound() }
        guard let live = engine.settled(stored, at: now) else {
            try conn.deleteInstance(id: stored.id)
            throw notFound()
        }
        guard belongs(live) else { throw notFound() }
        var next = live
        do {
            try change(&next, now)
        } catch {
            if live != stored { try conn.update(live) }
            throw error
        }
        if next != stored { try conn.update(next) }
        return next
    }

    /// Applies the pending transition now, whatever its due time (the control API's "advance").
    /// Returns nil when that completed a delete.
    public func advance(id: String, belongs: (Instance) -> Bool, notFound: () -> APIError) throws -> Instance? {
        try database.write { conn in
            let now = clock.now()
            guard let stored = try conn.instance(id: id), belongs(stored) else { throw notFound() }
            guard let live = engine.settled(stored, at: now) else {
                try conn.deleteInstance(id: id)
                throw notFound()
            }
            guard live.pending != nil else {
                if live != stored { try conn.update(live) }
                throw APIError(.conflict, "instance \(id) is \(live.phase.rawValue): no operation is in flight to advance")
            }
            guard let next = engine.complete(live, at: now) else {
                try conn.deleteInstance(id: id)
                return nil
            }
            try conn.update(next)
            return next
        }
    }

    /// Every instance of `services`, settled: for the control API.
    public func allInstances(services: [ServiceKind]) throws -> [Instance] {
        let now = clock.now()
        return try database.read { try $0.allInstances(services: services) }.compactMap { engine.settled($0, at: now) }
    }

    /// Deletes instances (all, or a scope) in one transaction; returns how many.
    public func reset(services: [ServiceKind]? = nil, scope: String? = nil, scopePrefix: String? = nil) throws -> Int {
        try database.write { try $0.deleteInstances(services: services, scope: scope, scopePrefix: scopePrefix) }
    }

    /// Writes every transition that is due into the database (deleting finished deletes). Reads are correct
    /// without this; it keeps the file an honest picture of the world and runs at start-up and periodically.
    @discardableResult
    public func sweep() throws -> Int {
        // Most sweeps find nothing: look with one indexed read before taking a write transaction.
        guard try database.read({ try !$0.dueInstances(at: clock.now(), limit: 1).isEmpty }) else { return 0 }
        return try database.write { conn in
            let now = clock.now()
            var applied = 0
            while true {
                let due = try conn.dueInstances(at: now, limit: 500)
                for stored in due {
                    if let live = engine.settled(stored, at: now) { try conn.update(live) } else { try conn.deleteInstance(id: stored.id) }
                }
                applied += due.count
                if due.count < 500 { return applied }
            }
        }
    }
}
