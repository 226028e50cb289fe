import AddonMockCore
import AddonMockTestSupport
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// `BatchCreateAddonPrecheck` and `ListAddonPrecheckTasks`: tasks with a lifecycle, risks derived from the stored
/// add-ons and the catalog, the list filters, and the control plane, faults and journal like any resource.
@Suite struct AddonCheckTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    static let base = "/api/v3/projects/p1/clusters/c1/addons/precheck"

    static func body(_ items: String, cluster: String = "c1") -> String {
        #"{"kind": "AddonCheck", "apiVersion": "v3", "spec": {"clusterID": "\#(cluster)", "addonList": [\#(items)]}}"#
    }

    static func upgrade(_ id: String, to version: String, template: String = "coredns") -> String {
        #"{"addonTemplateName": "\#(template)", "addonInstanceID": "\#(id)", "type": "addonUpgrade", "targetVersion": "\#(version)"}"#
    }

    static func inspect(_ id: String) -> String { #"{"addonInstanceID": "\#(id)", "type": "addonStatic"}"# }

    func runningAddon(version: String = "1.28.4", cluster: String = "c1") throws -> String {
        let r = try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: cluster, version: version))
        #expect(r.status == 201, "\(r.text)")
        server.advance(ms: 500)
        return try #require(try r.json().string("metadata.uid"))
    }

    func check(_ items: String, headers: [(String, String)] = []) throws -> JSONValue {
        let r = try server.request("POST", Self.base, headers: headers, body: Self.body(items))
        #expect(r.status == 200, "\(r.text)")
        return try r.json()
    }

    func tasks(_ query: String = "") throws -> [JSONValue] {
        let r = try server.get(Self.base + "/tasks" + query)
        #expect(r.status == 200, "\(r.text)")
        let body = try r.json()
        #expect(body.string("kind") == "AddonCheck")
        guard case .array(let items)? = body.at("items") else { return [] }
        #expect(body.at("pageInfo.currentCount") == .number(String(items.count)))
        return items
    }

    func risks(_ task: JSONValue) -> [String: (level: String, status: String)] {
        guard case .array(let list)? = task.at("status.riskList") else { return [:] }
        var out: [String: (String, String)] = [:]
        for r in list { out[r.string("riskName") ?? ""] = (r.string("level") ?? "", r.string("status") ?? "") }
        return out
    }

    @Test func anUpgradeCheckRunsThenSucceedsWithEveryRiskPassed() throws {
        let id = try runningAddon()
        let batch = try check(Self.upgrade(id, to: "1.30.6"))
        #expect(batch.string("kind") == "AddonCheck")
        #expect(batch.string("spec.clusterID") == "c1")
        #expect(batch.string("spec.addonList.0.targetVersion") == "1.30.6", "the request echoed")
        #expect(batch.string("status.phase") == "Running")
        let taskID = try #require(batch.string("status.itemsStatus.0.name"))
        #expect(batch.string("status.items.0.metadata.taskID") == taskID)
        #expect(batch.string("status.itemsStatus.0.group") == "AddonCheck")

        var task = try #require(try tasks().first)
        #expect(task.string("metadata.type") == "addonUpgrade")
        #expect(task.string("metadata.addonInstanceID") == id)
        #expect(task.string("metadata.addonInstanceName") == "coredns")
        #expect(task.string("metadata.createTimeStamp") == "2026-11-22T10:00:00Z")
        #expect(task.at("metadata.expireTimeStamp") == nil, "only finished tasks expire")
        #expect(task.string("spec.addonTargetVersion") == "1.30.6")
        #expect(task.string("status.status") == "Running")
        #expect(risks(task).values.allSatisfy { $0.status == "Running" })

        server.advance(ms: 500)
        task = try #require(try tasks().first)
        #expect(task.string("status.status") == "Success")
        #expect(task.string("status.message") == "no risk found")
        #expect(task.string("metadata.expireTimeStamp") != nil)
        let found = risks(task)
        #expect(
            Set(found.keys) == [
                "AddonInstanceExists", "AddonTemplateMatches", "AddonInstanceStatus", "TargetVersionExists", "TargetVersionNewer",
                "ClusterTypeSupported",
            ])
        #expect(found.values.allSatisfy { $0.status == "Success" })
        #expect(found["AddonInstanceExists"]?.level == "Fatal")
        #expect(found["TargetVersionNewer"]?.level == "Warning")
    }

    @Test func risksComeFromTheStoredAddonsAndTheCatalog() throws {
        let id = try runningAddon(version: "1.30.6")
        let elsewhere = try runningAddon(cluster: "c2")
        let batch = try check(
            [
                Self.upgrade(id, to: "9.9.9"), Self.upgrade(id, to: "1.28.4"),
                #"{"addonTemplateName": "everest", "addonInstanceID": "\#(id)", "type": "addonStatic"}"#,
                Self.inspect("no-such-addon"), Self.inspect(elsewhere), Self.inspect(id),
            ].joined(separator: ", "))
        server.advance(ms: 500)
        let ids = try #require(batch.at("status.itemsStatus")).arrayValues.compactMap { $0.string("name") }
        #expect(ids.count == 6)
        var byID: [String: JSONValue] = [:]
        for t in try tasks() { byID[t.string("metadata.taskID") ?? ""] = t }
        func failed(_ i: Int) -> Set<String> { Set(risks(byID[ids[i]]!).filter { $0.value.status == "Failed" }.keys) }
        #expect(failed(0) == ["TargetVersionExists"])
        #expect(failed(1) == ["TargetVersionNewer"])
        #expect(failed(2) == ["AddonTemplateMatches"])
        #expect(failed(3) == ["AddonInstanceExists"])
        #expect(failed(4) == ["AddonInstanceExists"], "an add-on of another cluster is not found in this one")
        #expect(failed(5).isEmpty)
        #expect(byID[ids[0]]?.string("status.status") == "Failed")
        #expect(byID[ids[0]]?.string("status.message") == "1 risk found: version 9.9.9 of coredns does not exist")
        #expect(byID[ids[5]]?.string("status.status") == "Success")
        #expect(byID[ids[3]]?.string("metadata.addonInstanceName") == "")
    }

    @Test func anAddonInFlightOrUnhealthyIsARisk() throws {
        let r = try server.request("POST", "/api/v3/addons", body: Bodies.install())
        let id = try #require(try r.json().string("metadata.uid"))
        let busy = try check(Self.inspect(id))
        server.advance(ms: 500)
        let task = try #require(try tasks("?task_id=" + (busy.string("status.itemsStatus.0.name") ?? "")).first)
        #expect(risks(task)["AddonInstanceStatus"]?.status == "Failed")
        #expect(risks(task)["AddonInstanceStatus"]?.level == "Fatal", "an operation in flight would refuse the upgrade")

        #expect(try server.control("POST", "/_mock/resources/addons/\(id)/status", #"{"status": "abnormal", "reason": "CrashLoop"}"#).status == 200)
        let sick = try check(Self.inspect(id))
        server.advance(ms: 500)
        let second = try #require(try tasks("?task_id=" + (sick.string("status.itemsStatus.0.name") ?? "")).first)
        #expect(risks(second)["AddonInstanceStatus"]?.level == "Warning")
        #expect(second.string("status.status") == "Failed")
        #expect(second.string("status.message")?.contains("abnormal (CrashLoop)") == true)
    }

    @Test func aTargetForOtherClusterTypesIsAFatalRisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("addoncheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let catalog = #"""
            {"templates": [{"name": "armonly", "versions": [
              {"version": "1.0.0", "supportVersions": [{"clusterType": "VirtualMachine", "clusterVersion": [".*"]}]},
              {"version": "2.0.0", "supportVersions": [{"clusterType": "ARM64", "clusterVersion": [".*"]}]}]}]}
            """#
        try Data(catalog.utf8).write(to: dir.appendingPathComponent("cce-addon-templates.json"))
        let server = try TestServer(profile: .instant, fixtures: dir.path)
        let r = try server.request("POST", "/api/v3/addons", body: Bodies.install(template: "armonly", version: "1.0.0"))
        let id = try #require(try r.json().string("metadata.uid"))
        let batch = try server.request("POST", Self.base, body: Self.body(Self.upgrade(id, to: "2.0.0", template: "armonly"))).json()
        #expect(batch.string("status.phase") == "Failed", "the instant profile finishes the check within the request")
        #expect(
            batch.string("status.items.0.status.message") == "1 risk found: 2.0.0 supports none of the cluster types 1.0.0 runs on (VirtualMachine)")
    }

    @Test func theListFiltersByTypeTaskAndInstance() throws {
        let a = try runningAddon()
        let b = try runningAddon(cluster: "c1-other")
        _ = b
        let batch = try check([Self.upgrade(a, to: "1.30.6"), Self.inspect(a), Self.inspect("ghost")].joined(separator: ", "))
        let second = try #require(batch.string("status.itemsStatus.1.name"))
        #expect(try tasks().count == 3)
        #expect(try tasks("?type=addonStatic").count == 2)
        #expect(try tasks("?type=addonUpgrade").count == 1)
        #expect(try tasks("?task_id=\(second)").map { $0.string("metadata.taskID") } == [second])
        #expect(try tasks("?addon_instance_id=\(a)").count == 2)
        #expect(try tasks("?addon_instance_id=\(a)&type=addonStatic").count == 1)
        #expect(try tasks("?task_id=none").isEmpty)
        #expect(try server.get("/api/v3/projects/p1/clusters/c2/addons/precheck/tasks").json().at("pageInfo.currentCount") == .number("0"))
    }

    @Test func badRequestsGetCCEErrorsAndStoreNothing() throws {
        let cases: [(String, String)] = [
            (#"{"spec": {}}"#, "spec.addonList is required"),
            (Self.body(""), "spec.addonList must name 1 to 100 add-ons, got 0"),
            (Self.body(Array(repeating: Self.inspect("a"), count: 101).joined(separator: ",")), "got 101"),
            (Self.body(#"{"addonInstanceID": "a", "type": "addonSomething"}"#), "spec.addonList[0].type must be addonStatic or addonUpgrade"),
            (Self.body(#"{"addonInstanceID": "a", "type": "addonUpgrade"}"#), "spec.addonList[0].targetVersion is required"),
            (Self.body(#"{"type": "addonStatic"}"#), "spec.addonList[0].addonInstanceID is required"),
            (
                Self.body(#"{"addonInstanceID": "a\u0000b", "type": "addonStatic"}"#),
                "spec.addonList[0].addonInstanceID \"a\\u0000b\" is not a valid identifier"
            ),
            (Self.body(Self.inspect("a"), cluster: "c9"), "spec.clusterID \"c9\" does not match cluster \"c1\" of the path"),
            (Self.body("7"), "spec.addonList[0] must be an object, got number"),
        ]
        for (body, message) in cases {
            let r = try server.request("POST", Self.base, body: body)
            #expect(r.status == 400, "\(body)")
            #expect(try r.json().string("error_code") == "CCE.03400001")
            #expect(try r.json().string("error_msg")?.contains(message) == true, "\(r.text)")
        }
        #expect(try tasks().isEmpty)
        let bad = try server.get(Self.base + "/tasks?type=weekly")
        #expect(bad.status == 400)
        #expect(try bad.json().string("errorMessage") == #"type must be addonStatic or addonUpgrade, got "weekly""#)
    }

    @Test func outcomesFaultsControlPlaneAndJournal() throws {
        let id = try runningAddon()
        let forced = try check(Self.inspect(id), headers: [("X-Addonmock-Outcome", "fail"), ("X-Addonmock-Reason", "CheckTimeout")])
        let forcedID = try #require(forced.string("status.itemsStatus.0.name"))
        #expect(try server.control("POST", "/_mock/faults", #"{"match": {"service": "addoncheck"}, "outcome": "Failed", "times": 1}"#).status == 201)
        let ruled = try check(Self.inspect(id))
        let ruledID = try #require(ruled.string("status.itemsStatus.0.name"))
        let clean = try check(Self.inspect(id))
        let cleanID = try #require(clean.string("status.itemsStatus.0.name"))

        // Control plane: listed, advanced, waited on.
        let listed = try server.control("GET", "/_mock/resources/addonchecks?cluster=c1").json()
        #expect(listed.at("items")?.arrayValues.count == 3)
        #expect(
            try server.control("POST", "/_mock/resources/addonchecks/\(cleanID)/status", #"{"advance": true}"#).json().string("status") == "Success")
        let waited = try server.control("POST", "/_mock/wait", #"{"addoncheck": "\#(forcedID)", "status": "Failed", "timeoutMs": 50}"#)
        #expect(waited.status == 408, "the clock is pinned: \(waited.text)")
        server.advance(ms: 500)
        #expect(try server.control("POST", "/_mock/wait", #"{"addoncheck": "\#(forcedID)", "status": "Failed"}"#).status == 200)

        var byID: [String: JSONValue] = [:]
        for t in try tasks() { byID[t.string("metadata.taskID") ?? ""] = t }
        #expect(byID[forcedID]?.string("status.status") == "Failed")
        #expect(byID[forcedID]?.string("status.message")?.contains("CheckTimeout") == true, "\(byID[forcedID].map { "\($0)" } ?? "")")
        #expect(risks(byID[forcedID]!).values.allSatisfy { $0.status == "Success" }, "forced: the risks themselves passed")
        #expect(byID[ruledID]?.string("status.status") == "Failed")
        #expect(byID[cleanID]?.string("status.status") == "Success", "the rule fired once")

        let journal = try server.control("GET", "/_mock/requests?method=POST&limit=1000").json()
        let creates = journal.at("requests")?.arrayValues.filter { $0.string("service") == "addoncheck" } ?? []
        #expect(creates.count == 3)
        #expect(creates.first?.at("resources") == .array([.string(forcedID)]))

        // A cluster reset takes its checks with its add-ons.
        #expect(try server.control("POST", "/_mock/reset", #"{"cluster": "c1"}"#).status == 200)
        #expect(try tasks().isEmpty)
    }

    @Test func checksCannotBeSeeded() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("addoncheck-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"addonchecks": []}"#.utf8).write(to: dir.appendingPathComponent("seed.json"))
        #expect(throws: StartupError.self) { _ = try TestServer(profile: .fast, fixtures: dir.path) }
    }
}
