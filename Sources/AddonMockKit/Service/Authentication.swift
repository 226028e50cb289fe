import AddonMockCore
import AddonMockHTTP

/// How requests to the emulated APIs must authenticate (the control API never needs to).
public enum AuthMode: String, Sendable, CaseIterable {
    /// Anything goes, with or without credentials.
    case none
    /// A token header is required (any non-empty value; each service names its header).
    case token
    /// A request signature must verify against one of the configured credentials (each service checks its
    /// cloud's signature).
    case aksk
}

/// One `AK:SK[:PROJECT]`.
public struct Credential: Sendable, Equatable {
    public let accessKey: String
    public let secretKey: String
    /// When set, requests signed with this key may only name this project.
    public let project: String?

    public init(accessKey: String, secretKey: String, project: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.project = project
    }

    /// The secret never appears in logs or in `/_mock/config`.
    public var masked: String { "\(accessKey):****" + (project.map { ":\($0)" } ?? "") }
}

/// What `--auth` and `--credentials` configure, handed to each service's authentication when it is mounted.
public struct AuthSettings: Sendable {
    public var mode: AuthMode
    public var credentials: [Credential]

    public init(mode: AuthMode, credentials: [Credential]) {
        self.mode = mode
        self.credentials = credentials
    }
}

/// How a service checks who calls it: a stage of the request pipeline, run once a route of the service matched
/// and before its path parameters, fault rules and handler see the request.
public protocol RequestAuthentication: Sendable {
    /// Returns to admit the request; throws the 401 or 403 to answer instead (in the service's error format).
    func admit(_ request: RequestContext) throws(APIError)
}

/// A service without authentication of its own (the toy service): every request is admitted, whatever `--auth`.
public struct NoAuthentication: RequestAuthentication {
    public init() {}
    public func admit(_ request: RequestContext) throws(APIError) {}
}
