import AddonMockCore
import AddonMockHTTP

/// Everything the application needs from one emulated API, in one value: where it is mounted, how it spells
/// errors, its catalog, its resource kinds (lifecycle tables, control-plane views, seed entries), what fault rules
/// can match in its requests, its OpenAPI fragment and its routes. The application, control plane, seeder, fault
/// matching and OpenAPI document are generic over the list of definitions (`Services.builtIn`); adding an API
/// is adding a folder under `Services/` that builds one of these.
public struct ServiceDefinition: Sendable {
    /// The name fault rules and the journal see unless a route says otherwise (`cce`, `modelarts`).
    public var name: String
    /// Requests under these prefixes get this service's error format even when no route matches.
    public var pathPrefixes: [String]
    public var errorFormat: any ErrorFormat
    /// The template catalog, when the service has one (`--fixtures` may override its file).
    public var catalog: CatalogSource?
    public var kinds: [ResourceKind]
    /// Scope and template as fault rules see them, read the service's way (cluster from query, header, host or
    /// body; project and pool from the path).
    public var describe: @Sendable (RequestContext) -> RequestScope
    /// `{"tags": […], "paths": {…}, "components": {"schemas": {…}}}`, merged into `/_mock/openapi.json`.
    public var openAPI: [UInt8]
    /// The routes, built once the store and the catalog are ready.
    public var routes: @Sendable (ServiceEnvironment) -> [ServiceRoute]

    public init(
        name: String, pathPrefixes: [String], errorFormat: any ErrorFormat, catalog: CatalogSource? = nil,
        kinds: [ResourceKind], describe: @escaping @Sendable (RequestContext) -> RequestScope = { _ in RequestScope() },
        openAPI: [UInt8], routes: @escaping @Sendable (ServiceEnvironment) -> [ServiceRoute]
    ) {
        self.name = name
        self.pathPrefixes = pathPrefixes
        self.errorFormat = errorFormat
        self.catalog = catalog
        self.kinds = kinds
        self.describe = describe
        self.openAPI = openAPI
        self.routes = routes
    }
}

/// A catalog file: its name in `--fixtures` and the copy compiled into the binary.
public struct CatalogSource: Sendable {
    public var file: String
    public var builtIn: [UInt8]
    /// How messages name one of its templates ("addon template").
    public var noun: String

    public init(file: String, builtIn: [UInt8], noun: String) {
        self.file = file
        self.builtIn = builtIn
        self.noun = noun
    }
}

/// What a service's handlers are built with.
public struct ServiceEnvironment: Sendable {
    public let manager: InstanceManager
    /// The service's catalog (empty when it has none).
    public let catalog: Catalog
    /// How an operation that starts will end: the request's outcome header, a lifecycle fault rule, or success.
    public let outcomes: OutcomeDecider

    public init(manager: InstanceManager, catalog: Catalog, outcomes: OutcomeDecider) {
        self.manager = manager
        self.catalog = catalog
        self.outcomes = outcomes
    }
}

/// One kind of resource a service keeps (CCE add-ons, ModelArts plug-ins): stored as `Instance` records under
/// its service names, moved by its lifecycle table, listed by the control plane and seeded from `seed.json`
/// under `name`.
public struct ResourceKind: Sendable {
    /// `/_mock/resources/{name}` and the `seed.json` key (`addons`, `plugins`).
    public var name: String
    /// One of them, as `/_mock/wait` names it (`addon`, `plugin`).
    public var singular: String
    /// The service names its records carry; the first is the default in `seed.json`.
    public var services: [String]
    /// The fields a scope is made of, outermost first: `["cluster"]`, `["project", "pool"]`. A record's scope is
    /// their values joined by `/`.
    public var scopeFields: [String]
    public var lifecycle: LifecycleTable
    /// The status the service shows for a phase (ModelArts: `Running` for running, `Abnormal` for every failure).
    public var status: @Sendable (Phase) -> String
    /// The `seed.json` field holding an entry's values (`values`, `inputs`).
    public var valuesField: String
    /// Whether `seed.json` may create it: a record made from a catalog template and values. Records derived from
    /// others (add-on checks) are not.
    public var seedable: Bool
    /// How people call it (the console's group titles): "Add-ons".
    public var title: String
    /// Per stored service, the service API request (`DELETE` path) that deletes one, `{id}`, `{name}` and the scope
    /// fields filled in: the console's Delete button. A service without one has no Delete button.
    public var deletePaths: [String: String]

    public init(
        name: String, services: [String], scopeFields: [String], lifecycle: LifecycleTable,
        status: @escaping @Sendable (Phase) -> String = { $0.rawValue }, valuesField: String = "values", seedable: Bool = true,
        title: String? = nil, deletePaths: [String: String] = [:], singular: String? = nil
    ) {
        self.name = name
        self.singular = singular ?? (name.hasSuffix("s") ? String(name.dropLast()) : name)
        self.services = services
        self.scopeFields = scopeFields
        self.lifecycle = lifecycle
        self.status = status
        self.valuesField = valuesField
        self.seedable = seedable
        self.title = title ?? name
        self.deletePaths = deletePaths
    }

    /// The scope's fields by name (`"p1/pool-a"` -> project p1, pool pool-a).
    public func fields(of scope: String) -> [String: String] {
        var out: [String: String] = [:]
        for (field, value) in zip(scopeFields, scopeValues(of: scope)) { out[field] = String(value) }
        return out
    }

    /// The scope's values in `scopeFields` order, without building a dictionary (the event stream writes one per
    /// event).
    public func scopeValues(of scope: String) -> [Substring] {
        scope.split(separator: "/", maxSplits: scopeFields.count - 1, omittingEmptySubsequences: false)
    }

    /// The scope named by `fields` (each an identifier, so none holds a `/`).
    public func scope(_ fields: [String: String]) -> String {
        scopeFields.map { fields[$0] ?? "" }.joined(separator: "/")
    }

    /// A settled phase by its name or the status the service shows for it (`Running`).
    public func settledPhase(named text: String) -> Phase? {
        lifecycle.settled.first { $0.rawValue == text } ?? lifecycle.settled.first { status($0) == text }
    }

    /// Every name `settledPhase(named:)` accepts, for error messages.
    public var settledPhaseNames: [String] { (lifecycle.settled.map(\.rawValue) + lifecycle.settled.map(status)).uniqued }
}

/// What fault rules can match a request on, beyond its method, route and service.
public struct RequestScope: Sendable {
    public var template: String?
    /// Scope fields named by the request (`cluster`; `project`, `pool`).
    public var fields: [String: String]

    public init(template: String? = nil, fields: [String: String] = [:]) {
        self.template = template
        self.fields = fields
    }
}

/// Handlers throw `APIError` for answers in the service's error format; anything else becomes a 500.
public typealias RouteHandler = @Sendable (RequestContext) throws -> HTTPResponse

public struct ServiceRoute: Sendable {
    public let method: String
    public let pattern: String
    /// The service name fault rules and the journal see (`cce`, `autopilot`); nil: the service's name.
    public let service: String?
    public let handler: RouteHandler

    public init(_ method: String, _ pattern: String, service: String? = nil, _ handler: @escaping RouteHandler) {
        self.method = method
        self.pattern = pattern
        self.service = service
        self.handler = handler
    }
}
