import AddonMockCore
import AddonMockKit
import AddonMockStore
import Testing

/// Owners and what they own, through the manager: a cascading relation deletes what an owner owns when the
/// owner's delete completes (each with its own event); a blocking one refuses the owner's delete while it owns
/// anything. Driven by the virtual clock under the `manual` profile: nothing moves unless advanced.
@Suite struct ResourceManagerTests {
    let clock = VirtualClock()
    let manager: ResourceManager
    let changes = Locked<[ResourceChange]>([])

    static let simple = LifecycleTable(
        steps: [
            "create": .init(inFlight: "Creating", succeeded: "Ready", failed: "Error"),
            "delete": .init(inFlight: "Deleting", succeeded: nil, failed: "Error"),
        ],
        degraded: "Error", settled: ["Ready", "Error"], healthy: ["Ready"])

    init() throws {
        clock.pin()
        let engine = LifecycleEngine(
            timing: Timing(profile: .manual, random: SeededRandom(seed: 1)),
            tables: ["shelves": Self.simple, "books": Self.simple, "vaults": Self.simple, "gems": Self.simple])
        manager = ResourceManager(
            database: try Database(path: ":memory:"), engine: engine, clock: clock,
            relations: [
                ResourceRelation(ownerServices: ["shelves"], ownedServices: ["books"], ownedNoun: "books", link: ParentLink(kind: "shelves")),
                ResourceRelation(
                    ownerServices: ["vaults"], ownedServices: ["gems"], ownedNoun: "gems",
                    link: ParentLink(kind: "vaults", childScope: .ownerScopeAndName, onDelete: .block)),
            ],
            shown: ["books": [.spec("pages")]],
            committed: { [changes] batch in changes.withLock { $0 += batch } })
    }

    /// A settled record made directly (`manual` would leave a create in flight).
    @discardableResult
    func make(_ service: String, id: String, scope: String, name: String) throws -> Resource {
        let now = clock.now()
        return try manager.create { _ in
            [Resource(id: id, service: service, scope: scope, name: name, phase: "Ready", createdAt: now, updatedAt: now)]
        }[0]
    }

    func startDelete(_ id: String) throws {
        _ = try manager.modify(id: id, belongs: { _ in true }, notFound: { APIError(.notFound, "no \(id)") }) { r, now in
            try manager.engine.begin("delete", on: &r, templateTiming: nil, outcome: .succeed, now: now)
        }
    }

    /// A list reuses what a read kept (the record and its renderings) and never shows a record older than the
    /// latest write, even one made at the same (pinned) instant.
    @Test func aListReusesKeptRecordsAndTheirBodiesButNeverAStaleOne() throws {
        try make("books", id: "b1", scope: "s1", name: "dune")
        try make("books", id: "b2", scope: "s1", name: "emma")
        let renders = Locked(0)
        let render: (Resource) -> [UInt8] = { r in
            renders.withLock { $0 += 1 }
            return Array("\(r.name):\(r.spec.string("pages") ?? "-")".utf8)
        }
        func list() throws -> (ids: [String], items: [String]) {
            let answer = try manager.list(
                service: "books", scope: "s1", renderer: "book", render: render, join: { Array($0.joined(separator: Array("\n".utf8))) })
            return (answer.ids, String(decoding: answer.body, as: UTF8.self).split(separator: "\n").map(String.init))
        }
        #expect(try manager.view(id: "b1")?.body("book", render) == Array("dune:-".utf8))
        #expect(renders.withLock { $0 } == 1)
        let listed = try list()
        #expect(listed.ids == ["b1", "b2"], "oldest first, creation order within one instant")
        #expect(listed.items == ["dune:-", "emma:-"])
        #expect(renders.withLock { $0 } == 2, "b1's body was kept from the read; only b2 was rendered")
        #expect(try manager.view(id: "b2")?.body("book", render) == Array("emma:-".utf8))
        #expect(renders.withLock { $0 } == 2, "the list kept b2 and its body: reading it renders nothing")

        _ = try manager.modify(id: "b1", belongs: { _ in true }, notFound: { APIError(.notFound, "no b1") }) { r, _ in
            r.spec["pages"] = RawJSON(.string("412"))
        }
        _ = try manager.view(id: "b1") // kept again, as changed
        #expect(try list().items == ["dune:412", "emma:-"])
    }

