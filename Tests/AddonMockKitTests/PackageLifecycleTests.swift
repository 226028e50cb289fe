import AddonMockCore
import AddonMockKit
import Testing

/// The managed-package lifecycle (CCE add-ons, ModelArts plug-ins): its revisions, kept versions and rollbacks.
@Suite struct PackageLifecycleTests {
    let t0 = Instant(milliseconds: 1_795_341_600_000)
    let v1 = Revision(version: "1.0.0", values: RawJSON(trusted: Array(#"{"a":1}"#.utf8)))
    let v2 = Revision(version: "2.0.0", values: RawJSON(trusted: Array(#"{"a":2}"#.utf8)))
    let failure = Outcome.fail(reason: "ForcedFailure", message: "failed on purpose")

    func engine(_ profile: Profile, seed: UInt64 = 7) -> LifecycleEngine {
        LifecycleEngine(timing: Timing(profile: profile, random: SeededRandom(seed: seed)), tables: ["cce": .managedPackage])
    }

    func installed(_ e: LifecycleEngine, outcome: Outcome = .succeed) -> Resource {
        e.create(id: "i-1", service: "cce", scope: "c1", name: "coredns", spec: .package(v1), outcome: outcome, now: t0)
    }

    /// Installed and settled to running.
    func running(_ e: LifecycleEngine) -> Resource {
        e.settled(installed(e), at: t0.adding(milliseconds: 1_000))!
    }

    @Test func installSucceedsWhenDueAndStampsTheDueTime() {
        let e = engine(.fast)
        let i = installed(e)
        #expect(i.phase == .installing)
        #expect(i.pending?.dueAt == t0.adding(milliseconds: 150))
        #expect(e.settled(i, at: t0.adding(milliseconds: 149))?.phase == .installing)
        let done = e.settled(i, at: t0.adding(milliseconds: 60_000))!
        #expect(done.phase == .running)
        #expect(done.pending == nil)
        #expect(done.updatedAt == t0.adding(milliseconds: 150))
        #expect(done.createdAt == t0)
    }

    @Test func installFailureCarriesReasonAndMessage() {
        let e = engine(.fast)
        let done = e.settled(installed(e, outcome: failure), at: t0.adding(milliseconds: 500))!
        #expect(done.phase == .installFailed)
        #expect(done.reason == "ForcedFailure")
        #expect(done.message == "failed on purpose")
    }

    @Test func upgradeSwapsRevisionsAndMakesItRollbackable() throws {
        let e = engine(.fast)
        var i = running(e)
        #expect(!i.isRollbackable)
        try e.begin(.upgrade, on: &i, input: v2.raw, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        #expect(i.phase == .upgrading)
        #expect(i.revision == v2)
        #expect(i.kept == v1)
        #expect(i.previousVersion == "1.0.0")
        let done = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        #expect(done.phase == .running)
        #expect(done.isRollbackable)
    }

    @Test func upgradeFailureStaysRollbackable() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, input: v2.raw, templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 2_000))
        let failed = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        #expect(failed.phase == .upgradeFailed)
        #expect(failed.kept == v1)
    }

    @Test func rollbackRestoresThePreviousRevision() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, input: v2.raw, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        i = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        try e.begin(.rollback, on: &i, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 4_000))
        #expect(i.phase == .rollbacking)
        #expect(i.revision == v2, "the revision changes only when the rollback succeeds")
        let done = e.settled(i, at: t0.adding(milliseconds: 5_000))!
        #expect(done.phase == .running)
        #expect(done.revision == v1)
        #expect(done.kept == nil)
        #expect(done.previousVersion == "2.0.0", "the version the rollback replaced")
        #expect(!done.isRollbackable)
    }

    @Test func failedRollbackKeepsBothRevisionsAndCanBeRetried() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, input: v2.raw, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        i = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        try e.begin(.rollback, on: &i, templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 4_000))
        i = e.settled(i, at: t0.adding(milliseconds: 5_000))!
        #expect(i.phase == .rollbackFailed)
        #expect(i.revision == v2 && i.kept == v1)
        try e.begin(.rollback, on: &i, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 6_000))
        #expect(e.settled(i, at: t0.adding(milliseconds: 7_000))?.revision == v1)
    }

    @Test func deleteSucceedsToGoneOrFailsToDeleteFailed() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.delete, on: &i, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        #expect(i.phase == .deleting)
        #expect(e.settled(i, at: t0.adding(milliseconds: 2_079)) != nil)
        #expect(e.settled(i, at: t0.adding(milliseconds: 2_080)) == nil)

        var j = running(e)
        try e.begin(.delete, on: &j, templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 2_000))
        j = e.settled(j, at: t0.adding(milliseconds: 3_000))!
        #expect(j.phase == .deleteFailed)
        try e.begin(.delete, on: &j, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 4_000))
        #expect(j.phase == .deleting)
    }

    @Test(arguments: [Operation.upgrade, .rollback, .delete])
    func anyOperationOnAnInFlightInstanceIsBusy(op: Operation) {
        let e = engine(.fast)
        var i = installed(e)
        #expect(throws: LifecycleError.busy(id: "i-1", phase: .installing)) {
            try e.begin(op, on: &i, input: v2.raw, templateTiming: nil, outcome: .succeed, now: t0)
        }
        #expect(i.phase == .installing)
    }

    @Test func rollbackNeedsAPreviousRevisionAndAnAllowedPhase() throws {
        let e = engine(.fast)
        var i = running(e)
        #expect(
            throws: LifecycleError.nothingKept(
                id: "i-1", operation: .rollback, what: "no previous version to roll back to (isRollbackable is false)")
        ) {
            try e.begin(.rollback, on: &i, templateTiming: nil, outcome: .succeed, now: t0)
        }
        // installFailed is not among the phases the docs allow a rollback from.
        var failed = e.settled(installed(e, outcome: failure), at: t0.adding(milliseconds: 1_000))!
        failed.kept = v1
        let allowed = LifecycleTable.managedPackage.steps[.rollback]!.startsFrom!
        #expect(throws: LifecycleError.notAllowed(id: "i-1", operation: .rollback, phase: .installFailed, allowed: allowed)) {
            try e.begin(.rollback, on: &failed, templateTiming: nil, outcome: .succeed, now: t0)
        }
        for phase in allowed {
            var ok = running(e)
            ok.kept = v1
            ok.phase = phase
            try e.begin(.rollback, on: &ok, templateTiming: nil, outcome: .succeed, now: t0)
            #expect(ok.phase == .rollbacking)
        }
    }

    @Test func instantProfileShowsInFlightThenSettledOnTheNextRead() {
        let e = engine(.instant)
        let i = installed(e)
        #expect(i.phase == .installing)
        #expect(e.settled(i, at: t0)?.phase == .running)
    }

    @Test func manualProfileNeverMovesUntilCompleted() {
        let e = engine(.manual)
        let i = installed(e)
        #expect(i.pending?.dueAt == nil)
        #expect(e.settled(i, at: Instant(milliseconds: .max))?.phase == .installing)
        let forced = e.complete(i, at: t0.adding(milliseconds: 5))!
        #expect(forced.phase == .running)
        #expect(forced.updatedAt == t0.adding(milliseconds: 5))
    }

    @Test func fastProfileStepsTakeTheirTablesDurations() {
        let timing = Timing(profile: .fast, random: SeededRandom(seed: 1))
        let table = LifecycleTable.managedPackage
        #expect(table.operations.map { timing.delay(for: $0, table.steps[$0]!, templateTiming: nil)! } == [150, 120, 100, 80])
    }

    @Test func realisticProfileUsesTemplateTimingOverTheTable() {
        let timing = Timing(profile: .realistic, random: SeededRandom(seed: 99))
        let table = TimingTable([.install: StepDuration(baseMs: 10_000, jitterMs: 2_000)])
        let steps = LifecycleTable.managedPackage.steps
        #expect((8_000...12_000).contains(timing.delay(for: .install, steps[.install]!, templateTiming: table)!))
        // Without a template entry the table's applies (delete: 3 s ± 1 s).
        #expect((2_000...4_000).contains(timing.delay(for: .delete, steps[.delete]!, templateTiming: table)!))
    }

    /// A restart after a long stop: the record read back is settled in one go, each step at its own due time.
    @Test func catchesUpAfterALongStop() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, input: v2.raw, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 1_000))
        let later = e.settled(i, at: t0.adding(milliseconds: 86_400_000))!
        #expect(later.phase == .running)
        #expect(later.updatedAt == t0.adding(milliseconds: 1_120))
    }
}
