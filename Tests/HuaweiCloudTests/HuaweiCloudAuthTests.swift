import AddonMockCore
import AddonMockHTTP
import AddonMockKit
import Testing

@testable import HuaweiCloud

/// Signatures computed by the official `huaweicloudsdkcore` Signer (3.1.219) for AK TESTAK0000000000 / SK TESTSKsecret,
/// X-Sdk-Date 20261122T100000Z, Host 127.0.0.1:8080: the verifier must agree with it byte for byte.
@Suite struct SDKSignatureVectorTests {
    struct FixedClock: Clock {
        let at: Instant
        func now() -> Instant { at }
    }

    static let signedAt = Instant(rfc3339: "2026-11-22T10:00:00Z")!
    static let credential = Credential(accessKey: "TESTAK0000000000", secretKey: "TESTSKsecret")

    func authenticator(minutesLater: Int64 = 5) -> HuaweiCloudAuth {
        HuaweiCloudAuth(
            mode: .aksk, credentials: [Self.credential],
            wallClock: FixedClock(at: Self.signedAt.adding(milliseconds: minutesLater * 60_000)))
    }

    static func request(
        _ method: String, _ path: String, _ query: [(String, String)], body: String = "",
        contentType: String = "application/json", extraHeaders: [(String, String)] = [],
        signedHeaders: String, signature: String
    ) -> HTTPRequest {
        var headers = HTTPHeaders(
            [
                ("Content-Type", contentType), ("User-Agent", "huaweicloud-usdk-python/3.0"),
                ("X-Sdk-Date", "20261122T100000Z"), ("Host", "127.0.0.1:8080"),
            ] + extraHeaders)
        headers.add("Authorization", "SDK-HMAC-SHA256 Access=TESTAK0000000000, SignedHeaders=\(signedHeaders), Signature=\(signature)")
        return HTTPRequest(method: method, path: path, query: query.map { (name: $0.0, value: $0.1) }, headers: headers, body: Array(body.utf8))
    }

    static let templates = request(
        "GET", "/api/v3/addontemplates", [("addon_template_name", "a b/c~d+e*é")],
        signedHeaders: "content-type;host;user-agent;x-sdk-date",
        signature: "6045e13b303ab3533a90aee3b0db64d11d8d7177ed0e9338a6da04e2089e6fe6")
    static let installBody = #"{"kind": "Addon", "apiVersion": "v3", "spec": {"clusterID": "c1", "values": {}, "addonTemplateName": "coredns"}}"#
    static let otherClusterBody = #"{"kind": "Addon", "apiVersion": "v3", "spec": {"clusterID": "c3", "values": {}, "addonTemplateName": "coredns"}}"#
    static let install = request(
        "POST", "/api/v3/addons", [], body: installBody,
        extraHeaders: [("X-Project-Id", "0123456789abcdef0123456789abcdef")],
        signedHeaders: "content-type;host;user-agent;x-project-id;x-sdk-date",
        signature: "e2da0d4dac657c15cd9310900abd0b361a835983ed99d660551ea51bce34678c")
    static let delete = request(
        "DELETE", "/api/v3/addons/a%20b%2F%C3%A9", [("cluster_id", "z"), ("a", "2"), ("a", "1")],
        signedHeaders: "content-type;host;user-agent;x-sdk-date",
        signature: "c335032a2e21843531d70f0c0edb6a37b66618730a5e268e091310533882ae3c")

    /// The SDK's signer sends `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (signed) for a Content-Type other than JSON.
    static let mergePatchBody = #"{"spec": {"template": {"version": "2.0"}}}"#
    static let unsignedPatch = request(
        "PATCH", "/v2/p/pools/pool1/plugins/volcano", [], body: mergePatchBody,
        contentType: "application/merge-patch+json",
        extraHeaders: [("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")],
        signedHeaders: "content-type;host;user-agent;x-sdk-content-sha256;x-sdk-date",
        signature: "a7cebe644e31a21ee629471d07a2050bf695df64475bfe4139f8468922c1c8e8")
    /// A caller may set the header to the body's hash itself; the signer then signs it and uses it verbatim.
    static let installBodyHash = "5db1344868f590ba459cd7aa3228dacb7fd5649abda4dd95e51cf863d4c0b096"
    static let hashedInstall = request(
        "POST", "/api/v3/addons", [], body: installBody,
        extraHeaders: [("X-Sdk-Content-Sha256", installBodyHash)],
        signedHeaders: "content-type;host;user-agent;x-sdk-content-sha256;x-sdk-date",
        signature: "6e7c7f10cfc87c017c9370d22ef7a841016411575ad3dba0d1f33536bc8575f5")

