import AddonMockHTTP
import Testing

@Suite struct RouterTests {
    let router: Router = {
        var r = Router()
        r.add("GET", "/api/v3/addons/{id}") // 0
        r.add("PUT", "/api/v3/addons/{id}") // 1
        r.add("GET", "/api/v3/addons/precheck") // 2
        r.add("POST", "/v2/{project_id}/pools/{pool_name}/plugins") // 3
        return r
    }()

    func found(_ m: RouteMatch) -> (Int, PathParameters)? {
        if case let .found(route, parameters) = m { return (route, parameters) }
        return nil
    }

    @Test func capturesAndDecodesParameters() throws {
        let (route, p) = try #require(found(router.match(method: "POST", path: "/v2/proj%201/pools/pool-a/plugins")))
        #expect(route == 3)
        #expect(p["project_id"] == "proj 1")
        #expect(p.value("pool_name") == "pool-a")
        #expect(p.value("id") == nil)
        #expect(p["id"] == "")
    }

    @Test func literalSegmentsBeatParameters() throws {
        #expect(found(router.match(method: "GET", path: "/api/v3/addons/precheck"))?.0 == 2)
        #expect(found(router.match(method: "GET", path: "/api/v3/addons/abc"))?.0 == 0)
        #expect(found(router.match(method: "HEAD", path: "/api/v3/addons/abc"))?.0 == 0)
    }

    /// A literal path is a resource of its own for every method: `/nodes/batch-delete` (POST) is not the node
    /// `batch-delete` of `/nodes/{node_name}` (GET), and its `Allow` names only POST.
    @Test func aLiteralPathIsItsOwnResourceForEveryMethod() throws {
        var r = Router()
        r.add("GET", "/v2/{p}/pools/{pool}/nodes/{node_name}") // 0
        r.add("POST", "/v2/{p}/pools/{pool}/nodes/batch-delete") // 1
        r.add("DELETE", "/v2/{p}/pools/{pool}/nodes/{node_name}") // 2
        #expect(found(r.match(method: "POST", path: "/v2/p/pools/a/nodes/batch-delete"))?.0 == 1)
        #expect(found(r.match(method: "GET", path: "/v2/p/pools/a/nodes/n-1"))?.0 == 0)
        for method in ["GET", "DELETE", "OPTIONS"] {
            guard case .methodNotAllowed(let allowed) = r.match(method: method, path: "/v2/p/pools/a/nodes/batch-delete") else {
                Issue.record("\(method) on the literal path was not a 405")
                continue
            }
            #expect(allowed == ["POST"])
        }
        guard case .methodNotAllowed(let allowed) = r.match(method: "PUT", path: "/v2/p/pools/a/nodes/n-1") else {
            Issue.record("PUT on a node was not a 405")
            return
        }
        #expect(allowed == ["GET", "DELETE"])
    }

    @Test func emptySegmentsInsideThePathAreIgnored() {
        #expect(found(router.match(method: "GET", path: "//api/v3//addons/x"))?.1["id"] == "x")
    }

    /// A trailing slash is an empty last segment, as an SDK sends for an empty id (`show_addon_instance(id="")`
    /// sends `/api/v3/addons/`): it fills a parameter with "" (which the dispatcher refuses) and never falls back to
    /// the shorter route.
    @Test func aTrailingSlashIsAnEmptyLastSegment() {
        #expect(found(router.match(method: "GET", path: "/api/v3/addons/"))?.1["id"] == "")
        if case .found = router.match(method: "GET", path: "/api/v3/addons/x/") { Issue.record("a slash after a full path matched") }
    }

