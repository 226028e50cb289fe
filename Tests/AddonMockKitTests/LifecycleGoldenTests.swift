import AddonMockCore
import AddonMockKit
import AddonMockTestSupport
import Testing

/// The kit's lifecycle tables against their golden cases (Golden/<table>.json; LifecycleGolden says how they read).
@Suite struct LifecycleGoldenTests {
    static let tables: [String: LifecycleTable] = ["managedPackage": .managedPackage]

    @Test func everyTableHoldsToItsGoldenCases() throws {
        let failures = try LifecycleGolden.failures(besides: #filePath, tables: Self.tables)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
