import Testing

@testable import AddonMockCore

@Suite struct LifecycleEngineTests {
    let t0 = Instant(milliseconds: 1_795_341_600_000)
    let v1 = Revision(version: "1.0.0", values: RawJSON(trusted: Array(#"{"a":1}"#.utf8)))
    let v2 = Revision(version: "2.0.0", values: RawJSON(trusted: Array(#"{"a":2}"#.utf8)))
    let failure = Outcome.fail(reason: "ForcedFailure", message: "failed on purpose")

    func engine(_ profile: Profile, seed: UInt64 = 7) -> LifecycleEngine {
        LifecycleEngine(timing: Timing(profile: profile, random: SeededRandom(seed: seed)), tables: ["cce": .packages, "jobs": .jobs])
    }

    func installed(_ e: LifecycleEngine, outcome: Outcome = .succeed) -> Instance {
        e.install(
            id: "i-1", service: "cce", scope: "c1", template: "coredns", revision: v1, annotations: .emptyObject,
            templateTiming: nil, outcome: outcome, now: t0)
    }

    /// Installed and settled to running.
    func running(_ e: LifecycleEngine) -> Instance {
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
        try e.begin(.upgrade, on: &i, revision: v2, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        #expect(i.phase == .upgrading)
        #expect(i.current == v2)
        #expect(i.previous == v1)
        let done = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        #expect(done.phase == .running)
        #expect(done.isRollbackable)
    }

    @Test func upgradeFailureStaysRollbackable() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, revision: v2, templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 2_000))
        let failed = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        #expect(failed.phase == .upgradeFailed)
        #expect(failed.previous == v1)
    }

    @Test func rollbackRestoresThePreviousRevision() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, revision: v2, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        i = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        try e.begin(.rollback, on: &i, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 4_000))
        #expect(i.phase == .rollbacking)
        #expect(i.current == v2, "the revision changes only when the rollback succeeds")
        let done = e.settled(i, at: t0.adding(milliseconds: 5_000))!
        #expect(done.phase == .running)
        #expect(done.current == v1)
        #expect(done.previous == nil)
        #expect(!done.isRollbackable)
    }

    @Test func failedRollbackKeepsBothRevisionsAndCanBeRetried() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, revision: v2, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 2_000))
        i = e.settled(i, at: t0.adding(milliseconds: 3_000))!
        try e.begin(.rollback, on: &i, templateTiming: nil, outcome: failure, now: t0.adding(milliseconds: 4_000))
        i = e.settled(i, at: t0.adding(milliseconds: 5_000))!
        #expect(i.phase == .rollbackFailed)
        #expect(i.current == v2 && i.previous == v1)
        try e.begin(.rollback, on: &i, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 6_000))
        #expect(e.settled(i, at: t0.adding(milliseconds: 7_000))?.current == v1)
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
            try e.begin(op, on: &i, revision: v2, templateTiming: nil, outcome: .succeed, now: t0)
        }
        #expect(i.phase == .installing)
    }

    @Test func rollbackNeedsAPreviousRevisionAndAnAllowedPhase() throws {
        let e = engine(.fast)
        var i = running(e)
        #expect(throws: LifecycleError.nothingKept(id: "i-1", operation: .rollback)) {
            try e.begin(.rollback, on: &i, templateTiming: nil, outcome: .succeed, now: t0)
        }
        // installFailed is not among the phases the docs allow a rollback from.
        var failed = e.settled(installed(e, outcome: failure), at: t0.adding(milliseconds: 1_000))!
        failed.previous = v1
        let allowed = LifecycleTable.packages.steps[.rollback]!.startsFrom!
        #expect(throws: LifecycleError.notAllowed(id: "i-1", operation: .rollback, phase: .installFailed, allowed: allowed)) {
            try e.begin(.rollback, on: &failed, templateTiming: nil, outcome: .succeed, now: t0)
        }
        for phase in allowed {
            var ok = running(e)
            ok.previous = v1
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

    @Test func fastProfileStepsAreAtMost200ms() {
        let timing = Timing(profile: .fast, random: SeededRandom(seed: 1))
        for op in Operation.allCases {
            let d = timing.delay(for: op, templateTiming: TimingTable([op: StepDuration(baseMs: 60_000)]))!
            #expect(d > 0 && d <= 200, "\(op) took \(d) ms")
        }
    }

    @Test func realisticProfileUsesTemplateTimingWithReproducibleJitter() {
        let table = TimingTable([.install: StepDuration(baseMs: 10_000, jitterMs: 2_000)])
        let a = Timing(profile: .realistic, random: SeededRandom(seed: 99))
        let b = Timing(profile: .realistic, random: SeededRandom(seed: 99))
        let da = (0..<50).map { _ in a.delay(for: .install, templateTiming: table)! }
        #expect(da == (0..<50).map { _ in b.delay(for: .install, templateTiming: table)! })
        #expect(da.allSatisfy { (8_000...12_000).contains($0) })
        #expect(Set(da).count > 10)
        // Without a template entry the profile's default applies.
        let d = a.delay(for: .delete, templateTiming: table)!
        #expect((2_000...4_000).contains(d))
    }

    /// A restart after a long stop: the record read back is settled in one go, each step at its own due time.
    @Test func catchesUpAfterALongStop() throws {
        let e = engine(.fast)
        var i = running(e)
        try e.begin(.upgrade, on: &i, revision: v2, templateTiming: nil, outcome: .succeed, now: t0.adding(milliseconds: 1_000))
        let later = e.settled(i, at: t0.adding(milliseconds: 86_400_000))!
        #expect(later.phase == .running)
        #expect(later.updatedAt == t0.adding(milliseconds: 1_120))
    }

    /// The engine knows no phase names: a kind with a two-step lifecycle and no upgrade runs on the same code.
    @Test func runsAnyTable() throws {
        let e = engine(.fast)
        var job = e.install(
            id: "j-1", service: "jobs", scope: "q", template: "nightly", revision: v1, annotations: .emptyObject,
            templateTiming: nil, outcome: .succeed, now: t0)
        #expect(job.phase == "queued")
        job = e.settled(job, at: t0.adding(milliseconds: 150))!
        #expect(job.phase == "done")
        #expect(throws: LifecycleError.unsupported(id: "j-1", operation: .upgrade)) {
            try e.begin(.upgrade, on: &job, revision: v2, templateTiming: nil, outcome: .succeed, now: t0)
        }
        try e.begin(.delete, on: &job, templateTiming: nil, outcome: .abnormal(reason: "Stuck", message: ""), now: t0.adding(milliseconds: 200))
        #expect(job.phase == "cancelling")
        #expect(e.settled(job, at: t0.adding(milliseconds: 1_000))?.phase == "broken", "abnormal ends in the table's degraded phase")
        // A record of a service this engine has no table for is left as it is.
        var stranger = job
        stranger.service = "gone"
        #expect(e.settled(stranger, at: Instant(milliseconds: .max)) == stranger)
    }
}

