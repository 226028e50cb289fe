import AddonMockCore
import AddonMockTestSupport
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

#if canImport(Glibc)
import Glibc
#endif

/// A web page the developer visits can neither reach the server through a name of its own (DNS rebinding) nor make
/// the browser change it (cross-site requests); the console and every real client keep working.
@Suite struct LocalSafetyTests {
    static func server(host: String = "127.0.0.1", allowedHosts: [String]? = nil, cors: [String]? = nil, token: String? = nil) throws -> TestServer {
        var c = Configuration(
            host: host, port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: 1, logLevel: "critical", seedWasRandom: false)
        c.allowedHosts = allowedHosts
        c.corsOrigins = cors
        c.controlToken = token
        return try TestServer(configuration: c)
    }

    @Test func boundToLoopbackOnlyLocalHostsAreServed() throws {
        let s = try Self.server()
        let port = s.port
        for host in ["localhost", "localhost:\(port)", "c1.localhost:\(port)", "127.0.0.1:\(port)", "127.1.2.3", "[::1]:\(port)", "LOCALHOST."] {
            #expect(try s.get("/_mock/health", headers: [("Host", host)]).status == 200, "\(host)")
        }
        // What a rebinding page sends, on every kind of route: a 403 in that route's own format, naming the flag.
        for (path, code) in [
            ("/_mock/export", "MOCK.403"), ("/_mock/ui", "MOCK.403"), ("/api/v3/addons?cluster_id=c1", "CCE.03403001"),
            ("/v2/p/pools/a/plugins", "ModelArts.50004030"), ("/nowhere", "APIGW.0306"),
        ] {
            for host in ["evil.example:\(port)", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1:\(port)", "[::2]"] {
                let r = try s.get(path, headers: [("Host", host)])
                #expect(r.status == 403, "\(host) \(path)")
                let body = try r.json()
                #expect(body.string("error_code") == code, "\(path): \(r.text)")
                #expect(body.string("error_msg")?.contains("--allowed-hosts") == true)
            }
        }
    }

    @Test func allowedHostsAdmitMoreAndStarAdmitsAny() throws {
        let compose = try Self.server(allowedHosts: ["addonmock"])
        #expect(try compose.get("/_mock/health", headers: [("Host", "addonmock:8080")]).status == 200)
        #expect(try compose.get("/_mock/health", headers: [("Host", "other:8080")]).status == 403)
        let any = try Self.server(allowedHosts: ["*"])
        #expect(try any.get("/_mock/health", headers: [("Host", "evil.example")]).status == 200)
        // Bound to every address (a container) every host is served, unless --allowed-hosts says otherwise.
        let open = try Self.server(host: "0.0.0.0")
        #expect(try open.get("/_mock/health", headers: [("Host", "addonmock")]).status == 200)
        let guarded = try Self.server(host: "0.0.0.0", allowedHosts: ["addonmock"])
        #expect(try guarded.get("/_mock/health", headers: [("Host", "evil.example")]).status == 403)
        #expect(try guarded.get("/_mock/health", headers: [("Host", "addonmock")]).status == 200)
    }

