import AddonMockCore

/// A Kubernetes workload a template deploys (ModelArts reports them in `status.resources`).
public struct Workload: Sendable, Equatable {
    public let kind: String
    public let apiVersion: String
    public let namespace: String
    public let name: String
    public let replicas: Int
    /// Objects of strings, e.g. `{"cpu": "500m", "memory": "1Gi"}`.
    public let limits: JSONValue
    public let requests: JSONValue
}

/// One installable version of a template: its default values and the descriptive blocks returned on the wire.
public struct TemplateVersion: Sendable {
    public let version: String
    public let stable: Bool
    /// Default install values; request values are merged over them.
    public let input: JSONValue
    /// `input` as stored and answered, written once at load: what most installs store (no values of their own).
    public let renderedInput: RawJSON
    public let translate: JSONValue
    public let supportVersions: JSONValue
    public let description: String
    public let detail: String
    public let workloads: [Workload]
    public let creationTimestamp: String
    public let updateTimestamp: String
}

extension TemplateVersion {
    /// The values an instance of this version stores: `overlay` merged over the defaults (`JSONValue.merging`).
    public func values(over overlay: JSONValue) -> RawJSON {
        if case .object(let members) = overlay, members.isEmpty { return renderedInput }
        return RawJSON(input.merging(overlay))
    }
}

/// An add-on template as the catalog fixtures describe it.
public struct Template: Sendable {
    public let name: String
    public let alias: String?
    public let type: String
    public let require: Bool
    public let labels: [String]
    public let logoURL: String
    public let readmeURL: String
    public let description: String
    public let annotations: JSONValue
    public let creationTimestamp: String
    public let updateTimestamp: String
    /// Oldest first.
    public let versions: [TemplateVersion]
    /// Per-template durations for the `realistic` profile.
    public let timing: TimingTable?

    public func version(_ v: String) -> TemplateVersion? { versions.first { $0.version == v } }

    /// What an install without `spec.version` gets: the newest stable version (the newest of all if none is stable).
    public var defaultVersion: TemplateVersion {
        versions.last { $0.stable } ?? versions[versions.count - 1]
    }

    /// Versions newer than `v`: what `status.targetVersions` offers as upgrades.
    public func versions(newerThan v: String) -> [String] {
        versions.filter { VersionOrder.isLess(v, $0.version) }.map(\.version)
    }
}

public struct CatalogError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The set of templates a service offers, looked up by name or alias.
public struct Catalog: Sendable {
    public let templates: [Template]
    private let index: [String: Int]

    public init(templates: [Template]) {
        self.templates = templates
        var index: [String: Int] = [:]
        for (i, t) in templates.enumerated() {
            index[t.name] = i
            if let alias = t.alias, index[alias] == nil { index[alias] = i }
        }
        self.index = index
    }

    public func template(named name: String) -> Template? { index[name].map { templates[$0] } }

    /// Parses the fixture document `{"templates":[...]}`. Errors name the template and field at fault,
    /// because a broken fixture must stop start-up with a message a person can act on.
    /// `operations`: the steps of the kinds built from it, which a template's `timing` may name.
    public static func parse(_ document: JSONValue, source: String, operations: [Operation]) throws(CatalogError) -> Catalog {
        guard let list = document["templates"], case .array(let items) = list else {
            throw CatalogError(message: "\(source): expected an object with a \"templates\" array")
        }
        var templates: [Template] = []
        var names = Set<String>()
        for (i, item) in items.enumerated() {
            let t = try parseTemplate(item, at: "\(source): templates[\(i)]", operations: operations)
            guard names.insert(t.name).inserted else {
                throw CatalogError(message: "\(source): template \"\(t.name)\" is defined twice")
            }
            templates.append(t)
        }
        return Catalog(templates: templates)
    }

    private static func parseTemplate(_ v: JSONValue, at path: String, operations: [Operation]) throws(CatalogError) -> Template {
        let f = FieldReader(value: v, path: path)
        let name = try f.string("name")
        let where_ = "\(path) (\(name))"
        guard case .array(let rawVersions) = v["versions"] ?? .null, !rawVersions.isEmpty else {
            throw CatalogError(message: "\(where_): \"versions\" must be a non-empty array")
        }
        var versions: [TemplateVersion] = []
        for (i, rv) in rawVersions.enumerated() {
            let vf = FieldReader(value: rv, path: "\(where_).versions[\(i)]")
            let input = rv["input"] ?? .object([])
            guard input.isObject else { throw CatalogError(message: "\(vf.path): \"input\" must be an object") }
            versions.append(
                TemplateVersion(
                    version: try vf.string("version"),
                    stable: try vf.bool("stable", default: true),
                    input: input,
                    renderedInput: RawJSON(input),
                    translate: rv["translate"] ?? .object([]),
                    supportVersions: rv["supportVersions"] ?? .array([]),
                    description: try vf.string("description", default: ""),
                    detail: try vf.string("detail", default: ""),
                    workloads: try parseWorkloads(rv["workloads"], at: "\(vf.path).workloads"),
                    creationTimestamp: try vf.string("creationTimestamp", default: "2024-01-01T00:00:00Z"),
                    updateTimestamp: try vf.string("updateTimestamp", default: "2024-01-01T00:00:00Z")))
        }
        versions.sort { VersionOrder.isLess($0.version, $1.version) }
        for (a, b) in zip(versions, versions.dropFirst()) where a.version == b.version {
            throw CatalogError(message: "\(where_): version \(a.version) is listed twice")
        }
        return Template(
            name: name,
            alias: try f.optionalString("alias"),
            type: try f.string("type", default: "helm"),
            require: try f.bool("require", default: false),
            labels: try f.strings("labels"),
            logoURL: try f.string("logoURL", default: ""),
            readmeURL: try f.string("readmeURL", default: ""),
            description: try f.string("description", default: ""),
            annotations: try f.stringMap("annotations"),
            creationTimestamp: try f.string("creationTimestamp", default: "2024-01-01T00:00:00Z"),
            updateTimestamp: try f.string("updateTimestamp", default: "2024-01-01T00:00:00Z"),
            versions: versions,
            timing: try parseTiming(v["timing"], at: "\(where_).timing", operations: operations))
    }

