import AddonMockCore
import AddonMockTestSupport
import Dispatch
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

extension TestServer {
    func control(_ method: String, _ path: String, _ body: String? = nil) throws -> HTTPResult {
        try request(method, path, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Asserts a control-API 400 and returns its message.
    func controlError(
        _ method: String, _ path: String, _ body: String? = nil, status: Int = 400,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let r = try control(method, path, body)
        #expect(r.status == status, "\(r.text)", sourceLocation: sourceLocation)
        #expect(try r.json().string("error_code") == "MOCK.\(status)", sourceLocation: sourceLocation)
        return try r.json().string("error_msg") ?? ""
    }
}

/// The issue's acceptance scenario, on one server that is never restarted.
@Suite struct ControlPlaneScenarioTests {
    @Test func resetForceFailureRetryAdvanceInject429AndReadItAllBack() throws {
        let server = try TestServer(profile: .realistic)
        // Leftovers from an earlier test in the same server...
        _ = try server.request("POST", "/api/v3/addons", body: Bodies.install(template: "npd"))
        // ...are gone after a reset, and the server keeps serving.
        #expect(try server.control("POST", "/_mock/reset").json().at("deleted") == .number("1"))
        #expect(try server.get("/api/v3/addons?cluster_id=c1").json().at("items") == .array([]))

        // An install that is forced to fail.
        #expect(
            try server.control("POST", "/_mock/faults", #"{"match": {"template": "coredns"}, "outcome": "installFailed", "times": 1}"#).status == 201)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "installing")
        _ = try server.control("POST", "/_mock/clock", #"{"advanceSeconds": 12}"#)
        let failed = try server.get("/api/v3/addons/\(id)").json()
        #expect(failed.string("status.status") == "installFailed")
        #expect(failed.string("status.Reason") == "InstallFailed")
        #expect(failed.string("status.message") == "install of coredns failed (forced by fault rule fault-1)")

        // Retry: delete the failed instance and install again; the rule fired once and is spent.
        #expect(try server.request("DELETE", "/api/v3/addons/\(id)").status == 200)
        _ = try server.control("POST", "/_mock/clock", #"{"advanceSeconds": 5}"#)
        let retry = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        #expect(try server.get("/api/v3/addons/\(retry)").json().string("status.status") == "installing")
        _ = try server.control("POST", "/_mock/clock", #"{"advanceSeconds": 12}"#)
        #expect(try server.get("/api/v3/addons/\(retry)").json().string("status.status") == "running")

        // A 429 on the next two list calls.
        _ = try server.control("POST", "/_mock/faults", #"{"match": {"method": "GET", "route": "/api/v3/addons"}, "status": 429, "times": 2}"#)
        let statuses = try (0..<3).map { _ in try server.get("/api/v3/addons?cluster_id=c1") }
        #expect(statuses.map(\.status) == [429, 429, 200])
        #expect(try statuses[0].json().string("error_code") == "CCE.02429001")
        #expect(try statuses[0].json().string("errorCode") == "CCE.02429001")
        #expect(statuses[0].header("Retry-After") == "1")

        // All of it, read back from the journal.
        let throttled = try server.control("GET", "/_mock/requests?status=429").json()
        guard case .array(let limited)? = throttled.at("requests") else { Issue.record("no requests"); return }
        #expect(limited.count == 2)
        #expect(limited.allSatisfy { $0.string("fault") == "fault-2" && $0.string("route") == "/api/v3/addons" })
        #expect(limited.map { $0.string("requestId") } == statuses.prefix(2).map { $0.header("X-Request-Id") })
        let journal = try server.control("GET", "/_mock/requests?limit=1000").json()
        guard case .array(let all)? = journal.at("requests") else { Issue.record("no requests"); return }
        let installs = all.filter { $0.string("method") == "POST" && $0.string("path") == "/api/v3/addons" }
        #expect(installs.map { $0.at("resources") } == [.array([.string(id)]), .array([.string(retry)])])
        #expect(all.contains { $0.string("method") == "DELETE" && $0.at("status") == .number("200") })
        #expect(all.last?.at("status") == .number("200"), "the third list call")
        #expect(!all.contains { $0.string("service") == "control" }, "control calls are left out unless asked for")
        let rules = try server.control("GET", "/_mock/faults").json()
        #expect(rules.at("faults.0.remaining") == .number("0"), "the outcome rule fired once and is spent")
        #expect(rules.at("faults.0.fired") == .number("1"))
        #expect(rules.at("faults.1.remaining") == .number("0"))
        #expect(rules.at("faults.1.fired") == .number("2"))
    }
}

@Suite struct ClockControlTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    @Test func readsAdvancesPinsAndUnpins() throws {
        let c = try server.control("GET", "/_mock/clock").json()
        #expect(c.string("now") == "2026-11-22T10:00:00Z")
        #expect(c.at("pinned") == .bool(true))
        #expect(try server.control("POST", "/_mock/clock", #"{"advanceMs": 1500}"#).json().at("nowMs") == .number("1795341601500"))
        #expect(try server.control("POST", "/_mock/clock", #"{"advanceSeconds": 0.5}"#).json().string("now") == "2026-11-22T10:00:02Z")
        let pinned = try server.control("POST", "/_mock/clock", #"{"pin": "2030-01-01T00:00:00Z"}"#).json()
        #expect(pinned.string("now") == "2030-01-01T00:00:00Z")
        let unpinned = try server.control("POST", "/_mock/clock", #"{"unpin": true}"#).json()
        #expect(unpinned.at("pinned") == .bool(false))
        #expect(try #require(unpinned.at("nowMs")?.intValue) >= 1_893_456_000_000, "unpinning never goes back")
    }

    @Test func dueTransitionsApplyOnTheNextRead() throws {
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        _ = try server.control("POST", "/_mock/clock", #"{"advanceMs": 150}"#)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "running")
    }

    @Test(arguments: [
        ("{}", "nothing to do: give advanceSeconds, advanceMs, pin or unpin"),
        (#"{"advanceSeconds": -1}"#, "the clock only moves forward, by at most ten years at a time"),
        (#"{"advanceSeconds": 1, "advanceMs": 1}"#, "give advanceSeconds or advanceMs, not both"),
        (#"{"advanceSeconds": "5"}"#, "advanceSeconds must be a number, got string"),
        (
            #"{"pin": "2020-01-01T00:00:00Z"}"#,
            "cannot pin the clock at 2020-01-01T00:00:00Z: it is before now (2026-11-22T10:00:00Z) and time never goes backwards"
        ),
        (#"{"pin": "soon"}"#, "pin must be true or an RFC 3339 time, got \"soon\""),
        (#"{"pin": true, "unpin": true}"#, "give pin or unpin, not both"),
        (#"{"advance": 5}"#, "unknown field advance; expected one of: advanceMs, advanceSeconds, pin, unpin"),
    ])
    func refusesBadInput(body: String, message: String) throws {
        #expect(try server.controlError("POST", "/_mock/clock", body) == message)
        #expect(try server.control("GET", "/_mock/clock").json().string("now") == "2026-11-22T10:00:00Z", "nothing moved")
    }
}

@Suite struct ResetTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    func count(_ path: String) throws -> Int {
        guard case .array(let items)? = try server.get(path).json().at("items") else { return -1 }
        return items.count
    }

    @Test func scopedByClusterProjectOrPool() throws {
        for c in ["c1", "c2"] { _ = try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: c)) }
        _ = try server.request("POST", "/autopilot/v3/addons", body: Bodies.install(cluster: "c1"))
        for (project, pool) in [("p1", "a"), ("p1", "b"), ("p2", "a")] {
            _ = try server.request("POST", "/v2/\(project)/pools/\(pool)/plugins", body: PluginBodies.create("volcano"))
        }
        #expect(try server.control("POST", "/_mock/reset", #"{"cluster": "c1"}"#).json().at("deleted") == .number("2"))
        #expect(try count("/api/v3/addons?cluster_id=c2") == 1)
        #expect(try server.control("POST", "/_mock/reset", #"{"project": "p1", "pool": "a"}"#).json().at("deleted") == .number("1"))
        #expect(try count("/v2/p1/pools/b/plugins") == 1)
        #expect(try server.control("POST", "/_mock/reset", #"{"project": "p1"}"#).json().at("deleted") == .number("1"))
        #expect(try count("/v2/p2/pools/a/plugins") == 1)
        #expect(try server.control("POST", "/_mock/reset", #"{"service": "modelarts"}"#).json().at("deleted") == .number("1"))
        #expect(try count("/api/v3/addons?cluster_id=c2") == 1, "other services untouched")
    }

    @Test func clearsFaultsJournalAndClockUnlessKept() throws {
        _ = try server.control("POST", "/_mock/faults", #"{"status": 503, "match": {"service": "modelarts"}}"#)
        _ = try server.get("/api/v3/addontemplates")
        _ = try server.control("POST", "/_mock/clock", #"{"advanceSeconds": 30}"#)
        let kept = try server.control("POST", "/_mock/reset", #"{"keepFaults": true, "keepJournal": true, "keepClock": true}"#).json()
        #expect(kept.at("faultsCleared") == .number("0"))
        #expect(kept.at("clockReset") == .bool(false))
        #expect(try server.control("GET", "/_mock/faults").json().at("faults.0") != nil)
        #expect(try server.control("GET", "/_mock/requests").json().at("requests.0") != nil)
        #expect(try server.control("GET", "/_mock/clock").json().string("now") == "2026-11-22T10:00:30Z")

        let full = try server.control("POST", "/_mock/reset").json()
        #expect(full.at("faultsCleared") == .number("1"))
        #expect(full.at("journalCleared") == .bool(true))
        #expect(full.at("clockReset") == .bool(true))
        #expect(try server.control("GET", "/_mock/faults").json().at("faults") == .array([]))
        #expect(try server.control("GET", "/_mock/requests").json().at("requests") == .array([]))
        #expect(try server.control("GET", "/_mock/clock").json().at("pinned") == .bool(false), "back to real time")
    }

    @Test(arguments: [
        (#"{"cluster": "c1", "project": "p"}"#, "name a project or a cluster, not both"),
        (#"{"pool": "a"}"#, "pool needs project"),
        (
            #"{"service": "ecs"}"#,
            "service must be one of cluster, autopilotcluster, nodepool, cce, autopilot, addoncheck, job, pool, modelarts, order, got \"ecs\""
        ),
        (#"{"keepFaults": "yes"}"#, "keepFaults must be a boolean, got string"),
        (
            #"{"everything": true}"#,
            "unknown field everything; expected one of: cluster, keepClock, keepFaults, keepJournal, pool, project, reseed, service"
        ),
        ("[1]", "request body must be a JSON object, got array"),
    ])
    func refusesBadInputAndChangesNothing(body: String, message: String) throws {
        _ = try server.request("POST", "/api/v3/addons", body: Bodies.install())
        #expect(try server.controlError("POST", "/_mock/reset", body) == message)
        #expect(try count("/api/v3/addons?cluster_id=c1") == 1)
    }
}

@Suite struct ForcedStateTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .manual) }

    func install() throws -> String {
        try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
    }

    @Test func advanceRunsTheNextTransitionNow() throws {
        let id = try install()
        let advanced = try server.control("POST", "/_mock/resources/addons/\(id)/status", #"{"advance": true}"#).json()
        #expect(advanced.string("status") == "running")
        #expect(advanced.at("pending") == .null)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "running")
        #expect(
            try server.controlError("POST", "/_mock/resources/addons/\(id)/status", #"{"advance": true}"#, status: 409)
                == "addon \(id) is running: no operation is in flight to advance")
        #expect(try server.request("DELETE", "/api/v3/addons/\(id)").status == 200)
        let gone = try server.control("POST", "/_mock/resources/addons/\(id)/status", #"{"advance": true}"#).json()
        #expect(gone == .object([("id", .string(id)), ("deleted", .bool(true))]))
        #expect(try server.get("/api/v3/addons/\(id)").status == 404)
    }

    @Test func forcesASettledStatusWithReasonAndCancelsTheOperation() throws {
        let id = try install()
        let r = try server.control(
            "POST", "/_mock/resources/addons/\(id)/status", #"{"status": "abnormal", "reason": "NodeNotReady", "message": "2 of 3 nodes"}"#)
        #expect(r.status == 200)
        let shown = try server.get("/api/v3/addons/\(id)").json()
        #expect(shown.string("status.status") == "abnormal")
        #expect(shown.string("status.Reason") == "NodeNotReady")
        #expect(shown.string("status.message") == "2 of 3 nodes")
        #expect(try server.control("GET", "/_mock/resources/addons/\(id)").json().at("pending") == .null)
        // Rollback rules now see abnormal.
        #expect(try server.control("POST", "/_mock/resources/addons/\(id)/status", #"{"status": "available"}"#).json().string("reason") == "")
    }

    @Test func pluginsByIdWithModelArtsStatusNames() throws {
        _ = try server.request("POST", "/v2/p1/pools/a/plugins", body: PluginBodies.create("gpu-driver"))
        let listed = try server.control("GET", "/_mock/resources/plugins").json()
        let id = try #require(listed.string("items.0.id"))
        #expect(listed.string("items.0.project") == "p1")
        #expect(listed.string("items.0.pool") == "a")
        #expect(listed.string("items.0.status") == "Pending")
        #expect(listed.string("items.0.pending.operation") == "install")
        #expect(listed.at("items.0.pending.dueAt") == .null, "manual profile")
        _ = try server.control(
            "POST", "/_mock/resources/plugins/\(id)/status", #"{"status": "Abnormal", "reason": "DriverCrash", "message": "nvidia-smi failed"}"#)
        let plugin = try server.get("/v2/p1/pools/a/plugins/gpu-driver").json()
        #expect(plugin.string("status.phase") == "Abnormal")
        #expect(plugin.string("status.reason") == "DriverCrash: nvidia-smi failed")
        // An add-on id is not a plug-in, and the other way round.
        #expect(
            try server.controlError("POST", "/_mock/resources/addons/\(id)/status", #"{"status": "running"}"#, status: 404)
                == "no addon with id \(id)")
    }

    @Test(arguments: [
        (#"{}"#, "status is required (or advance: true)"),
        (
            #"{"status": "installing"}"#,
            "status must be a settled state: running, available, abnormal, unknown, installFailed, upgradeFailed, rollbackFailed, deleteFailed; got \"installing\""
        ),
        (#"{"status": "running", "advance": true}"#, "give status or advance, not both"),
        (#"{"status": "running", "colour": "red"}"#, "unknown field colour; expected one of: advance, message, reason, status"),
    ])
    func refusesBadInput(body: String, message: String) throws {
        let id = try install()
        #expect(try server.controlError("POST", "/_mock/resources/addons/\(id)/status", body) == message)
        #expect(try server.get("/api/v3/addons/\(id)").json().string("status.status") == "installing")
    }

    /// `limit` and `after` walk a kind a page at a time, in id order, each id once; `next` is null after the last.
    @Test func listingsPageWithLimitAndAfter() throws {
        var made: [String] = []
        for cluster in ["c1", "c2", "c3", "c4", "c5"] {
            made.append(
                try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: cluster)).json().string("metadata.uid")))
        }
        var seen: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let page = try server.control("GET", "/_mock/resources/addons?limit=2" + (after.map { "&after=\($0)" } ?? "")).json()
            let ids = page.at("items")?.arrayValues.compactMap { $0.string("id") } ?? []
            #expect(ids.count <= 2)
            seen += ids
            after = page.at("next")?.stringValue
            pages += 1
        } while after != nil && pages < 10
        #expect(seen == made.sorted(), "each once, in id order")
        #expect(pages == 3)
        #expect(try server.control("GET", "/_mock/resources/addons").json().at("next") == nil, "without limit or after: all, as before")
        #expect(try server.controlError("GET", "/_mock/resources/addons?limit=0") == "limit must be a whole number from 1 to 10000, got \"0\"")
        #expect(try server.control("GET", "/_mock/resources/addons?after=\(seen[3])").json().at("items")?.arrayValues.count == 1)
    }

    @Test func unknownKindOrId() throws {
        #expect(
            try server.controlError("GET", "/_mock/resources/pods", status: 404)
                == "unknown resource kind \"pods\": use clusters, nodepools, addons, addonchecks, jobs, pools, plugins or orders")
        #expect(
            try server.controlError("POST", "/_mock/resources/addons/nope/status", #"{"status":"running"}"#, status: 404) == "no addon with id nope")
    }
}

@Suite struct JournalTests {
    /// A hostile request head (up to 20 KiB) is not kept whole 11,000 times: paths and queries are cut at 2 KiB.
    @Test func longPathsAndQueriesAreCut() throws {
        let server = try TestServer(profile: .fast)
        let long = String(repeating: "a", count: 6000)
        _ = try server.get("/api/v3/\(long)?x=\(long)&y=1")
        guard case .array(let entries)? = try server.control("GET", "/_mock/requests").json().at("requests"), let entry = entries.last else {
            Issue.record("no journal entry")
            return
        }
        #expect(entry.string("path") == "/api/v3/" + String(repeating: "a", count: 2040) + "…")
        #expect(entry.string("query.x") == String(repeating: "a", count: 2047) + "…")
        #expect(entry.at("query.y") == nil, "pairs past the budget are dropped")
        let small = JournalEntry.bounded([("a", "1"), ("b", "2")])
        #expect(small.map(\.name) == ["a", "b"], "a query within the budget is kept as it is")
    }

    @Test func filtersAndBounds() throws {
        let server = try TestServer(profile: .fast)
        _ = try server.request("POST", "/api/v3/addons", body: Bodies.install())
        server.advance(ms: 5_000)
        _ = try server.get("/api/v3/addons/missing")
        _ = try server.get("/v2/p/pools/a/plugins")
        _ = try server.control("GET", "/_mock/clock")
        func paths(_ query: String) throws -> [String?] {
            guard case .array(let items)? = try server.control("GET", "/_mock/requests\(query)").json().at("requests") else { return [] }
            return items.map { $0.string("path") }
        }
        #expect(try paths("") == ["/api/v3/addons", "/api/v3/addons/missing", "/v2/p/pools/a/plugins"])
        #expect(try paths("?method=get") == ["/api/v3/addons/missing", "/v2/p/pools/a/plugins"])
        #expect(try paths("?path=/v2/") == ["/v2/p/pools/a/plugins"])
        #expect(try paths("?status=4xx") == ["/api/v3/addons/missing"])
        #expect(try paths("?status=404") == ["/api/v3/addons/missing"])
        #expect(try paths("?since=2026-11-22T10:00:05Z") == ["/api/v3/addons/missing", "/v2/p/pools/a/plugins"])
        #expect(try paths("?after=1") == ["/api/v3/addons/missing", "/v2/p/pools/a/plugins"])
        #expect(try paths("?limit=1") == ["/v2/p/pools/a/plugins"])
        #expect(try paths("?control=true").contains("/_mock/clock"))
        for bad in ["?status=4x", "?since=yesterday", "?limit=0", "?limit=5000", "?after=-1", "?control=maybe", "?colour=red"] {
            _ = try server.controlError("GET", "/_mock/requests\(bad)")
        }
    }

    /// Found by fuzzing: a repeated query name was written as a repeated key, which strict parsers refuse.
    @Test func aRepeatedQueryNameIsRecordedAsAnArray() throws {
        let server = try TestServer(profile: .fast)
        _ = try server.get("/api/v3/addons?cluster_id=c1&x=1&cluster_id=c2&x=%00")
        let r = try server.control("GET", "/_mock/requests")
        let query = try r.json().at("requests.0.query")
        #expect(
            query
                == .object([
                    ("cluster_id", .array([.string("c1"), .string("c2")])),
                    ("x", .array([.string("1"), .string("\u{0}")])),
                ]))
    }

    @Test func keepsOnlyTheNewestEntries() {
        let journal = Journal(capacity: 3)
        for i in 1...5 {
            journal.record { seq in
                JournalEntry(
                    sequence: seq, time: Instant(milliseconds: Int64(i)), method: "GET", path: "/\(i)", query: [], status: 200,
                    durationMs: 0, requestID: "r\(i)", service: "cce", route: nil, resources: [], fault: nil)
            }
        }
        #expect(journal.entries(.init()).map(\.path) == ["/3", "/4", "/5"])
        #expect(journal.entries(.init()).map(\.sequence) == [3, 4, 5])
        journal.clear()
        #expect(journal.entries(.init()).isEmpty)
    }
}

@Suite struct ConfigAndOpenAPITests {
    @Test func configShowsValuesAndWhereTheyCameFrom() throws {
        let config = try Configuration.resolve(
            CommandLineValues(port: "0", profile: "fast"),
            environment: ["ADDONMOCK_SEED": "42", "ADDONMOCK_PROFILE": "manual"])
        #expect(config.sources["port"] == "flag")
        #expect(config.sources["profile"] == "flag")
        #expect(config.sources["seed"] == "env ADDONMOCK_SEED")
        #expect(config.sources["db"] == "default")
        let server = try TestServer(profile: .fast)
        let body = try server.control("GET", "/_mock/config").json()
        #expect(body.string("listening") == server.app.baseURL)
        #expect(body.string("settings.profile.value") == "fast")
        #expect(body.string("settings.db.value") == ":memory:")
        #expect(body.at("settings.seed.value") == .number("1"))
    }

    /// Keeps the document honest: every route the server serves is described, with its method.
    @Test func everyServedRouteIsInTheOpenAPIDocument() throws {
        let server = try TestServer(profile: .fast)
        let doc = try server.control("GET", "/_mock/openapi.json").json()
        #expect(doc.string("openapi")?.hasPrefix("3.") == true)
        #expect(doc.string("servers.0.url") == server.app.baseURL)
        guard case .object(let paths)? = doc.at("paths") else { Issue.record("no paths"); return }
        var documented = Set<String>()
        for (path, item) in paths {
            guard case .object(let ops) = item else { continue }
            for (method, _) in ops { documented.insert("\(method.uppercased()) \(path)") }
        }
        let served = Set(server.app.dispatcher.routePatterns.map { "\($0.method) \($0.pattern)" })
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}

/// `--control-token`: the control plane is closed to whoever does not hold the token, health excepted.
@Suite struct ControlTokenTests {
    static let token = "s3cret-token-value"

    func server() throws -> TestServer {
        var c = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: 1,
            logLevel: "critical", seedWasRandom: false)
        c.controlToken = Self.token
        return try TestServer(configuration: c)
    }

    @Test func everyControlCallButHealthNeedsTheBearerToken() throws {
        let s = try server()
        #expect(try s.get("/_mock/health").status == 200)
        #expect(try s.request("HEAD", "/_mock/health").status == 200)
        for (method, path) in [
            ("POST", "/_mock/reset"), ("GET", "/_mock/config"), ("GET", "/_mock/requests"),
            ("GET", "/_mock/faults"), ("POST", "/_mock/clock"), ("GET", "/_mock/openapi.json"),
            ("GET", "/_mock/resources/addons"),
        ] {
            for header in [
                nil, "Bearer wrong-token-value", "Bearer \(Self.token)x", "Bearer \(Self.token.dropLast())",
                "Basic \(Self.token)", Self.token,
            ] {
                let r = try s.request(method, path, headers: header.map { [("Authorization", $0)] } ?? [])
                #expect(r.status == 401, "\(method) \(path) with \(header ?? "nothing")")
                #expect(try r.json().string("error_code") == "MOCK.401")
                #expect(r.header("WWW-Authenticate") == "Bearer")
            }
        }
        let allowed = try s.request("GET", "/_mock/config", headers: [("Authorization", "Bearer \(Self.token)")])
        #expect(allowed.status == 200)
        #expect(try allowed.json().string("settings.control-token.value") == "****", "the token is never shown")
        #expect(try s.request("POST", "/_mock/reset", headers: [("Authorization", "Bearer \(Self.token)")]).status == 200)
        // The emulated APIs follow --auth, not the control token.
        #expect(try s.get("/api/v3/addontemplates").status == 200)
    }

    @Test func aTokenMustBeWorthHaving() {
        for bad in ["short", "has space in it", ""] {
            #expect(throws: ConfigurationError.self) { try Configuration.resolve(CommandLineValues(controlToken: bad), environment: [:]) }
        }
        let c = try? Configuration.resolve(CommandLineValues(), environment: ["ADDONMOCK_CONTROL_TOKEN": Self.token])
        #expect(c?.controlToken == Self.token)
        #expect(c?.summary.contains(Self.token) == false)
    }

    @Test func comparisonLooksAtEveryByte() {
        let expected = Array("Bearer abcdefgh".utf8)
        #expect(ControlTokenCheck.constantTimeEquals(expected, expected))
        #expect(!ControlTokenCheck.constantTimeEquals(expected + Array(repeating: 0, count: 256), expected))
        #expect(!ControlTokenCheck.constantTimeEquals(Array(expected.dropLast()), expected))
        #expect(!ControlTokenCheck.constantTimeEquals([], expected))
    }
}

/// `POST /_mock/wait`: a state, not a duration. The clock is pinned, so nothing moves unless a test moves it: a wait
/// for a state not reached can only time out, and one reached answers at once.
@Suite struct WaitTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    func install() throws -> String {
        try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
    }

    @Test func aResourceReachesAStatusOrTheWaitTimesOutNamingWhereItIs() throws {
        let id = try install()
        let timedOut = try server.controlError("POST", "/_mock/wait", #"{"addon": "\#(id)", "status": "running", "timeoutMs": 50}"#, status: 408)
        #expect(timedOut == "waited 50 ms: addon \(id) is installing, not running")
        server.advance(ms: 150)
        let reached = try server.control("POST", "/_mock/wait", #"{"addon": "\#(id)", "status": "running"}"#)
        #expect(reached.status == 200)
        #expect(try reached.json().at("reached") == .bool(true))
        #expect(try reached.json().string("resource.status") == "running")
        #expect(try reached.json().string("resource.cluster") == "c1")
    }

    /// The answer is held on the connection (no worker waits) while the clock is moved by another request.
    @Test func aHeldWaitAnswersWhenTheClockMoves() throws {
        let id = try install()
        let answer = Locked<HTTPResult?>(nil)
        let port = server.port
        DispatchQueue.global().async {
            let r = try? RawHTTPConnection(port: port).send(
                "POST", "/_mock/wait", headers: [("Content-Type", "application/json")],
                body: Array(#"{"addon": "\#(id)", "status": "running", "timeoutMs": 60000}"#.utf8), close: true)
            answer.withLock { $0 = r }
            answer.broadcast()
        }
        // Whether the wait is already held or not, it can only answer 200 once the clock has moved.
        _ = try server.control("POST", "/_mock/clock", #"{"advanceMs": 200}"#)
        let r = answer.wait(until: { $0 != nil }, timeoutMicroseconds: 30_000_000) { $0 }
        #expect(r?.status == 200, "\(r?.text ?? "no answer")")
        #expect(try r?.json().string("resource.status") == "running")
    }

    @Test func goneAndSettledAndPluginsByName() throws {
        let id = try install()
        _ = try server.request("POST", "/v2/p/pools/a/plugins", body: PluginBodies.create("volcano"))
        let notSettled = try server.controlError("POST", "/_mock/wait", #"{"settled": true, "project": "p", "timeoutMs": 30}"#, status: 408)
        #expect(notSettled.hasPrefix("waited 30 ms: 1 still in flight, e.g. plugin "))
        #expect(notSettled.hasSuffix(" Pending"))
        server.advance(ms: 200)
        #expect(try server.control("POST", "/_mock/wait", #"{"settled": true}"#).json().at("inFlight") == .number("0"))
        let plugin = try server.control("POST", "/_mock/wait", #"{"plugin": {"project": "p", "pool": "a", "name": "volcano"}, "phase": "Running"}"#)
        #expect(try plugin.json().string("resource.pool") == "a")

        _ = try server.request("DELETE", "/api/v3/addons/\(id)")
        #expect(
            try server.controlError("POST", "/_mock/wait", #"{"addon": "\#(id)", "gone": true, "timeoutMs": 20}"#, status: 408)
                == "waited 20 ms: addon \(id) is deleting, not gone")
        server.advance(ms: 100)
        let gone = try server.control("POST", "/_mock/wait", #"{"addon": "\#(id)", "gone": true}"#).json()
        #expect(gone.at("resource") == .null)
    }

    @Test(arguments: [
        ("{}", "name one thing to wait for: cluster, nodepool, addon, addoncheck, job, pool, plugin, order or settled: true"),
        (#"{"addon": "x"}"#, "give the addon's status (or phase), or gone: true"),
        (
            #"{"addon": "x", "status": "flying"}"#,
            "addon status must be one of installing, upgrading, rollbacking, deleting, running, available, abnormal, unknown, installFailed, upgradeFailed, rollbackFailed, deleteFailed; got \"flying\""
        ),
        (#"{"settled": true, "status": "running"}"#, "status is for a resource; settled waits for nothing in flight"),
        (#"{"addon": "x", "gone": true, "timeoutMs": 0}"#, "timeoutMs must be a whole number from 1 to 600000"),
        (#"{"plugin": {"project": "p", "name": "v"}, "gone": true}"#, "plugin.pool is required"),
    ])
    func refusesWhatItCannotWaitFor(body: String, message: String) throws {
        #expect(try server.controlError("POST", "/_mock/wait", body) == message)
    }
}

/// `/_mock/ui`: the console page, with the registry's kinds written in (the browser test in Tests/UI drives it).
@Suite struct ConsolePageTests {
    @Test func servesThePageWithTheKindsAndRedirectsToIt() throws {
        let server = try TestServer(profile: .fast)
        let page = try server.get("/_mock/ui")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("Content-Security-Policy")?.contains("default-src 'self'") == true, "nothing is loaded from elsewhere")
        let line = try #require(page.text.split(separator: "\n").first { $0.hasPrefix("const KINDS = ") })
        let kinds = try JSONParser.parse(Array(line.dropFirst("const KINDS = ".count).dropLast().utf8))
        guard case .array(let list) = kinds else { Issue.record("no kinds"); return }
        #expect(
            list.compactMap { $0["name"]?.stringValue } == ["clusters", "nodepools", "addons", "addonchecks", "jobs", "pools", "plugins", "orders"])
        #expect(list[6]["settled"] == .array(["Running", "Abnormal"].map { .string($0) }), "each state once, as the service shows it")
        #expect(list[2]["deletePaths"]?["cce"] == .string("/api/v3/addons/{id}?cluster_id={cluster}"))
        #expect(list[3]["deletePaths"] == .object([]), "add-on checks have no delete route")
        #expect(list[1]["showPaths"]?["nodepool"] == .string("/api/v3/projects/{project}/clusters/{cluster}/nodepools/{id}"))
        #expect(list[1]["parent"] == .string("clusters"))
        let form = try #require(list[2]["create"])
        #expect(form["path"] == .string("/api/v3/addons"))
        guard case .array(let templates)? = form["templates"] else { Issue.record("no templates"); return }
        #expect(templates.contains { $0["name"] == .string("coredns") }, "the catalog's templates")
        #expect(list[6]["create"]?["path"] == .string("/v2/{project}/pools/{pool}/plugins"))
        for path in ["/", "/_mock/"] {
            let r = try server.get(path)
            #expect(r.status == 302)
            #expect(r.header("Location") == "/_mock/ui")
        }
        #expect(try server.get("/_mock").status == 404)
    }

    /// A catalog from --fixtures may hold any text: none of it can end the page's script.
    @Test func nothingWrittenIntoThePageClosesItsScript() {
        let page = String(decoding: ControlService.page(kinds: Array(#"[{"title":"</script><script>alert(1)</script>"}]"#.utf8)), as: UTF8.self)
        #expect(page.contains(#"[{"title":"\u003c/script>\u003cscript>alert(1)\u003c/script>"}]"#))
        #expect(page.components(separatedBy: "</script>").count == 2, "only the page's own closing tag")
    }
}
