import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// How every Huawei Cloud API this emulator serves checks its callers, per `--auth`: nothing, an `X-Auth-Token`, or
/// the official SDKs' `SDK-HMAC-SHA256` signature over one of `--credentials`; and, for a credential limited to one
/// project, the project the request names (its `project_id` path parameter or the `X-Project-Id` header the SDKs
/// send with a project-scoped credential).
public struct HuaweiCloudAuth: RequestAuthentication {
    static let maxSkewSeconds: Int64 = 15 * 60

    /// The request headers the SDKs send: what a page allowed by `--cors` may send too.
    public static let requestHeaders = [
        "Content-Type", "Authorization", "X-Auth-Token", "X-Project-Id", "X-Sdk-Date", "X-Sdk-Content-Sha256", "X-Cluster-ID",
    ]

    let mode: AuthMode
    private let credentials: [String: Credential]
    /// Signature dates are real time, whatever the emulator's virtual clock says.
    private let wallClock: any Clock

    public init(_ settings: AuthSettings) { self.init(mode: settings.mode, credentials: settings.credentials) }

    init(mode: AuthMode, credentials: [Credential], wallClock: any Clock = SystemClock()) {
        self.mode = mode
        self.credentials = Dictionary(credentials.map { ($0.accessKey, $0) }, uniquingKeysWith: { a, _ in a })
        self.wallClock = wallClock
    }

    public func admit(_ request: RequestContext) throws(APIError) {
        guard mode != .none else { return }
        let credential = try authenticate(request.request)
        try authorize(credential, request: request.request, pathProject: request.parameters.value("project_id"))
    }

    /// Throws a 401 explaining what is wrong; returns the credential that signed the request (aksk mode).
    func authenticate(_ request: HTTPRequest) throws(APIError) -> Credential? {
        switch mode {
        case .none:
            return nil
        case .token:
            guard let token = request.headers["X-Auth-Token"], !token.isEmpty else {
                throw APIError(.unauthorized, "authentication required: the X-Auth-Token header is missing")
            }
            return nil
        case .aksk:
            return try verifySignature(request)
        }
    }

    /// 403 when a project-scoped credential names another project, in the path (ModelArts) or in the
    /// `X-Project-Id` header the SDKs send with a project-scoped credential (every Huawei Cloud API).
    func authorize(_ credential: Credential?, request: HTTPRequest, pathProject: String?) throws(APIError) {
        guard let credential, let scoped = credential.project else { return }
        for project in [pathProject, request.headers["X-Project-Id"]] {
            guard let project, project != scoped else { continue }
            throw APIError(.forbidden, "access key \(credential.accessKey) is limited to project \(scoped) and cannot act on project \(project)")
        }
    }

    private func verifySignature(_ request: HTTPRequest) throws(APIError) -> Credential {
        func deny(_ why: String) -> APIError { APIError(.unauthorized, "authentication failed: \(why)") }
        guard let header = request.headers["Authorization"] else {
            throw deny("the Authorization header is missing (an \(SDKSignature.algorithm) signature is required)")
        }
        let auth: SDKSignature.Authorization
        do {
            auth = try SDKSignature.parseAuthorization(header)
        } catch .unsupportedAlgorithm(let scheme) {
            throw deny("unsupported signing algorithm \"\(scheme)\"; only \(SDKSignature.algorithm) is accepted")
        } catch {
            throw deny("the Authorization header is not \"\(SDKSignature.algorithm) Access=…, SignedHeaders=…, Signature=…\"")
        }
        guard let credential = credentials[auth.accessKey] else { throw deny("unknown access key \(auth.accessKey)") }
        guard let date = request.headers["X-Sdk-Date"] else { throw deny("the X-Sdk-Date header is missing") }
        guard let signedAt = Self.parseSdkDate(date) else {
            throw deny("X-Sdk-Date \"\(date)\" is not in the form YYYYMMDDTHHMMSSZ")
        }
        let skew = abs(wallClock.now().milliseconds - signedAt.milliseconds) / 1000
        guard skew <= Self.maxSkewSeconds else {
            throw deny("X-Sdk-Date \(date) is \(skew / 60) minutes away from the server's clock (at most \(Self.maxSkewSeconds / 60) allowed)")
        }
        guard auth.signedHeaders.contains("x-sdk-date") else { throw deny("x-sdk-date must be among the signed headers") }
        let canonical: String
        switch SDKSignature.canonicalRequest(
            method: request.method, rawPath: request.path, query: request.query ?? [],
            headers: request.headers, signedHeaders: auth.signedHeaders, body: request.body)
        {
        case .success(let c): canonical = c
        case .failure(.missingHeader(let name)): throw deny("signed header \(name) is missing from the request")
        case .failure(.badPath): throw deny("the path is not valid percent-encoded UTF-8")
        case .failure(.payloadHashMismatch): throw deny("X-Sdk-Content-Sha256 is not the SHA-256 of the body: the body changed after signing")
        case .failure(.unsignedPayloadNotAllowed):
            throw deny("X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD is accepted only with a signed Content-Type other than JSON; sign the body's hash")
        }
        guard
            SDKSignature.isValid(
                signature: auth.signature, secret: credential.secretKey,
                stringToSign: SDKSignature.stringToSign(date: date, canonicalRequest: canonical))
        else {
            throw deny("the signature does not match: check the secret key, and that nothing in the request changed after signing")
        }
        return credential
    }

    /// `20261122T233212Z`
    static func parseSdkDate(_ s: String) -> Instant? {
        let b = Array(s.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return nil }
        let text =
            "\(s.prefix(4))-\(s.dropFirst(4).prefix(2))-\(s.dropFirst(6).prefix(2))T\(s.dropFirst(9).prefix(2)):\(s.dropFirst(11).prefix(2)):\(s.dropFirst(13).prefix(2))Z"
        return Instant(rfc3339: text)
    }
}
