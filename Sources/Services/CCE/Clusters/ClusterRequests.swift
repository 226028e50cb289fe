import AddonMockCore
import AddonMockKit

/// The type a spec field the answers document must have: a value of another type is refused, a null left out
/// (as if not sent), so nothing stored contradicts the OpenAPI document.
enum SpecField {
    case string, bool, integer, object, strings

    func accepts(_ v: JSONValue) -> Bool {
        switch (self, v) {
        case (.string, .string), (.bool, .bool), (.object, .object): return true
        case (.integer, .number(let n)): return Int(n) != nil
        case (.strings, .array(let items)): return items.allSatisfy { if case .string = $0 { true } else { false } }
        default: return false
        }
    }

    var noun: String {
        switch self {
        case .string: "a string"
        case .bool: "a boolean"
        case .integer: "a whole number"
        case .object: "an object"
        case .strings: "an array of strings"
        }
    }

    /// `spec`'s members without nulls, each typed field checked.
    static func checked(_ spec: BodyReader, _ fields: [String: SpecField]) throws(APIError) -> JSONValue {
        guard case .object(let members) = spec.value else { return .object([]) }
        var kept: [(key: String, value: JSONValue)] = []
        for (key, value) in members where value != .null {
            if let field = fields[key], !field.accepts(value) {
                throw APIError(.badRequest, "\(spec.path).\(key) must be \(field.noun), got \(value.typeName)")
            }
            kept.append((key, value))
        }
        return .object(kept)
    }

    static let cluster: [String: SpecField] = [
        "category": .string, "type": .string, "flavor": .string, "version": .string, "platformVersion": .string,
        "description": .string, "customSan": .strings, "ipv6enable": .bool, "hostNetwork": .object, "containerNetwork": .object,
        "authentication": .object, "billingMode": .integer, "kubernetesSvcIpRange": .string, "kubeProxyMode": .string,
        "az": .string, "supportIstio": .bool, "deletionProtection": .bool,
    ]

    static let nodePool: [String: SpecField] = [
        "type": .string, "nodeTemplate": .object, "initialNodeCount": .integer, "autoscaling": .object, "nodeManagement": .object,
    ]
}

/// A validated `Cluster` create body. Required as the CCE API reference and the SDK's model say: `metadata.name`,
/// `spec.flavor`, `spec.hostNetwork.vpc` and `.subnet`, `spec.containerNetwork.mode`. The stored spec is the one
/// sent with what the real service fills in when a field is left out.
struct ClusterRequest {
    let name: String
    let alias: String?
    let annotations: JSONValue?
    let labels: JSONValue?
    let spec: JSONValue

    /// `autopilot`: an Autopilot cluster, whose flavor, container network and category the service chooses.
    static func decode(_ root: BodyReader, autopilot: Bool = false) throws(APIError) -> ClusterRequest {
        let metadata = try root.object("metadata")
        let name = try metadata.string("name")
        guard isName(name, length: 4...128) else {
            throw APIError(
                .badRequest,
                "metadata.name \"\(name)\" is invalid: 4 to 128 characters of lowercase letters, digits and '-', starting with a letter and not ending with '-'"
            )
        }
        let spec = try root.object("spec")
        if !autopilot { _ = try spec.string("flavor") }
        let host = try spec.object("hostNetwork")
        _ = try host.string("vpc")
        _ = try host.string("subnet")
        if !autopilot {
            let mode = try spec.object("containerNetwork").string("mode")
            guard ClusterCatalog.containerNetworkModes.contains(mode) else {
                throw APIError(
                    .badRequest,
                    "spec.containerNetwork.mode must be one of \(ClusterCatalog.containerNetworkModes.joined(separator: ", ")), got \"\(mode)\"")
            }
        }
        return ClusterRequest(
            name: name, alias: try metadata.optionalString("alias"), annotations: try metadata.stringMap("annotations"),
            labels: try metadata.stringMap("labels"), spec: try completed(spec, autopilot: autopilot))
    }

