import AddonMockCore
import AddonMockHTTP
import Foundation
import Logging
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// The application runs a service it has never heard of (`Widgets/`, one folder) beside the built-in ones:
/// routes, error format, lifecycle, seed entries, fault rules on its route and scope, the control plane and the
/// OpenAPI document all come from its definition.
@Suite struct ToyServiceTests {
    let app: Application
    let fixtures = FileManager.default.temporaryDirectory.appendingPathComponent("addonmock-toy-\(UUID().uuidString)")

    init() throws {
        try FileManager.default.createDirectory(at: fixtures, withIntermediateDirectories: true)
        try Data(#"{"widgets": [{"workspace": "w0", "template": "gear", "status": "wobbly", "reason": "Loose"}]}"#.utf8)
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
        #expect(resource?["kind"]?["enum"] == .array([.string("addons"), .string("addonchecks"), .string("plugins"), .string("widgets")]))
    }
}
