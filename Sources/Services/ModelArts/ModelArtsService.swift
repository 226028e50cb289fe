import AddonMockCore
import AddonMockHTTP
import AddonMockKit
import HuaweiCloud

/// The ModelArts API: resource pools with their nodes and orders (`Pools/`), and the plug-ins installed into them.
/// Plug-ins are keyed by their template name inside a (project, pool) scope; one project never sees another's.
/// Under `--parents lenient` (the default) any pool name serves for plug-ins; an emulated pool must be Running, and
/// deleting it deletes its plug-ins.
public enum ModelArts {
    public static let definition = ServiceDefinition(
        name: "modelarts", pathPrefixes: ["/v1/", "/v2/"], errorFormat: ModelArtsErrorFormat(),
        catalog: CatalogSource(
            file: "modelarts-plugin-templates.json", builtIn: PackageResources.modelarts_plugin_templates_json,
            noun: "plug-in template"),
        kinds: [
            Pools.poolKind,
            ResourceKind(
                name: "plugins", services: ["modelarts"], scopeFields: ["project", "pool"],
                lifecycle: .managedPackage, status: ModelArtsWire.status, nameField: "template", shown: ShownField.packageFields,
                entries: .package(valuesField: "inputs", noun: "plug-in template"),
                parent: ParentLink(kind: "pools", childScope: .ownerScopeAndName), title: "Plug-ins",
                deletePaths: ["modelarts": "/v2/{project}/pools/{pool}/plugins/{name}"],
                createForm: CreateForm(
                    service: "modelarts", path: "/v2/{project}/pools/{pool}/plugins",
                    body: #"{"apiVersion":"v2","kind":"Plugin","spec":{"template":{"name":"{template}","version":"{version}"}}}"#)),
            Pools.orderKind,
        ],
        describe: { ctx in
            var fields: [String: String] = [:]
            fields["project"] = ctx.parameters.value("project_id")
            fields["pool"] = ctx.parameters.value("pool_name")
            let template =
                ctx.parameters.value("template_name") ?? ctx.parameters.value("plugintemplate_name")
                ?? ctx.request.queryValue("templateName") ?? ctx.peek("spec", "template", "name")
            return RequestScope(template: template, fields: fields)
        },
        authentication: HuaweiCloudAuth.init, requestHeaders: HuaweiCloudAuth.requestHeaders,
        openAPI: PackageResources.modelarts_openapi_json,
        routes: { env in
            ModelArtsService(environment: env).routes + PoolService(manager: env.manager, outcomes: env.outcomes, seed: env.seed).routes
        })

    static let service = "modelarts"
}

/// The handlers.
struct ModelArtsService {
    let manager: ResourceManager
    let catalog: Catalog
    let wire: ModelArtsWire
    let outcomes: any OutcomeDecider
    /// `--parents`: whether a plug-in's pool must exist.
    let parents: ParentPolicy

    init(environment: ServiceEnvironment) {
        manager = environment.manager
        catalog = environment.catalog
        wire = ModelArtsWire(catalog: environment.catalog)
        outcomes = environment.outcomes
        parents = environment.parents
    }

    /// How the operation `ctx` starts on the plug-in `template` in `scope` will end.
    private func outcome(_ op: Operation, scope: String, template: String, _ ctx: RequestContext) throws -> Outcome {
        try outcomes.outcome(for: op, service: ModelArts.service, scope: scope, template: template, ctx)
    }

    var routes: [ServiceRoute] {
        let plugins = "/v2/{project_id}/pools/{pool_name}/plugins"
        return [
            ServiceRoute("POST", plugins) { try createOrUpgrade($0) },
            ServiceRoute("GET", plugins) { try list($0) },
            ServiceRoute("GET", "\(plugins)/{template_name}") { try show($0) },
            ServiceRoute("PATCH", "\(plugins)/{template_name}") { try patch($0) },
            ServiceRoute("DELETE", "\(plugins)/{template_name}") { try delete($0) },
            ServiceRoute("GET", "/v2/{project_id}/plugintemplates") { try templates($0) },
            ServiceRoute("GET", "/v1/{project_id}/plugintemplates/{plugintemplate_name}") { try template($0) },
        ]
    }

    // MARK: handlers

    /// Creates the plug-in (Pending) or, when it exists, upgrades it (Updating) if the version or inputs change.
    private func createOrUpgrade(_ ctx: RequestContext) throws -> HTTPResponse {
        let scope = poolScope(ctx)
        let body = try PluginCreateRequest.decode(try ctx.body())
        if let pool = try parentPool(ctx), !Self.installable.contains(pool.phase) {
            throw APIError(
                .badRequest, "pool \(pool.name) is \(Pools.shownPhase(pool.phase)): plug-ins can be installed only in a Running pool")
        }
        let (template, newestOrAsked) = try resolve(body.name, body.version)
        // Merged before the write: the writer lock is held for the SQL, not for JSON work.
        let asked = revision(newestOrAsked, inputs: body.inputs)
        let instance = try manager.createOrModify(
            service: ModelArts.service, scope: scope, name: template.name, for: ctx.writes,
            create: { now in
                try manager.engine.create(
                    id: Identifiers.uuid(), service: ModelArts.service, scope: scope, name: template.name,
                    spec: .package(asked), templateTiming: template.timing,
                    outcome: outcome(.install, scope: scope, template: template.name, ctx), now: now)
            },
            modify: { plugin, now in
                // Upgrading without a version keeps the installed one; inputs are the full set, over the defaults.
                let (_, version) = try resolve(template.name, body.version ?? plugin.revision.version)
                let target = version.version == asked.version ? asked : revision(version, inputs: body.inputs)
                try upgrade(&plugin, to: target, template: template, now: now, ctx)
            })
        ctx.touched(instance)
        return .json(200, wire.pluginBody(instance, detail: true))
    }

    private func list(_ ctx: RequestContext) throws -> HTTPResponse {
        _ = try parentPool(ctx)
        let list = try manager.list(
            service: ModelArts.service, scope: poolScope(ctx), renderer: "modelarts.plugin.detail",
            render: { wire.pluginBody($0, detail: true) }, join: wire.listBody)
        ctx.touched(listed: list.ids)
        return .json(200, list.body)
    }

    private func show(_ ctx: RequestContext) throws -> HTTPResponse {
        let scope = poolScope(ctx)
        let detail: Bool
        switch ctx.request.queryValue("detail") {
        case nil, "false": detail = false
        case "true": detail = true
        case let other?: throw APIError(.badRequest, "detail must be true or false, got \"\(other)\"")
        }
        let name = ctx.parameters["template_name"]
        guard let view = try manager.view(service: ModelArts.service, scope: scope, name: name) else {
            _ = try parentPool(ctx)
            throw notFound(name, ctx)
        }
        ctx.touched(view.resource)
        return .json(200, view.body(detail ? "modelarts.plugin.detail" : "modelarts.plugin") { wire.pluginBody($0, detail: detail) })
    }

    /// Merge patch of `spec.template`: a new version and/or changes to the inputs (`null` removes an input).
    private func patch(_ ctx: RequestContext) throws -> HTTPResponse {
        let scope = poolScope(ctx)
        let body = try PluginPatchRequest.decode(try ctx.body())
        let name = ctx.parameters["template_name"]
        /// The patched revision of `current`: parsing, patching and merging are linear in the values' size.
        func patched(_ current: Revision, template: String) throws -> (Template, Revision) {
            let (template, version) = try resolve(template, body.version ?? current.version)
            var inputs = current.values.parsed().applyingMergePatch(body.inputs ?? .object([]))
            // A new version brings its new defaults; what the plug-in already had (and the patch set) wins.
            if version.version != current.version { inputs = version.input.merging(inputs) }
            return (template, Revision(version: version.version, values: RawJSON(inputs)))
        }
        // Worked out from a read before the write, so the writer lock is held for the SQL only; done again inside
        // only if the plug-in changed in between.
        let before = try manager.resource(service: ModelArts.service, scope: scope, name: name)
        let planned = try before.map { (base: $0.revision, result: try patched($0.revision, template: $0.name)) }
        let plugin = try manager.modify(service: ModelArts.service, scope: scope, name: name, for: ctx.writes, notFound: { notFound(name, ctx) }) {
            plugin, now in
            if let renamed = body.name, renamed != plugin.name {
                throw APIError(.badRequest, "spec.template.name cannot change: plug-in \(plugin.name) cannot become \(renamed)")
            }
            let (template, target) =
                try planned.flatMap { $0.base == plugin.revision ? $0.result : nil }
                ?? patched(plugin.revision, template: plugin.name)
            try upgrade(&plugin, to: target, template: template, now: now, ctx)
        }
        ctx.touched(plugin)
        return .json(200, wire.pluginBody(plugin, detail: true))
    }

    private func delete(_ ctx: RequestContext) throws -> HTTPResponse {
        let scope = poolScope(ctx)
        let name = ctx.parameters["template_name"]
        let plugin = try manager.modify(service: ModelArts.service, scope: scope, name: name, for: ctx.writes, notFound: { notFound(name, ctx) }) {
            plugin, now in
            let (scope, name) = (plugin.scope, plugin.name)
            try APIError.conflicts("plug-in operation conflict") {
                try manager.engine.begin(
                    .delete, on: &plugin, templateTiming: catalog.template(named: name)?.timing,
                    outcome: outcome(.delete, scope: scope, template: name, ctx), now: now)
            }
        }
        ctx.touched(plugin)
        return .json(200, wire.pluginBody(plugin, detail: true))
    }

    private func templates(_ ctx: RequestContext) throws -> HTTPResponse {
        guard let name = ctx.request.queryValue("templateName"), !name.isEmpty else {
            return .json(200, wire.templateListBody(catalog.templates))
        }
        // A filter on a list: no match is an empty list, not an error.
        return .json(200, wire.templateListBody(catalog.template(named: name).map { [$0] } ?? []))
    }

    private func template(_ ctx: RequestContext) throws -> HTTPResponse {
        return .json(200, wire.templateBody(try resolve(ctx.parameters["plugintemplate_name"], nil).0))
    }

    // MARK: helpers

    private func resolve(_ name: String, _ version: String?) throws(APIError) -> (Template, TemplateVersion) {
        try catalog.resolve(name, version: version, noun: "plug-in template")
    }

    private func revision(_ version: TemplateVersion, inputs: JSONValue) -> Revision {
        Revision(version: version.version, values: version.values(over: inputs))
    }

    /// Starts an upgrade unless nothing would change (then the plug-in is answered as it is).
    private func upgrade(_ plugin: inout Resource, to revision: Revision, template: Template, now: Instant, _ ctx: RequestContext) throws {
        guard revision != plugin.revision || plugin.isInFlight else { return }
        let scope = plugin.scope
        try APIError.conflicts("plug-in operation conflict") {
            try manager.engine.begin(
                .upgrade, on: &plugin, input: revision.raw, templateTiming: template.timing,
                outcome: outcome(.upgrade, scope: scope, template: template.name, ctx), now: now)
        }
    }

    /// The pool phases a plug-in may be installed in: Running, also while it scales or resizes nodes.
    static let installable: Set<Phase> = [Pools.running, Pools.scaling, Pools.resizing]

    /// The emulated pool the request names; nil when there is none (a 404 under `--parents strict`).
    private func parentPool(_ ctx: RequestContext) throws -> Resource? {
        let (project, name) = (ctx.parameters["project_id"], ctx.parameters["pool_name"])
        // Most plug-in users create no pools: then there is nothing to look up.
        let found = manager.hasRecords(service: Pools.service) ? try manager.resource(service: Pools.service, scope: project, name: name) : nil
        if found == nil && parents == .strict {
            let error = PoolService.poolNotFound(name)
            throw APIError(error.kind, error.message + " (the server runs with --parents strict: create the pool first)", code: error.code)
        }
        return found
    }

    private func notFound(_ name: String, _ ctx: RequestContext) -> APIError {
        APIError(.notFound, "plug-in \(name) not found in pool \(ctx.parameters["pool_name"])")
    }

    /// Plug-ins are isolated per project and pool (both identifiers: the dispatcher checked every path parameter).
    private func poolScope(_ ctx: RequestContext) -> String {
        "\(ctx.parameters["project_id"])/\(ctx.parameters["pool_name"])"
    }
}
