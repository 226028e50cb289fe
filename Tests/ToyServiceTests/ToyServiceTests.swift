import AddonMock
import AddonMockCore
import AddonMockHTTP
import Foundation
import Logging
import Testing
import ToyWidgets

/// The application runs a service it has never heard of (`ToyWidgets`, a target over the kit's public API) beside
/// the built-in ones: routes, error format, lifecycles with verbs of their own, an owner and what it owns, seed
/// entries, exports, fault rules on its route and scope, the control plane and the OpenAPI document all come from
/// its definition. Nothing here is `@testable`.
@Suite struct ToyServiceTests {
    let app: Application
    let fixtures = FileManager.default.temporaryDirectory.appendingPathComponent("addonmock-toy-\(UUID().uuidString)")

    init() throws {
        try FileManager.default.createDirectory(at: fixtures, withIntermediateDirectories: true)
        try Data(#"{"widgets": [{"workspace": "w0", "model": "gear", "status": "wobbly", "reason": "Loose"}]}"#.utf8)
            .write(to: fixtures.appendingPathComponent("seed.json"))
        let flags = CommandLineValues(port: "0", database: ":memory:", profile: "manual", fixtures: fixtures.path, logLevel: "critical")
        app = try Application(
            configuration: try Configuration.resolve(flags, environment: [:]),
            services: BuiltInServices.all + [Widgets.definition],
            logger: Logger(label: "toy") { _ in SwiftLogNoOpLogHandler() })
    }

    func call(_ method: String, _ path: String, _ body: String = "") -> (status: Int, json: JSONValue) {
        let response = app.handle(
            HTTPRequest(
                method: method, path: path, query: [], headers: HTTPHeaders([("Content-Type", "application/json")]),
                body: Array(body.utf8)))
        return (response.status, (try? JSONParser.parse(response.body)) ?? .null)
    }

    func state(_ path: String) -> String? { call("GET", path).json["state"]?.stringValue }

    @Test func aWidgetGoesThroughItsLifecycle() throws {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        let created = call("POST", "/widgets/v1/w1/widgets", #"{"model": "gear"}"#)
        #expect(created.status == 200)
        #expect(created.json["state"] == .string("assembling"))
        let id = try #require(created.json["id"]?.stringValue)
        #expect(call("POST", "/widgets/v1/w1/widgets", #"{"model": "gear"}"#).status == 409)

        // The control plane lists the kind with its scope field, and advances it by its table.
        let listed = call("GET", "/_mock/resources/widgets").json["items"]
        guard case .array(let items)? = listed else { Issue.record("no items"); return }
        #expect(items.compactMap { $0["workspace"]?.stringValue }.sorted() == ["w0", "w1"])
        #expect(items.first { $0["workspace"] == .string("w0") }?["status"] == .string("wobbly"), "seeded in the given state")
        #expect(call("POST", "/_mock/resources/widgets/\(id)/status", #"{"advance": true}"#).json["status"] == .string("ready"))
        #expect(state("/widgets/v1/w1/widgets/gear") == "ready")

        #expect(call("DELETE", "/widgets/v1/w1/widgets/gear").json["state"] == .string("scrapping"))
        #expect(call("POST", "/_mock/resources/widgets/\(id)/status", #"{"advance": true}"#).json["deleted"] == .bool(true))
        #expect(call("GET", "/widgets/v1/w1/widgets/gear").status == 404)
    }

    @Test func lifecycleFaultRulesMatchItsRouteAndScope() {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        let rule = #"{"match": {"route": "/widgets/v1/{workspace}/widgets", "workspace": "w2"}, "outcome": "jammed"}"#
        #expect(call("POST", "/_mock/faults", rule).status == 201)
        for workspace in ["w1", "w2"] {
            let id = call("POST", "/widgets/v1/\(workspace)/widgets", #"{"model": "gear"}"#).json["id"]?.stringValue ?? ""
            _ = call("POST", "/_mock/resources/widgets/\(id)/status", #"{"advance": true}"#)
        }
        #expect(state("/widgets/v1/w1/widgets/gear") == "ready")
        #expect(state("/widgets/v1/w2/widgets/gear") == "jammed")
        // An HTTP rule on its route answers in its error format.
        #expect(call("POST", "/_mock/faults", #"{"match": {"service": "widgets", "method": "GET"}, "status": 503}"#).status == 201)
        #expect(call("GET", "/widgets/v1/w1/widgets/gear").json["error"]?["code"] == .string("WIDGET.503"))
    }

    @Test func errorsAreInItsFormatAndTheBuiltInServicesStillServe() {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        #expect(call("GET", "/widgets/v1/w1/widgets/nothing").json["error"]?["code"] == .string("WIDGET.404"))
        #expect(call("GET", "/widgets/v1/nowhere").json["error"]?["code"] == .string("WIDGET.404"))
        #expect(
            call("POST", "/widgets/v1/w1/widgets", #"{"model": "sprocket"}"#).json["error"]?["message"]
                == .string("widget model \"sprocket\" not found"))
        #expect(call("GET", "/api/v3/addontemplates").status == 200)
        #expect(call("POST", "/_mock/reset", #"{"workspace": "w0"}"#).json["deleted"] == .number("1"))
    }

    @Test func theOpenAPIDocumentHasItsPathsAndItsKindInTheControlSchemas() {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        let doc = call("GET", "/_mock/openapi.json").json
        #expect(doc["paths"]?["/widgets/v1/{workspace}/widgets"] != nil)
        #expect(doc["paths"]?["/api/v3/addons"] != nil)
        let resource = doc["components"]?["schemas"]?["Resource"]?["properties"]
        #expect(resource?["workspace"] != nil && resource?["cluster"] != nil && resource?["pool"] != nil)
        #expect(
            resource?["kind"]?["enum"]
                == .array(
                    ["clusters", "nodepools", "addons", "addonchecks", "jobs", "pools", "plugins", "orders", "workspaces", "widgets"].map {
                        .string($0)
                    }))
    }

    /// A verb no built-in kind has, whose effect applies what the request asked once it succeeds.
    @Test func aReadyWidgetIsPolishedToTheShineAsked() throws {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        let id = try #require(call("POST", "/widgets/v1/w1/widgets", #"{"model": "gear"}"#).json["id"]?.stringValue)
        #expect(call("POST", "/widgets/v1/w1/widgets/gear/polish", #"{"shine": 7}"#).json["error"]?["code"] == .string("WIDGET.409"))
        _ = call("POST", "/_mock/resources/widgets/\(id)/status", #"{"advance": true}"#)
        let polishing = call("POST", "/widgets/v1/w1/widgets/gear/polish", #"{"shine": 7}"#).json
        #expect(polishing["state"] == .string("polishing"))
        #expect(polishing["shine"] == .null, "not before it succeeds")
        let shown = call("GET", "/_mock/resources/widgets/\(id)").json
        #expect(shown["pending"]?["operation"] == .string("polish"))
        #expect(shown["model"] == .string("gear") && shown["name"] == .string("gear"), "named by its name field, and as name")
        _ = call("POST", "/_mock/resources/widgets/\(id)/status", #"{"advance": true}"#)
        #expect(call("GET", "/widgets/v1/w1/widgets/gear").json["shine"] == .number("7"))
        #expect(call("GET", "/_mock/resources/widgets/\(id)").json["shine"] == .number("7"), "its shown field")
        // A fault rule may name the verb.
        let rule = #"{"match": {"operation": "polish"}, "outcome": "jammed", "reason": "Scratched"}"#
        #expect(call("POST", "/_mock/faults", rule).status == 201)
        _ = call("POST", "/widgets/v1/w1/widgets/gear/polish", #"{"shine": 9}"#)
        let jammed = call("POST", "/_mock/resources/widgets/\(id)/status", #"{"advance": true}"#).json
        #expect(jammed["status"] == .string("jammed") && jammed["reason"] == .string("Scratched"))
        #expect(call("GET", "/widgets/v1/w1/widgets/gear").json["shine"] == .number("7"), "a failed polish changes nothing")
    }

    /// Closing a workspace scraps its widgets once the close completes, each with its own event.
    @Test func closingAWorkspaceTakesItsWidgetsWithIt() throws {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        #expect(call("PUT", "/widgets/v1/workspaces/w1").json["state"] == .string("opening"))
        guard case .array(let workspaces)? = call("GET", "/_mock/resources/workspaces").json["items"] else {
            Issue.record("no workspaces")
            return
        }
        let workspace = try #require(workspaces.first?["id"]?.stringValue)
        _ = call("POST", "/_mock/resources/workspaces/\(workspace)/status", #"{"advance": true}"#)
        _ = call("POST", "/widgets/v1/w1/widgets", #"{"model": "gear"}"#)
        _ = call("POST", "/widgets/v1/w2/widgets", #"{"model": "gear"}"#)
        #expect(call("DELETE", "/widgets/v1/workspaces/w1").json["state"] == .string("closing"))
        #expect(call("GET", "/widgets/v1/w1/widgets/gear").status == 200, "until the close completes")
        #expect(call("POST", "/_mock/resources/workspaces/\(workspace)/status", #"{"advance": true}"#).json["deleted"] == .bool(true))
        #expect(call("GET", "/widgets/v1/w1/widgets/gear").status == 404)
        #expect(call("GET", "/widgets/v1/w2/widgets/gear").status == 200, "another workspace's widgets stay")
        #expect(call("POST", "/_mock/wait", #"{"widget": {"workspace": "w1", "name": "gear"}, "gone": true}"#).json["reached"] == .bool(true))
    }

    /// Export and import carry every kind the toy declares, with its documents and what is in flight.
    @Test func itsKindsExportAndImportBack() throws {
        defer { app.stop(); try? FileManager.default.removeItem(at: fixtures) }
        _ = call("PUT", "/widgets/v1/workspaces/w1")
        let id = try #require(call("POST", "/widgets/v1/w1/widgets", #"{"model": "gear"}"#).json["id"]?.stringValue)
        let exported = call("GET", "/_mock/export").json
        let widget = try #require(
            exported["widgets"].flatMap { list -> JSONValue? in
                guard case .array(let items) = list else { return nil }
                return items.first { $0["id"] == .string(id) }
            })
        #expect(widget["model"] == .string("gear") && widget["workspace"] == .string("w1"))
        #expect(widget["spec"]?["teeth"] == .number("12"))
        #expect(widget["pending"]?["operation"] == .string("assemble"))
        guard case .array(let workspaces)? = exported["workspaces"] else { Issue.record("no workspaces"); return }
        #expect(workspaces.map { $0["name"] } == [.string("w1")])

        #expect(call("POST", "/_mock/reset", #"{"reseed": false}"#).status == 200)
        let body = String(decoding: RawJSON(exported).bytes, as: UTF8.self)
        #expect(call("POST", "/_mock/import", body).json["created"] == .number("3"), "w1, its gear and the seeded w0 gear")
        let back = call("GET", "/_mock/resources/widgets/\(id)").json
        #expect(back["status"] == .string("assembling") && back["pending"]?["operation"] == .string("assemble"))
    }
}
