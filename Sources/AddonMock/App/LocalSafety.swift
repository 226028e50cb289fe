import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// What keeps a web page the developer happens to visit from driving or reading a server on their machine: the
/// guards dev servers use against DNS rebinding and cross-site requests.

/// DNS rebinding: a page on `evil.example` whose name is made to resolve to 127.0.0.1 reaches the server with
/// `Host: evil.example`. While the server is bound to a loopback address only local names are served — `localhost`,
/// `*.localhost`, `127.0.0.0/8`, `[::1]` — plus what `--allowed-hosts` adds (service names in a compose file, `*` for
/// any). Bound elsewhere (a container on 0.0.0.0) every host is served unless `--allowed-hosts` is given.
struct HostGuard: Sendable {
    /// Lower-cased host names (without a port) served beside the local ones.
    let allowed: Set<String>
    let active: Bool

    init(boundTo host: String, allowedHosts: [String]?) {
        allowed = Set((allowedHosts ?? []).map { $0.lowercased() })
        active = !allowed.contains("*") && (allowedHosts != nil || Self.isLoopback(host: host))
    }

    /// nil, or why `request` is refused (a 403 in its service's format).
    func refusal(_ request: HTTPRequest) -> APIError? {
        guard active, let host = request.headers["Host"], !Self.isLocal(host), !allowed.contains(Self.name(of: host)) else { return nil }
        return APIError(
            .forbidden,
            "Host \(IdentifierRule.quoted(host)) is not served: this server answers local names (localhost, *.localhost, 127.0.0.0/8, [::1])"
                + (allowed.isEmpty ? "" : " and \(allowed.sorted().joined(separator: ", "))")
                + ", so that a web page cannot reach it by rebinding a name of its own; --allowed-hosts (ADDONMOCK_ALLOWED_HOSTS) admits more")
    }

    /// An address (or name) the operating system only ever routes on this machine.
    static func isLoopback(host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h == "[::1]" || isLoopbackIPv4(h)
    }

    /// The host part of a `Host` value, lower-cased: `[::1]` keeps its brackets, a port is dropped.
    static func name(of host: String) -> String {
        var h = Substring(host.lowercased())
        if h.hasPrefix("[") {
            // `[address]` or `[address]:port`; anything else after the bracket is not a host this server knows.
            guard let end = h.firstIndex(of: "]") else { return String(h) }
            let rest = h[h.index(after: end)...]
            let isPort = rest.isEmpty || (rest.first == ":" && rest.count > 1 && rest.dropFirst().allSatisfy(\.isASCIIDigit))
            return isPort ? String(h[...end]) : String(h)
        }
        if let colon = h.lastIndex(of: ":"), h[h.index(after: colon)...].allSatisfy(\.isASCIIDigit) { h = h[..<colon] }
        if h.hasSuffix(".") { h = h.dropLast() }
        return String(h)
    }

    static func isLocal(_ host: String) -> Bool {
        // Checked on every request: the usual hosts are told apart by their bytes, with nothing allocated.
        var host = host
        if let quick = host.withUTF8({ Self.isPlainLocal($0) }) { return quick }
        let n = name(of: host)
        return n == "localhost" || n.hasSuffix(".localhost") || n == "[::1]" || isLoopbackIPv4(n)
    }

    /// `127.0.0.1`, `localhost` or `[::1]`, with or without a port: true; a host of other letters that is plainly
    /// not local (no dot, no `localhost` in it): nil, left to the full check; anything else: nil.
    private static func isPlainLocal(_ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        func matches(_ prefix: StaticString) -> Bool {
            let n = prefix.utf8CodeUnitCount
            guard b.count >= n else { return false }
            return prefix.withUTF8Buffer { p in (0..<n).allSatisfy { b[$0] == p[$0] } } && (b.count == n || b[n] == UInt8(ascii: ":"))
        }
        if matches("127.0.0.1") || matches("localhost") || matches("[::1]") {
            // What follows, if anything, must be a port.
            let n = b[0] == UInt8(ascii: "[") ? 5 : 9
            return b.count == n || (b.count > n + 1 && b[(n + 1)...].allSatisfy { $0 >= 0x30 && $0 <= 0x39 })
        }
        return nil
    }

    /// `127.a.b.c` with each part a number from 0 to 255.
    static func isLoopbackIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { p in (1...3).contains(p.count) && p.allSatisfy(\.isASCIIDigit) && Int(p)! <= 255 }
    }
}

/// Cross-site requests: a page can make the browser send a "simple" request — a form post, or a `fetch` without
/// custom headers, `Content-Type` text/plain, form-urlencoded or multipart — to any origin without asking first. So a
/// control call that changes something (every method but GET, HEAD and OPTIONS) is refused when it comes from
/// another origin than the server's own or one `--cors` names, and when it carries a body that is not JSON (a
/// page cannot send JSON cross-site without a preflight, which only `--cors` origins pass).
struct CrossSiteGuard: Sendable {
    let corsOrigins: Set<String>?

    func refusal(_ request: HTTPRequest) -> APIError? {
        guard request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS" else { return nil }
        if let origin = request.headers["Origin"], !isOwn(origin, request), corsOrigins?.contains(origin) != true, corsOrigins?.contains("*") != true
        {
            return APIError(
                .forbidden,
                "\(request.method) \(request.path) from Origin \(IdentifierRule.quoted(origin)) is refused: a page of another site may not change this server (--cors ORIGINS lets pages of those origins call it)"
            )
        }
        if !request.body.isEmpty, !Self.isJSON(request.headers["Content-Type"]) {
            let given = request.headers["Content-Type"].map { "Content-Type \(IdentifierRule.quoted($0))" } ?? "no Content-Type"
            return APIError(
                .forbidden,
                "\(request.method) \(request.path) with \(given) is refused: a body must be sent as Content-Type: application/json, which a page of another site cannot send unasked (with curl: -H 'Content-Type: application/json')"
            )
        }
        return nil
    }

    /// The page's origin is this server: `http://` and the `Host` the request was sent to.
    private func isOwn(_ origin: String, _ request: HTTPRequest) -> Bool {
        guard let host = request.headers["Host"] else { return false }
        return origin.lowercased() == "http://" + host.lowercased()
    }

    /// `application/json`, or any `…+json` (`application/merge-patch+json`), parameters allowed.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: " \t").lowercased() } ?? ""
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
