import Testing

@testable import AddonMockCore

@Suite struct RingTests {
    @Test func keepsTheNewestOldestFirstAndHandsBackWhatItReplaces() {
        var ring = Ring<Int>(capacity: 3)
        #expect(ring.append(1) == nil && ring.append(2) == nil && ring.append(3) == nil)
        #expect(ring.ordered == [1, 2, 3])
        #expect(ring.append(4) == 1)
        #expect(ring.append(5) == 2)
        #expect(ring.ordered == [3, 4, 5])
        #expect((0..<ring.count).map { ring[$0] } == [3, 4, 5])
        ring.removeAll()
        #expect(ring.count == 0 && ring.ordered.isEmpty)
        ring.append(6)
        #expect(ring.ordered == [6])
    }
}