    /// `[{"kind": "DaemonSet", "apiVersion": "apps/v1", "namespace": "kube-system", "name": "x", "replicas": 3,
    ///   "limits": {"cpu": "1"}, "requests": {"cpu": "100m"}}]`
    private static func parseWorkloads(_ v: JSONValue?, at path: String) throws(CatalogError) -> [Workload] {
        guard let v, v != .null else { return [] }
        guard case .array(let items) = v else { throw CatalogError(message: "\(path): must be an array") }
        var out: [Workload] = []
        for (i, item) in items.enumerated() {
            let f = FieldReader(value: item, path: "\(path)[\(i)]")
            let replicas = try f.number("replicas", default: 1)
            guard replicas >= 0, replicas == replicas.rounded() else {
                throw CatalogError(message: "\(f.path): \"replicas\" must be a whole number")
            }
            out.append(
                Workload(
                    kind: try f.string("kind"), apiVersion: try f.string("apiVersion", default: "apps/v1"),
                    namespace: try f.string("namespace", default: "kube-system"), name: try f.string("name"),
                    replicas: Int(replicas), limits: try f.stringMap("limits"), requests: try f.stringMap("requests")))
        }
        return out
    }

    /// `{"install": {"seconds": 8, "jitterSeconds": 3}, ...}`
    private static func parseTiming(_ v: JSONValue?, at path: String, operations: [Operation]) throws(CatalogError) -> TimingTable? {
        guard let v, v != .null else { return nil }
        guard case .object(let members) = v else { throw CatalogError(message: "\(path): must be an object") }
        var table: [Operation: StepDuration] = [:]
        for (key, value) in members {
            let op = Operation(key)
            guard operations.contains(op) else {
                throw CatalogError(message: "\(path): unknown operation \"\(key)\" (expected \(operations.map(\.rawValue).orList))")
            }
            let f = FieldReader(value: value, path: "\(path).\(key)")
            let seconds = try f.number("seconds")
            let jitter = try f.number("jitterSeconds", default: 0)
            guard seconds >= 0, jitter >= 0 else { throw CatalogError(message: "\(path).\(key): durations must not be negative") }
            table[op] = StepDuration(baseMs: Int64(seconds * 1000), jitterMs: Int64(jitter * 1000))
        }
        return TimingTable(table)
    }
}

/// Typed field access with error messages that name the path.
public struct FieldReader {
    public let value: JSONValue
    public let path: String

    public func string(_ key: String, default d: String? = nil) throws(CatalogError) -> String {
        switch value[key] {
        case .string(let s)?: return s
        case nil where d != nil, .null? where d != nil: return d!
        case nil: throw CatalogError(message: "\(path): missing \"\(key)\"")
        case let other?: throw CatalogError(message: "\(path): \"\(key)\" must be a string, got \(other.typeName)")
        }
    }

    public func optionalString(_ key: String) throws(CatalogError) -> String? {
        switch value[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        case let other?: throw CatalogError(message: "\(path): \"\(key)\" must be a string, got \(other.typeName)")
        }
    }

    public func bool(_ key: String, default d: Bool) throws(CatalogError) -> Bool {
        switch value[key] {
        case nil, .null?: return d
        case .bool(let b)?: return b
        case let other?: throw CatalogError(message: "\(path): \"\(key)\" must be a boolean, got \(other.typeName)")
        }
    }

    public func number(_ key: String, default d: Double? = nil) throws(CatalogError) -> Double {
        switch value[key] {
        case .number(let n)?:
            guard let x = Double(n) else { throw CatalogError(message: "\(path): \"\(key)\" is not a number") }
            return x
        case nil where d != nil, .null? where d != nil: return d!
        case nil: throw CatalogError(message: "\(path): missing \"\(key)\"")
        case let other?: throw CatalogError(message: "\(path): \"\(key)\" must be a number, got \(other.typeName)")
        }
    }

    /// An object whose values are all strings; `{}` when absent.
    public func stringMap(_ key: String) throws(CatalogError) -> JSONValue {
        switch value[key] {
        case nil, .null?: return .object([])
        case .object(let members)? where members.allSatisfy({ $0.value.stringValue != nil }): return .object(members)
        case _?: throw CatalogError(message: "\(path): \"\(key)\" must be an object of strings")
        }
    }

    public func strings(_ key: String) throws(CatalogError) -> [String] {
        switch value[key] {
        case nil, .null?: return []
        case .array(let items)?:
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    throw CatalogError(message: "\(path): \"\(key)\" must be an array of strings")
                }
                out.append(s)
            }
            return out
        case let other?: throw CatalogError(message: "\(path): \"\(key)\" must be an array, got \(other.typeName)")
        }
    }
}
