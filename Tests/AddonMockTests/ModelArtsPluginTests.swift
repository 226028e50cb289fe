import AddonMockCore
import AddonMockTestSupport
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// Request bodies as `huaweicloudsdkmodelarts` builds them.
enum PluginBodies {
    static func create(
        _ name: String, version: String? = nil, inputs: String? = nil,
        apiVersion: String = "v2", kind: String = "Plugin"
    ) -> String {
        var template = #""name": "\#(name)""#
        if let version { template += #", "version": "\#(version)""# }
        if let inputs { template += #", "inputs": \#(inputs)"# }
        return #"{"apiVersion": "\#(apiVersion)", "kind": "\#(kind)", "spec": {"template": {\#(template)}}}"#
    }
}

@Suite struct ModelArtsPluginTests {
    let server: TestServer
    static let projectA = "0123456789abcdef0123456789abcdef"
    static let projectB = "fedcba9876543210fedcba9876543210"

    init() throws { server = try TestServer(profile: .fast) }

    func plugins(_ project: String = projectA, pool: String = "pool-abc") -> String { "/v2/\(project)/pools/\(pool)/plugins" }

    func create(_ body: String, project: String = projectA, pool: String = "pool-abc") throws -> JSONValue {
        let r = try server.request("POST", plugins(project, pool: pool), headers: [("Content-Type", "application/json;charset=utf-8")], body: body)
        #expect(r.status == 200, "create answered \(r.status): \(r.text)")
        return try r.json()
    }

    func phase(_ name: String, project: String = projectA) throws -> String? {
        try server.get("\(plugins(project))/\(name)").json().string("status.phase")
    }

    /// Asserts the ModelArts error envelope (and nothing else) and returns the message.
    @discardableResult
    func expectError(_ r: HTTPResult, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(r.status == status, "body: \(r.text)", sourceLocation: sourceLocation)
        #expect(r.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
        #expect(r.header("X-Request-Id") != nil, sourceLocation: sourceLocation)
        guard case .object(let members) = try r.json() else { Issue.record("not an object"); return "" }
        #expect(members.map(\.key) == ["error_code", "error_msg"], sourceLocation: sourceLocation)
        #expect(try r.json().string("error_code") == code, sourceLocation: sourceLocation)
        return try r.json().string("error_msg") ?? ""
    }

    @Test func createAnswersPendingWithTheSDKShape() throws {
        let p = try create(PluginBodies.create("gpu-driver", version: "2.7.5", inputs: #"{"driver_version": "535.54.03"}"#))
        #expect(p.string("apiVersion") == "v2")
        #expect(p.string("kind") == "Plugin")
        #expect(p.string("metadata.name") == "gpu-driver")
        #expect(p.string("metadata.creationTimestamp") == "2026-11-22T10:00:00Z")
        #expect(p.string("spec.template.name") == "gpu-driver")
        #expect(p.string("spec.template.version") == "2.7.5")
        #expect(p.string("spec.template.inputs.driver_version") == "535.54.03")
        #expect(p.at("spec.template.inputs.enable_persistence_mode") == .bool(true), "defaults merged in")
        #expect(p.string("status.phase") == "Pending")
        #expect(p.string("status.version") == "2.7.5")
        #expect(p.string("status.reason") == "")
        // status.values is a string holding JSON.
        let values = try #require(p.string("status.values"))
        #expect(try JSONParser.parse(Array(values.utf8))["driver_version"] == .string("535.54.03"))
        #expect(p.string("status.resources.0.involvedObject.kind") == "DaemonSet")
        #expect(p.string("status.resources.0.involvedObject.apiVersion") == "apps/v1")
        #expect(p.string("status.resources.0.involvedObject.namespace") == "kube-system")
        #expect(p.string("status.resources.0.involvedObject.name") == "nvidia-driver-installer")
        #expect(CCEService.isUUID(Substring(p.string("status.resources.0.involvedObject.uid") ?? "")))
        #expect(p.string("status.resources.0.involvedObject.resourceVersion") != nil)

        // Every change below happens within one second of the pinned clock, and each still gets a new version.
        var versions = [p.string("status.resources.0.involvedObject.resourceVersion")]
        server.advance(ms: 200)
        for inputs in [#"{"driver_version": "1"}"#, #"{"driver_version": "2"}"#] {
            _ = try server.request("PATCH", "\(plugins())/gpu-driver", body: #"{"spec": {"template": {"inputs": \#(inputs)}}}"#)
            server.advance(ms: 200)
            let shown = try server.get("\(plugins())/gpu-driver?detail=true").json()
            versions.append(shown.string("status.resources.0.involvedObject.resourceVersion"))
        }
        #expect(Set(versions).count == 3, "\(versions)")
        let again = try server.get("\(plugins())/gpu-driver?detail=true").json()
        #expect(again.string("status.resources.0.involvedObject.resourceVersion") == versions.last!, "unchanged when nothing changed")
        #expect(p.at("status.resources.0.replicas") == .number("3"))
        #expect(p.string("status.resources.0.limits.cpu") == "1")
        #expect(p.string("status.resources.0.requests.memory") == "256Mi")
        #expect(p.string("status.resources.1.involvedObject.name") == "nvidia-gpu-device-plugin")
    }

    /// The issue's "done when": create, list, Running, patch to a new version (Updating -> Running), delete, gone,
    /// in two projects that never see each other's plug-ins.
    @Test func fullLifeInTwoIsolatedProjects() throws {
        for project in [Self.projectA, Self.projectB] {
            _ = try create(PluginBodies.create("node-local-dns", version: "1.6.36"), project: project)
        }
        _ = try create(PluginBodies.create("volcano"), project: Self.projectA)

        let listA = try server.get(plugins(Self.projectA)).json()
        #expect(listA.string("apiVersion") == "v2")
        #expect(listA.string("kind") == "PluginList")
        #expect(listA.at("metadata") == nil)
        guard case .array(let itemsA)? = listA.at("items") else { Issue.record("no items"); return }
        #expect(itemsA.map { $0.string("metadata.name") } == ["node-local-dns", "volcano"])
        #expect(itemsA.allSatisfy { $0.string("status.phase") == "Pending" })
        guard case .array(let itemsB)? = try server.get(plugins(Self.projectB)).json().at("items") else { Issue.record("no items"); return }
        #expect(itemsB.map { $0.string("metadata.name") } == ["node-local-dns"])
        #expect(try server.get("\(plugins(Self.projectB))/volcano").status == 404, "project B never sees A's plug-in")
        #expect(try server.get(plugins(Self.projectA, pool: "other-pool")).json().at("items") == .array([]), "nor does another pool")

        server.advance(ms: 200)
        #expect(try phase("node-local-dns") == "Running")

        let patched = try server.request(
            "PATCH", "\(plugins())/node-local-dns", headers: [("Content-Type", "application/merge-patch+json")],
            body: #"{"spec": {"template": {"version": "1.7.1", "inputs": {"custom": {"ndots": "3"}}}}}"#)
        #expect(patched.status == 200)
        let p = try patched.json()
        #expect(p.string("status.phase") == "Updating")
        #expect(p.string("spec.template.version") == "1.7.1")
        #expect(p.string("spec.template.inputs.custom.ndots") == "3")
        #expect(p.string("spec.template.inputs.flavor.name") == "HA")
        #expect(try phase("node-local-dns", project: Self.projectB) == "Running", "B is untouched")
        server.advance(ms: 200)
        #expect(try phase("node-local-dns") == "Running")
        #expect(try server.get("\(plugins())/node-local-dns").json().string("status.version") == "1.7.1")

        let deleted = try server.request("DELETE", "\(plugins())/node-local-dns")
        #expect(deleted.status == 200)
        #expect(try deleted.json().string("status.phase") == "Deleting")
        #expect(try phase("node-local-dns") == "Deleting")
        server.advance(ms: 200)
        try expectError(server.get("\(plugins())/node-local-dns"), 404, "ModelArts.50004040")
        #expect(try phase("node-local-dns", project: Self.projectB) == "Running")
        guard case .array(let after)? = try server.get(plugins()).json().at("items") else { Issue.record("no items"); return }
        #expect(after.map { $0.string("metadata.name") } == ["volcano"])
    }

    @Test func postingAnExistingPluginUpgradesItOnlyWhenSomethingChanges() throws {
        _ = try create(PluginBodies.create("log-agent", version: "1.6.2"))
        server.advance(ms: 200)
        let same = try create(PluginBodies.create("log-agent", version: "1.6.2"))
        #expect(same.string("status.phase") == "Running", "nothing changed: answered as it is")
        let inputsOnly = try create(PluginBodies.create("log-agent", inputs: #"{"log_level": "debug"}"#))
        #expect(inputsOnly.string("status.phase") == "Updating")
        #expect(inputsOnly.string("spec.template.version") == "1.6.2", "no version keeps the installed one")
        #expect(inputsOnly.string("spec.template.inputs.log_level") == "debug")
        try expectError(server.request("POST", plugins(), body: PluginBodies.create("log-agent", version: "1.7.0")), 409, "ModelArts.50004090")
        server.advance(ms: 200)
        let upgraded = try create(PluginBodies.create("log-agent", version: "1.7.0"))
        #expect(upgraded.string("status.phase") == "Updating")
        #expect(upgraded.string("status.resources.1.involvedObject.kind") == "Deployment")
    }

    @Test func showHasResourcesOnlyWithDetail() throws {
        _ = try create(PluginBodies.create("volcano"))
        let plain = try server.get("\(plugins())/volcano").json()
        #expect(plain.at("status.resources") == nil)
        #expect(plain.string("spec.template.version") == "1.13.1", "newest version when none is given")
        let detailed = try server.get("\(plugins())/volcano?detail=true").json()
        #expect(detailed.string("status.resources.2.involvedObject.name") == "volcano-admission")
        #expect(try server.get("\(plugins())/volcano?detail=false").json().at("status.resources") == nil)
        try expectError(server.get("\(plugins())/volcano?detail=yes"), 400, "ModelArts.50004000")
    }

    @Test func acceptsTheDocumentedSwapOfApiVersionAndKind() throws {
        #expect(try create(PluginBodies.create("gpu-driver", apiVersion: "Plugin", kind: "v2")).string("status.phase") == "Pending")
        let message = try expectError(
            server.request("POST", plugins(), body: PluginBodies.create("npu-driver", apiVersion: "v1", kind: "Plugin")), 400, "ModelArts.50004000")
        #expect(message.contains("got apiVersion \"v1\" and kind \"Plugin\""))
        try expectError(
            server.request("POST", plugins(), body: PluginBodies.create("npu-driver", apiVersion: "v2", kind: "Addon")), 400, "ModelArts.50004000")
    }

    @Test(arguments: [
        ("", "request body is empty; a JSON object is required"),
        ("{", "request body is not valid JSON: malformed JSON at byte 1: expected a string key"),
        (#"{"apiVersion":"v2","kind":"Plugin"}"#, "spec is required"),
        (#"{"apiVersion":"v2","kind":"Plugin","spec":{}}"#, "spec.template is required"),
        (#"{"apiVersion":"v2","kind":"Plugin","spec":{"template":{}}}"#, "spec.template.name is required"),
        (
            #"{"apiVersion":"v2","kind":"Plugin","spec":{"template":{"name":"gpu-driver","inputs":[]}}}"#,
            "spec.template.inputs must be an object, got array"
        ),
        (
            #"{"apiVersion":"v2","kind":"Plugin","spec":{"template":{"name":"gpu-driver","version":7}}}"#,
            "spec.template.version must be a string, got number"
        ),
        (
            #"{"apiVersion":"v2","kind":"Plugin","spec":{"template":{"name":"gpu-driver","version":"0.0.1"}}}"#,
            "version \"0.0.1\" of plug-in template \"gpu-driver\" does not exist; available versions: 2.5.6, 2.6.4, 2.7.5"
        ),
    ])
    func createValidation(body: String, message: String) throws {
        #expect(try expectError(server.request("POST", plugins(), body: body), 400, "ModelArts.50004000") == message)
    }

    @Test func notFoundsConflictsAndPathErrors() throws {
        #expect(
            try expectError(server.request("POST", plugins(), body: PluginBodies.create("nosuch")), 404, "ModelArts.50004040")
                == "plug-in template \"nosuch\" not found")
        #expect(try expectError(server.get("\(plugins())/gpu-driver"), 404, "ModelArts.50004040") == "plug-in gpu-driver not found in pool pool-abc")
        try expectError(server.request("PATCH", "\(plugins())/gpu-driver", body: #"{"spec":{"template":{}}}"#), 404, "ModelArts.50004040")
        try expectError(server.request("DELETE", "\(plugins())/gpu-driver"), 404, "ModelArts.50004040")

        _ = try create(PluginBodies.create("gpu-driver"))
        try expectError(server.request("DELETE", "\(plugins())/gpu-driver"), 409, "ModelArts.50004090")
        try expectError(
            server.request("PATCH", "\(plugins())/gpu-driver", body: #"{"spec":{"template":{"version":"2.5.6"}}}"#), 409, "ModelArts.50004090")
        server.advance(ms: 200)
        try expectError(
            server.request("PATCH", "\(plugins())/gpu-driver", body: #"{"spec":{"template":{"name":"npu-driver"}}}"#), 400, "ModelArts.50004000")
        try expectError(
            server.request("PATCH", "\(plugins())/gpu-driver", body: #"{"spec":{"template":{"version":"9"}}}"#), 400, "ModelArts.50004000")
        try expectError(
            server.request("PATCH", "\(plugins())/gpu-driver", body: #"{"apiVersion":"v3","kind":"Plugin","spec":{"template":{}}}"#), 400,
            "ModelArts.50004000")

        let missingProject = try server.request("POST", "/v2/%7Bproject_id%7D/pools/pool-abc/plugins", body: PluginBodies.create("gpu-driver"))
        #expect(
            try expectError(missingProject, 400, "ModelArts.50004000").contains(
                "the SDK sends the literal {project_id} when its credentials carry no project_id"))
        try expectError(server.get("/v2/\(Self.projectA)/pools/a%2Fb/plugins"), 400, "ModelArts.50004000")
        try expectError(server.request("PUT", plugins(), body: "{}"), 405, "ModelArts.50004050")
        try expectError(server.get("/v2/\(Self.projectA)/nothing"), 404, "ModelArts.50004040")
        let big = PluginBodies.create("gpu-driver", inputs: #"{"pad":""# + String(repeating: "x", count: 1 << 20) + #""}"#)
        try expectError(server.request("POST", plugins(), body: big), 413, "ModelArts.50004130")
    }

    @Test func mergePatchRemovesInputsWithNull() throws {
        _ = try create(PluginBodies.create("log-agent", version: "1.7.0"))
        server.advance(ms: 200)
        let r = try server.request(
            "PATCH", "\(plugins())/log-agent", body: #"{"spec":{"template":{"inputs":{"lts_group":null,"log_level":"error"}}}}"#)
        let p = try r.json()
        #expect(p.string("status.phase") == "Updating")
        #expect(p.at("spec.template.inputs.lts_group") == nil)
        #expect(p.string("spec.template.inputs.log_level") == "error")
        #expect(p.at("spec.template.inputs.collect_stdout") == .bool(true))
    }

    @Test func pluginTemplates() throws {
        let list = try server.get("/v2/\(Self.projectA)/plugintemplates").json()
        #expect(list.string("apiVersion") == "v1")
        #expect(list.string("kind") == "PluginTemplateList")
        guard case .array(let items)? = list.at("items") else { Issue.record("no items"); return }
        #expect(items.compactMap { $0.string("metadata.name") } == ["gpu-driver", "npu-driver", "log-agent", "node-local-dns", "volcano"])
        let gpu = items[0]
        #expect(gpu.string("kind") == "PluginTemplate")
        #expect(gpu.at("spec.optional") == .bool(true))
        #expect(gpu.string("spec.type") == "ccePlugin")
        #expect(gpu.string("spec.logoURL") != nil)
        #expect(gpu.string("spec.versions.2.version") == "2.7.5")
        #expect(gpu.string("spec.versions.2.inputs.driver_version") == "535.54.03")
        #expect(gpu.string("spec.versions.0.creationTimestamp") == "2024-03-01T08:00:00Z")
        #expect(gpu.at("metadata.annotations")?["plugin.modelarts.com/category"] == .string("driver"))

        let filtered = try server.get("/v2/\(Self.projectA)/plugintemplates?templateName=volcano&poolName=pool-abc").json()
        #expect(filtered.string("items.0.metadata.name") == "volcano")
        #expect(try server.get("/v2/\(Self.projectA)/plugintemplates?templateName=nosuch").json().at("items") == .array([]))

        let one = try server.get("/v1/\(Self.projectA)/plugintemplates/npu-driver").json()
        #expect(one.string("kind") == "PluginTemplate")
        #expect(one.string("spec.versions.1.3.0.version") == nil, "versions are keyed by version string")
        #expect(one.at("spec.versions")?["1.3.0"]?["version"] == .string("1.3.0"))
        #expect(one.string("spec.type") == "ccePlugin")
        try expectError(server.get("/v1/\(Self.projectA)/plugintemplates/nosuch"), 404, "ModelArts.50004040")
    }
}
