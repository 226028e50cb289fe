import Testing

@testable import AddonMockCore
@testable import AddonMockKit

@Suite struct ResourceCacheTests {
    let t0 = Instant(milliseconds: 1_795_341_600_000)
    let engine = LifecycleEngine(timing: Timing(profile: .fast, random: SeededRandom(seed: 1)), tables: ["cce": .managedPackage])

    func record(_ id: String, scope: String = "c1", name: String = "coredns", due: Instant? = nil) -> Resource {
        Resource(
            id: id, service: "cce", scope: scope, name: name,
            spec: .package(Revision(version: "1.0.0", values: .emptyObject)), phase: due == nil ? .running : .installing,
            pending: due.map { PendingTransition(operation: .install, dueAt: $0, outcome: .succeed) },
            createdAt: t0, updatedAt: t0)
    }

    @Test func findsByIdAndByName() throws {
        let cache = ResourceCache(capacity: 8)
        cache.remember(record("a"), readSince: cache.generation)
        #expect(cache.entry(id: "a")?.stored.id == "a")
        #expect(cache.entry(service: "cce", scope: "c1", name: "coredns")?.stored.id == "a")
        #expect(cache.entry(service: "autopilot", scope: "c1", name: "coredns") == nil)
        cache.forget(record("a"))
        #expect(cache.entry(id: "a") == nil)
        #expect(cache.entry(service: "cce", scope: "c1", name: "coredns") == nil)
    }

    @Test func staysWithinCapacity() {
        let cache = ResourceCache(capacity: 3)
        for i in 0..<10 { cache.remember(record("i\(i)", scope: "c\(i)"), readSince: cache.generation) }
        #expect(cache.count == 3)
        // First in, first out: the newest three remain.
        #expect(cache.entry(id: "i9") != nil && cache.entry(id: "i7") != nil && cache.entry(id: "i6") == nil)
        cache.forgetAll()
        #expect(cache.count == 0)
    }

    @Test func staysWithinItsByteBudgetOldestFirst() {
        // Records with 100 KB of values against a 350 KB budget: at most three stay, the newest.
        let cache = ResourceCache(capacity: 100, byteBudget: 350_000, largestEntry: 350_000)
        let values = RawJSON(trusted: Array("{\"pad\":\"\(String(repeating: "x", count: 100_000))\"}".utf8))
        for i in 0..<10 {
            var r = record("b\(i)", scope: "c\(i)")
            r.revision = Revision(version: "1.0.0", values: values)
            cache.remember(r, readSince: cache.generation)
            #expect(cache.size <= 350_000)
        }
        #expect(cache.count == 3)
        #expect(cache.entry(id: "b9") != nil && cache.entry(id: "b7") != nil && cache.entry(id: "b6") == nil)
        // Rendered bodies count too: a 200 KB body pushes the oldest two out.
        let newest = cache.entry(id: "b9")!
        cache.attach([UInt8](repeating: 0x20, count: 200_000), as: "cce", to: newest)
        #expect(cache.size <= 350_000)
        #expect(cache.entry(id: "b9")?.body("cce")?.count == 200_000)
        #expect(cache.entry(id: "b7") == nil)
        cache.forgetAll()
        #expect(cache.size == 0)
    }

    @Test func aRecordOverA128thOfTheBudgetIsReadEachTimeNotKept() {
        let cache = ResourceCache(capacity: 100, byteBudget: 128 * 20_000)
        var big = record("big")
        big.revision = Revision(version: "1.0.0", values: RawJSON(trusted: [UInt8](repeating: 0x20, count: 30_000)))
        #expect(cache.remember(big, readSince: cache.generation).stored.id == "big", "still rendered from")
        #expect(cache.entry(id: "big") == nil && cache.size == 0)
        let small = cache.remember(record("small"), readSince: cache.generation)
        cache.attach([UInt8](repeating: 0x20, count: 30_000), as: "cce", to: small)
        #expect(cache.entry(id: "small")?.body("cce") == nil, "a body that would make it too large is not kept")
        #expect(cache.entry(id: "small") != nil)
    }

    @Test func bodiesAreKeptPerRendererAndRenderedOnce() throws {
        let cache = ResourceCache(capacity: 4)
        var renders = 0
        let render = { (i: Resource) -> [UInt8] in
            renders += 1; return Array(i.id.utf8)
        }
        let view = try #require(cache.view(of: cache.remember(record("a"), readSince: cache.generation), at: t0, engine: engine))
        #expect(view.body("x", render) == Array("a".utf8))
        let entry = try #require(cache.entry(id: "a"))
        let again = try #require(cache.view(of: entry, at: t0, engine: engine))
        #expect(again.body("x", render) == Array("a".utf8))
        #expect(renders == 1)
        _ = again.body("y", render)
        #expect(renders == 2)
    }

    @Test func aBodyForAForgottenRecordIsNotKept() throws {
        let cache = ResourceCache(capacity: 4)
        let stale = try #require(cache.view(of: cache.remember(record("a"), readSince: cache.generation), at: t0, engine: engine))
        cache.forget(record("a"))
        cache.remember(record("a"), readSince: cache.generation)
        _ = stale.body("x") { _ in Array("stale".utf8) }
        let entry = try #require(cache.entry(id: "a"))
        let fresh = try #require(cache.view(of: entry, at: t0, engine: engine))
        #expect(fresh.body("x") { _ in Array("fresh".utf8) } == Array("fresh".utf8))
    }

