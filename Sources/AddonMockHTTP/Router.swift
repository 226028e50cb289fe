/// Values captured by `{name}` segments of a route pattern, percent-decoded.
public struct PathParameters: Sendable {
    public let values: [String: String]
    public subscript(name: String) -> String { values[name] ?? "" }
}

/// What the router found for a method and path.
public enum RouteMatch<Handler: Sendable> {
    case found(Handler, PathParameters)
    /// The path exists but not for this method: answer 405 with `Allow`.
    case methodNotAllowed(allowed: [String])
    /// A segment was not valid percent-encoded UTF-8.
    case badPath(segment: String)
    case notFound
}

/// Matches `/a/{b}/c` style patterns segment by segment. Literal segments beat parameters, so
/// `/addons/precheck` could coexist with `/addons/{id}`.
public struct Router<Handler: Sendable>: Sendable {
    private struct Route: Sendable {
        let method: String
        let segments: [Segment]
        let handler: Handler
    }

    private enum Segment: Equatable, Sendable {
        case literal(String)
        case parameter(String)
    }

    private var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { s -> Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        routes.append(Route(method: method, segments: segments, handler: handler))
    }

    /// Every (method, pattern) pair, for documentation and tests.
    public var patterns: [(method: String, pattern: String)] {
        routes.map { r in
            (r.method, "/" + r.segments.map { seg in
                switch seg {
                case .literal(let s): return s
                case .parameter(let p): return "{\(p)}"
                }
            }.joined(separator: "/"))
        }
    }

    public func match(method: String, path: String) -> RouteMatch<Handler> {
        let raw = path.split(separator: "/", omittingEmptySubsequences: true)
        var best: (route: Route, params: [String: String], literals: Int)?
        var allowed: [String] = []
        for route in routes where route.segments.count == raw.count {
            var params: [String: String] = [:]
            var literals = 0
            var ok = true
            for (seg, value) in zip(route.segments, raw) {
                switch seg {
                case .literal(let lit):
                    if lit == value { literals += 1 } else { ok = false }
                case .parameter(let name):
                    guard let decoded = PercentDecoding.decode(value) else { return .badPath(segment: String(value)) }
                    params[name] = decoded
                }
                if !ok { break }
            }
            guard ok else { continue }
            // HEAD is served by the GET route.
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                if best == nil || literals > best!.literals { best = (route, params, literals) }
            } else if !allowed.contains(route.method) {
                allowed.append(route.method)
            }
        }
        if let best { return .found(best.route.handler, PathParameters(values: best.params)) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }
}
