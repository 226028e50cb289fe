import AddonMockCore
import AddonMockTestSupport
import Testing
import ToyWidgets

/// The toy service's lifecycle tables against their golden cases (Golden/<table>.json; LifecycleGolden says how they read).
@Suite struct LifecycleGoldenTests {
    static let tables: [String: LifecycleTable] = ["widget": Widgets.widgetLifecycle, "workspace": Widgets.workspaceLifecycle]

    @Test func everyTableHoldsToItsGoldenCases() throws {
        let failures = try LifecycleGolden.failures(besides: #filePath, tables: Self.tables)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
