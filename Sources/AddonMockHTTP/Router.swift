#if canImport(Glibc)
import Glibc
#endif

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
///
/// Generic only in what it hands back: the matching itself lives in the non-generic `RouteTable`, because a
/// generic method called from another module runs unspecialised (every step a runtime metadata lookup), and this
/// is on the path of every request.
public struct Router<Handler: Sendable>: Sendable {
    private var handlers: [Handler] = []
    private var table = RouteTable()

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        handlers.append(handler)
        table.add(method, pattern, handler: handlers.count - 1)
    }

    /// Every (method, pattern) pair, in the order added.
    public var patterns: [(method: String, pattern: String)] { table.order }

    public func match(method: String, path: String) -> RouteMatch<Handler> {
        switch table.match(method: method, path: path) {
        case let .found(index, parameters): return .found(handlers[index], parameters)
        case .methodNotAllowed(let allowed): return .methodNotAllowed(allowed: allowed)
        case .badPath(let segment): return .badPath(segment: segment)
        case .notFound: return .notFound
        }
    }
}

/// The routes, bucketed by segment count, compared in place; parameters are decoded only for the winner.
struct RouteTable: Sendable {
    private struct Route: Sendable {
        let method: String
        let segments: [Segment]
        let handler: Int
    }

    private enum Segment: Equatable, Sendable {
        case literal([UInt8])
        case parameter(String)
    }

    private var buckets: [Int: [Route]] = [:]
    private(set) var order: [(method: String, pattern: String)] = []

    mutating func add(_ method: String, _ pattern: String, handler: Int) {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
        let segments = parts.map { s -> Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(Array(s.utf8))
        }
        buckets[segments.count, default: []].append(Route(method: method, segments: segments, handler: handler))
        order.append((method, "/" + parts.joined(separator: "/")))
    }

    func match(method: String, path: String) -> RouteMatch<Int> {
        var path = path
        return path.withUTF8 { bytes -> RouteMatch<Int> in
            // Segment boundaries as byte ranges: no substrings are made unless a parameter is captured.
            var ranges: [Range<Int>] = []
            var start = 0
            for i in 0...bytes.count where i == bytes.count || bytes[i] == UInt8(ascii: "/") {
                if i > start { ranges.append(start..<i) }
                start = i + 1
            }
            guard let candidates = buckets[ranges.count] else { return .notFound }
            var best: (index: Int, literals: Int)?
            var allowed: [String] = []
            for (index, route) in candidates.enumerated() {
                var literals = 0
                var matches = true
                for k in 0..<ranges.count {
                    guard case .literal(let lit) = route.segments[k] else { continue }
                    let r = ranges[k]
                    guard lit.count == r.count, lit.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress! + r.lowerBound, r.count) == 0 }) else {
                        matches = false
                        break
                    }
                    literals += 1
                }
                guard matches else { continue }
                // HEAD is served by the GET route.
                if route.method == method || (method == "HEAD" && route.method == "GET") {
                    if best == nil || literals > best!.literals { best = (index, literals) }
                } else if !allowed.contains(route.method) {
                    allowed.append(route.method)
                }
            }
            guard let best else { return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed) }
            let route = candidates[best.index]
            var params: [String: String] = [:]
            for k in 0..<ranges.count {
                guard case .parameter(let name) = route.segments[k] else { continue }
                let raw = String(decoding: UnsafeBufferPointer(rebasing: bytes[ranges[k]]), as: UTF8.self)
                guard let decoded = PercentDecoding.decode(raw) else { return .badPath(segment: raw) }
                params[name] = decoded
            }
            return .found(route.handler, PathParameters(values: params))
        }
    }
}
