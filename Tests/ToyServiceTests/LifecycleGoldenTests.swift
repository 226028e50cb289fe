import AddonMockCore
import AddonMockTestSupport
import Foundation
import Testing
import ToyWidgets

/// The toy service's lifecycle tables against their golden cases (Golden/<table>.json; LifecycleGolden says how they read).
@Suite struct LifecycleGoldenTests {
    static let tables: [String: LifecycleTable] = ["widget": Widgets.widgetLifecycle, "workspace": Widgets.workspaceLifecycle]
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    @Test func everyTableHasGoldenCases() throws {
        #expect(Set(try LifecycleGolden.tablesCovered(in: Self.directory)) == Set(Self.tables.keys))
    }

    @Test(arguments: LifecycleGolden.files(in: directory))
    func casesHold(file: String) throws {
        let failures = try LifecycleGolden.failures(in: Self.directory.appendingPathComponent(file), tables: Self.tables)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