    /// A pattern may end in a slash too (`/_mock/`, the console's short address): then only that path matches.
    @Test func aPatternWithATrailingSlashMatchesOnlyThatPath() {
        var r = Router()
        r.add("GET", "/_mock/")
        r.add("GET", "/_mock/{page}")
        #expect(found(r.match(method: "GET", path: "/_mock/"))?.0 == 0)
        #expect(found(r.match(method: "GET", path: "/_mock/ui"))?.0 == 1)
        #expect(r.patterns.map(\.pattern) == ["/_mock/", "/_mock/{page}"])
        if case .found = r.match(method: "GET", path: "/_mock") { Issue.record("/_mock matched /_mock/") }
    }

    /// Routes are looked up by their first segment; one whose first segment is a parameter is still found beside
    /// literal ones, whichever was added first, and a literal still beats it.
    @Test func aParameterFirstSegmentCompetesWithLiteralOnes() {
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let patterns = [("GET", "/v2/{project}"), ("GET", "/{version}/{project}"), ("POST", "/v2/pools")]
            var r = Router()
            var index: [Int: Int] = [:]
            for i in order { index[r.add(patterns[i].0, patterns[i].1)] = i }
            #expect(found(r.match(method: "GET", path: "/v2/p1")).map { index[$0.0] } == 0, "\(order)")
            #expect(found(r.match(method: "GET", path: "/v9/p1")).map { index[$0.0] } == 1, "\(order)")
            #expect(found(r.match(method: "GET", path: "/v9/p1"))?.1["version"] == "v9")
            guard case .methodNotAllowed(let allowed) = r.match(method: "GET", path: "/v2/pools") else {
                Issue.record("\(order): the literal path is its own resource")
                continue
            }
            #expect(allowed == ["POST"])
        }
    }

    @Test func headIsServedByGET() {
        #expect(found(router.match(method: "HEAD", path: "/api/v3/addons/x")) != nil)
    }

    @Test func wrongMethodListsTheAllowedOnes() {
        guard case .methodNotAllowed(let allowed) = router.match(method: "DELETE", path: "/api/v3/addons/x") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == ["GET", "PUT"])
    }

    @Test func unknownAndOverlongPathsAreNotFound() {
        for path in ["/", "", "/api/v3", "/api/v3/addons/x/y", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", "/api/v4/addons/x"] {
            guard case .notFound = router.match(method: "GET", path: path) else {
                Issue.record("\(path) should not match")
                continue
            }
        }
    }

    @Test func malformedEscapesAreReported() {
        for segment in ["%zz", "%e2%82", "abc%"] {
            guard case .badPath(let s) = router.match(method: "GET", path: "/api/v3/addons/\(segment)") else {
                Issue.record("\(segment) should be a bad path")
                continue
            }
            #expect(s == segment)
        }
    }

    @Test func percentDecodingKeepsPlusAndDecodesUTF8() {
        #expect(PercentDecoding.decode("a+b%20c") == "a+b c")
        #expect(PercentDecoding.decode("%E2%82%AC") == "€")
        #expect(PercentDecoding.decode("€") == "€")
        #expect(PercentDecoding.decode("%FF") == nil)
        #expect(PercentDecoding.decode("%4") == nil)
    }

    @Test func headerNamesMatchInAnyASCIICase() {
        let headers = HTTPHeaders([("X-Cluster-ID", "c1"), ("content-type", "application/json"), ("X-Ünïcode", "u"), ("X@", "at")])
        #expect(headers["x-cluster-id"] == "c1")
        #expect(headers["CONTENT-TYPE"] == "application/json")
        #expect(headers["X-Ünïcode"] == "u")
        #expect(headers["X-ÜNÏCODE"] == nil, "only ASCII letters fold")
        #expect(headers["X-Cluster-I"] == nil)
        #expect(headers["X-Cluster-IE"] == nil)
        #expect(headers["X`"] == nil, "'@' and '`' differ only in bit 0x20 but are not letters")
        #expect(headers["x@"] == "at")
    }

    @Test func noRoutesMatchesNothing() {
        guard case .notFound = Router().match(method: "GET", path: "/x") else {
            Issue.record("an empty router matched")
            return
        }
    }
}
