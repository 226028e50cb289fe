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

    /// Creates an instance unless its (service, scope, template) slot is taken by one that still exists.
    /// `make` builds it; `conflict` explains the clash with the existing one.
    public func create(service: ServiceKind, scope: String, template: String,
                       conflict: (Instance) -> APIError,
                       make: (Instant) -> Instance) throws -> Instance {
        try database.write { conn in
            let now = clock.now()
            if let existing = try conn.instance(service: service, scope: scope, template: template) {
                if let live = engine.settled(existing, at: now) {
                    try persist(live, from: existing, in: conn)
                    throw conflict(live)
                }
                try conn.deleteInstance(id: existing.id)
            }
            let instance = make(now)
            try conn.insert(instance)
            return instance
        }
    }

    /// Settles the instance, lets `change` start an operation on it (or throw), and commits the result.
    /// `belongs` filters out instances of another service or scope (they are "not found" to this caller).
    /// Returns nil if the change deleted it outright.
    public func modify(id: String, belongs: (Instance) -> Bool, notFound: () -> APIError,
                       _ change: (inout Instance, Instant) throws -> Void) throws -> Instance {
        try database.write { conn in
            let now = clock.now()
            guard let stored = try conn.instance(id: id) else { throw notFound() }
            guard let live = engine.settled(stored, at: now) else {
                try conn.deleteInstance(id: id)
                throw notFound()
            }
            guard belongs(live) else { throw notFound() }
            var next = live
            do {
                try change(&next, now)
            } catch {
                // Keep what settling learned even when the requested change is refused.
                try persist(live, from: stored, in: conn)
                throw error
            }
            try conn.update(next)
            return next
        }
    }

    /// Writes every transition that is due into the database (deleting finished deletes). Reads are correct
    /// without this; it keeps the file an honest picture of the world and runs at start-up and periodically.
    @discardableResult
    public func sweep() throws -> Int {
        try database.write { conn in
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

    private func persist(_ live: Instance, from stored: Instance, in conn: AddonMockStore.Connection) throws {
        if live != stored { try conn.update(live) }
    }
}