/// Test tables: the add-on lifecycle as the application defines it, and a minimal one.
extension Phase {
    static let installing: Phase = "installing", upgrading: Phase = "upgrading", rollbacking: Phase = "rollbacking"
    static let deleting: Phase = "deleting", running: Phase = "running", available: Phase = "available"
    static let abnormal: Phase = "abnormal", installFailed: Phase = "installFailed", upgradeFailed: Phase = "upgradeFailed"
    static let rollbackFailed: Phase = "rollbackFailed", deleteFailed: Phase = "deleteFailed"
}

extension LifecycleTable {
    static let packages = LifecycleTable(
        steps: [
            .install: Step(inFlight: .installing, succeeded: .running, failed: .installFailed),
            .upgrade: Step(inFlight: .upgrading, succeeded: .running, failed: .upgradeFailed, effect: .replaceRevision),
            .rollback: Step(
                inFlight: .rollbacking, succeeded: .running, failed: .rollbackFailed,
                startsFrom: [.running, .available, .abnormal, .upgradeFailed, .rollbackFailed], effect: .restoreKept),
            .delete: Step(inFlight: .deleting, succeeded: nil, failed: .deleteFailed),
        ],
        degraded: .abnormal, settled: [.running, .available, .abnormal, .installFailed], healthy: [.running, .available])

    static let jobs = LifecycleTable(
        steps: [
            .install: Step(inFlight: "queued", succeeded: "done", failed: "failed"),
            .delete: Step(inFlight: "cancelling", succeeded: nil, failed: "failed"),
        ],
        degraded: "broken", settled: ["done", "failed", "broken"], healthy: ["done"])
}
