import AddonMockCore
import AddonMockHTTP
import AddonMockKit
import Testing

@testable import AddonMock

/// Each stage of the request pipeline on its own (RequestPipeline); the suites over HTTP check them composed.
@Suite struct PipelineStageTests {
    static func request(
        _ method: String = "GET", _ path: String = "/api/v3/addons", query: [(name: String, value: String)]? = [],
        headers: [(String, String)] = [("Host", "127.0.0.1:8080")], body: String = "", bodyTooLarge: Bool = false
    ) -> HTTPRequest {
        HTTPRequest(
            method: method, path: path, query: query, headers: HTTPHeaders(headers.map { (name: $0.0, value: $0.1) }),
            body: Array(body.utf8), bodyTooLarge: bodyTooLarge)
    }

    /// A request routed to `pattern`, with its path parameters as the router decodes them.
    struct NoMatch: Error { let path, pattern: String }

    static func routed(_ request: HTTPRequest, pattern: String, service: String = "cce") throws -> RequestContext {
        var router = Router()
        router.add(request.method, pattern)
        guard case let .found(_, parameters) = router.match(method: request.method, path: request.path) else {
            throw NoMatch(path: request.path, pattern: pattern)
        }
        return RequestContext(
            request: request, parameters: parameters, route: pattern, service: service, requestID: "r1", writes: nil,
            describe: { _ in RequestScope() })
    }

    static func refusal(_ r: Refusal?) -> (status: Int, message: String, headers: [String])? {
        guard let r else { return nil }
        switch r {
        case .error(let e, let headers): return (e.status, e.message, headers.map { "\($0.name): \($0.value)" })
        case .answer(let response): return (response.dropConnection ? 0 : response.status, "", [])
        }
    }

    @Test func admissionRefusesForeignHostsLargeBodiesAndHeadsAndBadQueries() throws {
        let guardLocal = HostGuard(boundTo: "127.0.0.1", allowedHosts: nil)
        #expect(guardLocal.check(Self.request()) == nil)
        #expect(Self.refusal(guardLocal.check(Self.request(headers: [("Host", "evil.example")])))?.status == 403)

        #expect(BodyLimit().check(Self.request()) == nil)
        #expect(Self.refusal(BodyLimit().check(Self.request(bodyTooLarge: true)))?.status == 413)

        let limit = HeadLimit(maxBytes: 100)
        #expect(limit.check(Self.request(headers: [("X-A", String(repeating: "a", count: 93))])) == nil, "3 + 93 + 4 = 100 bytes")
        let over = Self.refusal(limit.check(Self.request(headers: [("X-A", String(repeating: "a", count: 94))])))
        #expect(over?.status == 431)
        #expect(over?.message == "request headers are 101 bytes; at most 100 are accepted")

        #expect(QueryCheck().check(Self.request()) == nil)
        #expect(Self.refusal(QueryCheck().check(Self.request(query: nil)))?.status == 400)
    }

    struct Refusing: RequestAuthentication {
        func admit(_ request: RequestContext) throws(APIError) {
            guard request.request.headers["X-Auth-Token"] == "ok" else { throw APIError(.unauthorized, "no token") }
        }
    }

    @Test func serviceAuthenticationAsksTheServicesOwnCheck() throws {
        var trace = RequestTrace()
        let stage = ServiceAuthentication(Refusing())
        let open = try Self.routed(Self.request(headers: [("X-Auth-Token", "ok")]), pattern: "/api/v3/addons")
        #expect(stage.check(open, &trace) == nil)
        let shut = try Self.routed(Self.request(), pattern: "/api/v3/addons")
        #expect(Self.refusal(stage.check(shut, &trace))?.message == "no token")
        #expect(ServiceAuthentication(NoAuthentication()).check(shut, &trace) == nil)
    }

