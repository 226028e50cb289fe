import AddonMockCore
import AddonMockHTTP

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// A third emulated API, written in this one folder without touching any other file: the proof that a service
/// is a folder. Widgets live in workspaces; one is assembled, then ready, and scrapped on delete.
enum Widgets {
    static let definition = ServiceDefinition(
        name: "widgets", pathPrefixes: ["/widgets/v1/"], errorFormat: WidgetErrorFormat(),
        catalog: CatalogSource(file: "widget-models.json", builtIn: Array(catalog.utf8), noun: "widget model"),
        kinds: [ResourceKind(name: "widgets", services: ["widgets"], scopeFields: ["workspace"], lifecycle: lifecycle)],
        describe: { ctx in
            RequestScope(
                template: ctx.parameters.value("name") ?? ctx.peek("model"),
                fields: ctx.parameters.value("workspace").map { ["workspace": $0] } ?? [:])
        },
        openAPI: Array(openAPI.utf8),
        routes: { env in
            let collection = "/widgets/v1/{workspace}/widgets"
            return [
                ServiceRoute("POST", collection) { try create($0, env) },
                ServiceRoute("GET", "\(collection)/{name}") { try show($0, env) },
                ServiceRoute("DELETE", "\(collection)/{name}") { try scrap($0, env) },
            ]
        })

    /// assembling -> ready | jammed; scrapping -> gone | jammed; any of them -> wobbly when unhealthy.
    static let lifecycle = LifecycleTable(
        steps: [
            .install: .init(inFlight: "assembling", succeeded: "ready", failed: "jammed"),
            .delete: .init(inFlight: "scrapping", succeeded: nil, failed: "jammed"),
        ],
        degraded: "wobbly", settled: ["ready", "jammed", "wobbly"], healthy: ["ready"])

    static let catalog = #"{"templates": [{"name": "gear", "versions": [{"version": "1.0.0", "input": {"teeth": 12}}]}]}"#

    static let openAPI = #"""
        {"tags": [{"name": "Widgets"}],
         "paths": {"/widgets/v1/{workspace}/widgets": {"post": {"tags": ["Widgets"], "operationId": "createWidget",
           "parameters": [{"name": "workspace", "in": "path", "required": true, "schema": {"type": "string"}}],
           "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/WidgetRequest"}}}},
           "responses": {"200": {"description": "the widget", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}}}}}},
         "components": {"schemas": {
           "WidgetRequest": {"type": "object", "required": ["model"], "properties": {"model": {"type": "string"}}},
           "Widget": {"type": "object", "properties": {"id": {"type": "string"}, "model": {"type": "string"},
                      "workspace": {"type": "string"}, "state": {"type": "string"}}}}}}
        """#

    private static func create(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        let workspace = ctx.parameters["workspace"]
        let (model, version) = try env.catalog.resolve(try ctx.body().identifier("model"), version: nil, noun: "widget model")
        let widget = try env.manager.createOrModify(
            service: "widgets", scope: workspace, template: model.name, for: ctx.writes,
            create: { now in
                env.manager.engine.install(
                    id: Identifiers.uuid(), service: "widgets", scope: workspace, template: model.name,
                    revision: Revision(version: version.version, values: RawJSON(version.input)),
                    annotations: .emptyObject, templateTiming: nil,
                    outcome: try env.outcomes.outcome(
                        for: .install, service: "widgets", scope: workspace,
                        template: model.name, ctx), now: now)
            }, modify: { existing, _ in throw APIError(.conflict, "widget \(existing.template) exists in \(workspace)") })
        ctx.touched(widget)
        return .json(200, body(widget))
    }

    private static func show(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        guard let widget = try env.manager.instance(service: "widgets", scope: ctx.parameters["workspace"], template: ctx.parameters["name"])
        else { throw APIError(.notFound, "no widget \(ctx.parameters["name"])") }
        return .json(200, body(widget))
    }

    private static func scrap(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        let (workspace, name) = (ctx.parameters["workspace"], ctx.parameters["name"])
        let widget = try env.manager.modify(
            service: "widgets", scope: workspace, template: name, for: ctx.writes,
            notFound: { APIError(.notFound, "no widget \(name)") }
        ) { widget, now in
            try APIError.conflicts("widget busy") {
                try env.manager.engine.begin(
                    .delete, on: &widget, templateTiming: nil,
                    outcome: try env.outcomes.outcome(
                        for: .delete, service: "widgets", scope: workspace, template: name, ctx), now: now)
            }
        }
        return .json(200, body(widget))
    }

    private static func body(_ w: Instance) -> [UInt8] {
        var out = JSONWriter()
        out.beginObject()
        out.field("id", w.id)
        out.field("model", w.template)
        out.field("workspace", w.scope)
        out.field("state", w.phase.rawValue)
        out.endObject()
        return out.bytes
    }
}

/// `{"error": {"code": "WIDGET.404", "message": "…"}}`
struct WidgetErrorFormat: ErrorFormat {
    func code(for kind: APIError.Kind) -> String { "WIDGET.\(APIError(kind, "").status)" }
    func body(code: String, message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
