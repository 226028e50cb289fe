#if canImport(Glibc)
import Glibc
#endif

/// Values captured by `{name}` segments of a route pattern, percent-decoded.
public struct PathParameters: Sendable {
    /// The route's parameter names (shared by every match of the route) and this match's values, in path order.
    private let names: [String]
    private let values: [String]

    init(names: [String], values: [String]) {
        self.names = names
        self.values = values
    }

    /// The value of `{name}`, or nil when the route has no such parameter.
    public func value(_ name: String) -> String? {
        names.firstIndex(of: name).map { values[$0] }
    }

    /// The value of `{name}`; empty when the route has no such parameter.
    public subscript(name: String) -> String { value(name) ?? "" }

    /// The first parameter whose value `isValid` refuses, in path order.
    public func first(failing isValid: (String) -> Bool) -> (name: String, value: String)? {
        for (i, v) in values.enumerated() where !isValid(v) { return (names[i], v) }
        return nil
    }
}

/// What the router found for a method and path.
public enum RouteMatch: Sendable {
    /// `route` is the index `Router.add` returned for the winning pattern.
    case found(route: Int, PathParameters)
    /// The path exists but not for this method: answer 405 with `Allow`.
    case methodNotAllowed(allowed: [String])
    /// A segment was not valid percent-encoded UTF-8.
    case badPath(segment: String)
    case notFound
}

/// Matches `/a/{b}/c` style patterns segment by segment (empty segments are skipped, but a trailing slash is an
/// empty last segment). Literal segments beat parameters, so `/nodes/batch-delete` coexists with `/nodes/{name}`:
/// the literal path is its own resource for every method (a GET there is a 405 listing POST, not a node named
/// `batch-delete`), and `Allow` lists only its methods.
///
/// Hands back an index rather than a generic handler: a generic method called from another module runs
/// unspecialised (every step a runtime metadata lookup), and this is on the path of every request. Routes are
/// bucketed by segment count and then by first segment (`api`, `v2`, `_mock`: a CCE request never looks at a pool
/// route), compared in place; only the winner's parameters are decoded into strings.
public struct Router: Sendable {
    private struct Route: Sendable {
        let method: String
        let segments: [Segment]
        let parameterNames: [String]
        let index: Int
        /// Positions (in its bucket) of routes of any method that take precedence over it where both match: the same
        /// literals plus more. Usually none, so the common match pays nothing for the rule.
        var shadowedBy: [Int] = []

        /// Whether `other` matches every path this route has a literal for and names a literal where it has a
        /// parameter.
        func isShadowed(by other: Route) -> Bool {
            var more = false
            for (mine, theirs) in zip(segments, other.segments) {
                switch (mine, theirs) {
                case (.literal(let a), .literal(let b)): if a != b { return false }
                case (.literal, .parameter): return false
                case (.parameter, .literal): more = true
                case (.parameter, .parameter): break
                }
            }
            return more
        }
    }

    private enum Segment: Equatable, Sendable {
        case literal([UInt8])
        case parameter
    }

    /// The routes a path of one segment count can match: per first literal (a short list, compared in place), and
    /// those whose first segment is a parameter, which are also in every per-literal list.
    private struct Bucket: Sendable {
        var byFirst: [(first: [UInt8], routes: [Route])] = []
        var anyFirst: [Route] = []

        /// The list a path whose first segment is `first` searches.
        func routes(first: UnsafeBufferPointer<UInt8>) -> [Route] {
            for entry in byFirst where entry.first.count == first.count {
                if entry.first.withUnsafeBufferPointer({ first.count == 0 || memcmp($0.baseAddress!, first.baseAddress!, first.count) == 0 }) {
                    return entry.routes
                }
            }
            return anyFirst
        }
    }

    /// Routes by segment count.
    private var buckets: [Bucket] = []
    /// Every (method, pattern) pair, in the order added.
    public private(set) var patterns: [(method: String, pattern: String)] = []

    public init() {}

