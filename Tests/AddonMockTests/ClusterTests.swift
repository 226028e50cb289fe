import AddonMockCore
import AddonMockTestSupport
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons

/// CCE clusters, node pools, nodes and jobs against a real server on an ephemeral port, the clock moved by hand
/// (`fast`: each step is due 100 ms after it starts).
@Suite struct ClusterTests {
    let server: TestServer
    static let project = "/api/v3/projects/p1"
    static let json = [("Content-Type", "application/json")]

    init() throws { server = try TestServer(profile: .fast) }

    static func clusterBody(name: String = "demo", version: String = "v1.29", flavor: String = "cce.s1.small") -> String {
        #"{"kind": "Cluster", "apiVersion": "v3", "metadata": {"name": "\#(name)"}, "spec": {"flavor": "\#(flavor)", "version": "\#(version)", "hostNetwork": {"vpc": "vpc-1", "subnet": "subnet-1"}, "containerNetwork": {"mode": "overlay_l2", "cidr": "172.16.0.0/16"}}}"#
    }

    static func poolBody(name: String = "pool-a", count: Int = 3) -> String {
        #"{"kind": "NodePool", "apiVersion": "v3", "metadata": {"name": "\#(name)"}, "spec": {"initialNodeCount": \#(count), "nodeTemplate": {"flavor": "c7.large.2", "az": "cn-north-4a", "os": "EulerOS 2.9"}}}"#
    }

