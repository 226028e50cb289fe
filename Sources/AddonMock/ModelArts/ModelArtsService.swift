import AddonMockCore
import AddonMockHTTP

/// The ModelArts resource-pool plug-in API. Plug-ins are keyed by their template name inside a (project, pool)
/// scope; pools exist implicitly (any name is a pool), and one project never sees another's plug-ins.
struct ModelArtsService: EmulatedService {
    let name = "modelarts"
    let pathPrefixes = ["/v1/", "/v2/"]
    let errorFormat: any ErrorFormat = ModelArtsErrorFormat()
    let manager: InstanceManager
    let catalog: Catalog
    let wire: ModelArtsWire
    let outcomes: any OutcomeDecider

    init(manager: InstanceManager, catalog: Catalog, outcomes: any OutcomeDecider = AlwaysSucceed()) {
        self.manager = manager
        self.catalog = catalog
        self.wire = ModelArtsWire(catalog: catalog)
        self.outcomes = outcomes
    }

    func describe(_ request: HTTPRequest, _ parameters: PathParameters) -> RequestScope {
        let template = parameters.value("template_name") ?? parameters.value("plugintemplate_name")
            ?? request.queryValue("templateName") ?? peekString(request.body, "spec", "template", "name")
        return RequestScope(template: template, project: parameters.value("project_id"), pool: parameters.value("pool_name"))
    }

    /// How the operation `ctx` starts will end (header, fault rule, or success).
    private func outcome(_ op: Operation, scope: String, template: String, _ ctx: RequestContext) throws -> Outcome {
        let (project, pool) = Self.split(scope)
        return try outcomes.outcome(for: op, subject: FaultSubject(method: ctx.request.method, route: "/v2/{project_id}/pools/{pool_name}/plugins",
                                                                   service: name, template: template, project: project, pool: pool),
                                    request: ctx.request)
    }

    static func split(_ scope: String) -> (project: String, pool: String) {
        let parts = scope.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
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
        let body = try PluginCreateRequest.decode(ctx.request.body)
        let (template, newestOrAsked) = try resolve(body.name, body.version)
        // Merged before the write: the writer lock is held for the SQL, not for JSON work.
        let asked = revision(newestOrAsked, inputs: body.inputs)
        let instance = try manager.createOrModify(service: .modelarts, scope: scope, template: template.name, for: ctx.writes, create: { now in
            try manager.engine.install(id: Identifiers.uuid(), service: .modelarts, scope: scope, template: template.name,
                                       revision: asked, annotations: .emptyObject, templateTiming: template.timing,
                                       outcome: outcome(.install, scope: scope, template: template.name, ctx), now: now)
        }, modify: { plugin, now in
            // Upgrading without a version keeps the installed one; inputs are the full set, over the defaults.
            let (_, version) = try resolve(template.name, body.version ?? plugin.current.version)
            let target = version.version == asked.version ? asked : revision(version, inputs: body.inputs)
            try upgrade(&plugin, to: target, template: template, now: now, ctx)
        })
        ctx.touched(instance)
        return .json(200, wire.pluginBody(instance, detail: true))
    }

    private func list(_ ctx: RequestContext) throws -> HTTPResponse {
        let items = try manager.instances(service: .modelarts, scope: poolScope(ctx))
        items.forEach(ctx.touched)
        return .json(200, wire.listBody(items))
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
        guard let view = try manager.view(service: .modelarts, scope: scope, template: name) else {
            throw notFound(name, ctx)
        }
        ctx.touched(view.instance)
        return .json(200, view.body(detail ? "modelarts.plugin.detail" : "modelarts.plugin") { wire.pluginBody($0, detail: detail) })
    }

    /// Merge patch of `spec.template`: a new version and/or changes to the inputs (`null` removes an input).
    private func patch(_ ctx: RequestContext) throws -> HTTPResponse {
        let scope = poolScope(ctx)
        let body = try PluginPatchRequest.decode(ctx.request.body)
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
        let before = try manager.instance(service: .modelarts, scope: scope, template: name)
        let planned = try before.map { (base: $0.current, result: try patched($0.current, template: $0.template)) }
        let plugin = try manager.modify(service: .modelarts, scope: scope, template: name, for: ctx.writes, notFound: { notFound(name, ctx) }) { plugin, now in
            if let renamed = body.name, renamed != plugin.template {
                throw APIError(.badRequest, "spec.template.name cannot change: plug-in \(plugin.template) cannot become \(renamed)")
            }
            let (template, target) = try planned.flatMap { $0.base == plugin.current ? $0.result : nil }
                ?? patched(plugin.current, template: plugin.template)
            try upgrade(&plugin, to: target, template: template, now: now, ctx)
        }
        ctx.touched(plugin)
        return .json(200, wire.pluginBody(plugin, detail: true))
    }

    private func delete(_ ctx: RequestContext) throws -> HTTPResponse {
        let scope = poolScope(ctx)
        let name = ctx.parameters["template_name"]
        let plugin = try manager.modify(service: .modelarts, scope: scope, template: name, for: ctx.writes, notFound: { notFound(name, ctx) }) { plugin, now in
            let (scope, name) = (plugin.scope, plugin.template)
            try APIError.conflicts("plug-in operation conflict") {
                try manager.engine.begin(.delete, on: &plugin, templateTiming: catalog.template(named: name)?.timing,
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
        Revision(version: version.version, values: RawJSON(version.input.merging(inputs)))
    }

    /// Starts an upgrade unless nothing would change (then the plug-in is answered as it is).
    private func upgrade(_ plugin: inout Instance, to revision: Revision, template: Template, now: Instant, _ ctx: RequestContext) throws {
        guard revision != plugin.current || plugin.phase.isInFlight else { return }
        let scope = plugin.scope
        try APIError.conflicts("plug-in operation conflict") {
            try manager.engine.begin(.upgrade, on: &plugin, revision: revision, templateTiming: template.timing,
                                     outcome: outcome(.upgrade, scope: scope, template: template.name, ctx), now: now)
        }
    }

    private func notFound(_ name: String, _ ctx: RequestContext) -> APIError {
        APIError(.notFound, "plug-in \(name) not found in pool \(ctx.parameters["pool_name"])")
    }

    /// Plug-ins are isolated per project and pool (both identifiers: the dispatcher checked every path parameter).
    private func poolScope(_ ctx: RequestContext) -> String {
        "\(ctx.parameters["project_id"])/\(ctx.parameters["pool_name"])"
    }
}
