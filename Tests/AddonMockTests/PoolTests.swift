import AddonMockCore
import AddonMockTestSupport
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import ModelArtsPlugins

/// ModelArts resource pools, their nodes and orders, and plug-ins inside them, against a real server on an ephemeral
/// port, the clock moved by hand (`fast`: each step is due 100 ms after it starts).
@Suite struct PoolTests {
    let server: TestServer
    static let pools = "/v2/p1/pools"
    static let json = [("Content-Type", "application/json")]
    static let gpu = "modelarts.vm.gpu.pnt004"

    init() throws { server = try TestServer(profile: .fast) }

    static func poolBody(name: String = "gpu-pool", count: Int = 2, extraLabels: String = "") -> String {
        #"{"apiVersion": "v2", "kind": "Pool", "metadata": {"labels": {"os.modelarts/name": "\#(name)", "os.modelarts/workspace.id": "0"\#(extraLabels)}, "annotations": {"os.modelarts/description": "demo"}}, "spec": {"type": "Dedicate", "scope": ["Train", "Infer"], "resources": [{"flavor": "\#(gpu)", "count": \#(count)}], "network": {"name": "net-1"}, "driver": {"gpuVersion": "535.54.03"}}}"#
    }

    static let plugin = #"{"apiVersion": "v2", "kind": "Plugin", "spec": {"template": {"name": "gpu-driver"}}}"#