    /// The spec as stored: what was sent, checked, over what the real service fills in (a seed or import entry
    /// may leave out everything).
    static func completed(_ spec: BodyReader, autopilot: Bool = false) throws(APIError) -> JSONValue {
        let flavors = autopilot ? [ClusterCatalog.autopilotFlavor] : ClusterCatalog.flavors
        let flavor = try spec.optionalString("flavor") ?? flavors[0]
        guard flavors.contains(flavor) else {
            throw APIError(.badRequest, "\(spec.path).flavor must be one of \(flavors.joined(separator: ", ")), got \"\(flavor)\"")
        }
        let version = try spec.optionalString("version") ?? ClusterCatalog.defaultVersion
        guard ClusterCatalog.versions.contains(version) else {
            throw APIError(.badRequest, "\(spec.path).version must be one of \(ClusterCatalog.versions.joined(separator: ", ")), got \"\(version)\"")
        }
        let type = try spec.optionalString("type") ?? "VirtualMachine"
        guard ClusterCatalog.types.contains(type) else {
            throw APIError(.badRequest, "\(spec.path).type must be one of \(ClusterCatalog.types.joined(separator: ", ")), got \"\(type)\"")
        }
        if let description = try spec.optionalString("description"), description.utf8.count > 200 {
            throw APIError(.badRequest, "\(spec.path).description must be at most 200 characters")
        }
        let defaults: JSONValue = .object([
            ("category", .string(autopilot || flavor.hasPrefix("cce.t") ? "Turbo" : "CCE")), ("type", .string(type)),
            ("flavor", .string(flavor)), ("version", .string(version)), ("platformVersion", .string("cce.17.0")),
            ("description", .string("")), ("customSan", .array([])), ("ipv6enable", .bool(false)),
            ("authentication", .object([("mode", .string("rbac"))])), ("billingMode", .number("0")),
            ("kubernetesSvcIpRange", .string("10.247.0.0/16")), ("kubeProxyMode", .string("iptables")),
            ("az", .string("multi_az")), ("supportIstio", .bool(true)), ("deletionProtection", .bool(false)),
        ])
        let given = try SpecField.checked(spec, SpecField.cluster)
        if autopilot { return defaults.merging(.object([("containerNetwork", .object([("mode", .string("eni"))]))])).merging(given) }
        return defaults.merging(given)
    }

    /// Lowercase letters, digits and '-', starting with a letter and not ending with '-': how CCE names clusters
    /// and node pools.
    static func isName(_ s: String, length: ClosedRange<Int>) -> Bool {
        let b = Array(s.utf8)
        guard length.contains(b.count), (97...122).contains(b[0]), b[b.count - 1] != UInt8(ascii: "-") else { return false }
        return b.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "-") }
    }
}

/// The body of a cluster update (`ClusterInformation`): the fields the API lets change after creation.
struct ClusterUpdate {
    let spec: JSONValue
    let alias: String?

    static let updatable: Set<String> = [
        "description", "customSan", "deletionProtection", "agencyName", "containerNetwork", "eniNetwork", "hostNetwork",
        "secretConfig",
    ]

    static func decode(_ root: BodyReader) throws(APIError) -> ClusterUpdate {
        let spec = try root.optionalObject("spec")
        if let spec { try spec.allowOnly(updatable) }
        if let description = try spec?.optionalString("description"), description.utf8.count > 200 {
            throw APIError(.badRequest, "spec.description must be at most 200 characters")
        }
        let alias = try root.optionalObject("metadata")?.optionalString("alias")
        guard spec != nil || alias != nil else { throw APIError(.badRequest, "spec or metadata.alias is required") }
        return ClusterUpdate(spec: try spec.map { s throws(APIError) in try SpecField.checked(s, SpecField.cluster) } ?? .object([]), alias: alias)
    }
}

/// A validated `NodePool` create body: `metadata.name`, `spec.nodeTemplate` with `flavor` and `az`;
/// `spec.initialNodeCount` (default 0) is how many nodes it starts with.
struct NodePoolRequest {
    let name: String
    let spec: JSONValue

    static let maxNodes = 500

    static func decode(_ root: BodyReader) throws(APIError) -> NodePoolRequest {
        let name = try root.object("metadata").string("name")
        guard ClusterRequest.isName(name, length: 1...50) else {
            throw APIError(
                .badRequest,
                "metadata.name \"\(name)\" is invalid: 1 to 50 characters of lowercase letters, digits and '-', starting with a letter and not ending with '-'"
            )
        }
        let spec = try root.object("spec")
        let template = try spec.object("nodeTemplate")
        _ = try template.string("flavor")
        _ = try template.string("az")
        return NodePoolRequest(name: name, spec: try completed(spec))
    }

    /// The spec as stored: what was sent over the defaults, `initialNodeCount` always there.
    static func completed(_ spec: BodyReader) throws(APIError) -> JSONValue {
        let count = try spec.optionalInt("initialNodeCount", in: 0...maxNodes) ?? 0
        let defaults: JSONValue = .object([
            ("type", .string("vm")), ("autoscaling", .object([("enable", .bool(false))])), ("nodeManagement", .object([])),
        ])
        return defaults.merging(try SpecField.checked(spec, SpecField.nodePool)).merging(.object([("initialNodeCount", .number(String(count)))]))
    }
}

/// A node pool update (`NodePoolUpdate`): a new `initialNodeCount` scales it; other spec fields are kept as sent.
struct NodePoolUpdate {
    let spec: JSONValue
    let nodeCount: Int?

    static func decode(_ root: BodyReader) throws(APIError) -> NodePoolUpdate {
        let spec = try root.object("spec")
        let ignore = try spec.optionalBool("ignoreInitialNodeCount") ?? false
        let count = ignore ? nil : try spec.optionalInt("initialNodeCount", in: 0...NodePoolRequest.maxNodes)
        var kept = try SpecField.checked(spec, SpecField.nodePool)
        if case .object(let members) = kept {
            kept = .object(members.filter { $0.key != "initialNodeCount" && $0.key != "ignoreInitialNodeCount" })
        }
        return NodePoolUpdate(spec: kept, nodeCount: count)
    }
}
