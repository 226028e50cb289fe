import Dispatch
import Testing

@testable import AddonMockCore

@Suite struct InstantTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (Int64(1_795_341_600_000), "2026-11-22T10:00:00Z"),
        (Int64(951_782_400_999), "2000-02-29T00:00:00Z"),
        (Int64(-1_000), "1969-12-31T23:59:59Z"),
        (Int64(4_102_444_799_000), "2099-12-31T23:59:59Z"),
    ])
    func formatsRFC3339(ms: Int64, text: String) {
        #expect(Instant(milliseconds: ms).rfc3339 == text)
        let wholeSeconds = (ms >= 0 ? ms / 1000 : (ms - 999) / 1000) * 1000
        #expect(Instant(rfc3339: text)?.milliseconds == wholeSeconds)
    }

    @Test func acceptsTheLastDayOfEveryMonthAndLeapDays() {
        for (text, valid) in [
            ("2024-02-29T00:00:00Z", true), ("2000-02-29T00:00:00Z", true), ("2026-01-31T00:00:00Z", true),
            ("2026-06-30T00:00:00Z", true), ("2026-12-31T23:59:59Z", true),
        ] {
            #expect((Instant(rfc3339: text) != nil) == valid, "\(text)")
        }
    }

    @Test func formatsYearsPastFourDigits() {
        #expect(Instant(milliseconds: 253_402_300_800_000).rfc3339 == "10000-01-01T00:00:00Z")
    }

    @Test func parsesFractionsAndOffsets() {
        #expect(Instant(rfc3339: "2026-11-22T10:00:00.250Z")?.milliseconds == 1_795_341_600_250)
        #expect(Instant(rfc3339: "2026-11-22T18:00:00+08:00")?.milliseconds == 1_795_341_600_000)
        #expect(Instant(rfc3339: "2026-11-22T05:30:00-04:30")?.milliseconds == 1_795_341_600_000)
    }

    @Test(arguments: [
        "", "2026-11-22", "2026-13-01T00:00:00Z", "2026-11-22T10:00:00", "2026-11-22T25:00:00Z", "2026-11-22T10:00:00Zjunk",
        "2026-02-31T00:00:00Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
    ])
    func rejectsMalformed(text: String) {
        #expect(Instant(rfc3339: text) == nil)
    }
}

@Suite struct VirtualClockTests {
    struct FixedClock: Clock {
        let at: Instant
        func now() -> Instant { at }
    }

    @Test func advancesShiftsPinsAndUnpinsWithoutJumpingBack() {
        let clock = VirtualClock(base: FixedClock(at: Instant(milliseconds: 10_000)))
        #expect(clock.now().milliseconds == 10_000)
        clock.advance(milliseconds: 500)
        #expect(clock.now().milliseconds == 10_500)
        clock.pin()
        #expect(clock.isPinned)
        clock.advance(milliseconds: 1_000)
        #expect(clock.now().milliseconds == 11_500)
        clock.unpin()
        #expect(!clock.isPinned)
        #expect(clock.now().milliseconds == 11_500)
        clock.reset()
        #expect(!clock.isPinned && clock.offsetMilliseconds == 0 && clock.now().milliseconds == 10_000)
        let pinnedAtStart = VirtualClock(base: FixedClock(at: Instant(milliseconds: 10_000)), pinnedAt: Instant(milliseconds: 3))
        #expect(pinnedAtStart.isPinned && pinnedAtStart.now().milliseconds == 3)
    }

    /// Reads take no lock. Each step pins one millisecond later, then unpins (the offset taking the pinned time
    /// over), so the time read never goes back — unless a read mixed the new offset with the old pin or the reverse,
    /// which would show one millisecond earlier than the read before it.
    @Test func readsAreNeverTornByAConcurrentChange() {
        let clock = VirtualClock(base: FixedClock(at: Instant(milliseconds: 1_000_000_000)), pinnedAt: Instant(milliseconds: 0))
        let steps: Int64 = 20_000
        let results = Locked<[(reads: Int, backwards: Int)]>([])
        let readers = DispatchGroup()
        // Readers on other threads (they end once the last step is seen, whenever they get to run); the test thread
        // writes.
        for _ in 0..<2 {
            DispatchQueue.global().async(group: readers) {
                var last: Int64 = 0
                var reads = 0
                var backwards = 0
                while last < steps {
                    let now = clock.now().milliseconds
                    if now < last || now > steps { backwards += 1 }
                    last = max(last, now)
                    reads += 1
                }
                results.withLock { $0.append((reads, backwards)) }
            }
        }
        for k in 1...steps {
            clock.pin(at: Instant(milliseconds: k))
            clock.unpin()
        }
        readers.wait()
        #expect(results.withLock { $0.count } == 2)
        #expect(results.withLock { $0.allSatisfy { $0.reads > 0 && $0.backwards == 0 } })
    }
}

@Suite struct SeededRandomTests {
    @Test func sameSeedSameSequenceAndStaysInRange() {
        let a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let sa = (0..<100).map { _ in a.next(in: -5...5) }
        #expect(sa == (0..<100).map { _ in b.next(in: -5...5) })
        #expect(sa != (0..<100).map { _ in c.next(in: -5...5) })
        #expect(sa.allSatisfy { (-5...5).contains($0) })
        #expect(Set(sa).count == 11)
    }
}