    @Test(arguments: [templates, install, delete, unsignedPatch, hashedInstall])
    func acceptsWhatTheSDKSigned(request: HTTPRequest) throws {
        #expect(try authenticator().authenticate(request) == Self.credential)
    }

    @Test func canonicalPiecesMatchTheSDK() {
        #expect(SDKSignature.canonicalURI("/api/v3/addons/a%20b%2F%C3%A9") == "/api/v3/addons/a%20b/%C3%A9/")
        #expect(SDKSignature.canonicalURI("/api/v3/addons") == "/api/v3/addons/")
        #expect(SDKSignature.canonicalQuery([("z", "1"), ("a", "2"), ("a", "1"), ("é", "x y")]) == "a=1&a=2&z=1&%C3%A9=x%20y")
        #expect(SDKSignature.encode("a b/c~d+e*é") == "a%20b%2Fc~d%2Be%2A%C3%A9")
    }

    func failure(_ request: HTTPRequest, _ auth: HuaweiCloudAuth? = nil) -> String? {
        do { _ = try (auth ?? authenticator()).authenticate(request); return nil } catch let e { return e.message }
    }

    @Test func oneChangedBodyByteIsRejected() {
        let r = Self.install
        var body = r.body
        body[body.count - 3] ^= 0x20
        let tampered = HTTPRequest(method: r.method, path: r.path, query: r.query, headers: r.headers, body: body)
        #expect(failure(tampered)?.contains("the signature does not match") == true)
    }

    func replacing(_ r: HTTPRequest, body: String? = nil, headers: [(String, String)] = []) -> HTTPRequest {
        var h = r.headers
        for (name, value) in headers { h.set(name, value) }
        return HTTPRequest(method: r.method, path: r.path, query: r.query, headers: h, body: body.map { Array($0.utf8) } ?? r.body)
    }

