import AddonMockCore
import AddonMockTestSupport
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

@Suite struct HTTPFaultTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    func addFault(_ body: String) throws -> JSONValue {
        let r = try server.control("POST", "/_mock/faults", body)
        #expect(r.status == 201, "\(r.text)")
        return try r.json()
    }

    @Test func statusInTheServicesOwnFormatWithCodeOverride() throws {
        _ = try addFault(#"{"match": {"service": "modelarts"}, "status": 503, "times": 1}"#)
        let ma = try server.get("/v2/p/pools/a/plugins")
        #expect(ma.status == 503)
        #expect(try ma.json() == .object([("error_code", .string("ModelArts.50005030")), ("error_msg", .string("injected fault fault-1: 503"))]))
        #expect(try server.get("/v2/p/pools/a/plugins").status == 200, "times: 1")

        _ = try addFault(#"{"match": {"route": "/api/v3/addons/{id}"}, "status": 500, "code": "CCE.01500002", "message": "etcd timeout"}"#)
        let cce = try server.get("/api/v3/addons/x")
        #expect(cce.status == 500)
        #expect(try cce.json().string("errorCode") == "CCE.01500002")
        #expect(try cce.json().string("error_msg") == "etcd timeout")
        #expect(try server.get("/api/v3/addons?cluster_id=c").status == 200, "another route")
    }

    @Test func matchesOnTemplateClusterAndProjectFromTheRequest() throws {
        _ = try addFault(#"{"match": {"template": "everest", "cluster": "c2"}, "status": 409}"#)
        #expect(try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: "c1", template: "everest")).status == 201)
        #expect(try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: "c2", template: "coredns")).status == 201)
        #expect(try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: "c2", template: "everest")).status == 409)
        _ = try addFault(#"{"match": {"project": "p9", "pool": "b"}, "status": 429}"#)
        #expect(try server.get("/v2/p9/pools/a/plugins").status == 200)
        #expect(try server.get("/v2/p9/pools/b/plugins").status == 429)
    }

    @Test func latencyFixedAndRanged() throws {
        _ = try addFault(#"{"match": {"route": "/api/v3/addontemplates"}, "latencyMs": 300, "times": 1}"#)
        var started = Date()
        #expect(try server.get("/api/v3/addontemplates").status == 200)
        #expect(Date().timeIntervalSince(started) >= 0.3)
        _ = try addFault(#"{"match": {"route": "/api/v3/addontemplates"}, "latencyMs": {"min": 100, "max": 200}, "status": 503, "times": 1}"#)
        started = Date()
        #expect(try server.get("/api/v3/addontemplates").status == 503)
        #expect(Date().timeIntervalSince(started) >= 0.1)
        let journal = try server.control("GET", "/_mock/requests?path=/api/v3/addontemplates").json()
        #expect(journal.at("requests.0.durationMs").flatMap { Double($0.numberText ?? "") }.map { $0 >= 300 } == true)
    }

    /// A latency rule and a status rule after it both apply: the answer is the status, delayed (the first rule that
    /// fired used to win, so a latency rule hid every status rule behind it).
    @Test func aDelayAndAnAnswerCompose() throws {
        _ = try addFault(#"{"match": {"service": "modelarts"}, "latencyMs": {"min": 100, "max": 150}}"#)
        _ = try addFault(#"{"match": {"service": "modelarts"}, "status": 503, "times": 1}"#)
        _ = try addFault(#"{"match": {"service": "modelarts"}, "status": 429}"#)
        #expect(try server.get("/v2/p/pools/a/plugins").status == 503)
        #expect(try server.get("/v2/p/pools/a/plugins").status == 429, "the 503 was once only; the next status rule answers")
        let journal = try server.control("GET", "/_mock/requests?path=/v2/").json()
        #expect(journal.string("requests.0.fault") == "fault-1,fault-2")
        #expect(journal.string("requests.1.fault") == "fault-1,fault-3")
        #expect(journal.at("requests.0.durationMs").flatMap { Double($0.numberText ?? "") }.map { $0 >= 100 } == true)
    }

    @Test func dropClosesTheConnectionWithoutAnAnswer() throws {
        _ = try addFault(#"{"match": {"method": "DELETE"}, "drop": true, "times": 1}"#)
        let conn = try RawHTTPConnection(port: server.port)
        #expect(throws: TestHTTPError.self) { try conn.send("DELETE", "/api/v3/addons/x") }
        let journal = try server.control("GET", "/_mock/requests?method=DELETE").json()
        #expect(journal.at("requests.0.status") == .number("0"))
        #expect(journal.string("requests.0.fault") == "fault-1")
        #expect(try server.request("DELETE", "/api/v3/addons/x").status == 404, "spent")
    }

    @Test func theControlAPIIsNeverFaulted() throws {
        _ = try addFault(#"{"status": 503}"#)
        #expect(try server.get("/api/v3/addontemplates").status == 503)
        #expect(try server.get("/_mock/health").status == 200)
        #expect(try server.control("DELETE", "/_mock/faults").json() == .object([("deleted", .number("1"))]))
        #expect(try server.get("/api/v3/addontemplates").status == 200)
    }

    @Test func listShowAndRemoveRules() throws {
        let rule = try addFault(#"{"match": {"method": "get", "service": "cce"}, "latencyMs": 5, "probability": 0.5}"#)
        #expect(rule.string("id") == "fault-1")
        #expect(rule.string("match.method") == "GET")
        #expect(rule.at("times") == .null)
        #expect(rule.at("probability") == .number("0.5"))
        #expect(try server.control("GET", "/_mock/faults/fault-1").json() == rule)
        #expect(try server.control("DELETE", "/_mock/faults/fault-1").json() == rule)
        #expect(try server.controlError("GET", "/_mock/faults/fault-1", status: 404) == "no fault rule fault-1")
        #expect(try server.controlError("DELETE", "/_mock/faults/fault-1", status: 404) == "no fault rule fault-1")
    }

    @Test(arguments: [
        ("{}", "a fault needs an effect: outcome, status, latencyMs or drop"),
        (#"{"status": 200}"#, "status must be a whole number from 400 to 599"),
        (#"{"status": 503, "drop": true}"#, "drop closes the connection: it cannot also answer with a status"),
        (#"{"code": "X"}"#, "code needs status"),
        (#"{"latencyMs": -5}"#, "latencyMs must be a whole number from 0 to 60000"),
        (#"{"latencyMs": {"min": 500, "max": 100}}"#, "latencyMs.min must not exceed latencyMs.max"),
        (#"{"latencyMs": "slow"}"#, "latencyMs must be a number or {\"min\":…,\"max\":…}, got string"),
        (#"{"status": 503, "probability": 0}"#, "probability must be more than 0 and at most 1, got 0.0"),
        (#"{"status": 503, "times": 0}"#, "times must be a whole number from 1 to 1000000"),
        (
            #"{"outcome": "exploded"}"#,
            "outcome must be Error, installFailed, upgradeFailed, rollbackFailed, deleteFailed, Failed, failed or abnormal, got \"exploded\""
        ),
        (#"{"outcome": "installFailed", "status": 500}"#, "status is for HTTP faults and cannot be combined with outcome (a lifecycle fault)"),
        (#"{"outcome": "installFailed", "match": {"operation": "delete"}}"#, "outcome installFailed cannot happen to a delete (match.operation)"),
        (#"{"status": 500, "match": {"operation": "delete"}}"#, "match.operation is for outcome rules; HTTP faults match on method and route"),
        (
            #"{"status": 500, "match": {"service": "ecs"}}"#,
            "match.service must be one of cluster, autopilotcluster, nodepool, cce, autopilot, addoncheck, job, pool, modelarts, order, got \"ecs\""
        ),
        (
            #"{"status": 500, "match": {"region": "x"}}"#,
            "unknown field match.region; expected one of: cluster, method, operation, pool, project, route, service, template"
        ),
        (
            #"{"status": 500, "after": 3}"#,
            "unknown field after; expected one of: code, drop, latencyMs, match, message, outcome, probability, reason, status, times"
        ),
    ])
    func refusesBadRules(body: String, message: String) throws {
        #expect(try server.controlError("POST", "/_mock/faults", body) == message)
        #expect(try server.control("GET", "/_mock/faults").json().at("faults") == .array([]))
    }
}

@Suite struct SeededProbabilityTests {
    /// Which of 40 list calls are refused by a 30 % rule, on a fresh server with `seed`.
    func pattern(seed: UInt64) throws -> [Int] {
        let config = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: seed,
            logLevel: "critical", seedWasRandom: false)
        let server = try TestServer(configuration: config)
        _ = try server.control("POST", "/_mock/faults", #"{"status": 503, "probability": 0.3}"#)
        return try (0..<40).map { _ in try server.get("/api/v3/addontemplates").status }
    }

    @Test func sameSeedSameFaults() throws {
        let a = try pattern(seed: 11)
        #expect(a == (try pattern(seed: 11)))
        let refused = a.filter { $0 == 503 }.count
        #expect((4...20).contains(refused), "about 30 % of 40, got \(refused)")
        #expect(a != (try pattern(seed: 12)))
    }
}

@Suite struct LifecycleOutcomeTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    @Test func outcomeRulesPerOperation() throws {
        _ = try server.control("POST", "/_mock/faults", #"{"outcome": "upgradeFailed", "reason": "ImagePullBackOff", "message": "image not found"}"#)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        server.advance(ms: 200)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "running", "installs are not upgrades")
        _ = try server.request("PUT", "/api/v3/addons/\(id)", body: Bodies.upgrade(version: "1.29.5"))
        server.advance(ms: 200)
        let failed = try server.get("/api/v3/addons/\(id)").json()
        #expect(failed.string("status.status") == "upgradeFailed")
        #expect(failed.string("status.Reason") == "ImagePullBackOff")
        #expect(failed.string("status.message") == "image not found")
        #expect(failed.at("status.isRollbackable") == .bool(true))
    }

    @Test func abnormalOnPluginsAndAddons() throws {
        _ = try server.control("POST", "/_mock/faults", #"{"match": {"service": "modelarts", "template": "volcano"}, "outcome": "abnormal"}"#)
        _ = try server.request("POST", "/v2/p/pools/a/plugins", body: PluginBodies.create("volcano"))
        server.advance(ms: 200)
        let plugin = try server.get("/v2/p/pools/a/plugins/volcano").json()
        #expect(plugin.string("status.phase") == "Abnormal")
        #expect(plugin.string("status.reason") == "Abnormal: install of volcano failed (forced by fault rule fault-1)")

        _ = try server.control("POST", "/_mock/faults", #"{"match": {"service": "cce"}, "outcome": "abnormal", "times": 1}"#)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        server.advance(ms: 200)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "abnormal")
    }

    @Test func perRequestHeader() throws {
        let headers = [("X-Addonmock-Outcome", "installFailed"), ("X-Addonmock-Reason", "QuotaExceeded")]
        let id = try #require(try server.request("POST", "/api/v3/addons", headers: headers, body: Bodies.install()).json().string("metadata.uid"))
        server.advance(ms: 200)
        let failed = try server.get("/api/v3/addons/\(id)").json()
        #expect(failed.string("status.status") == "installFailed")
        #expect(failed.string("status.Reason") == "QuotaExceeded")
        #expect(failed.string("status.message") == "install of coredns failed (forced by X-Addonmock-Outcome)")

        // "fail" fails whatever starts; "succeed" beats a rule.
        _ = try server.control("POST", "/_mock/faults", #"{"outcome": "deleteFailed"}"#)
        #expect(try server.request("DELETE", "/api/v3/addons/\(id)", headers: [("X-Addonmock-Outcome", "succeed")]).status == 200)
        server.advance(ms: 200)
        #expect(try server.get("/api/v3/addons/\(id)").status == 404)
        let other = try #require(
            try server.request(
                "POST", "/api/v3/addons", headers: [("X-Addonmock-Outcome", "fail")],
                body: Bodies.install(template: "npd")
            ).json().string("metadata.uid"))
        server.advance(ms: 200)
        #expect(try server.get("/api/v3/addons/\(other)").json().string("status.status") == "installFailed")

        let wrongOp = try server.request(
            "POST", "/api/v3/addons", headers: [("X-Addonmock-Outcome", "deleteFailed")], body: Bodies.install(template: "everest"))
        #expect(wrongOp.status == 400)
        #expect(try wrongOp.json().string("error_msg") == "X-Addonmock-Outcome deleteFailed does not apply to this request, which starts an install")
        let nonsense = try server.request(
            "POST", "/v2/p/pools/a/plugins", headers: [("X-Addonmock-Outcome", "maybe")], body: PluginBodies.create("volcano"))
        #expect(nonsense.status == 400)
        #expect(try nonsense.json().string("error_code") == "ModelArts.50004000")
        #expect(try server.get("/v2/p/pools/a/plugins/volcano").status == 404, "a refused request creates nothing")
    }

    /// Outcome rules see the route the request matched, as the docs write it, on every service (CCE used to see
    /// only its prefix, so a rule on `/api/v3/addons/{id}` never fired).
    @Test func outcomeRulesMatchTheRoutePattern() throws {
        _ = try server.control("POST", "/_mock/faults", #"{"match": {"route": "/api/v3/addons/{id}"}, "outcome": "deleteFailed"}"#)
        _ = try server.control(
            "POST", "/_mock/faults",
            #"{"match": {"route": "/v2/{project_id}/pools/{pool_name}/plugins/{template_name}", "pool": "b"}, "outcome": "abnormal"}"#)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        server.advance(ms: 200)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "running", "the install's route is /api/v3/addons")
        _ = try server.request("DELETE", "/api/v3/addons/\(id)")
        server.advance(ms: 200)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "deleteFailed")
        let rules = try server.control("GET", "/_mock/faults").json()
        #expect(rules.at("faults.0.fired") == .number("1"))

        for pool in ["a", "b"] {
            _ = try server.request("POST", "/v2/p/pools/\(pool)/plugins", body: PluginBodies.create("volcano"))
            server.advance(ms: 200)
            _ = try server.request("PATCH", "/v2/p/pools/\(pool)/plugins/volcano", body: #"{"spec": {"template": {"inputs": {"x": 1}}}}"#)
            server.advance(ms: 200)
        }
        #expect(try server.get("/v2/p/pools/a/plugins/volcano").json().string("status.phase") == "Running")
        #expect(try server.get("/v2/p/pools/b/plugins/volcano").json().string("status.phase") == "Abnormal")
    }

    /// A request that is refused (409) must not use up a once-only outcome rule meant for a real operation.
    @Test func refusedOperationsDoNotConsumeRules() throws {
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        _ = try server.control("POST", "/_mock/faults", #"{"outcome": "installFailed", "times": 1}"#)
        _ = try server.control("POST", "/_mock/faults", #"{"outcome": "deleteFailed", "times": 1}"#)
        #expect(try server.request("POST", "/api/v3/addons", body: Bodies.install()).status == 409)
        #expect(try server.request("DELETE", "/api/v3/addons/\(id)").status == 409, "still installing")
        let rules = try server.control("GET", "/_mock/faults").json()
        #expect(rules.at("faults.0.remaining") == .number("1"))
        #expect(rules.at("faults.1.remaining") == .number("1"))
    }
}

@Suite struct SeedFileTests {
    func seeded(_ seed: String, db: String = ":memory:") throws -> (TestServer, TempDirectory) {
        let dir = TempDirectory()
        try dir.write("seed.json", seed)
        return (try TestServer(profile: .fast, database: db, fixtures: dir.path), dir)
    }

    static let demo = """
        {"addons": [{"cluster": "demo", "template": "coredns", "version": "1.28.4", "values": {"basic": {"cluster_ip": "10.247.3.53"}}},
                    {"cluster": "demo", "template": "everest", "status": "abnormal", "reason": "CSIDown", "message": "csi driver crashloop"},
                    {"service": "autopilot", "cluster": "ap", "template": "npd", "status": "installing"}],
         "plugins": [{"project": "p1", "pool": "gpu-pool", "template": "gpu-driver", "status": "Running"},
                     {"project": "p1", "pool": "gpu-pool", "template": "volcano", "status": "Pending"}]}
        """

    @Test func createsTheDemoStateAtStartUp() throws {
        let (server, _) = try seeded(Self.demo)
        let addons = try server.get("/api/v3/addons?cluster_id=demo").json()
        #expect(addons.string("items.0.spec.version") == "1.28.4")
        #expect(addons.string("items.0.status.status") == "running")
        #expect(addons.string("items.0.spec.values.basic.cluster_ip") == "10.247.3.53")
        #expect(addons.string("items.0.spec.values.basic.swr_user") == "hwofficial")
        #expect(addons.string("items.1.status.status") == "abnormal")
        #expect(addons.string("items.1.status.Reason") == "CSIDown")
        #expect(try server.get("/autopilot/v3/addons?cluster_id=ap").json().string("items.0.status.status") == "installing")
        let plugins = try server.get("/v2/p1/pools/gpu-pool/plugins").json()
        #expect(plugins.string("items.0.status.phase") == "Running")
        #expect(plugins.string("items.1.status.phase") == "Pending")
        server.advance(ms: 200)
        #expect(try server.get("/v2/p1/pools/gpu-pool/plugins/volcano").json().string("status.phase") == "Running")
    }

    @Test func neverDuplicatesOrOverwritesAndComesBackAfterAFullReset() throws {
        let dir = TempDirectory()
        try dir.write("seed.json", Self.demo)
        let db = dir.file("seeded.sqlite")
        var server: TestServer? = try TestServer(profile: .fast, database: db, fixtures: dir.path)
        let everest = try #require(try server!.get("/api/v3/addons?cluster_id=demo").json().string("items.1.metadata.uid"))
        _ = try server!.control("POST", "/_mock/resources/addons/\(everest)/status", #"{"status": "running"}"#)
        server = nil
        server = try TestServer(profile: .fast, database: db, fixtures: dir.path)
        let again = try server!.get("/api/v3/addons?cluster_id=demo").json()
        guard case .array(let items)? = again.at("items") else { Issue.record("no items"); return }
        #expect(items.count == 2, "not duplicated by a restart")
        #expect(again.string("items.1.status.status") == "running", "not overwritten")

        #expect(try server!.control("POST", "/_mock/reset", #"{"reseed": false}"#).json().at("reseeded") == .number("0"))
        #expect(try server!.get("/api/v3/addons?cluster_id=demo").json().at("items") == .array([]))
        #expect(try server!.control("POST", "/_mock/reset").json().at("reseeded") == .number("5"))
        #expect(try server!.get("/api/v3/addons?cluster_id=demo").json().string("items.1.status.status") == "abnormal")
        #expect(
            try server!.control("POST", "/_mock/reset", #"{"cluster": "demo"}"#).json().at("reseeded") == .number("0"), "scoped resets do not reseed")
    }

    @Test(arguments: [
        (#"{"addons": [{"cluster": "c", "template": "nosuch"}]}"#, "seed.json: addons[0]: addon template \"nosuch\" not found"),
        (
            #"{"addons": [{"cluster": "c", "template": "coredns"}, {"cluster": "c", "template": "npd", "version": "9"}]}"#,
            "seed.json: addons[1]: version \"9\" of addon template \"npd\" does not exist; available versions: 1.13.5, 1.18.14, 1.19.1, 1.19.7"
        ),
        (#"{"addons": [{"template": "coredns"}]}"#, "seed.json: addons[0].cluster is required"),
        (
            #"{"plugins": [{"project": "p", "pool": "a", "template": "volcano", "status": "upgrading"}]}"#,
            "seed.json: plugins[0].status must be installing (Pending), or a settled state (running, available, abnormal, unknown, installFailed, upgradeFailed, rollbackFailed, deleteFailed, Running, Abnormal); got \"upgrading\""
        ),
        (#"{"addons": {}}"#, "seed.json: addons must be an array"),
        (#"{"pods": []}"#, "seed.json: unknown field pods; expected one of: addons, clusters, nodepools, plugins, pools, settings"),
        ("{", "seed.json is not valid JSON: malformed JSON at byte 1: expected a string key"),
        ("[]", "seed.json: must be a JSON object, got array"),
    ])
    func brokenSeedStopsStartUpNamingTheProblem(seed: String, message: String) throws {
        let dir = TempDirectory()
        try dir.write("seed.json", seed)
        do {
            _ = try TestServer(profile: .fast, fixtures: dir.path)
            Issue.record("started with a broken seed file")
        } catch let e as StartupError {
            #expect(e.message.hasSuffix(message), "got \(e.message)")
        }
    }
}
