import Testing
@testable import AddonMock

@Suite struct IdentifierTests {
    @Test func uuidsAreVersion7WithTheTimeFirst() {
        let id = Identifiers.uuid(unixMilliseconds: 0x0193_4E5F_0A2B)
        #expect(CCEService.isUUID(Substring(id)))
        #expect(id.hasPrefix("01934e5f-0a2b-7"), "48-bit big-endian milliseconds, then version 7: \(id)")
        let variant = id[id.index(id.startIndex, offsetBy: 19)]
        #expect("89ab".contains(variant), "RFC 9562 variant: \(id)")
    }

    @Test func uuidsAreUniqueAndSortByTime() {
        let early = (0..<2_000).map { _ in Identifiers.uuid(unixMilliseconds: 1_795_341_600_000) }
        let later = Identifiers.uuid(unixMilliseconds: 1_795_341_600_001)
        #expect(Set(early).count == early.count)
        #expect(early.allSatisfy { $0 < later })
    }

    @Test func requestIDsAre32HexDigitsAndUnique() {
        let ids = (0..<2_000).map { _ in Identifiers.requestID() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
    }
}
