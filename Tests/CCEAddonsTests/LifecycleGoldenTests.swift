import AddonMockCore
import AddonMockTestSupport
import Testing

@testable import CCEAddons

/// CCE's lifecycle tables against their golden cases (Golden/<table>.json; LifecycleGolden says how they read).
@Suite struct LifecycleGoldenTests {
    static let tables: [String: LifecycleTable] = [
        "addonCheck": AddonCheck.lifecycle, "cluster": Clusters.lifecycle, "nodePool": Clusters.nodePoolLifecycle,
    ]

    @Test func everyTableHoldsToItsGoldenCases() throws {
        let failures = try LifecycleGolden.failures(besides: #filePath, tables: Self.tables)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
