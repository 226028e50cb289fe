import AddonMockCore
import AddonMockHTTP
import AddonMockKit
import HuaweiCloud

/// The CCE API: clusters with their node pools, nodes and jobs (`Clusters/`), and add-ons, served twice: under
/// `/api/v3` (CCE clusters) and `/autopilot/v3` (Autopilot clusters), each its own namespace of add-ons. Deleting
/// a cluster deletes its node pools, add-ons and add-on checks.
public enum CCE {
    public static let definition = ServiceDefinition(
        name: "cce", pathPrefixes: ["/api/v3/", "/autopilot/v3/"], errorFormat: CCEErrorFormat(),
        catalog: CatalogSource(file: "cce-addon-templates.json", builtIn: PackageResources.cce_addon_templates_json, noun: "addon template"),
        kinds: [
            Clusters.clusterKind, Clusters.nodePoolKind,
            ResourceKind(
                name: "addons", services: ["cce", "autopilot"], scopeFields: ["cluster"], lifecycle: .managedPackage,
                nameField: "template", shown: ShownField.packageFields, entries: .package(noun: "addon template"),
                parent: ParentLink(kind: "clusters"), title: "Add-ons",
                deletePaths: ["cce": "/api/v3/addons/{id}?cluster_id={cluster}", "autopilot": "/autopilot/v3/addons/{id}?cluster_id={cluster}"],
                createForm: CreateForm(
                    service: "cce", path: "/api/v3/addons",
                    body: #"{"kind":"Addon","apiVersion":"v3","metadata":{"annotations":{"addon.install/type":"install"}},"#
                        + #""spec":{"clusterID":"{cluster}","addonTemplateName":"{template}","version":"{version}","values":{}}}"#)),
            AddonCheck.kind, Clusters.jobKind,
        ],
        describe: { ctx in
            let cluster =
                ctx.parameters.value("cluster_id") ?? CCEService.clusterNamed(by: ctx.request)?.value ?? ctx.peek("spec", "clusterID")
                ?? ctx.peek("clusterID")
            return RequestScope(
                template: ctx.request.queryValue("addon_template_name") ?? ctx.peek("spec", "addonTemplateName"),
                fields: cluster.map { ["cluster": $0] } ?? [:])
        },
        authentication: HuaweiCloudAuth.init, requestHeaders: HuaweiCloudAuth.requestHeaders,
        openAPI: PackageResources.cce_openapi_json,
        routes: { env in
            CCEService(environment: env).routes
                + AddonCheckService(manager: env.manager, catalog: env.catalog, outcomes: env.outcomes).routes
                + ClusterService(
                    manager: env.manager, outcomes: env.outcomes, prefix: "/api/v3", clusterService: Clusters.service, seed: env.seed
                ).routes
                + ClusterService(
                    manager: env.manager, outcomes: env.outcomes, prefix: "/autopilot/v3", clusterService: Clusters.autopilotService,
                    seed: env.seed
                ).routes
        })
}

/// The handlers.
struct CCEService {
    let manager: ResourceManager
    let catalog: Catalog
    let wire: CCEWire
    /// Autopilot clusters are VirtualMachine clusters: their templates list no other cluster type. Encoded on
    /// first use, not at start-up (the template list is rarely asked for).
    let autopilotWire = Locked<CCEWire?>(nil)
    let outcomes: any OutcomeDecider
    /// `--parents`: whether an add-on's cluster must exist.
    let parents: ParentPolicy

    init(environment: ServiceEnvironment) {
        manager = environment.manager
        catalog = environment.catalog
        wire = CCEWire(catalog: environment.catalog)
        outcomes = environment.outcomes
        parents = environment.parents
    }

    var routes: [ServiceRoute] {
        [("/api/v3", "cce"), ("/autopilot/v3", "autopilot")].flatMap { prefix, kind in
            [
                ServiceRoute("POST", "\(prefix)/addons", service: kind) { try install($0, kind) },
                ServiceRoute("GET", "\(prefix)/addons", service: kind) { try list($0, kind) },
                ServiceRoute("GET", "\(prefix)/addons/{id}", service: kind) { try show($0, kind) },
                ServiceRoute("PUT", "\(prefix)/addons/{id}", service: kind) { try upgrade($0, kind) },
                ServiceRoute("DELETE", "\(prefix)/addons/{id}", service: kind) { try delete($0, kind) },
                ServiceRoute("POST", "\(prefix)/addons/{id}/operation/rollback", service: kind) { try rollback($0, kind) },
                ServiceRoute("GET", "\(prefix)/addontemplates", service: kind) {
                    try templates($0, kind == "autopilot" ? autopilotTemplatesWire() : wire, kind)
                },
            ]
        }
    }

    // MARK: handlers

    private func install(_ ctx: RequestContext, _ kind: String) throws -> HTTPResponse {
        let body = try InstanceRequest.decode(try ctx.body(), versionRequired: false)
        try checkClusterMatches(body.clusterID, ctx.request)
        let cluster = try parentCluster(body.clusterID, kind)
        if let cluster, cluster.phase != Clusters.available {
            throw APIError(
                .badRequest,
                "cluster \(cluster.id) is \(cluster.phase.rawValue): add-ons can be installed only in an Available cluster")
        }
        var (template, version) = try resolve(body.templateName, body.version)
        if let cluster {
            // An emulated cluster gets a version its Kubernetes supports: the newest stable one when none is asked.
            let (type, clusterVersion) = (cluster.spec.string("type") ?? "VirtualMachine", cluster.spec.string("version") ?? "")
            let fits = { (v: TemplateVersion) in ClusterCatalog.supports(v.supportVersions, clusterType: type, clusterVersion: clusterVersion) }
            if body.version == nil, let newest = template.versions.last(where: { $0.stable && fits($0) }) ?? template.versions.last(where: fits) {
                version = newest
            }
            guard fits(version) else {
                let fitting = template.versions.filter(fits).map(\.version)
                throw APIError(
                    .badRequest,
                    "\(template.name) \(version.version) does not support cluster \(cluster.id) (\(type) \(clusterVersion)); versions that do: "
                        + (fitting.isEmpty ? "none" : fitting.joined(separator: ", ")))
            }
        }
        let revision = Revision(version: version.version, values: version.values(over: body.values))
        let annotations = body.annotations ?? .object([("addon.install/type", .string("install"))])
        let instance = try manager.createOrModify(
            service: kind, scope: body.clusterID, name: template.name, for: ctx.writes,
            create: { now in
                try manager.engine.create(
                    id: Identifiers.uuid(), service: kind, scope: body.clusterID, name: template.name,
                    spec: .package(revision, annotations: RawJSON(annotations)), templateTiming: template.timing,
                    outcome: outcomes.outcome(for: .install, service: kind, scope: body.clusterID, template: template.name, ctx), now: now)
            },
            modify: { existing, _ in
                throw APIError(
                    .conflict,
                    "Addon instance has installed: \(template.name) already exists in cluster \(body.clusterID) as \(existing.id) (status \(existing.phase.rawValue))"
                )
            })
        ctx.touched(instance)
        // 201, not the API page's 200: terraform's golangsdk (addons.Create, OkCodes [201]) accepts nothing else, and
        // its acceptance tests run against the real service (docs/api.md, "Status codes real clients require").
        return .json(201, wire.instanceBody(instance))
    }

    private func list(_ ctx: RequestContext, _ kind: String) throws -> HTTPResponse {
        guard let cluster = try namedCluster(ctx.request) else {
            throw APIError(
                .badRequest, "cluster_id is required: pass the query parameter cluster_id, the header X-Cluster-ID, or a {cluster_id}. host prefix")
        }
        _ = try parentCluster(cluster, kind)
        let list = try manager.list(service: kind, scope: cluster, renderer: "cce.instance", render: wire.instanceBody, join: wire.listBody)
        ctx.touched(listed: list.ids)
        return .json(200, list.body)
    }

    private func show(_ ctx: RequestContext, _ kind: String) throws -> HTTPResponse {
        let id = ctx.parameters["id"]
        let cluster = try namedCluster(ctx.request)
        guard let view = try manager.view(id: id), belongs(view.resource, kind, cluster) else {
            throw notFound(id, cluster)
        }
        ctx.touched(view.resource)
        return .json(200, view.body("cce.instance", wire.instanceBody))
    }

    private func upgrade(_ ctx: RequestContext, _ kind: String) throws -> HTTPResponse {
        let id = ctx.parameters["id"]
        let body = try InstanceRequest.decode(try ctx.body(), versionRequired: true)
        try checkClusterMatches(body.clusterID, ctx.request)
        let (template, version) = try resolve(body.templateName, body.version)
        let revision = Revision(version: version.version, values: version.values(over: body.values))
        let instance = try manager.modify(
            id: id, for: ctx.writes, belongs: { belongs($0, kind, body.clusterID) },
            notFound: { notFound(id, body.clusterID) }
        ) { instance, now in
            guard instance.name == template.name else {
                throw APIError(
                    .badRequest, "spec.addonTemplateName \"\(body.templateName)\" does not match instance \(id), which is \(instance.name)")
            }
            let (scope, name) = (instance.scope, instance.name)
            try lifecycle {
                try manager.engine.begin(
                    .upgrade, on: &instance, input: revision.raw, templateTiming: template.timing,
                    outcome: outcomes.outcome(for: .upgrade, service: kind, scope: scope, template: name, ctx), now: now)
            }
            if let annotations = body.annotations { instance.annotations = RawJSON(annotations) }
        }
        ctx.touched(instance)
        return .json(200, wire.instanceBody(instance))
    }

    private func delete(_ ctx: RequestContext, _ kind: String) throws -> HTTPResponse {
        let id = ctx.parameters["id"]
        let cluster = try namedCluster(ctx.request)
        let instance = try begin(.delete, id: id, kind, cluster: cluster, ctx)
        ctx.touched(instance)
        // The real API answers a plain-text "success"; the SDK's DeleteAddonInstanceResponse.body reads it as is.
        return .text(200, "success")
    }

    private func rollback(_ ctx: RequestContext, _ kind: String) throws -> HTTPResponse {
        let id = ctx.parameters["id"]
        let body = try RollbackRequest.decode(try ctx.body())
        try checkClusterMatches(body.clusterID, ctx.request)
        let instance = try begin(.rollback, id: id, kind, cluster: body.clusterID, ctx)
        ctx.touched(instance)
        return .json(200, wire.instanceBody(instance))
    }

    /// Starts `op` (one that needs no new revision: delete, rollback) on the add-on `id` of `cluster`, with the
    /// template's timing and the outcome the request or a fault rule decides.
    private func begin(_ op: Operation, id: String, _ kind: String, cluster: String?, _ ctx: RequestContext) throws -> Resource {
        try manager.modify(id: id, for: ctx.writes, belongs: { belongs($0, kind, cluster) }, notFound: { notFound(id, cluster) }) {
            instance, now in
            let timing = catalog.template(named: instance.name)?.timing
            let (scope, name) = (instance.scope, instance.name)
            try lifecycle {
                try manager.engine.begin(
                    op, on: &instance, templateTiming: timing,
                    outcome: outcomes.outcome(for: op, service: kind, scope: scope, template: name, ctx), now: now)
            }
        }
    }

    private func autopilotTemplatesWire() -> CCEWire {
        autopilotWire.withLock { cached in
            if let cached { return cached }
            let made = CCEWire(catalog: catalog, clusterTypes: ["VirtualMachine"])
            cached = made
            return made
        }
    }

    private func templates(_ ctx: RequestContext, _ wire: CCEWire, _ kind: String) throws -> HTTPResponse {
        // A cluster named by the request (?cluster_id=, X-Cluster-ID, a host prefix) that is emulated: only the
        // versions that support its Kubernetes version and type.
        let cluster = try namedCluster(ctx.request).flatMap { try parentCluster($0, kind) }
        let named = ctx.request.queryValue("addon_template_name").flatMap { $0.isEmpty ? nil : $0 }
        if let cluster {
            let (type, version) = (cluster.spec.string("type") ?? "VirtualMachine", cluster.spec.string("version") ?? "")
            let templates = try named.map { [try resolve($0, nil).0] } ?? catalog.templates
            return .json(
                200,
                wire.templateListBody(templates) { ClusterCatalog.supports($0.supportVersions, clusterType: type, clusterVersion: version) })
        }
        guard let name = named else {
            return .json(200, wire.templateListBody(catalog.templates))
        }
        guard Self.isValidTemplateName(name) else {
            throw APIError(
                .badRequest,
                "addon_template_name \"\(name)\" is invalid: 2 to 30 characters of letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
            )
        }
        return .json(200, wire.templateListBody([try resolve(name, nil).0]))
    }

    // MARK: helpers

    static func isValidTemplateName(_ s: String) -> Bool {
        let b = Array(s.utf8)
        func alnum(_ c: UInt8) -> Bool { (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) }
        guard (2...30).contains(b.count), alnum(b[0]), alnum(b[b.count - 1]) else { return false }
        return b.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private func resolve(_ name: String, _ version: String?) throws(APIError) -> (Template, TemplateVersion) {
        try catalog.resolve(name, version: version, noun: "addon template")
    }

    /// The emulated cluster `id`, if there is one. Under `--parents strict` there must be: a 404 otherwise.
    private func parentCluster(_ id: String, _ kind: String) throws -> Resource? {
        let service = Clusters.clusterService(ofAddons: kind)
        // Most add-on users create no clusters: then there is nothing to look up.
        let found = manager.hasRecords(service: service) ? try manager.resource(id: id).flatMap { $0.service == service ? $0 : nil } : nil
        if found == nil && parents == .strict {
            throw APIError(.notFound, "cluster \(id) not found (the server runs with --parents strict: create the cluster first)")
        }
        return found
    }

    private func belongs(_ i: Resource, _ kind: String, _ cluster: String?) -> Bool {
        i.service == kind && (cluster == nil || i.scope == cluster)
    }

    private func notFound(_ id: String, _ cluster: String?) -> APIError {
        APIError(.notFound, cluster.map { "addon instance \(id) not found in cluster \($0)" } ?? "addon instance \(id) not found")
    }

    private func lifecycle(_ body: () throws -> Void) throws {
        try APIError.conflicts("Addon instance operation conflict", body)
    }

    /// A cluster named by the request itself (query, header or host) must agree with the body's clusterID.
    private func checkClusterMatches(_ bodyCluster: String, _ request: HTTPRequest) throws(APIError) {
        if let cluster = try namedCluster(request), cluster != bodyCluster {
            throw APIError(.badRequest, "clusterID \"\(bodyCluster)\" in the body does not match cluster \"\(cluster)\" named by the request")
        }
    }

    /// The requested cluster, refused with a 400 naming where it came from unless it is an identifier.
    private func namedCluster(_ request: HTTPRequest) throws(APIError) -> String? {
        guard let (value, field) = Self.clusterNamed(by: request) else { return nil }
        return try IdentifierRule.check(value, field: field)
    }

    /// The cluster a request names, by precedence: `?cluster_id=`, `X-Cluster-ID`, then a `{clusterid}.` host prefix
    /// (the real endpoint form `https://{clusterid}.cce.../`), recognised when the first label is a UUID or the
    /// rest of the host is `localhost`; with where it came from.
    static func clusterNamed(by request: HTTPRequest) -> (value: String, field: String)? {
        if let q = request.queryValue("cluster_id"), !q.isEmpty { return (q, "cluster_id") }
        if let h = request.headers["X-Cluster-ID"], !h.isEmpty { return (h, "X-Cluster-ID") }
        // Most hosts are an IP address or a single name: no dot-separated prefix to look at.
        guard let host = request.headers["Host"], !host.hasPrefix("["), mayNameACluster(host) else { return nil }
        let name = host.split(separator: ":", maxSplits: 1).first.map(String.init) ?? host
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let first = labels.first, !first.isEmpty else { return nil }
        let rest = labels.dropFirst().joined(separator: ".")
        if rest.lowercased() == "localhost" || Self.isUUID(first) { return (String(first), "the cluster prefix of Host") }
        return nil
    }

    /// Whether a Host value has a dot and is not an IPv4 address (with a port): asked on every request that names
    /// no cluster otherwise, so one pass over the bytes.
    private static func mayNameACluster(_ host: String) -> Bool {
        var host = host
        return host.withUTF8 { bytes in
            var dot = false
            var name = false
            for b in bytes {
                if b == UInt8(ascii: ".") {
                    dot = true
                } else if !(b >= 0x30 && b <= 0x39) && b != UInt8(ascii: ":") {
                    name = true
                }
            }
            return dot && name
        }
    }

    static func isUUID(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                if c != UInt8(ascii: "-") { return false }
            } else if !((48...57).contains(c) || (97...102).contains(c) || (65...70).contains(c)) {
                return false
            }
        }
        return true
    }
}
