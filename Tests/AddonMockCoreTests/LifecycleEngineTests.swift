import Testing

@testable import AddonMockCore

/// The engine on a table it was not written for: a machine that is created, hibernates, wakes, resizes and is
/// deleted. Nothing here is an add-on; the package lifecycle has its own tests in the kit.
@Suite struct LifecycleEngineTests {
    let t0 = Instant(milliseconds: 1_795_341_600_000)
    let failure = Outcome.fail(reason: "ForcedFailure", message: "failed on purpose")

    func engine(_ profile: Profile, seed: UInt64 = 7) -> LifecycleEngine {
        LifecycleEngine(timing: Timing(profile: profile, random: SeededRandom(seed: seed)), tables: ["machines": .machines])
    }

    func created(_ e: LifecycleEngine, outcome: Outcome = .succeed) -> Resource {
        e.create(
            id: "m-1", service: "machines", scope: "p1", name: "web", spec: JSONDocument([("size", RawJSON(.number("2")))]),
            outcome: outcome, now: t0)
    }

    /// Created and settled to Available.
    func available(_ e: LifecycleEngine) -> Resource {
        e.settled(created(e), at: t0.adding(milliseconds: 1_000))!
    }

    @Test func createSucceedsWhenDueAndStampsTheDueTime() {
        let e = engine(.fast)
        let m = created(e)
        #expect(m.phase == "Creating")
        #expect(m.pending == PendingTransition(operation: "create", dueAt: t0.adding(milliseconds: 150), outcome: .succeed))
        #expect(e.settled(m, at: t0.adding(milliseconds: 149))?.phase == "Creating")
        let done = e.settled(m, at: t0.adding(milliseconds: 60_000))!
        #expect(done.phase == "Available")
        #expect(done.pending == nil)
        #expect(done.updatedAt == t0.adding(milliseconds: 150))
        #expect(done.createdAt == t0)
    }

    @Test func failureCarriesReasonAndMessageIntoTheStepsFailedPhase() {
        let e = engine(.fast)
        let done = e.settled(created(e, outcome: failure), at: t0.adding(milliseconds: 500))!
        #expect(done.phase == "Error")
        #expect(done.reason == "ForcedFailure")
        #expect(done.message == "failed on purpose")
    }