    @Test func aDueTransitionIsSettledAndRenderedAfresh() throws {
        let cache = ResourceCache(capacity: 4)
        let entry = cache.remember(record("a", due: t0.adding(milliseconds: 100)), readSince: cache.generation)
        let before = try #require(cache.view(of: entry, at: t0, engine: engine))
        #expect(before.resource.phase == .installing)
        #expect(before.body("x") { Array($0.phase.rawValue.utf8) } == Array("installing".utf8))
        let after = try #require(cache.view(of: entry, at: t0.adding(milliseconds: 100), engine: engine))
        #expect(after.resource.phase == .running)
        #expect(after.body("x") { Array($0.phase.rawValue.utf8) } == Array("running".utf8))
    }

    @Test func aRecordReadBeforeACommitIsNotKeptAfterIt() throws {
        let cache = ResourceCache(capacity: 4)
        // A reader takes the generation, then a write changes "a" and commits before the reader remembers
        // what it read (the older record): that record must not stay.
        let generation = cache.generation
        cache.forget(record("a"))
        cache.committed()
        let entry = cache.remember(record("a"), readSince: generation)
        #expect(entry.stored.id == "a")
        #expect(cache.entry(id: "a") == nil)
        // Read after the commit: kept.
        cache.remember(record("a"), readSince: cache.generation)
        #expect(cache.entry(id: "a") != nil)
    }

    /// A list's records are kept together; none of them when a commit happened since its read.
    @Test func aListsRecordsAreKeptTogetherUnlessACommitCameBetween() throws {
        let cache = ResourceCache(capacity: 4)
        let stale = cache.generation
        cache.committed()
        #expect(cache.remember([record("a", name: "x"), record("b", name: "y")], readSince: stale).allSatisfy { $0 == nil })
        #expect(cache.count == 0)
        let kept = cache.remember([record("a", name: "x"), record("b", name: "y")], readSince: cache.generation)
        #expect(kept.map { $0?.stored.id } == ["a", "b"])
        #expect(cache.entry(id: "a") != nil && cache.entry(id: "b") != nil)
    }

    @Test func aCommitForgetsWhatWasRememberedSinceItsWrite() throws {
        let cache = ResourceCache(capacity: 4)
        // The write forgets "a"; a reader that began before the write's commit remembers the committed (older)
        // record; the commit then forgets it again, so the next read fetches the new one.
        cache.forget(record("a"))
        cache.remember(record("a"), readSince: cache.generation)
        #expect(cache.entry(id: "a") != nil)
        cache.committed()
        #expect(cache.entry(id: "a") == nil)
        cache.remember(record("b", scope: "c2"), readSince: cache.generation)
        cache.forgetAll()
        cache.remember(record("b", scope: "c2"), readSince: cache.generation)
        cache.committed()
        #expect(cache.count == 0)
    }
    /// Kept lists share the cache's byte budget and take at most a quarter of it. A list goes when a write to its
    /// service and scope commits (not one elsewhere), and one read before any commit is not kept after it.
    @Test func keptListsStayWithinAQuarterOfTheBudgetAndGoWithWritesToWhatTheyList() throws {
        let cache = ResourceCache(byteBudget: 16 << 10)
        let view = try #require(cache.view(of: cache.remember(record("a"), readSince: cache.generation), at: t0, engine: engine))
        func keep(_ scope: String, bytes: Int) {
            cache.keep(
                ListAnswer(ids: ["a"], body: Array(repeating: 0x20, count: bytes)), of: [view], service: "cce", scope: scope,
                renderer: "x", readSince: cache.generation)
        }
        func isKept(_ scope: String) -> Bool { cache.list(service: "cce", scope: scope, renderer: "x", at: t0) != nil }
        keep("small", bytes: 2_000)
        #expect(isKept("small"))
        keep("too large", bytes: 4_000)
        #expect(!isKept("too large"), "over a quarter of 16 KiB alone")
        keep("second", bytes: 2_000)
        #expect(isKept("second"))
        #expect(!isKept("small"), "two would pass the quarter: the older went")
        #expect(cache.size <= 16 << 10)

        keep("third", bytes: 100)
        cache.forget(record("b", scope: "second"))
        #expect(!isKept("second"), "a write to what it lists drops it at once")
        keep("second", bytes: 100) // read meanwhile, before the write's commit: the older records
        cache.committed()
        #expect(!isKept("second"), "and again at the commit")
        #expect(isKept("third"), "a list of another scope stays")

        let stale = cache.generation
        cache.forget(record("c", scope: "elsewhere"))
        cache.committed()
        cache.keep(ListAnswer(ids: [], body: []), of: [], service: "cce", scope: "late", renderer: "x", readSince: stale)
        #expect(!isKept("late"), "read before a commit: not kept")
        cache.forgetAll()
        cache.committed()
        #expect(!isKept("third"), "a reset drops every list")
    }
}