    func call(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)] = json) throws -> HTTPResult {
        try server.request(method, path, headers: body == nil ? [] : headers, body: body)
    }

    static func label(_ pool: JSONValue, _ key: String) -> String? { pool.at("metadata.labels")?[key]?.stringValue }

    /// A pool created and settled: its name.
    func runningPool(name: String = "gpu-pool", count: Int = 2) throws -> String {
        let created = try call("POST", Self.pools, Self.poolBody(name: name, count: count))
        #expect(created.status == 200, "create answered \(created.status): \(created.text)")
        server.advance(ms: 200)
        return try #require(try created.json().string("metadata.name"))
    }

    func nodes(_ pool: String) throws -> [JSONValue] {
        try call("GET", "\(Self.pools)/\(pool)/nodes").json().at("items")?.arrayValues ?? []
    }

    /// The flow terraform's huaweicloud_modelarts_resource_pool drives: the order, its node names, the nodes'
    /// drivers, the scope states.
    @Test func aPoolComesUpThroughItsOrderNodesAndScopes() throws {
        let created = try call("POST", Self.pools, Self.poolBody())
        #expect(created.status == 200)
        let pool = try created.json()
        let name = try #require(pool.string("metadata.name"))
        #expect(name.hasPrefix("pool-") && pool.string("status.phase") == "Creating")
        let orderName = try #require(Self.label(pool, "os.modelarts/order.name"))
        #expect(Self.label(pool, "os.modelarts/name") == "gpu-pool" && Self.label(pool, "os.modelarts/tenant.project.id") == "p1")
        #expect(pool.at("status.scope")?.arrayValues.map { $0.string("state") } == ["Creating", "Creating"])
        #expect(pool.string("status.resources.creating.flavor") == Self.gpu && pool.at("status.resources.creating.count") == .number("2"))

        let listed = try call("GET", "/v1/p1/orders?limit=500&involvedName=\(name)&since=0&offset=0").json()
        #expect(listed.at("items")?.arrayValues.map { $0.string("orderName") } == [orderName])
        #expect(listed.string("items.0.phase") == "processing")
        #expect(try nodes(name).map { $0.string("status.driver.phase") } == ["Pending", "Pending"])

        server.advance(ms: 200)
        #expect(try call("GET", "/v1/p1/orders?involvedName=\(name)").json().string("items.0.phase") == "successed")
        let detail = try call("GET", "/v1/p1/orders/\(orderName)").json()
        let items = detail.at("items")?.arrayValues ?? []
        #expect(items.count == 3 && items.allSatisfy { $0.string("status") == "succeed" } && items[0].string("resourceName") == name)
        let nodes = try nodes(name)
        #expect(nodes.map { $0.string("metadata.name") } == Array(items.dropFirst()).map { $0.string("resourceName") }, "the order names its nodes")
        #expect(nodes.allSatisfy { $0.string("status.driver.phase") == "Running" && $0.string("status.phase") == "Available" })
        #expect(nodes.allSatisfy { $0.at("metadata.labels")?["os.modelarts.node/underlying.instance.id"]?.stringValue != nil })
        let node = try #require(nodes.first?.string("metadata.name"))
        #expect(try call("GET", "\(Self.pools)/\(name)/nodes/\(node)").json().string("spec.flavor") == Self.gpu)

        let running = try call("GET", "\(Self.pools)/\(name)").json()
        #expect(running.string("status.phase") == "Running")
        #expect(running.at("status.scope")?.arrayValues.map { $0.string("state") } == ["Enabled", "Enabled"])
        #expect(running.at("status.resources.available.count") == .number("2") && running.at("status.resources.creating") == nil)
        #expect(running.string("metadata.annotations.os.modelarts/description") == nil, "a label key holds dots: read it whole")
        #expect(running.at("metadata.annotations")?["os.modelarts/description"]?.stringValue == "demo")
    }

    @Test func listsFilterByWorkspaceLabelsAndStatus() throws {
        let a = try runningPool(name: "pool-one")
        _ = try call("POST", Self.pools, Self.poolBody(name: "pool-two", extraLabels: #", "team": "ml""#))
        let names = { (query: String) in
            try call("GET", "\(Self.pools)\(query)").json().at("items")?.arrayValues.compactMap { $0.string("metadata.name") } ?? []
        }
        #expect(try names("").count == 2)
        #expect(try names("?status=Running") == [a] && names("?status=created") == [a])
        #expect(try names("?labelSelector=team%3Dml").count == 1 && names("?labelSelector=team%21%3Dml") == [a])
        #expect(try names("?workspaceId=0").count == 2 && names("?workspaceId=ws-9").isEmpty)
        #expect(try call("GET", "/v2/p2/pools").json().at("items")?.arrayValues.count == 0, "another project's")
        let missing = try call("GET", "/v2/p2/pools/\(a)")
        #expect(try missing.status == 404 && missing.json().string("error_code") == "ModelArts.50015001")
    }

    @Test(arguments: [
        (
            #"{"apiVersion": "v2", "kind": "Pool", "metadata": {"labels": {}}, "spec": {"resources": [{"flavor": "f", "count": 1}]}}"#,
            "metadata.labels.os.modelarts/name is required"
        ),
        (
            PoolTests.poolBody(name: "Bad_Name"),
            "metadata.labels.os.modelarts/name must be 4 to 64 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, got \"Bad_Name\""
        ),
        (
            #"{"apiVersion": "v2", "kind": "Pool", "metadata": {"labels": {"os.modelarts/name": "abcd"}}, "spec": {}}"#,
            "spec.resources is required: a pool needs at least one flavor and its node count"
        ),
        (
            #"{"apiVersion": "v2", "kind": "Pool", "metadata": {"labels": {"os.modelarts/name": "abcd"}}, "spec": {"resources": [{"flavor": "f", "count": 501}]}}"#,
            "spec.resources[0].count must be a whole number from 0 to 500"
        ),
        (
            #"{"apiVersion": "v2", "kind": "Pool", "metadata": {"labels": {"os.modelarts/name": "abcd"}}, "spec": {"scope": ["Play"], "resources": [{"flavor": "f", "count": 1}]}}"#,
            "spec.scope must hold only Train, Infer, Notebook, got \"Play\""
        ),
        (
            #"{"apiVersion": "v1", "kind": "Pool", "metadata": {}}"#,
            "apiVersion must be \"v2\" and kind \"Pool\", got apiVersion \"v1\" and kind \"Pool\""
        ),
    ])
    func badCreatesAre400sInModelArtsFormat(body: String, message: String) throws {
        let r = try call("POST", Self.pools, body)
        #expect(r.status == 400)
        #expect(try r.json().string("error_msg") == message && r.json().string("error_code") == "ModelArts.50004000")
        #expect(try call("GET", Self.pools).json().at("items")?.arrayValues.count == 0)
    }

    @Test func aSecondPoolOfTheSameNameIsAConflict() throws {
        _ = try runningPool()
        let again = try call("POST", Self.pools, Self.poolBody())
        #expect(try again.status == 409 && again.json().string("error_code") == "ModelArts.50004090")
    }

    @Test func scalingMovesTheCountsUnderANewOrder() throws {
        let name = try runningPool()
        let before = try nodes(name).compactMap { $0.string("metadata.name") }
        let grow = #"{"spec": {"resources": [{"flavor": "\#(Self.gpu)", "count": 4}]}}"#
        let scaled = try call("PATCH", "\(Self.pools)/\(name)", grow, headers: [("Content-Type", "application/merge-patch+json")]).json()
        #expect(scaled.string("status.phase") == "Running", "a scaling pool shows Running")
        #expect(scaled.at("status.resources.creating.count") == .number("2") && scaled.at("status.resources.available.count") == .number("2"))
        #expect(scaled.at("spec.resources.0.count") == .number("4"))
        let order = try #require(Self.label(scaled, "os.modelarts/order.name"))
        #expect(order.contains("-scale-"))
        #expect(try call("GET", "/v1/p1/orders/\(order)").json().at("items")?.arrayValues.map { $0.string("action") } == ["create", "create"])
        #expect(try nodes(name).filter { $0.string("status.phase") == "Creating" }.count == 2)
        server.advance(ms: 200)
        let grown = try nodes(name).compactMap { $0.string("metadata.name") }
        #expect(grown.count == 4 && Array(grown.prefix(2)) == before, "existing nodes keep their names")

        let shrink = #"{"spec": {"resources": [{"flavor": "\#(Self.gpu)", "count": 1}]}}"#
        _ = try call("PATCH", "\(Self.pools)/\(name)", shrink, headers: [("Content-Type", "application/merge-patch+json")])
        #expect(try nodes(name).filter { $0.string("status.phase") == "Deleting" }.count == 3)
        server.advance(ms: 200)
        #expect(try nodes(name).compactMap { $0.string("metadata.name") } == [before[0]], "the newest go first")

        // Labels and annotations change at once, with no order.
        let relabel = #"{"metadata": {"annotations": {"os.modelarts/description": "renamed"}, "labels": {"team": "ml"}}}"#
        let relabeled = try call("PATCH", "\(Self.pools)/\(name)", relabel, headers: [("Content-Type", "application/merge-patch+json")]).json()
        #expect(relabeled.at("metadata.annotations")?["os.modelarts/description"]?.stringValue == "renamed")
        #expect(Self.label(relabeled, "team") == "ml" && Self.label(relabeled, "os.modelarts/order.name")?.contains("-scale-") == true)
        let reserved = try call("PATCH", "\(Self.pools)/\(name)", #"{"metadata": {"labels": {"os.modelarts/resource.id": "x"}}}"#)
        #expect(reserved.status == 400)
    }

    @Test func nodesAreDeletedAndResizedInBatches() throws {
        let name = try runningPool(count: 3)
        let names = try nodes(name).compactMap { $0.string("metadata.name") }
        let deleted = try call("POST", "\(Self.pools)/\(name)/nodes/batch-delete", #"{"deleteNodeNames": ["\#(names[1])"]}"#)
        #expect(deleted.status == 200)
        let deleteOrder = try #require(try deleted.json().string("orderName"))
        #expect(try call("GET", "\(Self.pools)/\(name)/nodes/\(names[1])").json().string("status.phase") == "Deleting")
        let busy = try call("POST", "\(Self.pools)/\(name)/nodes/batch-delete", #"{"deleteNodeNames": ["\#(names[0])"]}"#)
        #expect(busy.status == 409, "one operation at a time")
        server.advance(ms: 200)
        #expect(try nodes(name).compactMap { $0.string("metadata.name") } == [names[0], names[2]])
        #expect(try call("GET", "\(Self.pools)/\(name)").json().at("spec.resources.0.count") == .number("2"))
        #expect(try call("GET", "/v1/p1/orders/\(deleteOrder)").json().string("items.0.status") == "succeed")

        let resize =
            #"{"nodes": [{"batchUID": "b1", "deleteNodeNames": ["\#(names[0])"]}], "source": {"flavor": "\#(Self.gpu)"}, "target": {"flavor": "modelarts.vm.gpu.pnt008"}}"#
        let resized = try call("POST", "\(Self.pools)/\(name)/nodes/batch-resize", resize)
        #expect(resized.status == 200)
        #expect(try nodes(name).first?.string("status.driver.phase") == "Updating")
        server.advance(ms: 200)
        #expect(try call("GET", "\(Self.pools)/\(name)/nodes/\(names[0])").json().string("spec.flavor") == "modelarts.vm.gpu.pnt008")
        let resources = try call("GET", "\(Self.pools)/\(name)").json().at("spec.resources")?.arrayValues ?? []
        #expect(resources.map { $0.string("flavor") } == [Self.gpu, "modelarts.vm.gpu.pnt008"])
        #expect(resources.map { $0.at("count") } == [JSONValue.number("1"), JSONValue.number("1")])
        #expect(try call("POST", "\(Self.pools)/\(name)/nodes/batch-delete", #"{"deleteNodeNames": ["nope"]}"#).status == 404)
    }

    @Test func aFailedCreateFailsItsOrderAndAnAbnormalScaleHalfSucceeds() throws {
        let failed = try call("POST", Self.pools, Self.poolBody(name: "doomed"), headers: Self.json + [("X-Addonmock-Outcome", "fail")]).json()
        server.advance(ms: 200)
        let doomed = try #require(failed.string("metadata.name"))
        #expect(try call("GET", "\(Self.pools)/\(doomed)").json().string("status.phase") == "Error")
        #expect(try call("GET", "/v1/p1/orders?involvedName=\(doomed)").json().string("items.0.phase") == "failed")
        #expect(try nodes(doomed).allSatisfy { $0.string("status.driver.phase") == "Abnormal" })

        let name = try runningPool()
        let grow = #"{"spec": {"resources": [{"flavor": "\#(Self.gpu)", "count": 4}]}}"#
        let scaled = try call("PATCH", "\(Self.pools)/\(name)", grow, headers: Self.json + [("X-Addonmock-Outcome", "abnormal")]).json()
        server.advance(ms: 200)
        let order = try #require(try call("GET", "/v1/p1/orders?involvedName=\(name)").json().at("items.0"))
        #expect(order.string("orderName") == Self.label(scaled, "os.modelarts/order.name") && order.string("phase") == "partialSuccessed")
        #expect(try nodes(name).map { $0.string("status.phase") } == ["Available", "Available", "Available", "Abnormal"])
        let pool = try call("GET", "\(Self.pools)/\(name)").json()
        #expect(pool.string("status.phase") == "Abnormal" && pool.at("status.resources.abnormal.count") == .number("1"))
        // The next operation writes the order down as it ended.
        _ = try call("DELETE", "\(Self.pools)/\(name)")
        #expect(try call("GET", "/v1/p1/orders?involvedName=\(name)").json().string("items.1.phase") == "partialSuccessed")
    }

    /// Plug-ins live in pools: any pool name serves by default, an emulated pool must be Running, deleting it
    /// deletes its plug-ins (each with a `deleted` event); under strict parents the pool must exist.
    @Test func pluginsLiveInPools() throws {
        #expect(try call("POST", "/v2/p1/pools/any-pool/plugins", Self.plugin).status == 200, "lenient by default")
        let creating = try call("POST", Self.pools, Self.poolBody()).json()
        let name = try #require(creating.string("metadata.name"))
        let early = try call("POST", "\(Self.pools)/\(name)/plugins", Self.plugin)
        #expect(early.status == 400)
        #expect(try early.json().string("error_msg") == "pool \(name) is Creating: plug-ins can be installed only in a Running pool")
        server.advance(ms: 200)
        #expect(try call("POST", "\(Self.pools)/\(name)/plugins", Self.plugin).status == 200)
        server.advance(ms: 200)
        #expect(try call("DELETE", "\(Self.pools)/\(name)").status == 200)
        server.advance(ms: 200)
        #expect(try call("GET", "\(Self.pools)/\(name)").status == 404)
        #expect(try call("GET", "\(Self.pools)/\(name)/plugins").json().at("items")?.arrayValues.count == 0)
        #expect(try call("GET", "/v2/p1/pools/any-pool/plugins").json().at("items")?.arrayValues.count == 1, "another pool's stays")
        let deleted = try server.get("/_mock/events?types=deleted&after=0&holdMs=0").text
        #expect(deleted.contains(#""kind":"plugins""#) && deleted.contains(#""kind":"pools""#))

        var configuration = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: 1, logLevel: "critical", seedWasRandom: false)
        configuration.parents = .strict
        let strict = try TestServer(configuration: configuration)
        let refused = try strict.request("POST", "/v2/p1/pools/any-pool/plugins", headers: Self.json, body: Self.plugin)
        #expect(refused.status == 404)
        #expect(try refused.json().string("error_code") == "ModelArts.50015001")
        #expect(try strict.get("/v2/p1/pools/any-pool/plugins").status == 404)
    }

    @Test func namesAreTheSameUnderTheSameSeed() throws {
        func world(seed: UInt64) throws -> [String] {
            let s = try TestServer(
                configuration: Configuration(
                    host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: seed, logLevel: "critical",
                    seedWasRandom: false))
            let pool = try #require(try s.request("POST", Self.pools, headers: Self.json, body: Self.poolBody()).json().string("metadata.name"))
            let nodes = try s.get("\(Self.pools)/\(pool)/nodes").json().at("items")?.arrayValues ?? []
            return [pool] + nodes.flatMap { [$0.string("metadata.name") ?? "", $0.string("status.privateIp") ?? ""] }
        }
        #expect(try world(seed: 5) == world(seed: 5))
        #expect(try world(seed: 5) != world(seed: 6))
    }

    @Test func nodesPageWithLimitAndContinue() throws {
        let name = try runningPool(count: 5)
        let first = try call("GET", "\(Self.pools)/\(name)/nodes?limit=2").json()
        #expect(first.at("items")?.arrayValues.count == 2 && first.at("metadata.remainingItemCount") == .number("3"))
        let token = try #require(first.string("metadata.continue"))
        let rest = try call("GET", "\(Self.pools)/\(name)/nodes?limit=10&continue=\(token)").json()
        #expect(rest.at("items")?.arrayValues.count == 3 && rest.string("metadata.continue") == "")
        #expect(try call("GET", "\(Self.pools)/\(name)/nodes?continue=x").status == 400)
    }

    @Test func seededAndImportedPoolsComeWithTheirNodes() throws {
        let world = #"""
            {"pools": [{"project": "p1", "name": "pool-seeded", "status": "Running",
                        "spec": {"resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 3}]},
                        "detail": {"labels": {"os.modelarts/name": "seeded"}}}],
             "plugins": [{"project": "p1", "pool": "pool-seeded", "template": "gpu-driver"}]}
            """#
        #expect(try server.request("POST", "/_mock/import", headers: Self.json, body: world).json().at("created") == .number("2"))
        let pool = try call("GET", "\(Self.pools)/pool-seeded").json()
        #expect(pool.string("status.phase") == "Running" && pool.at("spec.scope")?.arrayValues.count == 3, "completed as a create completes it")
        #expect(try nodes("pool-seeded").count == 3)
        let exported = try server.get("/_mock/export").json()
        #expect(exported.at("pools")?.arrayValues.count == 1 && exported.at("orders") == nil, "orders are derived, not exported")
        let bad = #"{"pools": [{"project": "p1", "name": "x", "spec": {"resources": [{"flavor": "f"}]}}]}"#
        #expect(try server.request("POST", "/_mock/import", headers: Self.json, body: bad).status == 400)
    }

    @Test func aCreateInFlightWhenTheServerStopsCompletesAfterARestart() throws {
        let dir = TempDirectory()
        var name = ""
        do {
            let first = try TestServer(profile: .fast, database: dir.file("p.sqlite"))
            let created = try first.request("POST", Self.pools, headers: Self.json, body: Self.poolBody())
            name = try #require(try created.json().string("metadata.name"))
            first.app.stop()
        }
        let second = try TestServer(profile: .fast, database: dir.file("p.sqlite"))
        #expect(try second.get("\(Self.pools)/\(name)").json().string("status.phase") == "Creating")
        second.advance(ms: 200)
        #expect(try second.get("\(Self.pools)/\(name)").json().string("status.phase") == "Running")
        #expect(try second.get("/v1/p1/orders?involvedName=\(name)").json().string("items.0.phase") == "successed")
    }

    @Test func waitsReachAPoolsPhase() throws {
        let created = try call("POST", Self.pools, Self.poolBody()).json()
        let name = try #require(created.string("metadata.name"))
        let id = try #require(Self.label(created, "os.modelarts/resource.id"))
        server.advance(ms: 200)
        let wait = { (body: String) in try server.request("POST", "/_mock/wait", headers: Self.json, body: body) }
        let reached = try wait(#"{"pool": "\#(id)", "phase": "Running"}"#).json()
        #expect(reached.at("reached") == .bool(true) && reached.string("resource.kind") == "pools" && reached.string("resource.name") == name)
        #expect(try wait(#"{"settled": true, "project": "p1", "pool": "\#(name)"}"#).json().at("reached") == .bool(true), "the plug-ins' scope")
        #expect(try wait(#"{"pool": "\#(id)", "phase": "Error", "timeoutMs": 20}"#).status == 408)
    }
}
