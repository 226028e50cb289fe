import AddonMockCore
import AddonMockHTTP
import AddonMockStore

/// What a handler gets: the request, its path parameters, the id echoed in `X-Request-Id`, a trace the
/// handler fills with the resources it touched (for the request journal), and the request's writes (nil for a
/// read), which every write it makes is passed so its answer can wait for their commit.
public struct RequestContext: Sendable {
    public let request: HTTPRequest
    public let parameters: PathParameters
    public let requestID: String
    public let trace: RequestTrace
    public let writes: RequestWrites?

    /// Notes that this request read or changed the instance.
    public func touched(_ instance: Instance) { trace.add(instance.id) }
}

/// Written and read on the one thread that serves the request, hence `@unchecked`.
public final class RequestTrace: @unchecked Sendable {
    public private(set) var resourceIDs: [String] = []
    public init() {}
    func add(_ id: String) { if !resourceIDs.contains(id) { resourceIDs.append(id) } }
}

/// Handlers throw `APIError` for answers in the service's error format; anything else becomes a 500.
public typealias RouteHandler = @Sendable (RequestContext) throws -> HTTPResponse

public struct ServiceRoute: Sendable {
    public let method: String
    public let pattern: String
    /// The service name fault rules and the journal see (`cce`, `autopilot`, `modelarts`); nil: the service's name.
    public let service: String?
    public let handler: RouteHandler

    public init(_ method: String, _ pattern: String, service: String? = nil, _ handler: @escaping RouteHandler) {
        self.method = method
        self.pattern = pattern
        self.service = service
        self.handler = handler
    }
}

/// One emulated API (or the control API): the paths it owns, how it spells errors, and its routes.
public protocol EmulatedService: Sendable {
    var name: String { get }
    /// Requests under these prefixes get this service's error format even when no route matches.
    var pathPrefixes: [String] { get }
    var errorFormat: any ErrorFormat { get }
    var routes: [ServiceRoute] { get }
    /// What fault rules can match a request on, read the service's way (cluster from query, header or host;
    /// project and pool from the path; template from path or body).
    func describe(_ request: HTTPRequest, _ parameters: PathParameters) -> RequestScope
}

public struct RequestScope: Sendable {
    public var template: String?
    public var cluster: String?
    public var project: String?
    public var pool: String?

    public init(template: String? = nil, cluster: String? = nil, project: String? = nil, pool: String? = nil) {
        self.template = template
        self.cluster = cluster
        self.project = project
        self.pool = pool
    }
}

extension EmulatedService {
    public func describe(_ request: HTTPRequest, _ parameters: PathParameters) -> RequestScope { RequestScope() }
}