    @Test func identifierCheckNamesTheParameterAndTheSDKsPlaceholder() throws {
        var trace = RequestTrace()
        let good = try Self.routed(Self.request("GET", "/v2/p1/pools/pool-a/plugins"), pattern: "/v2/{project_id}/pools/{pool_name}/plugins")
        #expect(IdentifierCheck().check(good, &trace) == nil)
        let placeholder = try Self.routed(
            Self.request("GET", "/v2/%7Bproject_id%7D/pools/a/plugins"), pattern: "/v2/{project_id}/pools/{pool_name}/plugins")
        let refused = Self.refusal(IdentifierCheck().check(placeholder, &trace))
        #expect(refused?.status == 400)
        #expect(refused?.message.hasPrefix("path parameter project_id \"{project_id}\" is not a valid identifier") == true)
        #expect(refused?.message.hasSuffix("(the SDK sends the literal {project_id} when its credentials carry no project_id)") == true)
    }

    @Test func httpFaultsAnswerDropOrDelayAndLeaveATrace() throws {
        let faults = FaultBook(seed: 1, kinds: [:])
        let context = try Self.routed(Self.request("POST", "/api/v3/addons"), pattern: "/api/v3/addons")
        var trace = RequestTrace()
        #expect(HTTPFaultStage(faults: faults).check(context, &trace) == nil, "no rule, no fault")
        #expect(trace.fault == nil)

        let status = faults.add(
            match: FaultMatch(method: "POST"), effect: .http(HTTPFault(status: 429, code: "CCE.01429001")), times: 1, probability: 1)
        let throttled = HTTPFaultStage(faults: faults).check(context, &trace)
        guard case .error(let e, _) = throttled else { Issue.record("expected an error, got \(String(describing: throttled))"); return }
        #expect(e.status == 429 && e.code == "CCE.01429001" && e.message == "injected fault \(status.id): 429")
        #expect(trace.fault == status.id)

        trace = RequestTrace()
        let slow = faults.add(match: FaultMatch(method: "POST"), effect: .http(HTTPFault(latencyMs: 250...250)), times: 1, probability: 1)
        #expect(HTTPFaultStage(faults: faults).check(context, &trace) == nil, "a delay lets the request through")
        #expect(trace.latencyMs == 250 && trace.fault == slow.id)

        trace = RequestTrace()
        _ = faults.add(match: FaultMatch(method: "POST"), effect: .http(HTTPFault(drop: true)), times: 1, probability: 1)
        #expect(Self.refusal(HTTPFaultStage(faults: faults).check(context, &trace))?.status == 0, "dropped: no answer at all")
    }

    @Test func controlTokenRefusesWithAChallengeAndTakesTheQueryTokenOnlyWhereABrowserNeedsIt() throws {
        let check = ControlTokenCheck(token: "s3cret")
        var trace = RequestTrace()
        let right = try Self.routed(
            Self.request("GET", "/_mock/resources", headers: [("Authorization", "Bearer s3cret")]), pattern: "/_mock/resources", service: "control")
        #expect(check.check(right, &trace) == nil)
        let wrong = Self.refusal(
            check.check(
                try Self.routed(Self.request("GET", "/_mock/resources", headers: [("Authorization", "Bearer s3creT")]), pattern: "/_mock/resources"),
                &trace))
        #expect(wrong?.status == 401 && wrong?.headers == ["WWW-Authenticate: Bearer"])
        let inQuery = Self.request("GET", ControlService.eventsPattern, query: [("access_token", "s3cret")], headers: [])
        #expect(check.check(try Self.routed(inQuery, pattern: ControlService.eventsPattern), &trace) == nil)
        let elsewhere = Self.request("GET", "/_mock/resources", query: [("access_token", "s3cret")], headers: [])
        #expect(Self.refusal(check.check(try Self.routed(elsewhere, pattern: "/_mock/resources"), &trace))?.status == 401)
    }

    @Test func crossSiteGuardRefusesAnotherSitesWrites() throws {
        let guardSite = CrossSiteGuard(corsOrigins: nil)
        var trace = RequestTrace()
        let own = Self.request("POST", "/_mock/reset", headers: [("Host", "127.0.0.1:8080"), ("Origin", "http://127.0.0.1:8080")])
        #expect(guardSite.check(try Self.routed(own, pattern: "/_mock/reset"), &trace) == nil)
        let foreign = Self.request("POST", "/_mock/reset", headers: [("Host", "127.0.0.1:8080"), ("Origin", "https://evil.example")])
        #expect(Self.refusal(guardSite.check(try Self.routed(foreign, pattern: "/_mock/reset"), &trace))?.status == 403)
        let form = Self.request("POST", "/_mock/reset", headers: [("Content-Type", "text/plain")], body: "{}")
        #expect(Self.refusal(guardSite.check(try Self.routed(form, pattern: "/_mock/reset"), &trace))?.status == 403)
    }