    /// A list answer is kept whole: asked again it is neither read nor joined, until a write to its service and scope
    /// commits or until an operation in it falls due; then it is made afresh and shows the change.
    @Test func aListAnswerIsKeptUntilAWriteToItCommitsOrSomethingInItFallsDue() throws {
        let now = clock.now()
        try make("books", id: "b1", scope: "s1", name: "dune")
        _ = try manager.create { _ in
            [
                Resource(
                    id: "b2", service: "books", scope: "s1", name: "emma", phase: "Creating",
                    pending: PendingTransition(operation: "create", dueAt: now.adding(milliseconds: 1_000), outcome: .succeed),
                    createdAt: now, updatedAt: now)
            ]
        }
        let joins = Locked(0)
        func list() throws -> (ids: [String], body: String) {
            let answer = try manager.list(
                service: "books", scope: "s1", renderer: "book", render: { Array("\($0.name):\($0.phase)".utf8) },
                join: { items in
                    joins.withLock { $0 += 1 }
                    return Array(items.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",").utf8)
                })
            return (answer.ids, String(decoding: answer.body, as: UTF8.self))
        }

        #expect(try list() == (["b1", "b2"], "dune:Ready,emma:Creating"))
        #expect(try list() == (["b1", "b2"], "dune:Ready,emma:Creating"))
        #expect(joins.withLock { $0 } == 1, "the second list was the kept answer")

        clock.advance(milliseconds: 999)
        #expect(try list().body == "dune:Ready,emma:Creating")
        #expect(joins.withLock { $0 } == 1, "nothing in it has fallen due yet")
        clock.advance(milliseconds: 1)
        #expect(try list().body == "dune:Ready,emma:Ready", "b2's create fell due: not the kept answer")
        #expect(joins.withLock { $0 } == 2)

