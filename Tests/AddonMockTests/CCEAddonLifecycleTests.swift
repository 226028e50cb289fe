import AddonMockCore
import AddonMockTestSupport
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// The CCE add-on routes against a real server on an ephemeral port, with the clock moved by hand.
@Suite struct CCEAddonLifecycleTests {
    let server: TestServer

    init() throws { server = try TestServer(profile: .fast) }

    func install(_ body: String = Bodies.install(), prefix: String = "/api/v3") throws -> JSONValue {
        let r = try server.request("POST", "\(prefix)/addons", headers: [("Content-Type", "application/json")], body: body)
        #expect(r.status == 201, "install answered \(r.status): \(r.text)")
        return try r.json()
    }

    func show(_ id: String, prefix: String = "/api/v3") throws -> JSONValue {
        let r = try server.get("\(prefix)/addons/\(id)")
        #expect(r.status == 200, "show answered \(r.status): \(r.text)")
        return try r.json()
    }

    @Test func installShowsInstallingThenRunningWithTheWireShape() throws {
        let created = try install(Bodies.install(values: #"{"basic": {"cluster_ip": "10.247.3.99"}}"#))
        let id = try #require(created.string("metadata.uid"))
        #expect(CCEService.isUUID(Substring(id)))
        #expect(created.string("kind") == "Addon")
        #expect(created.string("apiVersion") == "v3")
        #expect(created.string("metadata.name") == "coredns")
        #expect(created.string("metadata.creationTimestamp") == "2026-11-22T10:00:00Z")
        #expect(created.at("metadata.annotations")?["addon.install/type"] == .string("install"))
        #expect(created.string("spec.clusterID") == "c1")
        #expect(created.string("spec.version") == "1.30.6", "newest stable version when none is given")
        #expect(created.string("spec.addonTemplateType") == "helm")
        #expect(created.at("spec.addonTemplateLabels") == .array([.string("ServiceDiscovery")]))
        // Request values merged over the template defaults.
        #expect(created.string("spec.values.basic.cluster_ip") == "10.247.3.99")
        #expect(created.string("spec.values.basic.swr_user") == "hwofficial")
        #expect(created.at("spec.values.flavor.replicas") == .number("2"))
        #expect(created.string("status.status") == "installing")
        #expect(created.string("status.Reason") == "")
        #expect(created.at("status.reason") == nil, "Reason has a capital R on the wire")
        #expect(created.string("status.message") == "")
        #expect(created.at("status.targetVersions") == .null)
        #expect(created.string("status.currentVersion.version") == "1.30.6")
        #expect(created.at("status.currentVersion.stable") == .bool(true))
        #expect(created.at("status.currentVersion.supportVersions") == .null)
        #expect(created.string("status.currentVersion.translate.en_US.addon.description") != nil)
        #expect(created.at("status.isRollbackable") == .bool(false))
        #expect(created.string("status.previousVersion") == "")

        #expect(try show(id).string("status.status") == "installing")
        server.advance(ms: 150)
        let running = try show(id)
        #expect(running.string("status.status") == "running")
        #expect(running.string("metadata.updateTimestamp") == "2026-11-22T10:00:00Z")
        server.advance(ms: 1_000)
        #expect(try show(id).string("metadata.updateTimestamp") == "2026-11-22T10:00:00Z", "stamped with the due time, not the read time")
    }

    @Test func fullLifeUpgradeRollbackDeleteThen404() throws {
        let id = try #require(try install(Bodies.install(version: "1.28.4")).string("metadata.uid"))
        #expect(try show(id).at("status.targetVersions") == .array([.string("1.29.5"), .string("1.30.6")]))
        server.advance(ms: 200)

        var r = try server.request(
            "PUT", "/api/v3/addons/\(id)", body: Bodies.upgrade(version: "1.30.6", values: #"{"basic": {"cluster_ip": "10.247.3.11"}}"#))
        #expect(r.status == 200)
        var body = try r.json()
        #expect(body.string("status.status") == "upgrading")
        #expect(body.string("spec.version") == "1.30.6")
        #expect(body.string("status.currentVersion.version") == "1.30.6")
        #expect(body.string("status.previousVersion") == "1.28.4")
        #expect(body.at("status.isRollbackable") == .bool(true))
        #expect(body.string("spec.values.basic.image_version") == "1.30.6", "upgrade merges over the new version's defaults")
        #expect(body.at("metadata.annotations")?["addon.upgrade/type"] == .string("upgrade"))
        server.advance(ms: 200)
        #expect(try show(id).string("status.status") == "running")

        r = try server.request("POST", "/api/v3/addons/\(id)/operation/rollback", body: Bodies.rollback())
        #expect(r.status == 200)
        body = try r.json()
        #expect(body.string("status.status") == "rollbacking")
        server.advance(ms: 200)
        body = try show(id)
        #expect(body.string("status.status") == "running")
        #expect(body.string("spec.version") == "1.28.4")
        #expect(body.string("spec.values.basic.cluster_ip") == "10.247.3.10")
        #expect(body.at("status.isRollbackable") == .bool(false))
        // The SDK: "the version before the last upgrade or rollback": the version rolled back from.
        #expect(body.string("status.previousVersion") == "1.30.6")
        #expect(try server.control("GET", "/_mock/resources/addons/\(id)").json().string("previousVersion") == "1.30.6")

        r = try server.request("DELETE", "/api/v3/addons/\(id)?cluster_id=c1")
        #expect(r.status == 200)
        #expect(r.text == "success")
        #expect(try show(id).string("status.status") == "deleting")
        server.advance(ms: 200)
        let gone = try server.get("/api/v3/addons/\(id)")
        #expect(gone.status == 404)
        #expect(try gone.json().string("error_code") == "CCE.03404001")
        // Once gone, the template can be installed again in that cluster.
        #expect(try install().string("status.status") == "installing")
    }

    @Test func listIsScopedByClusterAndWrapped() throws {
        _ = try install(Bodies.install(cluster: "c1", template: "coredns"))
        server.advance(ms: 10)
        _ = try install(Bodies.install(cluster: "c1", template: "everest"))
        _ = try install(Bodies.install(cluster: "c2", template: "coredns"))
        let list = try server.get("/api/v3/addons?cluster_id=c1")
        #expect(list.status == 200)
        let body = try list.json()
        #expect(body.string("kind") == "Addon")
        #expect(body.string("apiVersion") == "v3")
        #expect(body.at("metadata") == nil)
        guard case .array(let items)? = body.at("items") else { Issue.record("no items"); return }
        #expect(items.map { $0.string("spec.addonTemplateName") } == ["coredns", "everest"])
        #expect(try server.get("/api/v3/addons?cluster_id=nobody").json().at("items") == .array([]))
    }

    @Test func clusterMayComeFromHeaderOrHostPrefix() throws {
        _ = try install(Bodies.install(cluster: "3f7c1a52-0000-4000-8000-000000000001"))
        _ = try install(Bodies.install(cluster: "dev"))
        let byHeader = try server.get("/api/v3/addons", headers: [("X-Cluster-ID", "dev")]).json()
        #expect(byHeader.string("items.0.spec.clusterID") == "dev")
        // The real endpoint form, {cluster}.cce.{region}.myhuaweicloud.com: a name that is not local, so served only
        // when --allowed-hosts admits it (a user who maps that name to this server).
        let uuidHost = "3f7c1a52-0000-4000-8000-000000000001.cce.example.com:8080"
        #expect(try server.get("/api/v3/addons", headers: [("Host", uuidHost)]).status == 403)
        var open = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: 1, logLevel: "critical", seedWasRandom: false)
        open.allowedHosts = ["*"]
        let admitting = try TestServer(configuration: open)
        _ = try admitting.request("POST", "/api/v3/addons", body: Bodies.install(cluster: "3f7c1a52-0000-4000-8000-000000000001"))
        let byUUIDHost = try admitting.get("/api/v3/addons", headers: [("Host", uuidHost)]).json()
        #expect(byUUIDHost.string("items.0.spec.clusterID") == "3f7c1a52-0000-4000-8000-000000000001")
        let byLocalhost = try server.get("/api/v3/addons", headers: [("Host", "dev.localhost:8080")]).json()
        #expect(byLocalhost.string("items.0.spec.clusterID") == "dev")
        // The query parameter wins over the header.
        let both = try server.get("/api/v3/addons?cluster_id=dev", headers: [("X-Cluster-ID", "other")]).json()
        #expect(both.string("items.0.spec.clusterID") == "dev")
        // A plain host name is not a cluster.
        #expect(try admitting.get("/api/v3/addons", headers: [("Host", "myhost.example.com")]).status == 400)
    }

    @Test func showAndDeleteHonourTheClusterQuery() throws {
        let id = try #require(try install().string("metadata.uid"))
        #expect(try server.get("/api/v3/addons/\(id)?cluster_id=c1").status == 200)
        let other = try server.get("/api/v3/addons/\(id)?cluster_id=c2")
        #expect(other.status == 404)
        #expect(try other.json().string("error_msg") == "addon instance \(id) not found in cluster c2")
        server.advance(ms: 200)
        #expect(try server.request("DELETE", "/api/v3/addons/\(id)?cluster_id=c2").status == 404)
        #expect(try show(id).string("status.status") == "running")
    }

    /// The SDK's `SupportVersions.cluster_type`: Autopilot clusters are VirtualMachine clusters only.
    @Test func autopilotTemplatesListOnlyVirtualMachineClusters() throws {
        func clusterTypes(_ prefix: String) throws -> Set<String> {
            guard case .array(let items)? = try server.get("\(prefix)/addontemplates").json()["items"] else { return [] }
            var types = Set<String>()
            for item in items {
                guard case .array(let versions)? = item.at("spec.versions") else { continue }
                for v in versions {
                    guard case .array(let support)? = v["supportVersions"] else { continue }
                    for entry in support { if let t = entry.string("clusterType") { types.insert(t) } }
                }
            }
            return types
        }
        #expect(try clusterTypes("/api/v3").isSuperset(of: ["VirtualMachine", "BareMetal", "ARM64"]))
        #expect(try clusterTypes("/autopilot/v3") == ["VirtualMachine"])
    }

    @Test func autopilotIsItsOwnNamespace() throws {
        let id = try #require(try install(prefix: "/autopilot/v3").string("metadata.uid"))
        #expect(try show(id, prefix: "/autopilot/v3").string("spec.clusterID") == "c1")
        #expect(try server.get("/api/v3/addons/\(id)").status == 404)
        #expect(try server.get("/api/v3/addons?cluster_id=c1").json().at("items") == .array([]))
        // The same template can be installed in the same cluster id under the other prefix.
        _ = try install()
        server.advance(ms: 200)
        #expect(try server.request("PUT", "/autopilot/v3/addons/\(id)", body: Bodies.upgrade(version: "1.29.5")).status == 200)
        server.advance(ms: 200)
        #expect(try server.request("POST", "/autopilot/v3/addons/\(id)/operation/rollback", body: Bodies.rollback()).status == 200)
        server.advance(ms: 200)
        #expect(try server.request("DELETE", "/autopilot/v3/addons/\(id)").status == 200)
        #expect(try server.get("/autopilot/v3/addontemplates?addon_template_name=npd").json().string("items.0.metadata.name") == "npd")
    }

    @Test func templatesListFilterAndAlias() throws {
        let all = try server.get("/api/v3/addontemplates").json()
        guard case .array(let items)? = all.at("items") else { Issue.record("no items"); return }
        #expect(items.count == 9)
        #expect(all.string("kind") == "Addon")
        let gpu = try server.get("/api/v3/addontemplates?addon_template_name=gpu-device-plugin").json()
        #expect(gpu.string("items.0.metadata.name") == "gpu-beta")
        #expect(gpu.string("items.0.metadata.uid") == "gpu-beta")
        #expect(gpu.string("items.0.spec.versions.0.supportVersions.0.clusterType") == "VirtualMachine")
        #expect(gpu.string("items.0.spec.type") == "helm")
        #expect(gpu.string("items.0.spec.readmeURL") != nil)
        let missing = try server.get("/api/v3/addontemplates?addon_template_name=nosuch")
        #expect(missing.status == 404)
        #expect(try missing.json().string("error_msg") == "addon template \"nosuch\" not found")
        #expect(try server.get("/api/v3/addontemplates?addon_template_name=-bad-").status == 400)
        #expect(try server.get("/api/v3/addontemplates?addon_template_name=a").status == 400)
    }

    @Test func instantProfileNextReadIsRunning() throws {
        let instant = try TestServer(profile: .instant)
        let r = try instant.request("POST", "/api/v3/addons", body: Bodies.install())
        #expect(try r.json().string("status.status") == "installing")
        let id = try #require(try r.json().string("metadata.uid"))
        #expect(try instant.get("/api/v3/addons/\(id)").json().string("status.status") == "running")
    }

    @Test func manualProfileNeverMovesByItself() throws {
        let manual = try TestServer(profile: .manual)
        let id = try #require(try manual.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        manual.advance(ms: 365 * 86_400_000)
        #expect(try manual.get("/api/v3/addons/\(id)").json().string("status.status") == "installing")
    }

    @Test func realisticProfileTakesSeconds() throws {
        let realistic = try TestServer(profile: .realistic)
        let id = try #require(try realistic.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        realistic.advance(ms: 4_000) // coredns installs in 8 s ± 3 s in the fixtures
        #expect(try realistic.get("/api/v3/addons/\(id)").json().string("status.status") == "installing")
        realistic.advance(ms: 8_000)
        #expect(try realistic.get("/api/v3/addons/\(id)").json().string("status.status") == "running")
    }
}

/// Reads by id are served from a cache of stored records and rendered bodies: every kind of write must show on
/// the very next read. Run on `:memory:` (one connection: reads see the open transaction) and on a file (reads
/// on their own connection see committed data only, and answers wait for their commit).
@Suite struct ReadAfterWriteTests {
    @Test(arguments: [false, true]) func everyWriteIsVisibleToTheNextRead(onFile: Bool) throws {
        let directory = TempDirectory()
        let server = try TestServer(profile: .fast, database: onFile ? directory.file("raw.sqlite") : ":memory:")
        func status(_ id: String) throws -> String? {
            let r = try server.get("/api/v3/addons/\(id)")
            return r.status == 404 ? "gone" : try r.json().string("status.status")
        }
        func post(_ path: String, _ body: String) throws -> HTTPResult {
            try server.request("POST", path, headers: [("Content-Type", "application/json")], body: body)
        }

        let id = try #require(try post("/api/v3/addons", Bodies.install(version: "1.28.4")).json().string("metadata.uid"))
        #expect(try status(id) == "installing")
        #expect(try status(id) == "installing", "served twice from the cache")
        server.advance(ms: 200)
        #expect(try status(id) == "running", "a due transition is settled on read")

        #expect(try server.request("PUT", "/api/v3/addons/\(id)", body: Bodies.upgrade(version: "1.30.6")).status == 200)
        let upgraded = try server.get("/api/v3/addons/\(id)").json()
        #expect(upgraded.string("status.status") == "upgrading")
        #expect(upgraded.string("spec.version") == "1.30.6")

        #expect(try post("/_mock/resources/addons/\(id)/status", #"{"status": "abnormal"}"#).status == 200)
        #expect(try status(id) == "abnormal", "a forced state")

        #expect(try post("/api/v3/addons/\(id)/operation/rollback", Bodies.rollback()).status == 200)
        #expect(try status(id) == "rollbacking")
        #expect(try post("/_mock/resources/addons/\(id)/status", #"{"advance": true}"#).status == 200)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("spec.version") == "1.28.4", "an advanced rollback")

        #expect(try server.request("DELETE", "/api/v3/addons/\(id)").status == 200)
        #expect(try status(id) == "deleting")
        server.advance(ms: 1_000)
        #expect(try status(id) == "gone")

        let again = try #require(try post("/api/v3/addons", Bodies.install()).json().string("metadata.uid"))
        #expect(try status(again) == "installing")
        #expect(try post("/_mock/reset", #"{"cluster": "c1"}"#).status == 200)
        #expect(try status(again) == "gone", "a reset")
    }
}
