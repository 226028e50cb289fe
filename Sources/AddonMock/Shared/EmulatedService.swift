import AddonMockHTTP

/// What a handler gets: the request, its path parameters and the id echoed in `X-Request-Id`.
public struct RequestContext: Sendable {
    public let request: HTTPRequest
    public let parameters: PathParameters
    public let requestID: String
}

/// Handlers throw `APIError` for answers in the service's error format; anything else becomes a 500.
public typealias RouteHandler = @Sendable (RequestContext) throws -> HTTPResponse

public struct ServiceRoute: Sendable {
    public let method: String
    public let pattern: String
    public let handler: RouteHandler

    public init(_ method: String, _ pattern: String, _ handler: @escaping RouteHandler) {
        self.method = method
        self.pattern = pattern
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
}