    /// The bypass found in review: sign one body, send another, and claim the first body's hash in an unsigned
    /// `X-Sdk-Content-Sha256`. The claim is not signed, so the body's own hash is used: 401.
    @Test func anUnsignedPayloadHashClaimIsIgnored() {
        let otherBody = Self.otherClusterBody
        let claimed = SDKSignature.hexSHA256(Array(Self.installBody.utf8))
        let forged = replacing(Self.install, body: otherBody, headers: [("X-Sdk-Content-Sha256", claimed)])
        #expect(failure(forged)?.contains("the signature does not match") == true)
        #expect(
            failure(replacing(Self.install, headers: [("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")])) == nil,
            "an unsigned claim changes nothing: the real body still verifies")
    }

    @Test func aSignedPayloadHashMustBeTheBodysHash() {
        let otherBody = Self.otherClusterBody
        #expect(
            failure(replacing(Self.hashedInstall, body: otherBody))
                == "authentication failed: X-Sdk-Content-Sha256 is not the SHA-256 of the body: the body changed after signing")
    }

    @Test func unsignedPayloadOnlyWhereTheSignerSendsIt() {
        // Declared JSON: the signer would have hashed the body.
        let json = replacing(Self.unsignedPatch, headers: [("Content-Type", "application/json")])
        #expect(failure(json)?.contains("UNSIGNED-PAYLOAD is accepted only with a signed Content-Type other than JSON") == true)
        // The merge-patch body is not covered, as with the real gateway; the signed Content-Type still is.
        #expect(failure(replacing(Self.unsignedPatch, body: #"{"spec": {}}"#)) == nil)
        #expect(failure(replacing(Self.unsignedPatch, headers: [("Content-Type", "text/plain")]))?.contains("the signature does not match") == true)
    }

    @Test func changedQueryPathOrMethodIsRejected() {
        let r = Self.delete
        for changed in [
            HTTPRequest(method: "GET", path: r.path, query: r.query, headers: r.headers, body: r.body),
            HTTPRequest(method: r.method, path: "/api/v3/addons/other", query: r.query, headers: r.headers, body: r.body),
            HTTPRequest(method: r.method, path: r.path, query: [("cluster_id", "y")], headers: r.headers, body: r.body),
        ] {
            #expect(failure(changed)?.contains("the signature does not match") == true)
        }
    }

    @Test func dateSkewUnknownKeyAndMissingParts() {
        #expect(failure(Self.templates, authenticator(minutesLater: 15)) == nil, "15 minutes is still fine")
        #expect(
            failure(Self.templates, authenticator(minutesLater: 16))
                == "authentication failed: X-Sdk-Date 20261122T100000Z is 16 minutes away from the server's clock (at most 15 allowed)")
        #expect(failure(Self.templates, authenticator(minutesLater: -20))?.contains("20 minutes away") == true)
        let other = HuaweiCloudAuth(
            mode: .aksk, credentials: [Credential(accessKey: "OTHER", secretKey: "x")],
            wallClock: FixedClock(at: Self.signedAt))
        #expect(failure(Self.templates, other) == "authentication failed: unknown access key TESTAK0000000000")

        func without(_ name: String) -> HTTPRequest {
            var h = Self.templates.headers
            h.set(name, "")
            let fields = h.fields.filter { $0.name.lowercased() != name.lowercased() }
            return HTTPRequest(method: "GET", path: Self.templates.path, query: Self.templates.query, headers: HTTPHeaders(fields), body: [])
        }
        #expect(failure(without("User-Agent")) == "authentication failed: signed header user-agent is missing from the request")
        #expect(failure(without("X-Sdk-Date")) == "authentication failed: the X-Sdk-Date header is missing")
        #expect(failure(without("Authorization"))?.contains("the Authorization header is missing") == true)
    }

    @Test(arguments: [
        ("AWS4-HMAC-SHA256 Credential=x", "unsupported signing algorithm \"AWS4-HMAC-SHA256\""),
        ("SDK-HMAC-SHA256 Access=TESTAK0000000000", "the Authorization header is not"),
        ("SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=zz", "the Authorization header is not"),
        ("garbage", "the Authorization header is not"),
    ])
    func malformedAuthorization(header: String, expected: String) {
        var h = Self.templates.headers
        h.set("Authorization", header)
        #expect(failure(HTTPRequest(method: "GET", path: "/x", query: [], headers: h, body: []))?.contains(expected) == true)
    }

    @Test func projectScopedCredentials() throws {
        let auth = authenticator()
        let scoped = Credential(accessKey: "A", secretKey: "s", project: "p1")
        func naming(_ header: String?) -> HTTPRequest {
            HTTPRequest(method: "GET", path: "/", query: [], headers: HTTPHeaders(header.map { [("X-Project-Id", $0)] } ?? []), body: [])
        }
        #expect(throws: Never.self) { try auth.authorize(scoped, request: naming(nil), pathProject: "p1") }
        #expect(throws: Never.self) { try auth.authorize(scoped, request: naming("p1"), pathProject: nil) }
        #expect(throws: Never.self) { try auth.authorize(scoped, request: naming(nil), pathProject: nil) }
        #expect(throws: Never.self) { try auth.authorize(Self.credential, request: naming("x"), pathProject: "anything") }
        #expect(throws: APIError.self) { try auth.authorize(scoped, request: naming(nil), pathProject: "p2") }
        #expect(throws: APIError.self) { try auth.authorize(scoped, request: naming("p2"), pathProject: nil) }
        #expect(throws: APIError.self) { try auth.authorize(scoped, request: naming("p2"), pathProject: "p1") }
    }
}