        try make("books", id: "b3", scope: "s1", name: "ulysses")
        _ = try list() // b2 is read settled but not yet swept: made afresh, not kept
        _ = try manager.sweep()
        #expect(try list() == (["b1", "b2", "b3"], "dune:Ready,emma:Ready,ulysses:Ready"))
        let joined = joins.withLock { $0 }
        try make("shelves", id: "elsewhere", scope: "lib", name: "top")
        try make("books", id: "b9", scope: "s2", name: "other shelf's")
        _ = try list()
        #expect(joins.withLock { $0 } == joined, "commits elsewhere leave it kept")
        try startDelete("b1")
        #expect(try list().body == "dune:Deleting,emma:Ready,ulysses:Ready")
        #expect(joins.withLock { $0 } == joined + 1, "a write to one of its records drops it")
    }

    @Test func anOwnersDeleteTakesWhatItOwnsWithIt() throws {
        try make("shelves", id: "s1", scope: "lib", name: "top")
        try make("books", id: "b1", scope: "s1", name: "dune")
        try make("books", id: "b2", scope: "s1", name: "emma")
        try make("books", id: "b3", scope: "s2", name: "other shelf's")
        try startDelete("b2") // in flight when its owner goes: counted, then gone
        #expect(manager.inFlightCount(services: ["books"]) == 1)

        try startDelete("s1")
        #expect(try manager.resource(id: "b1") != nil, "owned resources stay until the owner's delete completes")
        clock.advance(milliseconds: 1_000)
        #expect(try manager.advance(id: "s1", belongs: { _ in true }, notFound: { APIError(.notFound, "") }) == nil)

        #expect(try manager.resource(id: "s1") == nil)
        #expect(try manager.resources(service: "books", scope: "s1").isEmpty)
        #expect(try manager.resource(id: "b3") != nil, "another owner's are untouched")
        let deleted = changes.withLock { $0.filter { $0.kind == .deleted } }
        #expect(deleted.map(\.id) == ["s1", "b1", "b2"], "the owner first, then each of its own, each an event")
        #expect(Set(deleted.map(\.at)).count == 1, "all at the owner's time")
        #expect(manager.inFlightCount(services: ["books", "shelves"]) == 0)
    }

    @Test func aBlockingRelationRefusesTheOwnersDeleteWhileItOwnsAnything() throws {
        try make("vaults", id: "v1", scope: "bank", name: "north")
        try make("gems", id: "g1", scope: "bank/north", name: "ruby")
        let refusal = #expect(throws: APIError.self) { try startDelete("v1") }
        #expect(refusal?.kind == .conflict)
        #expect(refusal?.message == "v1 still has 1 gems (e.g. ruby g1); delete it first")
        #expect(try manager.resource(id: "v1")?.phase == "Ready", "refused: nothing changed")

        try startDelete("g1")
        #expect(throws: APIError.self, "a gem being deleted still exists") { try startDelete("v1") }
        _ = try manager.advance(id: "g1", belongs: { _ in true }, notFound: { APIError(.notFound, "") })
        try startDelete("v1")
        #expect(try manager.resource(id: "v1")?.phase == "Deleting")
    }

    @Test func aResetDeletesRowsWithoutRunningDeletes() throws {
        try make("shelves", id: "s1", scope: "lib", name: "top")
        try make("books", id: "b1", scope: "s1", name: "dune")
        #expect(try manager.reset(services: ["shelves"]) == 1)
        #expect(try manager.resource(id: "b1") != nil, "a reset of one service leaves the others' rows")
    }

    /// The event log keeps thousands of changes: each carries its kind's shown fields, not the record's documents.
    @Test func aChangeCarriesTheShownFieldsNotTheDocuments() throws {
        let now = clock.now()
        let big = RawJSON.string(String(repeating: "x", count: 100_000))
        _ = try manager.create { _ in
            [
                Resource(
                    id: "b1", service: "books", scope: "s1", name: "dune",
                    spec: JSONDocument([("pages", RawJSON(trusted: Array("412".utf8))), ("text", big)]), phase: "Ready",
                    createdAt: now, updatedAt: now)
            ]
        }
        let change = try #require(changes.withLock { $0.last })
        #expect(change.record?.spec.members.isEmpty == true && change.record?.status.members.isEmpty == true)
        #expect(change.shown.map(\.name) == ["pages"] && change.shown.first?.value == RawJSON(trusted: Array("412".utf8)))
        #expect(change.name == "dune" && change.to == "Ready")
    }

    /// Nobody sweeps here: a read that finds an owner's delete due writes it down, and its books with it, so a
    /// client told the shelf is gone finds its books gone too.
    @Test func readingAnOwnerWhoseDeleteFellDueTakesWhatItOwnsWithIt() throws {
        let fastClock = VirtualClock()
        fastClock.pin()
        let fast = ResourceManager(
            database: try Database(path: ":memory:"),
            engine: LifecycleEngine(
                timing: Timing(profile: .fast, random: SeededRandom(seed: 1)), tables: ["shelves": Self.simple, "books": Self.simple]),
            clock: fastClock,
            relations: [
                ResourceRelation(ownerServices: ["shelves"], ownedServices: ["books"], ownedNoun: "books", link: ParentLink(kind: "shelves"))
            ])
        let now = fastClock.now()
        _ = try fast.create { _ in
            [
                Resource(id: "s1", service: "shelves", scope: "lib", name: "top", phase: "Ready", createdAt: now, updatedAt: now),
                Resource(id: "b1", service: "books", scope: "s1", name: "dune", phase: "Ready", createdAt: now, updatedAt: now),
            ]
        }
        _ = try fast.modify(id: "s1", belongs: { _ in true }, notFound: { APIError(.notFound, "") }) { r, now in
            try fast.engine.begin("delete", on: &r, templateTiming: nil, outcome: .succeed, now: now)
        }
        fastClock.advance(milliseconds: 500)
        #expect(try fast.resource(id: "s1") == nil)
        #expect(try fast.resource(id: "b1") == nil, "written down with its owner")
    }

    /// Kept from commits, recounted after a reset: what lets a service skip a lookup nobody needs.
    @Test func knowsWhichServicesHaveRecords() throws {
        #expect(!manager.hasRecords(service: "shelves"))
        try make("shelves", id: "s1", scope: "lib", name: "top")
        #expect(manager.hasRecords(service: "shelves") && !manager.hasRecords(service: "books"))
        try startDelete("s1")
        _ = try manager.advance(id: "s1", belongs: { _ in true }, notFound: { APIError(.notFound, "") })
        #expect(!manager.hasRecords(service: "shelves"))
        try make("books", id: "b1", scope: "x", name: "dune")
        _ = try manager.reset(services: nil, scope: nil, scopePrefix: nil)
        #expect(!manager.hasRecords(service: "books"))
        try make("books", id: "b2", scope: "x", name: "emma")
        #expect(manager.hasRecords(service: "books"))
    }
}
