import AddonMockHTTP
import AddonMockKit
import Crypto

/// The `SDK-HMAC-SHA256` scheme of the Huawei Cloud SDKs (`huaweicloudsdkcore/signer/signer.py`), recomputed on the
/// server side from the request as received.
enum SDKSignature {
    static let algorithm = "SDK-HMAC-SHA256"
    static let emptyBodyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b;c, Signature=hex`
    struct Authorization: Equatable {
        let accessKey: String
        let signedHeaders: [String]
        let signature: String
    }

    enum ParseError: Error, Equatable {
        case unsupportedAlgorithm(String)
        case malformed
    }

    static func parseAuthorization(_ header: String) throws(ParseError) -> Authorization {
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " ") else { throw .malformed }
        let scheme = String(trimmed[..<space])
        guard scheme == algorithm else { throw .unsupportedAlgorithm(scheme) }
        var fields: [String: String] = [:]
        for part in trimmed[trimmed.index(after: space)...].split(separator: ",") {
            let kv = part.drop { $0 == " " }
            guard let eq = kv.firstIndex(of: "=") else { throw .malformed }
            fields[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }
        guard let ak = fields["Access"], !ak.isEmpty, let signed = fields["SignedHeaders"], !signed.isEmpty,
            let signature = fields["Signature"], signature.count == 64, signature.allSatisfy(\.isHexDigit)
        else {
            throw .malformed
        }
        return Authorization(
            accessKey: ak, signedHeaders: signed.split(separator: ";").map { String($0).lowercased() },
            signature: signature.lowercased())
    }

    /// Python's `quote(s, safe='~')`: everything but `A-Z a-z 0-9 _ . - ~` becomes `%XX` (upper-case hex, UTF-8).
    static func encode(_ s: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The percent-decoded path, each segment re-encoded, with a trailing `/`. Nil if the path is not valid
    /// percent-encoded UTF-8.
    static func canonicalURI(_ rawPath: String) -> String? {
        guard let decoded = PercentDecoding.decode(rawPath) else { return nil }
        let uri = decoded.split(separator: "/", omittingEmptySubsequences: false).map { encode(String($0)) }.joined(separator: "/")
        return uri.hasSuffix("/") ? uri : uri + "/"
    }

    /// Decoded pairs sorted by key, then value (by code point, as Python sorts), each side re-encoded.
    static func canonicalQuery(_ pairs: [(name: String, value: String)]) -> String {
        func key(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }
        return pairs.sorted { a, b in
            a.name == b.name ? key(a.value).lexicographicallyPrecedes(key(b.value)) : key(a.name).lexicographicallyPrecedes(key(b.name))
        }.map { "\(encode($0.name))=\(encode($0.value))" }.joined(separator: "&")
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    /// The canonical request; nil with the name of a signed header the request lacks.
    static func canonicalRequest(
        method: String, rawPath: String, query: [(name: String, value: String)],
        headers: HTTPHeaders, signedHeaders: [String], body: [UInt8]
    ) -> Result<String, CanonicalError> {
        guard let uri = canonicalURI(rawPath) else { return .failure(.badPath) }
        var canonicalHeaders = ""
        for name in signedHeaders {
            guard let value = headers[name] else { return .failure(.missingHeader(name)) }
            canonicalHeaders += "\(name):\(value.trimmingWhitespace())\n"
        }
        let payloadHash: String
        switch self.payloadHash(headers: headers, signedHeaders: signedHeaders, body: body) {
        case .success(let hash): payloadHash = hash
        case .failure(let e): return .failure(e)
        }
        return .success(
            [
                method.uppercased(), uri, canonicalQuery(query), canonicalHeaders, signedHeaders.joined(separator: ";"),
                payloadHash,
            ].joined(separator: "\n"))
    }

    static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// The payload hash as the SDK's signer puts it in the canonical request, but never taken on trust: the
    /// signer uses an `X-Sdk-Content-Sha256` header verbatim when there is one, and always signs it. So a claim
    /// counts only when signed; a hex claim must be the body's real hash; `UNSIGNED-PAYLOAD` only where the
    /// signer sends it (a signed Content-Type other than JSON or BSON). Otherwise the hash is the body's own,
    /// and any change to the body breaks the signature.
    static func payloadHash(headers: HTTPHeaders, signedHeaders: [String], body: [UInt8]) -> Result<String, CanonicalError> {
        guard !body.isEmpty else { return .success(emptyBodyHash) }
        let actual = hexSHA256(body)
        guard signedHeaders.contains("x-sdk-content-sha256"), let claim = headers["X-Sdk-Content-Sha256"]?.trimmingWhitespace() else {
            return .success(actual)
        }
        if claim == unsignedPayload {
            let contentType = (headers["Content-Type"] ?? "").lowercased()
            guard signedHeaders.contains("content-type"), !contentType.isEmpty,
                !contentType.hasPrefix("application/json"), !contentType.hasPrefix("application/bson")
            else {
                return .failure(.unsignedPayloadNotAllowed)
            }
            return .success(claim)
        }
        guard claim.lowercased() == actual else { return .failure(.payloadHashMismatch) }
        return .success(claim)
    }

    enum CanonicalError: Error, Equatable {
        case badPath
        case missingHeader(String)
        /// A signed `X-Sdk-Content-Sha256` that is not the body's hash.
        case payloadHashMismatch
        /// `UNSIGNED-PAYLOAD` on a request the SDK would have hashed (JSON, or no signed Content-Type).
        case unsignedPayloadNotAllowed
    }

    static func stringToSign(date: String, canonicalRequest: String) -> String {
        "\(algorithm)\n\(date)\n\(hexSHA256(Array(canonicalRequest.utf8)))"
    }

    /// Constant-time check of a hex signature (swift-crypto compares the MACs without early exit).
    static func isValid(signature hex: String, secret: String, stringToSign: String) -> Bool {
        guard let mac = bytes(fromHex: hex) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(
            mac, authenticating: Array(stringToSign.utf8),
            using: SymmetricKey(data: Array(secret.utf8)))
    }

    private static func bytes(fromHex hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let b = UInt8(String(decoding: chars[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }

    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
