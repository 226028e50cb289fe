import AddonMockCore

/// An error answer in the abstract; each service's `ErrorFormat` decides the code and body shape.
public struct APIError: Error, Sendable {
    public enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, methodNotAllowed, conflict, payloadTooLarge
        case tooManyRequests, internalError, serviceUnavailable
        /// Any other status (fault injection can ask for 418 or 502).
        case other(Int)

        public init(status: Int) {
            switch status {
            case 400: self = .badRequest
            case 401: self = .unauthorized
            case 403: self = .forbidden
            case 404: self = .notFound
            case 405: self = .methodNotAllowed
            case 409: self = .conflict
            case 413: self = .payloadTooLarge
            case 429: self = .tooManyRequests
            case 500: self = .internalError
            case 503: self = .serviceUnavailable
            default: self = .other(status)
            }
        }
    }

    public let kind: Kind
    public let message: String
    /// A service-specific code that overrides the format's default for `kind` (e.g. a ModelArts pool code).
    public let code: String?

    public init(_ kind: Kind, _ message: String, code: String? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var status: Int {
        switch kind {
        case .badRequest: return 400
        case .unauthorized: return 401
        case .forbidden: return 403
        case .notFound: return 404
        case .methodNotAllowed: return 405
        case .conflict: return 409
        case .payloadTooLarge: return 413
        case .tooManyRequests: return 429
        case .internalError: return 500
        case .serviceUnavailable: return 503
        case .other(let status): return status
        }
    }

    public static func malformedBody(_ e: JSONSyntaxError) -> APIError {
        APIError(.badRequest, "request body is not valid JSON: \(e.description)")
    }
}

/// How a service spells its errors on the wire.
public protocol ErrorFormat: Sendable {
    func code(for kind: APIError.Kind) -> String
    func body(code: String, message: String) -> [UInt8]
}

extension ErrorFormat {
    public func response(for error: APIError) -> (status: Int, body: [UInt8]) {
        (error.status, body(code: error.code ?? code(for: error.kind), message: error.message))
    }
}

/// What API Gateway answers for a path no service owns: `APIGW.0101`, both key spellings.
public struct GatewayErrorFormat: ErrorFormat {
    public init() {}
    public func code(for kind: APIError.Kind) -> String {
        switch kind {
        case .notFound: return "APIGW.0101"
        case .methodNotAllowed: return "APIGW.0102"
        case .payloadTooLarge: return "APIGW.0413"
        case .tooManyRequests: return "APIGW.0308"
        case .forbidden: return "APIGW.0306" // API Gateway's "API access denied"
        default: return "APIGW.0400"
        }
    }

    public func body(code: String, message: String) -> [UInt8] { codeAndMessageBody(code: code, message: message) }
}

/// `{"error_code":…,"error_msg":…}`: the pair every Huawei SDK handler reads first (gateway, ModelArts, control API).
public func codeAndMessageBody(code: String, message: String) -> [UInt8] {
    var w = JSONWriter(capacity: 128)
    w.beginObject()
    w.field("error_code", code)
    w.field("error_msg", message)
    w.endObject()
    return w.bytes
}