    func call(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)] = json) throws -> HTTPResult {
        try server.request(method, path, headers: body == nil ? [] : headers, body: body)
    }

    /// A cluster created and settled: its id.
    func availableCluster(name: String = "demo", version: String = "v1.29") throws -> String {
        let created = try call("POST", "\(Self.project)/clusters", Self.clusterBody(name: name, version: version))
        #expect(created.status == 201, "create answered \(created.status): \(created.text)")
        server.advance(ms: 200)
        return try #require(try created.json().string("metadata.uid"))
    }

    @Test func aClusterIsCreatingThenAvailableAndItsJobFollows() throws {
        let created = try call("POST", "\(Self.project)/clusters", Self.clusterBody())
        #expect(created.status == 201)
        let cluster = try created.json()
        let id = try #require(cluster.string("metadata.uid"))
        let job = try #require(cluster.string("status.jobID"))
        #expect(cluster.string("status.phase") == "Creating")
        #expect(cluster.string("spec.version") == "v1.29" && cluster.string("spec.category") == "CCE")
        #expect(cluster.string("spec.kubeProxyMode") == "iptables", "what the real service fills in")
        #expect(try call("GET", "\(Self.project)/jobs/\(job)").json().string("status.phase") == "Initializing", "its first fifth")
        #expect(try call("GET", "\(Self.project)/jobs/\(job)").json().string("spec.type") == "CreateCluster")
        server.advance(ms: 50)
        #expect(try call("GET", "\(Self.project)/jobs/\(job)").json().string("status.phase") == "Running")

        server.advance(ms: 200)
        #expect(try call("GET", "\(Self.project)/clusters/\(id)").json().string("status.phase") == "Available")
        let done = try call("GET", "\(Self.project)/jobs/\(job)").json()
        #expect(done.string("status.phase") == "Success" && done.string("spec.clusterUID") == id)
        #expect(try call("GET", "\(Self.project)/clusters?status=Available").json().at("items")?.arrayValues.count == 1)
        #expect(try call("GET", "\(Self.project)/clusters?status=Creating").json().at("items")?.arrayValues.count == 0)
        #expect(try call("GET", "/api/v3/projects/p2/clusters").json().at("items")?.arrayValues.count == 0, "another project's")
        #expect(try call("GET", "/api/v3/projects/p2/clusters/\(id)").status == 404)
    }

    @Test(arguments: [
        (#"{"metadata": {"name": "demo"}, "spec": {}}"#, "spec.flavor is required"),
        (
            ClusterTests.clusterBody(name: "Demo"),
            "metadata.name \"Demo\" is invalid: 4 to 128 characters of lowercase letters, digits and '-', starting with a letter and not ending with '-'"
        ),
        (
            #"{"metadata": {"name": "demo"}, "spec": {"flavor": "cce.s1.small", "customSan": 5, "hostNetwork": {"vpc": "v", "subnet": "s"}, "containerNetwork": {"mode": "eni"}}}"#,
            "spec.customSan must be an array of strings, got number"
        ),
        (ClusterTests.clusterBody(version: "v1.99"), "spec.version must be one of v1.25, v1.27, v1.28, v1.29, v1.30, v1.31, got \"v1.99\""),
        (
            ClusterTests.clusterBody(flavor: "huge"),
            "spec.flavor must be one of cce.s1.small, cce.s1.medium, cce.s2.small, cce.s2.medium, cce.s2.large, cce.s2.xlarge, cce.t1.small, cce.t1.medium, cce.t2.small, cce.t2.medium, cce.t2.large, got \"huge\""
        ),
    ])
    func badCreatesAre400sInCCEsFormat(body: String, message: String) throws {
        let r = try call("POST", "\(Self.project)/clusters", body)
        #expect(r.status == 400)
        #expect(try r.json().string("error_msg") == message && r.json().string("error_code") == "CCE.03400001")
        #expect(try call("GET", "\(Self.project)/clusters").json().at("items")?.arrayValues.count == 0)
    }

    /// `cluster` names the kind in a resource wait and the scope in a settled one.
    @Test func waitsNameAClusterEitherWay() throws {
        let id = try availableCluster()
        let wait = { (body: String) in try server.request("POST", "/_mock/wait", headers: Self.json, body: body) }
        let reached = try wait(#"{"cluster": "\#(id)", "phase": "Available"}"#).json()
        #expect(reached.at("reached") == .bool(true) && reached.string("resource.kind") == "clusters")
        #expect(try wait(#"{"settled": true, "cluster": "\#(id)"}"#).json().at("reached") == .bool(true))
        #expect(try wait(#"{"cluster": "\#(id)", "phase": "Hibernation", "timeoutMs": 20}"#).status == 408)
    }

    /// A null is as if not sent: nothing stored contradicts the documented answer.
    @Test func aNullFieldIsLeftOut() throws {
        let body =
            #"{"metadata": {"name": "demo"}, "spec": {"flavor": "cce.s1.small", "description": null, "hostNetwork": {"vpc": "v", "subnet": "s"}, "containerNetwork": {"mode": "eni"}}}"#
        #expect(try call("POST", "\(Self.project)/clusters", body).json().string("spec.description") == "")
    }

    @Test func aSecondClusterOfTheSameNameIsAConflict() throws {
        let id = try availableCluster()
        let again = try call("POST", "\(Self.project)/clusters", Self.clusterBody())
        #expect(again.status == 409)
        #expect(try again.json().string("error_msg") == "cluster name demo already exists in project p1 as \(id)")
    }

    @Test func aNodePoolGrowsAndShrinksWithItsNodes() throws {
        let cluster = try availableCluster()
        let pools = "\(Self.project)/clusters/\(cluster)/nodepools"
        let created = try call("POST", pools, Self.poolBody(count: 3))
        #expect(created.status == 201)
        let pool = try #require(try created.json().string("metadata.uid"))
        #expect(try created.json().string("status.phase") == "Synchronizing")
        let installing = try call("GET", "\(Self.project)/clusters/\(cluster)/nodes").json().at("items")?.arrayValues ?? []
        #expect(installing.map { $0.string("status.phase") } == ["Installing", "Installing", "Installing"])

        server.advance(ms: 200)
        var shown = try call("GET", "\(pools)/\(pool)").json()
        #expect(shown.string("status.phase") == "", "ready is an empty phase, as terraform waits for")
        #expect(shown.at("status.currentNode") == .number("3"))
        let nodes = try call("GET", "\(Self.project)/clusters/\(cluster)/nodes").json().at("items")?.arrayValues ?? []
        #expect(nodes.count == 3 && nodes.allSatisfy { $0.string("status.phase") == "Active" })
        #expect(nodes.allSatisfy { $0.string("metadata.name")?.hasPrefix("pool-a-") == true })
        let first = try #require(nodes.first?.string("metadata.uid"))
        #expect(
            try call("GET", "\(Self.project)/clusters/\(cluster)/nodes/\(first)").json().string("status.privateIP")
                == nodes.first?.string("status.privateIP"))

        // Update to 5 (what terraform sends), then the scale API down to 2.
        let update = #"{"metadata": {"name": "pool-a"}, "spec": {"initialNodeCount": 5}}"#
        shown = try call("PUT", "\(pools)/\(pool)", update).json()
        #expect(shown.string("status.phase") == "Synchronizing" && shown.at("status.creatingNode") == .number("2"))
        server.advance(ms: 200)
        shown = try call("GET", "\(pools)/\(pool)").json()
        #expect(shown.at("status.currentNode") == .number("5") && shown.at("spec.initialNodeCount") == .number("5"))
        let five = try call("GET", "\(Self.project)/clusters/\(cluster)/nodes").json().at("items")?.arrayValues ?? []
        #expect(five.prefix(3).map { $0.string("metadata.uid") } == nodes.map { $0.string("metadata.uid") }, "the first three stay")

        let scale = #"{"kind": "NodePool", "apiVersion": "v3", "spec": {"desiredNodeCount": 2}}"#
        #expect(try call("POST", "\(pools)/\(pool)/operation/scale", scale).json().at("status.deletingNode") == .number("3"))
        server.advance(ms: 200)
        #expect(try call("GET", "\(Self.project)/clusters/\(cluster)/nodes").json().at("items")?.arrayValues.count == 2)
        #expect(try call("GET", pools).json().at("items")?.arrayValues.count == 1)

        #expect(try call("DELETE", "\(pools)/\(pool)").json().string("status.phase") == "Deleting")
        server.advance(ms: 200)
        #expect(try call("GET", "\(pools)/\(pool)").status == 404)
    }

    /// Nodes are made from --seed and the names of their cluster and pool: the same in another run with the same seed.
    @Test func nodesAreTheSameUnderTheSameSeed() throws {
        func nodes(seed: UInt64) throws -> [String] {
            let other = try TestServer(
                configuration: Configuration(
                    host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: seed, logLevel: "critical",
                    seedWasRandom: false))
            let created = try other.request("POST", "\(Self.project)/clusters", headers: Self.json, body: Self.clusterBody())
            let cluster = try #require(try created.json().string("metadata.uid"))
            other.advance(ms: 200)
            _ = try other.request("POST", "\(Self.project)/clusters/\(cluster)/nodepools", headers: Self.json, body: Self.poolBody(count: 2))
            other.advance(ms: 200)
            let items = try other.get("\(Self.project)/clusters/\(cluster)/nodes").json().at("items")?.arrayValues ?? []
            return items.flatMap { [$0.string("metadata.uid"), $0.string("metadata.name"), $0.string("status.privateIP")].compactMap { $0 } }
        }
        let first = try nodes(seed: 42)
        #expect(first.count == 6)
        #expect(try nodes(seed: 42) == first)
        #expect(try nodes(seed: 43) != first)
    }

    @Test func nodePoolsWaitForAnAvailableCluster() throws {
        let created = try call("POST", "\(Self.project)/clusters", Self.clusterBody())
        let cluster = try #require(try created.json().string("metadata.uid"))
        let early = try call("POST", "\(Self.project)/clusters/\(cluster)/nodepools", Self.poolBody())
        #expect(early.status == 400)
        #expect(try early.json().string("error_msg") == "cluster \(cluster) is Creating: node pools can be created only in an Available cluster")
        #expect(try call("POST", "\(Self.project)/clusters/nope/nodepools", Self.poolBody()).status == 404)
    }

    @Test func hibernateAndAwakeEachRunAsAJob() throws {
        let cluster = try availableCluster()
        let path = "\(Self.project)/clusters/\(cluster)"
        let awakeTooEarly = try call("POST", "\(path)/operation/awake", "{}")
        #expect(awakeTooEarly.status == 409, "only a hibernated cluster wakes")
        let createJob = try #require(try call("GET", path).json().string("status.jobID"))

        #expect(try call("POST", "\(path)/operation/hibernate", "{}").status == 200)
        let hibernating = try call("GET", path).json()
        #expect(hibernating.string("status.phase") == "Hibernating")
        let job = try #require(hibernating.string("status.jobID"))
        #expect(job != createJob)
        #expect(try call("GET", "\(Self.project)/jobs/\(createJob)").json().string("status.phase") == "Success", "written down finished")
        #expect(try call("GET", "\(Self.project)/jobs/\(job)").json().string("spec.type") == "HibernateCluster")
        server.advance(ms: 200)
        #expect(try call("GET", path).json().string("status.phase") == "Hibernation")

        // Add-ons go into Available clusters only.
        let refused = try call("POST", "/api/v3/addons", Bodies.install(cluster: cluster))
        #expect(refused.status == 400)
        #expect(try refused.json().string("error_msg") == "cluster \(cluster) is Hibernation: add-ons can be installed only in an Available cluster")

        #expect(try call("POST", "\(path)/operation/awake", "{}").status == 200)
        #expect(try call("GET", path).json().string("status.phase") == "Awaking")
        server.advance(ms: 200)
        #expect(try call("GET", path).json().string("status.phase") == "Available")
        #expect(try call("POST", "/api/v3/addons", Bodies.install(cluster: cluster)).status == 201)
    }

    @Test func aFailedCreateEndsInErrorAndItsJobFailed() throws {
        let created = try call("POST", "\(Self.project)/clusters", Self.clusterBody(), headers: Self.json + [("X-Addonmock-Outcome", "fail")])
        let cluster = try created.json()
        server.advance(ms: 200)
        let id = try #require(cluster.string("metadata.uid"))
        #expect(try call("GET", "\(Self.project)/clusters/\(id)").json().string("status.phase") == "Error")
        let job = try call("GET", "\(Self.project)/jobs/\(try #require(cluster.string("status.jobID")))").json()
        #expect(job.string("status.phase") == "Failed")
    }

    @Test func deletingAClusterTakesItsPoolsAndAddonsWithIt() throws {
        let cluster = try availableCluster()
        let other = try availableCluster(name: "other")
        let pool = try #require(try call("POST", "\(Self.project)/clusters/\(cluster)/nodepools", Self.poolBody()).json().string("metadata.uid"))
        let addon = try #require(try call("POST", "/api/v3/addons", Bodies.install(cluster: cluster)).json().string("metadata.uid"))
        let kept = try #require(try call("POST", "/api/v3/addons", Bodies.install(cluster: other)).json().string("metadata.uid"))
        server.advance(ms: 200)

        let deleting = try call("DELETE", "\(Self.project)/clusters/\(cluster)?delete_evs=true&delete_net=true&tobedeleted=true")
        #expect(deleting.status == 200)
        #expect(try deleting.json().string("status.phase") == "Deleting")
        let job = try #require(try deleting.json().string("status.jobID"))
        #expect(try call("GET", "\(Self.project)/clusters/\(cluster)/nodepools/\(pool)").status == 200, "until the delete completes")
        server.advance(ms: 200)
        #expect(try call("GET", "\(Self.project)/clusters/\(cluster)").status == 404)
        #expect(try call("GET", "/api/v3/addons/\(addon)").status == 404)
        #expect(try call("GET", "/api/v3/addons/\(kept)").status == 200, "another cluster's add-on stays")
        #expect(try call("GET", "\(Self.project)/jobs/\(job)").json().string("status.phase") == "Success")
        let deleted = try server.get("/_mock/events?types=deleted&after=0&holdMs=0").text
        #expect(deleted.contains(#""kind":"nodepools""#) && deleted.contains(#""kind":"addons""#) && deleted.contains(#""kind":"clusters""#))
    }

    @Test func templatesForAClusterOfferOnlyTheVersionsItsKubernetesSupports() throws {
        let cluster = try availableCluster(version: "v1.25")
        let body = try call("GET", "/api/v3/addontemplates?cluster_id=\(cluster)").json()
        let coredns = body.at("items")?.arrayValues.first { $0.string("metadata.name") == "coredns" }
        #expect(coredns?.at("spec.versions")?.arrayValues.compactMap { $0.string("version") } == ["1.25.1", "1.28.4", "1.29.5"])
        let named = try call("GET", "/api/v3/addontemplates?cluster_id=\(cluster)&addon_template_name=coredns").json()
        #expect(named.at("items")?.arrayValues.count == 1)
        let unknown = try call("GET", "/api/v3/addontemplates?cluster_id=not-a-cluster").json()
        #expect(
            unknown.at("items")?.arrayValues.first { $0.string("metadata.name") == "coredns" }?.at("spec.versions")?.arrayValues.count == 4,
            "lenient: all")
    }

    @Test func anAddonGetsAVersionItsClusterSupports() throws {
        let cluster = try availableCluster(version: "v1.25")
        let installed = try call("POST", "/api/v3/addons", Bodies.install(cluster: cluster))
        #expect(try installed.json().string("spec.version") == "1.29.5", "the newest stable one that supports v1.25, not 1.30.6")
        let refused = try call("POST", "/api/v3/addons", Bodies.install(cluster: cluster, template: "everest", version: "2.4.28"))
        #expect(refused.status == 400)
        #expect(
            try refused.json().string("error_msg")
                == "everest 2.4.28 does not support cluster \(cluster) (VirtualMachine v1.25); versions that do: 2.1.30, 2.3.14")
    }

    /// Autopilot clusters: their own namespace, the service's flavor and network, the parents of Autopilot add-ons.
    @Test func autopilotClustersAreTheParentsOfAutopilotAddons() throws {
        let autopilot = "/autopilot/v3/projects/p1"
        let body =
            #"{"kind": "Cluster", "apiVersion": "v3", "metadata": {"name": "ap-1"}, "spec": {"version": "v1.30", "hostNetwork": {"vpc": "v", "subnet": "s"}}}"#
        let created = try call("POST", "\(autopilot)/clusters", body)
        #expect(created.status == 201)
        let cluster = try created.json()
        let id = try #require(cluster.string("metadata.uid"))
        #expect(cluster.string("spec.flavor") == "cce.autopilot.cluster" && cluster.string("spec.category") == "Turbo")
        #expect(cluster.string("spec.containerNetwork.mode") == "eni")
        #expect(try call("GET", "\(Self.project)/clusters/\(id)").status == 404, "not a CCE cluster")
        let job = try #require(cluster.string("status.jobID"))
        #expect(try call("GET", "\(autopilot)/jobs/\(job)").json().string("spec.type") == "CreateCluster")
        #expect(try call("GET", "\(Self.project)/jobs/\(job)").status == 404, "jobs stay in their namespace")
        #expect(try call("POST", "\(autopilot)/clusters/\(id)/operation/hibernate", "{}").status == 404, "no hibernation")
        server.advance(ms: 200)
        let addon = try #require(
            try call("POST", "/autopilot/v3/addons", Bodies.install(cluster: id, template: "npd")).json().string("metadata.uid"))
        #expect(try call("POST", "/api/v3/addons", Bodies.install(cluster: id)).status == 201, "lenient: a CCE add-on may name any id")
        server.advance(ms: 200)
        #expect(try call("DELETE", "\(autopilot)/clusters/\(id)").status == 200)
        server.advance(ms: 200)
        #expect(try call("GET", "/autopilot/v3/addons/\(addon)").status == 404, "went with its cluster")
        #expect(try call("GET", "\(autopilot)/clusters").json().at("items")?.arrayValues.count == 0)
    }

    @Test func strictClustersMustExistForAddons() throws {
        var configuration = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: 1, logLevel: "critical", seedWasRandom: false)
        configuration.parents = .strict
        let strict = try TestServer(configuration: configuration)
        let refused = try strict.request("POST", "/api/v3/addons", headers: Self.json, body: Bodies.install(cluster: "c1"))
        #expect(refused.status == 404)
        #expect(try refused.json().string("error_msg") == "cluster c1 not found (the server runs with --parents strict: create the cluster first)")
        #expect(try strict.get("/api/v3/addons?cluster_id=c1").status == 404)
        let created = try strict.request("POST", "\(Self.project)/clusters", headers: Self.json, body: Self.clusterBody())
        let id = try #require(try created.json().string("metadata.uid"))
        strict.advance(ms: 200)
        #expect(try strict.request("POST", "/api/v3/addons", headers: Self.json, body: Bodies.install(cluster: id)).status == 201)
        #expect(try call("POST", "/api/v3/addons", Bodies.install(cluster: "c1")).status == 201, "lenient by default")
    }

    /// A seed file may ask for strict clusters and bring the clusters its add-ons live in; an import may not change
    /// settings; an explicit --clusters wins over the seed file.
    @Test func aSeedFileCanMakeClustersStrict() throws {
        let dir = TempDirectory()
        try dir.write(
            "seed.json",
            #"""
            {"settings": {"clusters": "strict"},
             "clusters": [{"id": "11111111-2222-4333-8444-555555555555", "project": "p1", "name": "seeded", "status": "Available"}],
             "addons": [{"cluster": "11111111-2222-4333-8444-555555555555", "template": "coredns"}]}
            """#)
        let seeded = try TestServer(profile: .fast, fixtures: dir.path)
        #expect(try seeded.get("/api/v3/addons?cluster_id=11111111-2222-4333-8444-555555555555").json().at("items")?.arrayValues.count == 1)
        #expect(try seeded.request("POST", "/api/v3/addons", headers: Self.json, body: Bodies.install(cluster: "c1")).status == 404)
        let imported = try seeded.request("POST", "/_mock/import", headers: Self.json, body: #"{"settings": {"clusters": "lenient"}}"#)
        #expect(imported.status == 400)
        #expect(
            try imported.json().string("error_msg") == "import: settings apply at start-up (a seed file, or --parents): an import cannot change them"
        )

        var configuration = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: dir.path, seed: 1, logLevel: "critical",
            seedWasRandom: false)
        configuration.sources["parents"] = "flag"
        let flagged = try TestServer(configuration: configuration)
        #expect(
            try flagged.request("POST", "/api/v3/addons", headers: Self.json, body: Bodies.install(cluster: "c1")).status == 201,
            "--clusters lenient wins")

        try dir.write("seed.json", #"{"settings": {"clusters": "sometimes"}}"#)
        #expect(throws: StartupError.self) { try TestServer(profile: .fast, fixtures: dir.path) }
    }

    @Test func aKubeconfigNamesTheClustersEndpoint() throws {
        let cluster = try availableCluster()
        let config = try call("POST", "\(Self.project)/clusters/\(cluster)/clustercert", #"{"duration": -1}"#)
        #expect(config.status == 200)
        let endpoint = try call("GET", "\(Self.project)/clusters/\(cluster)").json().at("status.endpoints")?.arrayValues.first?.string("url")
        #expect(try config.json().at("clusters")?.arrayValues.first?.string("cluster.server") == endpoint)
        #expect(try config.json().string("current-context") == "internal")
        #expect(try call("POST", "\(Self.project)/clusters/\(cluster)/clustercert", #"{"duration": 0}"#).status == 400)
    }

    @Test func anUpdateChangesWhatItMayAndRefusesTheRest() throws {
        let cluster = try availableCluster()
        let path = "\(Self.project)/clusters/\(cluster)"
        let updated = try call("PUT", path, #"{"spec": {"description": "mine", "customSan": ["a.example"]}, "metadata": {"alias": "Mine"}}"#).json()
        #expect(updated.string("spec.description") == "mine" && updated.string("metadata.alias") == "Mine")
        #expect(updated.string("spec.flavor") == "cce.s1.small", "the rest is kept")
        let refused = try call("PUT", path, #"{"spec": {"flavor": "cce.s2.large"}}"#)
        #expect(refused.status == 400)
    }

    @Test func seededAndImportedClustersComeWithTheirPools() throws {
        let world = #"""
            {"clusters": [{"id": "11111111-2222-4333-8444-555555555555", "project": "p1", "name": "seeded", "status": "Available", "spec": {"version": "v1.30"}}],
             "nodepools": [{"cluster": "11111111-2222-4333-8444-555555555555", "name": "pool-a", "status": "Active", "spec": {"initialNodeCount": 2, "nodeTemplate": {"flavor": "c7.large.2", "az": "az1"}}}]}
            """#
        #expect(try server.request("POST", "/_mock/import", headers: Self.json, body: world).json().at("created") == .number("2"))
        let cluster = try call("GET", "\(Self.project)/clusters/11111111-2222-4333-8444-555555555555").json()
        #expect(cluster.string("status.phase") == "Available" && cluster.string("spec.version") == "v1.30")
        #expect(cluster.string("spec.flavor") == "cce.s1.small", "completed as a create completes it")
        let nodes = try call("GET", "\(Self.project)/clusters/11111111-2222-4333-8444-555555555555/nodes").json()
        #expect(nodes.at("items")?.arrayValues.count == 2)
        let bad = #"{"clusters": [{"project": "p1", "name": "x", "spec": {"version": "v9"}}]}"#
        #expect(try server.request("POST", "/_mock/import", headers: Self.json, body: bad).status == 400)
    }

    @Test func aCreateInFlightWhenTheServerStopsCompletesAfterARestart() throws {
        let dir = TempDirectory()
        var id = ""
        do {
            let first = try TestServer(profile: .fast, database: dir.file("c.sqlite"))
            let created = try first.request("POST", "\(Self.project)/clusters", headers: Self.json, body: Self.clusterBody())
            id = try #require(try created.json().string("metadata.uid"))
            first.app.stop()
        }
        let second = try TestServer(profile: .fast, database: dir.file("c.sqlite"))
        #expect(try second.get("\(Self.project)/clusters/\(id)").json().string("status.phase") == "Creating")
        second.advance(ms: 200)
        #expect(try second.get("\(Self.project)/clusters/\(id)").json().string("status.phase") == "Available")
    }
}
