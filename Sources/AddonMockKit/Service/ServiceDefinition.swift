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
    /// How the service checks its callers, built from `--auth` and `--credentials` when it is mounted (default:
    /// it does not).
    public var authentication: @Sendable (AuthSettings) -> any RequestAuthentication
    /// The request headers its clients send, beside `Content-Type`: what a CORS preflight from a page `--cors`
    /// allows is granted when the page does not list the headers it wants.
    public var requestHeaders: [String]

    public init(
        name: String, pathPrefixes: [String], errorFormat: any ErrorFormat, catalog: CatalogSource? = nil,
        kinds: [ResourceKind], describe: @escaping @Sendable (RequestContext) -> RequestScope = { _ in RequestScope() },
        authentication: @escaping @Sendable (AuthSettings) -> any RequestAuthentication = { _ in NoAuthentication() },
        requestHeaders: [String] = [],
        openAPI: [UInt8], routes: @escaping @Sendable (ServiceEnvironment) -> [ServiceRoute]
    ) {
        self.authentication = authentication
        self.requestHeaders = requestHeaders
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
    public let manager: ResourceManager
    /// The service's catalog (empty when it has none).
    public let catalog: Catalog
    /// How an operation that starts will end: the request's outcome header, a lifecycle fault rule, or success.
    public let outcomes: OutcomeDecider
    /// Whether a resource whose parent kind is emulated needs its parent to exist (`--parents`).
    public let parents: ParentPolicy
    /// `--seed`: what a service derives reproducible names from (ids of stored records never are: a restart on the
    /// same database would repeat them).
    public let seed: UInt64

    public init(manager: ResourceManager, catalog: Catalog, outcomes: OutcomeDecider, parents: ParentPolicy = .lenient, seed: UInt64 = 0) {
        self.manager = manager
        self.catalog = catalog
        self.outcomes = outcomes
        self.parents = parents
        self.seed = seed
    }
}

/// `lenient`: a child names any parent id, existing or not (tests written before parents existed keep working);
/// `strict`: the parent must exist, as in the real cloud.
public enum ParentPolicy: String, Sendable, Equatable {
    case lenient, strict
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
