import AddonMockCore
import AddonMockTestSupport
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// `GET /_mock/export` and `POST /_mock/import`: the world as a `seed.json` document, restored exactly.
@Suite struct ExportImportTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    static let project = "0123456789abcdef0123456789abcdef"

    /// Every kind of state a record can be in: settled with a kept revision, rolled back, failed, and in flight
    /// with a forced failure still to come, plus a plug-in and an add-on of the Autopilot namespace.
    func buildWorld() throws -> (upgrading: String, rolledBack: String) {
        func install(_ body: String, prefix: String = "/api/v3") throws -> String {
            let r = try server.request("POST", "\(prefix)/addons", body: body)
            #expect(r.status == 201, "\(r.text)")
            return try #require(try r.json().string("metadata.uid"))
        }
        let upgrading = try install(Bodies.install(version: "1.28.4", values: #"{"basic": {"cluster_ip": "10.247.3.99"}}"#))
        let rolledBack = try install(Bodies.install(template: "everest", version: "2.3.14"))
        _ = try install(Bodies.install(cluster: "ap", template: "npd"), prefix: "/autopilot/v3")
        server.advance(ms: 500)
        #expect(try server.request("PUT", "/api/v3/addons/\(rolledBack)", body: Bodies.upgrade(template: "everest", version: "2.4.28")).status == 200)
        server.advance(ms: 500)
        #expect(try server.request("POST", "/api/v3/addons/\(rolledBack)/operation/rollback", body: Bodies.rollback()).status == 200)
        server.advance(ms: 500)
        let plugin = try server.request("POST", "/v2/\(Self.project)/pools/pool-a/plugins", body: PluginBodies.create("gpu-driver", version: "2.6.4"))
        #expect(plugin.status == 200, "\(plugin.text)")
        server.advance(ms: 500)
        let upgrade = try server.request(
            "PUT", "/api/v3/addons/\(upgrading)", headers: [("X-Addonmock-Outcome", "fail"), ("X-Addonmock-Reason", "ImagePullBackOff")],
            body: Bodies.upgrade(version: "1.30.6"))
        #expect(upgrade.status == 200)
        return (upgrading, rolledBack)
    }

    func export() throws -> HTTPResult {
        let r = try server.get("/_mock/export")
        #expect(r.status == 200)
        return r
    }

    @Test func exportResetImportExportIsByteIdentical() throws {
        let (upgrading, rolledBack) = try buildWorld()
        let before = try export()
        let shown = try server.get("/api/v3/addons/\(rolledBack)").text
        let document = try before.json()
        let entry = try #require(document.at("addons")?.arrayValues.first { $0.string("id") == upgrading })
        #expect(entry.string("status") == "upgrading")
        #expect(entry.string("pending.operation") == "upgrade")
        #expect(entry.string("pending.outcome") == "fail")
        #expect(entry.string("pending.reason") == "ImagePullBackOff")
        #expect(entry.at("pending.remainingMs").flatMap(\.intValue).map { (80...150).contains($0) } == true, "the fast profile's time left")
        #expect(entry.string("previous.version") == "1.28.4")
        #expect(entry.string("previous.values.basic.cluster_ip") == "10.247.3.99", "the kept revision's values")
        #expect(entry.string("createdAt") == "2026-11-22T10:00:00.000Z")
        #expect(document.at("plugins")?.arrayValues.first?.string("project") == Self.project)
        #expect(document.at("addonchecks") == nil, "checks are derived, not exported")

        let reset = try server.control("POST", "/_mock/reset", #"{"keepClock": true}"#).json()
        #expect(reset.at("deleted") == .number("4"))
        #expect(try export().text == #"{"clusters":[],"nodepools":[],"addons":[],"pools":[],"plugins":[]}"#)
        let imported = try server.control("POST", "/_mock/import", before.text)
        #expect(imported.status == 200)
        #expect(try imported.json() == .object([("created", .number("4")), ("skipped", .number("0"))]))
        #expect(try export().text == before.text, "byte-identical")
        #expect(try server.get("/api/v3/addons/\(rolledBack)").text == shown, "the API shows the same add-on")

        // The operation in flight goes on from where it was, with its decided outcome.
        server.advance(ms: 200)
        let done = try server.get("/api/v3/addons/\(upgrading)").json()
        #expect(done.string("status.status") == "upgradeFailed")
        #expect(done.string("status.Reason") == "ImagePullBackOff")
        #expect(done.at("status.isRollbackable") == .bool(true))
    }

    @Test func importKeepsWhatIsThereAndRefusesBadDocumentsWhole() throws {
        _ = try buildWorld()
        let world = try export().text
        #expect(try server.control("POST", "/_mock/import", world).json() == .object([("created", .number("0")), ("skipped", .number("4"))]))
        let bad = #"{"addons": [{"cluster": "c9", "template": "coredns"}, {"cluster": "c9", "template": "nope"}]}"#
        let refused = try server.controlError("POST", "/_mock/import", bad)
        #expect(refused == #"import: addons[1]: addon template "nope" not found"#)
        #expect(try server.get("/api/v3/addons?cluster_id=c9").json().at("items") == .array([]), "nothing of a refused document is created")
        let cases = [
            (
                #"{"addons": [{"cluster": "c9", "template": "coredns", "status": "running", "pending": {"operation": "delete"}}]}"#,
                "import: addons[0].status must be deleting while a delete is pending, got \"running\""
            ),
            (
                #"{"addons": [{"cluster": "c9", "template": "coredns", "status": "upgrading", "pending": {"operation": "upgrade", "outcome": "maybe"}}]}"#,
                "import: addons[0].pending.outcome must be succeed, fail or abnormal, got \"maybe\""
            ),
            (
                #"{"addons": [{"cluster": "c9", "template": "coredns", "createdAt": "yesterday"}]}"#,
                "import: addons[0].createdAt must be an RFC 3339 time, got \"yesterday\""
            ),
            (#"{"addonchecks": []}"#, "import: unknown field addonchecks; expected one of: addons, clusters, nodepools, plugins, pools"),
            ("[]", "import: must be a JSON object, got array"),
        ]
        for (body, message) in cases { #expect(try server.controlError("POST", "/_mock/import", body) == message) }
    }

    @Test func anExportIsASeedFile() throws {
        _ = try buildWorld()
        server.advance(ms: 500) // settled: times left would depend on when the next server starts
        let world = try export().text
        #expect(!world.contains("\"pending\""))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(world.utf8).write(to: dir.appendingPathComponent("seed.json"))
        let restarted = try TestServer(profile: .fast, fixtures: dir.path)
        #expect(try restarted.get("/_mock/export").text == world)
    }

    /// On a file the export is streamed from a snapshot, a page at a time: across page and kind boundaries the
    /// document is the one `WorldExport.document` writes, and a reset and an import bring back the same bytes.
    @Test func aStreamedExportRoundTripsAcrossPages() throws {
        let dir = TempDirectory()
        let file = try TestServer(profile: .fast, database: dir.file("world.sqlite"))
        let count = WorldExportStream.pageSize * 2 + 7
        var entries: [String] = []
        for i in 0..<count { entries.append(#"{"cluster": "k\#(i)", "template": "coredns", "status": "running"}"#) }
        let seed = #"{"addons": [\#(entries.joined(separator: ","))], "plugins": [{"project": "p", "pool": "a", "template": "gpu-driver"}]}"#
        #expect(try file.control("POST", "/_mock/import", seed).json().at("created") == .number(String(count + 1)))
        let streamed = try file.get("/_mock/export")
        #expect(streamed.header("Transfer-Encoding") == "chunked")
        let kinds = file.app.control.seedKinds
        let whole = WorldExport.document(
            try kinds.map { ($0, try file.app.manager.allResources(services: $0.kind.services)) }, now: file.clock.now())
        #expect(streamed.body == whole, "the same bytes as the document written whole")
        let document = try streamed.json()
        #expect(document.at("addons")?.arrayValues.count == count)
        #expect(document.at("plugins")?.arrayValues.count == 1)
        _ = try file.control("POST", "/_mock/reset", #"{"keepClock": true}"#)
        #expect(try file.control("POST", "/_mock/import", streamed.text).json().at("created") == .number(String(count + 1)))
        #expect(try file.get("/_mock/export").body == streamed.body)
    }

    /// A kept revision and a rollback's target must exist in the catalog: a rollback runs them.
    @Test func importChecksKeptVersionsAgainstTheCatalog() throws {
        let kept = #"{"addons": [{"cluster": "c9", "template": "coredns", "status": "running", "previous": {"version": "0.0.1", "values": {}}}]}"#
        #expect(
            try server.controlError("POST", "/_mock/import", kept)
                == #"import: addons[0].previous.version: version "0.0.1" of addon template "coredns" does not exist; available versions: "#
                + (try server.get("/api/v3/addontemplates?addon_template_name=coredns").json().at("items.0.spec.versions")?.arrayValues
                    .compactMap { $0.string("version") }.joined(separator: ", ") ?? ""))
        let target =
            #"{"addons": [{"cluster": "c9", "template": "coredns", "status": "rollbacking", "pending": {"operation": "rollback", "remainingMs": 100, "target": {"version": "9.9.9"}}}]}"#
        #expect(try server.controlError("POST", "/_mock/import", target).hasPrefix(#"import: addons[0].pending.target.version: version "9.9.9""#))
        #expect(try server.get("/api/v3/addons?cluster_id=c9").json().at("items") == .array([]))
    }

    /// RFC 3339 years have four digits: the clock stops at the last second of 9999, and due times saturate there, so
    /// every time written (answers, exports) reads back.
    @Test func theClockStopsAtTheLastSecondOfYear9999() throws {
        #expect(try server.control("POST", "/_mock/clock", #"{"pin": "9999-12-31T23:59:50Z"}"#).status == 200)
        #expect(
            try server.controlError("POST", "/_mock/clock", #"{"advanceSeconds": 20}"#).hasPrefix("the clock cannot move past 9999-12-31T23:59:59Z"))
        #expect(try server.controlError("POST", "/_mock/clock", #"{"pin": "9999-12-31T23:59:59.500Z"}"#).hasPrefix("the clock cannot be pinned past"))
        #expect(try server.control("POST", "/_mock/clock", #"{"advanceSeconds": 9}"#).json().string("now") == "9999-12-31T23:59:59Z")
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        let world = try export()
        #expect(try world.json().at("addons")?.arrayValues.first?.string("createdAt") == "9999-12-31T23:59:59.000Z")
        _ = try server.control("POST", "/_mock/reset", #"{"keepClock": true}"#)
        #expect(try server.control("POST", "/_mock/import", world.text).status == 200, "exported at the end of time, imported back")
        #expect(try server.get("/api/v3/addons/\(id)").status == 200)
    }

    /// An exported world may be larger than an API request (1 MiB); the import takes up to 1 GiB.
    @Test func importsTakeLargerBodiesThanTheAPI() throws {
        let big = String(repeating: "x", count: 1_200_000)
        let body = #"{"addons": [{"cluster": "big", "template": "coredns", "values": {"blob": "\#(big)"}}]}"#
        #expect(try server.request("POST", "/api/v3/addons", body: Bodies.install(values: #"{"blob": "\#(big)"}"#)).status == 413)
        let r = try server.control("POST", "/_mock/import", body)
        #expect(r.status == 200, "\(r.text.prefix(200))")
        #expect(try server.get("/api/v3/addons?cluster_id=big").json().string("items.0.spec.values.blob")?.count == big.count)
    }
}