    /// Adds a route; returns the index `match` reports for it.
    @discardableResult
    public mutating func add(_ method: String, _ pattern: String) -> Int {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
        var names: [String] = []
        var segments = parts.map { s -> Segment in
            guard s.hasPrefix("{") && s.hasSuffix("}") else { return .literal(Array(s.utf8)) }
            names.append(String(s.dropFirst().dropLast()))
            return .parameter
        }
        // A trailing slash is part of the pattern as it is of a path: `/_mock/` is not `/_mock`.
        let trailingSlash = !parts.isEmpty && pattern.hasSuffix("/")
        if trailingSlash { segments.append(.literal([])) }
        while buckets.count <= segments.count { buckets.append(Bucket()) }
        let route = Route(method: method, segments: segments, parameterNames: names, index: patterns.count)
        let count = segments.count
        if case .literal(let first)? = segments.first {
            let at: Int
            if let known = buckets[count].byFirst.firstIndex(where: { $0.first == first }) {
                at = known
            } else {
                // A new first literal starts with the routes that match any first segment.
                var routes: [Route] = []
                for other in buckets[count].anyFirst { Self.insert(other, into: &routes) }
                buckets[count].byFirst.append((first, routes))
                at = buckets[count].byFirst.count - 1
            }
            Self.insert(route, into: &buckets[count].byFirst[at].routes)
        } else {
            Self.insert(route, into: &buckets[count].anyFirst)
            for at in buckets[count].byFirst.indices { Self.insert(route, into: &buckets[count].byFirst[at].routes) }
        }
        patterns.append((method, "/" + parts.joined(separator: "/") + (trailingSlash ? "/" : "")))
        return patterns.count - 1
    }

    /// Appends `route` to a list, noting which routes of the list shadow it and which it shadows.
    private static func insert(_ route: Route, into list: inout [Route]) {
        var route = route
        route.shadowedBy = []
        for i in list.indices {
            if route.isShadowed(by: list[i]) { route.shadowedBy.append(i) }
            if list[i].isShadowed(by: route) { list[i].shadowedBy.append(list.count) }
        }
        list.append(route)
    }

    public func match(method: String, path: String) -> RouteMatch {
        var path = path
        let maxSegments = buckets.count - 1
        guard maxSegments > 0 else { return .notFound }
        return path.withUTF8 { bytes in
            withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: maxSegments) { ranges in
                // Segment boundaries as byte ranges: no substrings are made unless a parameter is captured.
                var count = 0
                var start = 0
                for i in 0...bytes.count where i == bytes.count || bytes[i] == UInt8(ascii: "/") {
                    // Empty segments inside the path are skipped; a trailing slash is an empty last segment, so
                    // `/addons/` (an SDK's empty id) fills `{id}` with "" instead of falling back to `/addons`.
                    if i > start || (i == bytes.count && count > 0 && start == bytes.count) {
                        guard count < maxSegments else { return .notFound }
                        ranges[count] = start..<i
                        count += 1
                    }
                    start = i + 1
                }
                let candidates = count == 0 ? buckets[0].anyFirst : buckets[count].routes(first: UnsafeBufferPointer(rebasing: bytes[ranges[0]]))
                func literalsMatched(_ route: Route) -> Int? {
                    var literals = 0
                    for k in 0..<count {
                        guard case .literal(let lit) = route.segments[k] else { continue }
                        let r = ranges[k]
                        guard lit.count == r.count,
                            lit.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress! + r.lowerBound, r.count) == 0 })
                        else { return nil }
                        literals += 1
                    }
                    return literals
                }
                var best: (route: Route, literals: Int)?
                for route in candidates where route.method == method || (method == "HEAD" && route.method == "GET") {
                    // HEAD is served by the GET route.
                    if let literals = literalsMatched(route), best.map({ literals > $0.literals }) ?? true {
                        best = (route, literals)
                    }
                }
                /// The methods of the most specific routes matching the path.
                func allowed() -> [String] {
                    var most = -1
                    var methods: [String] = []
                    for route in candidates {
                        guard let literals = literalsMatched(route), literals >= most else { continue }
                        if literals > most { (most, methods) = (literals, []) }
                        if !methods.contains(route.method) { methods.append(route.method) }
                    }
                    return methods
                }
                guard let route = best?.route else {
                    let methods = allowed()
                    return methods.isEmpty ? .notFound : .methodNotAllowed(allowed: methods)
                }
                if route.shadowedBy.contains(where: { literalsMatched(candidates[$0]) != nil }) {
                    return .methodNotAllowed(allowed: allowed())
                }
                var values: [String] = []
                values.reserveCapacity(route.parameterNames.count)
                for k in 0..<count where route.segments[k] == .parameter {
                    let raw = UnsafeBufferPointer(rebasing: bytes[ranges[k]])
                    guard let decoded = PercentDecoding.decode(raw) else {
                        return .badPath(segment: String(decoding: raw, as: UTF8.self))
                    }
                    values.append(decoded)
                }
                return .found(route: route.index, PathParameters(names: route.parameterNames, values: values))
            }
        }
    }
}