    /// Verbs beyond install/upgrade/rollback/delete, each with its own phases and duration.
    @Test func hibernatesAndWakesUp() throws {
        let e = engine(.fast)
        var m = available(e)
        try e.begin("hibernate", on: &m, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        #expect(m.phase == "Hibernating")
        m = e.settled(m, at: t0.adding(milliseconds: 2_060))!
        #expect(m.phase == "Hibernation")
        #expect(throws: LifecycleError.notAllowed(id: "m-1", operation: "resize", phase: "Hibernation", allowed: ["Available"])) {
            try e.begin("resize", on: &m, input: RawJSON(.number("5")), templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 3_000))
        }
        try e.begin("awake", on: &m, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 3_000))
        #expect(m.phase == "Awaking")
        #expect(e.settled(m, at: t0.adding(milliseconds: 3_070))?.phase == "Available")
    }

    /// A step's effect: what the request asked for is its target, applied only when the step succeeds.
    @Test func resizeAppliesItsTargetOnSuccessOnly() throws {
        let e = engine(.fast)
        var m = available(e)
        try e.begin("resize", on: &m, input: RawJSON(.number("5")), templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        #expect(m.phase == "Resizing")
        #expect(m.pending?.target == RawJSON(.number("5")))
        #expect(m.spec["size"] == RawJSON(.number("2")), "not before it succeeds")
        #expect(e.settled(m, at: t0.adding(milliseconds: 2_200))?.spec["size"] == RawJSON(.number("5")))

        var n = available(e)
        try e.begin("resize", on: &n, input: RawJSON(.number("9")), templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 2_000))
        let failed = e.settled(n, at: t0.adding(milliseconds: 2_200))!
        #expect(failed.phase == "Error")
        #expect(failed.spec["size"] == RawJSON(.number("2")), "a failed resize changes nothing")
    }

    /// An effect may refuse to begin; the resource is left exactly as it was and no outcome is consumed.
    @Test func anEffectThatRefusesLeavesTheResourceAlone() throws {
        let e = engine(.fast)
        var m = available(e)
        let before = m
        var decided = 0
        #expect(throws: LifecycleError.nothingKept(id: "m-1", operation: "resize", what: "no size to resize to")) {
            try e.begin(
                "resize", on: &m, input: nil, templateTiming: nil,
                outcome: {
                    decided += 1; return .succeed
                }(), now: t0)
        }
        #expect(m == before)
        #expect(decided == 0)
    }

    @Test func deleteSucceedsToGoneOrFailsIntoItsFailedPhase() throws {
        let e = engine(.fast)
        var m = available(e)
        try e.begin("delete", on: &m, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        #expect(m.phase == "Deleting")
        #expect(e.settled(m, at: t0.adding(milliseconds: 2_079)) != nil)
        #expect(e.settled(m, at: t0.adding(milliseconds: 2_080)) == nil)

        var j = available(e)
        try e.begin("delete", on: &j, templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 2_000))
        j = e.settled(j, at: t0.adding(milliseconds: 3_000))!
        #expect(j.phase == "Error")
        try e.begin("delete", on: &j, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 4_000))
        #expect(j.phase == "Deleting")
    }

    @Test(arguments: ["hibernate", "resize", "delete"] as [Operation])
    func anyOperationOnAnInFlightResourceIsBusy(op: Operation) {
        let e = engine(.fast)
        var m = created(e)
        #expect(throws: LifecycleError.busy(id: "m-1", phase: "Creating")) {
            try e.begin(op, on: &m, input: RawJSON(.number("1")), templateTiming: nil, outcome: .succeed, now: t0)
        }
        #expect(m.phase == "Creating")
    }

    @Test func aVerbTheTableLacksIsUnsupported() {
        let e = engine(.fast)
        var m = available(e)
        #expect(throws: LifecycleError.unsupported(id: "m-1", operation: "upgrade")) {
            try e.begin("upgrade", on: &m, templateTiming: nil, outcome: .succeed, now: t0)
        }
    }

    @Test func abnormalEndsInTheTablesDegradedPhase() throws {
        let e = engine(.fast)
        var m = available(e)
        try e.begin("hibernate", on: &m, templateTiming: nil, outcome: .abnormal(reason: "Stuck", message: "half asleep"), now: t0)
        let done = e.settled(m, at: t0.adding(milliseconds: 1_000))!
        #expect(done.phase == "Unavailable")
        #expect((done.reason, done.message) == ("Stuck", "half asleep"))
    }

    @Test func instantProfileShowsInFlightThenSettledOnTheNextRead() {
        let e = engine(.instant)
        let m = created(e)
        #expect(m.phase == "Creating")
        #expect(e.settled(m, at: t0)?.phase == "Available")
    }

    @Test func manualProfileNeverMovesUntilCompleted() {
        let e = engine(.manual)
        let m = created(e)
        #expect(m.pending?.dueAt == nil)
        #expect(e.settled(m, at: Instant(milliseconds: .max))?.phase == "Creating")
        let forced = e.complete(m, at: t0.adding(milliseconds: 5))!
        #expect(forced.phase == "Available")
        #expect(forced.updatedAt == t0.adding(milliseconds: 5))
    }

    @Test func fastProfileTakesEachTablesFastDurationAtMost200ms() {
        let timing = Timing(profile: .fast, random: SeededRandom(seed: 1))
        for op in LifecycleTable.machines.operations {
            let step = LifecycleTable.machines.steps[op]!
            let d = timing.delay(for: op, step, templateTiming: TimingTable([op: StepDuration(baseMs: 60_000)]))!
            #expect(d == step.fastMs && d <= 200, "\(op) took \(d) ms")
        }
        #expect(LifecycleTable.Step(inFlight: "a", succeeded: "b", failed: "c", fastMs: 5_000).fastMs == 200, "capped")
    }

    @Test func realisticProfileUsesTemplateTimingWithReproducibleJitter() {
        let step = LifecycleTable.machines.steps["create"]!
        let table = TimingTable(["create": StepDuration(baseMs: 10_000, jitterMs: 2_000)])
        let a = Timing(profile: .realistic, random: SeededRandom(seed: 99))
        let b = Timing(profile: .realistic, random: SeededRandom(seed: 99))
        let da = (0..<50).map { _ in a.delay(for: "create", step, templateTiming: table)! }
        #expect(da == (0..<50).map { _ in b.delay(for: "create", step, templateTiming: table)! })
        #expect(da.allSatisfy { (8_000...12_000).contains($0) })
        #expect(Set(da).count > 10)
        // Without a template entry the table's own duration applies (hibernate: 20 s ± 5 s).
        let d = a.delay(for: "hibernate", LifecycleTable.machines.steps["hibernate"]!, templateTiming: table)!
        #expect((15_000...25_000).contains(d))
    }

    /// A restart after a long stop: the record read back is settled in one go, each step at its own due time.
    @Test func catchesUpAfterALongStop() throws {
        let e = engine(.fast)
        var m = available(e)
        try e.begin("hibernate", on: &m, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 1_000))
        let later = e.settled(m, at: t0.adding(milliseconds: 86_400_000))!
        #expect(later.phase == "Hibernation")
        #expect(later.updatedAt == t0.adding(milliseconds: 1_060))
    }

    @Test func aRecordOfAServiceWithoutATableIsLeftAsItIs() {
        let e = engine(.fast)
        var stranger = created(e)
        stranger.service = "gone"
        #expect(e.settled(stranger, at: Instant(milliseconds: .max)) == stranger)
        #expect(e.complete(stranger, at: t0) == stranger)
    }
}

extension LifecycleTable {
    /// A machine (the shape of a CCE cluster): created, hibernated and woken, resized, deleted.
    static let machines = LifecycleTable(
        steps: [
            "create": Step(inFlight: "Creating", succeeded: "Available", failed: "Error", fastMs: 150),
            "hibernate": Step(
                inFlight: "Hibernating", succeeded: "Hibernation", failed: "Error", startsFrom: ["Available"],
                duration: StepDuration(baseMs: 20_000, jitterMs: 5_000), fastMs: 60),
            "awake": Step(inFlight: "Awaking", succeeded: "Available", failed: "Error", startsFrom: ["Hibernation"], fastMs: 70),
            "resize": Step(
                inFlight: "Resizing", succeeded: "Available", failed: "Error", startsFrom: ["Available"], fastMs: 100,
                effect: Effect(
                    begin: { machine, size throws(LifecycleError) in
                        guard let size else { throw .nothingKept(id: machine.id, operation: "resize", what: "no size to resize to") }
                        return size
                    },
                    succeed: { machine, size in machine.spec["size"] = size })),
            "delete": Step(inFlight: "Deleting", succeeded: nil, failed: "Error", fastMs: 80),
        ],
        degraded: "Unavailable", settled: ["Available", "Hibernation", "Unavailable", "Error"], healthy: ["Available", "Hibernation"])
}
