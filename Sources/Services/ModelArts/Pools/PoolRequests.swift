import AddonMockCore
import AddonMockKit

/// A validated `POST /v2/{project_id}/pools` body (`CreatePoolRequestBody`): `apiVersion` v2, `kind` Pool,
/// `metadata.labels."os.modelarts/name"` (the name people see; the pool's own name is made by the service), and a
/// spec whose `resources` give the flavors and node counts.
struct PoolRequest {
    let displayName: String
    let labels: JSONValue
    let annotations: JSONValue
    let spec: JSONValue

    static let scopes = ["Train", "Infer", "Notebook"]
    static let types = ["Dedicate", "Logical"]
    static let maxCount = 500

    static func decode(_ root: BodyReader) throws(APIError) -> PoolRequest {
        let apiVersion = try root.string("apiVersion"), kind = try root.string("kind")
        guard apiVersion == "v2", kind == "Pool" else {
            throw APIError(.badRequest, "apiVersion must be \"v2\" and kind \"Pool\", got apiVersion \"\(apiVersion)\" and kind \"\(kind)\"")
        }
        let metadata = try root.object("metadata")
        guard let labels = try metadata.stringMap("labels") else { throw APIError(.badRequest, "metadata.labels is required") }
        let labelReader = BodyReader(labels, path: "metadata.labels")
        let displayName = try labelReader.string(PoolLabels.name)
        try checkDisplayName(displayName)
        for key in PoolLabels.reserved where labels[key] != nil {
            throw APIError(.badRequest, "metadata.labels.\(key) is set by the service and cannot be given")
        }
        if let prefix = try labelReader.optionalString(PoolLabels.nodePrefix), !isNodePrefix(prefix) {
            throw APIError(
                .badRequest,
                "metadata.labels.\(PoolLabels.nodePrefix) must be 1 to 16 lowercase letters, digits and hyphens, starting with a letter, got \"\(prefix)\""
            )
        }
        let annotations = try metadata.stringMap("annotations") ?? .object([])
        let spec = try root.object("spec")
        return PoolRequest(displayName: displayName, labels: labels, annotations: annotations, spec: try completedSpec(spec, requireResources: true))
    }

    /// 4 to 64 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (the
    /// provider's and the console's rule).
    static func checkDisplayName(_ name: String) throws(APIError) {
        let bytes = Array(name.utf8)
        let ok =
            (4...64).contains(bytes.count) && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) && bytes.last != UInt8(ascii: "-")
            && bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
        guard ok else {
            throw APIError(
                .badRequest,
                "metadata.labels.\(PoolLabels.name) must be 4 to 64 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, got \"\(name)\""
            )
        }
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }

    private static func isNodePrefix(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        return (1...16).contains(bytes.count) && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0])
            && bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// The spec as stored: what was sent, nulls left out, `type` and `scope` filled in, each resource checked, and a
    /// login password never kept.
    static func completedSpec(_ spec: BodyReader, requireResources: Bool) throws(APIError) -> JSONValue {
        guard case .object(let members) = spec.value else { return .object([]) }
        var out: [(key: String, value: JSONValue)] = []
        for (key, value) in members where value != .null {
            switch key {
            case "type":
                guard let t = value.stringValue, types.contains(t) else {
                    throw APIError(.badRequest, "\(spec.path).type must be one of \(types.joined(separator: ", ")), got \(describe(value))")
                }
                out.append((key, value))
            case "scope": out.append((key, .array(try checkScope(value, path: "\(spec.path).scope").map(JSONValue.string))))
            case "resources": out.append((key, .array(try checkResources(value, path: "\(spec.path).resources"))))
            case "jobFlavors":
                guard case .array(let items) = value, items.allSatisfy({ $0.stringValue != nil }) else {
                    throw APIError(.badRequest, "\(spec.path).jobFlavors must be an array of strings, got \(value.typeName)")
                }
                out.append((key, value))
            case "userLogin":
                guard case .object(let login) = value else {
                    throw APIError(.badRequest, "\(spec.path).userLogin must be an object, got \(value.typeName)")
                }
                out.append((key, .object(login.filter { $0.key != "password" })))
            case "network", "driver", "containernetwork":
                guard value.isObject else { throw APIError(.badRequest, "\(spec.path).\(key) must be an object, got \(value.typeName)") }
                out.append((key, value))
            default: out.append((key, value))
            }
        }
        if !out.contains(where: { $0.key == "type" }) { out.insert(("type", .string("Dedicate")), at: 0) }
        if !out.contains(where: { $0.key == "scope" }) { out.insert(("scope", .array(scopes.map(JSONValue.string))), at: 1) }
        if requireResources, !out.contains(where: { $0.key == "resources" }) {
            throw APIError(.badRequest, "\(spec.path).resources is required: a pool needs at least one flavor and its node count")
        }
        return .object(out)
    }

    static func checkScope(_ value: JSONValue, path: String) throws(APIError) -> [String] {
        guard case .array(let items) = value, !items.isEmpty else {
            throw APIError(.badRequest, "\(path) must be a non-empty array of \(scopes.joined(separator: ", "))")
        }
        var out: [String] = []
        for item in items {
            guard let s = item.stringValue, scopes.contains(s) else {
                throw APIError(.badRequest, "\(path) must hold only \(scopes.joined(separator: ", ")), got \(describe(item))")
            }
            if !out.contains(s) { out.append(s) }
        }
        return out
    }

    /// Each `{flavor, count, maxCount?, azs?, …}`: a flavor once, counts within limits, zones adding up to at most
    /// the count.
    static func checkResources(_ value: JSONValue, path: String) throws(APIError) -> [JSONValue] {
        guard case .array(let items) = value, !items.isEmpty else {
            throw APIError(.badRequest, "\(path) must be a non-empty array of {flavor, count}")
        }
        var seen: Set<String> = []
        var total = 0
        var out: [JSONValue] = []
        for (i, item) in items.enumerated() {
            let r = BodyReader(item, path: "\(path)[\(i)]")
            guard item.isObject else { throw APIError(.badRequest, "\(r.path) must be an object, got \(item.typeName)") }
            let flavor = try r.identifier("flavor")
            let key = flavor + "/" + (try r.optionalString("nodePool") ?? "")
            guard seen.insert(key).inserted else { throw APIError(.badRequest, "\(r.path).flavor \(flavor) is listed twice") }
            guard let count = try r.optionalInt("count", in: 0...maxCount) else { throw APIError(.badRequest, "\(r.path).count is required") }
            if let maxCount = try r.optionalInt("maxCount", in: 0...maxCount), maxCount < count {
                throw APIError(.badRequest, "\(r.path).maxCount (\(maxCount)) must not be less than count (\(count))")
            }
            if let azs = r.optional("azs") {
                guard case .array(let zones) = azs else { throw APIError(.badRequest, "\(r.path).azs must be an array, got \(azs.typeName)") }
                var inZones = 0
                for (j, zone) in zones.enumerated() {
                    let z = BodyReader(zone, path: "\(r.path).azs[\(j)]")
                    guard zone.isObject else { throw APIError(.badRequest, "\(z.path) must be an object, got \(zone.typeName)") }
                    _ = try z.identifier("az")
                    inZones += try z.optionalInt("count", in: 0...maxCount) ?? 0
                }
                if inZones > count { throw APIError(.badRequest, "\(r.path).azs ask for \(inZones) nodes, more than count (\(count))") }
            }
            total += count
            guard case .object(let fields) = item else { continue }
            out.append(.object(fields.filter { $0.value != .null }))
        }
        if total > PoolNodes.maxNodes {
            throw APIError(.badRequest, "\(path) ask for \(total) nodes; a pool holds at most \(PoolNodes.maxNodes)")
        }
        return out
    }

    private static func describe(_ v: JSONValue) -> String { v.stringValue.map { "\"\($0)\"" } ?? v.typeName }
}