    static func answered(_ request: HTTPRequest, fault: String? = nil) -> AnsweredRequest {
        AnsweredRequest(request: request, requestID: "0123456789abcdef", trace: RequestTrace(fault: fault), durationMs: 1.5)
    }

    @Test func finishingStampsGrantsAndRecords() throws {
        var response = HTTPResponse(status: 200)
        RequestIDStamp().finish(&response, Self.answered(Self.request()))
        #expect(response.headers["X-Request-Id"] == "0123456789abcdef")
        var dropped = HTTPResponse.drop
        RequestIDStamp().finish(&dropped, Self.answered(Self.request()))
        #expect(dropped.headers["X-Request-Id"] == nil)

        let cors = CORSPolicy(origins: ["http://localhost:3000"], requestHeaders: ["Content-Type", "X-A", "Content-Type"])
        #expect(cors.requestHeaders == "Content-Type, X-A")
        var granted = HTTPResponse(status: 200)
        cors.finish(&granted, Self.answered(Self.request(headers: [("Origin", "http://localhost:3000")])))
        #expect(granted.headers["Access-Control-Allow-Origin"] == "http://localhost:3000")
        var other = HTTPResponse(status: 200)
        cors.finish(&other, Self.answered(Self.request(headers: [("Origin", "https://evil.example")])))
        #expect(other.headers["Access-Control-Allow-Origin"] == nil)
        let preflight = cors.preflight(
            Self.request("OPTIONS", headers: [("Origin", "http://localhost:3000")]), allowed: ["GET", "POST"])
        #expect(preflight.status == 204 && preflight.headers["Access-Control-Allow-Headers"] == "Content-Type, X-A")
        #expect(preflight.headers["Allow"] == "GET, POST, OPTIONS")

        let journal = Journal()
        var answer = HTTPResponse(status: 201)
        JournalRecord(journal: journal, clock: SystemClock()).finish(
            &answer, Self.answered(Self.request("POST", query: [("access_token", "s3cret"), ("a", "b")]), fault: "fault-1"))
        let entry = journal.entries(Journal.Filter(includeControl: true)).last
        #expect(entry?.status == 201 && entry?.fault == "fault-1" && entry?.requestID == "0123456789abcdef")
        #expect(entry?.query.map { "\($0.name)=\($0.value)" } == ["access_token=****", "a=b"], "a token in the query is masked")
    }

    /// The journal lists what a request touched once each, in first-touched order, however many (a list of 100
    /// switches to a set after the eighth).
    @Test func touchedResourcesAreListedOnceInOrder() throws {
        let ctx = try Self.routed(Self.request(), pattern: "/api/v3/addons")
        let now = Instant(milliseconds: 0)
        let ids = (0..<30).map { "r\($0)" }
        for id in ids + ids.reversed() + ["r3", "new"] {
            ctx.touched(Resource(id: id, service: "cce", scope: "c", name: id, phase: "running", createdAt: now, updatedAt: now))
        }
        #expect(ctx.resourceIDs == ids + ["new"])
    }

    @Test func aListsIdsAreTakenWholeAndStillCountedOnce() throws {
        let now = Instant(milliseconds: 0)
        let resource = { (id: String) in Resource(id: id, service: "cce", scope: "c", name: id, phase: "running", createdAt: now, updatedAt: now) }
        let listed = (0..<20).map { "r\($0)" }
        let first = try Self.routed(Self.request(), pattern: "/api/v3/addons")
        first.touched(listed: listed)
        first.touched(resource("r7"))
        first.touched(resource("new"))
        #expect(first.resourceIDs == listed + ["new"])

        let second = try Self.routed(Self.request(), pattern: "/api/v3/addons")
        second.touched(resource("r3"))
        second.touched(listed: listed)
        #expect(second.resourceIDs == ["r3"] + listed.filter { $0 != "r3" }, "a list after another touch merges")
    }
}
