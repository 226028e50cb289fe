import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// A third emulated API, a target of its own over the kit's public API (no `@testable`): the proof that a service
/// is a folder. Workspaces own widgets: a widget is assembled, then ready, can be polished to a shine (a verb of its
/// own, with an effect), and is scrapped on delete; deleting a workspace scraps its widgets with it.
public enum Widgets {
    public static let definition = ServiceDefinition(
        name: "widgets", pathPrefixes: ["/widgets/v1/"], errorFormat: WidgetErrorFormat(),
        catalog: CatalogSource(file: "widget-models.json", builtIn: Array(catalog.utf8), noun: "widget model"),
        kinds: [
            ResourceKind(
                name: "workspaces", services: ["workspaces"], scopeFields: ["realm"], lifecycle: workspaceLifecycle,
                deletePaths: ["workspaces": "/widgets/v1/workspaces/{name}"]),
            ResourceKind(
                name: "widgets", services: ["widgets"], scopeFields: ["workspace"], lifecycle: widgetLifecycle, nameField: "model",
                shown: [.spec("shine")], parent: ParentLink(kind: "workspaces", childScope: .ownerName),
                deletePaths: ["widgets": "/widgets/v1/{workspace}/widgets/{name}"]),
        ],
        describe: { ctx in
            RequestScope(
                template: ctx.parameters.value("name") ?? ctx.peek("model"),
                fields: ctx.parameters.value("workspace").map { ["workspace": $0] } ?? [:])
        },
        openAPI: Array(openAPI.utf8),
        routes: { env in
            let collection = "/widgets/v1/{workspace}/widgets"
            return [
                ServiceRoute("PUT", "/widgets/v1/workspaces/{workspace}", service: "workspaces") { try open($0, env) },
                ServiceRoute("DELETE", "/widgets/v1/workspaces/{workspace}", service: "workspaces") { try close($0, env) },
                ServiceRoute("POST", collection) { try create($0, env) },
                ServiceRoute("GET", "\(collection)/{name}") { try show($0, env) },
                ServiceRoute("POST", "\(collection)/{name}/polish") { try polish($0, env) },
                ServiceRoute("DELETE", "\(collection)/{name}") { try scrap($0, env) },
            ]
        })

    /// The one realm every workspace is in.
    static let realm = "toy"
    static let polish: Operation = "polish"

    /// opening -> open; closing -> gone.
    public static let workspaceLifecycle = LifecycleTable(
        steps: [
            "open": .init(inFlight: "opening", succeeded: "open", failed: "broken"),
            "close": .init(inFlight: "closing", succeeded: nil, failed: "broken"),
        ],
        degraded: "broken", settled: ["open", "broken"], healthy: ["open"])

    /// assembling -> ready | jammed; polishing (ready only) -> ready with the asked shine | jammed; scrapping -> gone |
    /// jammed; any of them -> wobbly when unhealthy.
    public static let widgetLifecycle = LifecycleTable(
        steps: [
            "assemble": .init(inFlight: "assembling", succeeded: "ready", failed: "jammed"),
            polish: .init(
                inFlight: "polishing", succeeded: "ready", failed: "jammed", startsFrom: ["ready"],
                effect: .init(begin: { _, shine in shine }, succeed: { widget, shine in widget.spec["shine"] = shine })),
            "scrap": .init(inFlight: "scrapping", succeeded: nil, failed: "jammed"),
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
                      "workspace": {"type": "string"}, "state": {"type": "string"}, "shine": {"type": "integer"}}}}}}
        """#

    private static func open(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        let name = ctx.parameters["workspace"]
        let workspace = try env.manager.createOrModify(
            service: "workspaces", scope: realm, name: name, for: ctx.writes,
            create: { now in
                env.manager.engine.create(
                    id: Identifiers.uuid(), service: "workspaces", scope: realm, name: name, spec: .empty,
                    outcome: try env.outcomes.outcome(for: "open", service: "workspaces", scope: realm, template: name, ctx), now: now)
            }, modify: { _, _ in })
        ctx.touched(workspace)
        return .json(200, Array(#"{"workspace":"\#(name)","state":"\#(workspace.phase.rawValue)"}"#.utf8))
    }

    private static func close(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        let name = ctx.parameters["workspace"]
        let workspace = try env.manager.modify(
            service: "workspaces", scope: realm, name: name, for: ctx.writes, notFound: { APIError(.notFound, "no workspace \(name)") }
        ) { workspace, now in
            try APIError.conflicts("workspace busy") {
                try env.manager.engine.begin(
                    "close", on: &workspace, templateTiming: nil,
                    outcome: try env.outcomes.outcome(for: "close", service: "workspaces", scope: realm, template: name, ctx), now: now)
            }
        }
        return .json(200, Array(#"{"workspace":"\#(name)","state":"\#(workspace.phase.rawValue)"}"#.utf8))
    }

    private static func create(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        let workspace = ctx.parameters["workspace"]
        let (model, version) = try env.catalog.resolve(try ctx.body().identifier("model"), version: nil, noun: "widget model")
        let widget = try env.manager.createOrModify(
            service: "widgets", scope: workspace, name: model.name, for: ctx.writes,
            create: { now in
                env.manager.engine.create(
                    id: Identifiers.uuid(), service: "widgets", scope: workspace, name: model.name,
                    spec: JSONDocument([("teeth", version.input["teeth"].map { RawJSON($0) } ?? .null)]),
                    outcome: try env.outcomes.outcome(for: "assemble", service: "widgets", scope: workspace, template: model.name, ctx),
                    now: now)
            }, modify: { existing, _ in throw APIError(.conflict, "widget \(existing.name) exists in \(workspace)") })
        ctx.touched(widget)
        return .json(200, body(widget))
    }

    private static func show(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        guard let widget = try env.manager.resource(service: "widgets", scope: ctx.parameters["workspace"], name: ctx.parameters["name"])
        else { throw APIError(.notFound, "no widget \(ctx.parameters["name"])") }
        return .json(200, body(widget))
    }

    /// `{"shine": n}`: polishes a ready widget to that shine.
    private static func polish(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        let shine = try ctx.body().optionalInt("shine", in: 1...10) ?? 1
        return try begin(polish, ctx, env, input: RawJSON(.number(String(shine))))
    }

    private static func scrap(_ ctx: RequestContext, _ env: ServiceEnvironment) throws -> HTTPResponse {
        try begin("scrap", ctx, env)
    }

    private static func begin(_ op: Operation, _ ctx: RequestContext, _ env: ServiceEnvironment, input: RawJSON? = nil) throws -> HTTPResponse {
        let (workspace, name) = (ctx.parameters["workspace"], ctx.parameters["name"])
        let widget = try env.manager.modify(
            service: "widgets", scope: workspace, name: name, for: ctx.writes,
            notFound: { APIError(.notFound, "no widget \(name)") }
        ) { widget, now in
            try APIError.conflicts("widget busy") {
                try env.manager.engine.begin(
                    op, on: &widget, input: input, templateTiming: nil,
                    outcome: try env.outcomes.outcome(for: op, service: "widgets", scope: workspace, template: name, ctx), now: now)
            }
        }
        ctx.touched(widget)
        return .json(200, body(widget))
    }

    private static func body(_ w: Resource) -> [UInt8] {
        var out = JSONWriter()
        out.beginObject()
        out.field("id", w.id)
        out.field("model", w.name)
        out.field("workspace", w.scope)
        out.field("state", w.phase.rawValue)
        out.field("shine", w.spec["shine"] ?? .null)
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