/// A validated `PATCH /v2/{project_id}/pools/{pool_name}` body (`PoolUpdateRequest`, a merge patch):
/// `metadata.labels` and `.annotations` (null removes a key), `spec.scope`, `spec.resources` (the whole list: a
/// flavor left out is scaled to nothing; each listed one merged over what the pool has), `spec.jobFlavors`,
/// `spec.driver`.
struct PoolPatch {
    let labels: JSONValue?
    let annotations: JSONValue?
    let scope: [String]?
    let resources: [JSONValue]?
    let other: [(key: String, value: JSONValue)]

    static func decode(_ root: BodyReader) throws(APIError) -> PoolPatch {
        try root.allowOnly(["apiVersion", "kind", "metadata", "spec"])
        let metadata = try root.optionalObject("metadata")
        try metadata?.allowOnly(["labels", "annotations"])
        let labels = try patchMap(metadata, "labels")
        if case .object(let members)? = labels {
            for (key, _) in members where PoolLabels.reserved.contains(key) || key == PoolLabels.name {
                throw APIError(.badRequest, "metadata.labels.\(key) cannot be changed")
            }
        }
        let annotations = try patchMap(metadata, "annotations")
        let spec = try root.optionalObject("spec")
        try spec?.allowOnly(["scope", "resources", "jobFlavors", "driver"])
        let scope = try spec?.optional("scope").map { v throws(APIError) in try PoolRequest.checkScope(v, path: "spec.scope") }
        let resources = try spec?.optional("resources").map { v throws(APIError) in try PoolRequest.checkResources(v, path: "spec.resources") }
        var other: [(key: String, value: JSONValue)] = []
        if let jobFlavors = spec?.optional("jobFlavors") {
            guard case .array(let items) = jobFlavors, items.allSatisfy({ $0.stringValue != nil }) else {
                throw APIError(.badRequest, "spec.jobFlavors must be an array of strings, got \(jobFlavors.typeName)")
            }
            other.append(("jobFlavors", jobFlavors))
        }
        if let driver = try spec?.optionalObject("driver") { other.append(("driver", driver.value)) }
        return PoolPatch(labels: labels, annotations: annotations, scope: scope, resources: resources, other: other)
    }

    /// A merge patch of string values: each value a string or null.
    private static func patchMap(_ metadata: BodyReader?, _ key: String) throws(APIError) -> JSONValue? {
        guard let v = metadata?.optional(key) else { return nil }
        guard case .object(let members) = v else { throw APIError(.badRequest, "metadata.\(key) must be an object, got \(v.typeName)") }
        for (k, item) in members where item.stringValue == nil && item != .null {
            throw APIError(.badRequest, "metadata.\(key).\(k) must be a string or null, got \(item.typeName)")
        }
        return v
    }

    /// `spec` with the patch applied: resources merged by flavor (and node pool) over the pool's own.
    func applied(to spec: JSONValue) -> JSONValue {
        var changes: [(key: String, value: JSONValue)] = other
        if let scope { changes.append(("scope", .array(scope.map(JSONValue.string)))) }
        if let resources {
            let current: [JSONValue]
            if case .array(let list)? = spec["resources"] { current = list } else { current = [] }
            let merged = resources.map { r -> JSONValue in
                let key = { (v: JSONValue) in "\(v["flavor"]?.stringValue ?? "")/\(v["nodePool"]?.stringValue ?? "")" }
                return current.first { key($0) == key(r) }.map { $0.merging(r) } ?? r
            }
            changes.append(("resources", .array(merged)))
        }
        return spec.merging(.object(changes))
    }
}