    @Test func aPageOfAnotherSiteCannotResetOrAddFaults() throws {
        let s = try Self.server()
        _ = try s.request("POST", "/api/v3/addons", body: Bodies.install())
        let evil = [("Origin", "http://evil.example"), ("Content-Type", "text/plain")]
        // What a page can send without asking first: a text/plain POST from its own origin.
        let reset = try s.request("POST", "/_mock/reset", headers: evil, body: "{}")
        #expect(reset.status == 403)
        #expect(try reset.json().string("error_code") == "MOCK.403")
        #expect(try reset.json().string("error_msg")?.contains("evil.example") == true)
        let fault = try s.request("POST", "/_mock/faults", headers: evil, body: #"{"status": 500}"#)
        #expect(fault.status == 403)
        // No Origin (a legacy browser, a stripped header) but a body that is not JSON: refused all the same.
        let plain = try s.request("POST", "/_mock/reset", headers: [("Content-Type", "text/plain")], body: "{}")
        #expect(plain.status == 403)
        #expect(try plain.json().string("error_msg")?.contains("Content-Type: application/json") == true)
        let form = try s.request("POST", "/_mock/faults", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: #"{"status": 500}"#)
        #expect(form.status == 403)
        // JSON from another origin without a --cors grant: refused (its preflight would have failed anyway).
        let json = try s.request("POST", "/_mock/reset", headers: [("Origin", "http://evil.example"), ("Content-Type", "application/json")])
        #expect(json.status == 403)
        // Nothing changed.
        #expect(try s.control("GET", "/_mock/faults").json().at("faults") == .array([]))
        #expect(try s.get("/api/v3/addons?cluster_id=c1").json().at("items.0") != nil)
    }

    @Test func theServersOwnPagesCorsOriginsAndPlainClientsStillAct() throws {
        let s = try Self.server(cors: ["http://localhost:3000"])
        // A browser sends the port in both.
        let own = [("Host", "127.0.0.1:\(s.port)"), ("Origin", "http://127.0.0.1:\(s.port)"), ("Content-Type", "application/json")]
        #expect(try s.request("POST", "/_mock/clock", headers: own, body: #"{"advanceMs": 1}"#).status == 200)
        let granted = [("Origin", "http://localhost:3000"), ("Content-Type", "application/json; charset=utf-8")]
        #expect(try s.request("POST", "/_mock/clock", headers: granted, body: #"{"advanceMs": 1}"#).status == 200)
        // A client that is no browser: no Origin, a JSON body or none.
        #expect(try s.control("POST", "/_mock/faults", #"{"status": 503, "times": 1}"#).status == 201)
        #expect(try s.request("DELETE", "/_mock/faults").status == 200)
        #expect(try s.request("POST", "/_mock/reset").status == 200)
        // Reads are not guarded (a page cannot read another origin's answers), and the emulated APIs take any type.
        #expect(try s.get("/_mock/requests", headers: [("Origin", "http://evil.example")]).status == 200)
        #expect(try s.request("POST", "/api/v3/addons", headers: [("Content-Type", "text/plain")], body: Bodies.install()).status == 201)
    }

    @Test func withAControlTokenTheConsoleLoadsAndSendsItsToken() throws {
        let token = "console-token-1234"
        let s = try Self.server(token: token)
        #expect(try s.get("/_mock/ui").status == 401, "every route but health needs the token")
        #expect(try s.get("/").status == 401)
        // A browser opens the page and its EventSource without headers: both take the token in their query.
        #expect(try s.get("/_mock/ui?access_token=\(token)").status == 200)
        #expect(try s.get("/_mock/ui?access_token=wrong-token-000").status == 401)
        #expect(try s.get("/_mock/events?holdMs=0").status == 401)
        // EventSource sends no headers: the stream takes the token in its query, and nothing shows it.
        #expect(try s.get("/_mock/events?holdMs=0&access_token=\(token)").status == 200)
        #expect(try s.get("/_mock/events?holdMs=0&access_token=wrong-token-000").status == 401)
        #expect(try s.get("/_mock/export?access_token=\(token)").status == 401, "only the event stream takes it from the query")
        let journal = try s.request("GET", "/_mock/requests?control=true", headers: [("Authorization", "Bearer \(token)")])
        #expect(!journal.text.contains(token))
        #expect(journal.text.contains(#""access_token":"****""#))
    }

    @Test(arguments: [
        ("application/json", true), ("application/json; charset=utf-8", true), ("Application/JSON", true),
        ("application/merge-patch+json", true), ("text/plain", false), ("application/x-www-form-urlencoded", false),
        ("multipart/form-data; boundary=x", false), ("application/jsonx", false), ("text/json", false),
    ])
    func jsonContentTypes(type: String, json: Bool) {
        #expect(CrossSiteGuard.isJSON(type) == json)
    }
}

/// Waits and streams are long holds: capped by --max-held (the newest refused), ended oldest first when connections
/// run out, dropped when their client goes, and free while nothing changes.
@Suite struct HeldAnswerLimitsTests {
    static func server(maxHeld: Int = 5_000, maxConnections: Int = 10_000) throws -> TestServer {
        var c = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .manual, fixtures: nil, seed: 1, logLevel: "critical",
            seedWasRandom: false)
        c.maxHeld = maxHeld
        c.maxConnections = maxConnections
        return try TestServer(configuration: c)
    }

    /// Sends a wait for a resource that never comes, and returns once the server holds it.
    static func heldWait(_ s: TestServer, _ name: String) throws -> RawHTTPConnection {
        let c = try RawHTTPConnection(port: s.port)
        let body = #"{"addon": "\#(name)", "status": "running", "timeoutMs": 600000}"#
        try c.sendRaw(
            Array(
                "POST /_mock/wait HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    .utf8))
        return c
    }

    static func waitUntil(_ condition: () -> Bool) {
        for _ in 0..<3000 where !condition() { usleep(10_000) }
    }

    @Test func pastTheCapTheNewestIsRefusedAndAGoneClientFreesItsPlace() throws {
        let s = try Self.server(maxHeld: 2)
        let waits = s.app.control.waits
        let first = try Self.heldWait(s, "a")
        let second = try Self.heldWait(s, "b")
        Self.waitUntil { waits.count == 2 }
        #expect(waits.count == 2)
        let refused = try Self.heldWait(s, "c").readResponse()
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")
        #expect(try refused.json().string("error_msg")?.contains("--max-held") == true)
        // A client that goes: its wait is dropped at once (its hangup is watched), and its place is free again.
        first.close()
        Self.waitUntil { waits.count == 1 }
        #expect(waits.count == 1)
        let third = try Self.heldWait(s, "d")
        Self.waitUntil { waits.count == 2 }
        #expect(waits.count == 2)
        withExtendedLifetime((second, third)) {}
    }

    @Test func whenConnectionsRunOutTheOldestWaitIsEndedToMakeRoom() throws {
        // 10 connections at most, one kept free: the tenth held wait makes the reaper end the oldest.
        let s = try Self.server(maxConnections: 10)
        var held: [RawHTTPConnection] = []
        for i in 0..<9 {
            held.append(try Self.heldWait(s, "w\(i)"))
            Self.waitUntil { s.app.control.waits.count == i + 1 }
        }
        held.append(try Self.heldWait(s, "w9"))
        let oldest = try held[0].readResponse()
        #expect(oldest.status == 503)
        #expect(try oldest.json().string("error_msg")?.contains("to make room") == true)
        // A new client gets in.
        #expect(try s.get("/_mock/health").status == 200)
    }
}

@Suite struct HostNameTests {
    @Test(arguments: [
        ("127.0.0.1", true), ("127.0.0.1:8080", true), ("localhost", true), ("localhost:1", true), ("[::1]", true), ("[::1]:8080", true),
        ("LocalHost:80", true), ("c1.localhost:8080", true), ("127.9.9.9:80", true), ("localhost.", true),
        ("127.0.0.1x", false), ("127.0.0.1:80x", false), ("localhostx", false), ("localhost:", false), ("[::1]x", false),
        ("127.0.0.1.evil.example", false), ("localhost.evil.example", false), ("127.256.0.1", false), ("evil", false), ("[::2]:80", false),
    ])
    func local(host: String, local: Bool) {
        #expect(HostGuard.isLocal(host) == local, "\(host)")
    }
}
