import AddonMockCore
import AddonMockKit

/// The OpenAPI 3 document of every served route, assembled at start-up: `openapi.base.json` (info), each
/// service's fragment (tags, paths, schemas) and the control API's. The control fragment is written for any set
/// of services: the registry fills in `"$kinds"`, `"$services"` and `"$storedServices"` (enums) and
/// `"$scopeFields"` (one string property per scope field).
enum OpenAPIDocument {
    static func assemble(services: [ServiceDefinition], registry: ServiceRegistry) -> JSONValue {
        var tags: [JSONValue] = [], paths: [(key: String, value: JSONValue)] = [], schemas: [(key: String, value: JSONValue)] = []
        for fragment in services.map(\.openAPI) + [PackageResources.control_openapi_json] {
            let parsed = (try? JSONParser.parse(fragment, maxDepth: 256)) ?? .null
            if case .array(let t)? = parsed["tags"] { tags += t }
            if case .object(let p)? = parsed["paths"] { paths += p }
            if case .object(let s)? = parsed["components"]?["schemas"] { schemas += s }
        }
        let substitutions: [String: JSONValue] = [
            "$kinds": .array(registry.kinds.map { .string($0.name) }),
            "$services": .array(registry.faultVocabulary.services.map { .string($0) }),
            "$storedServices": .array(registry.storedServices.map { .string($0) }),
        ]
        guard case .object(var document) = (try? JSONParser.parse(PackageResources.openapi_base_json, maxDepth: 256)) ?? .null else {
            return .null
        }
        for (key, value) in [("tags", JSONValue.array(tags)), ("paths", .object(paths)), ("components", .object([("schemas", .object(schemas))]))] {
            let filled = substitute(value, substitutions, scopeFields: registry.scopeFields)
            if let i = document.firstIndex(where: { $0.key == key }) { document[i].value = filled } else { document.append((key, filled)) }
        }
        return .object(document)
    }

    private static func substitute(_ value: JSONValue, _ substitutions: [String: JSONValue], scopeFields: [String]) -> JSONValue {
        switch value {
        case .string(let s): return substitutions[s] ?? value
        case .array(let items): return .array(items.map { substitute($0, substitutions, scopeFields: scopeFields) })
        case .object(let members):
            return .object(
                members.flatMap { member -> [(key: String, value: JSONValue)] in
                    let filled = substitute(member.value, substitutions, scopeFields: scopeFields)
                    return member.key == "$scopeFields" ? scopeFields.map { ($0, filled) } : [(member.key, filled)]
                })
        default: return value
        }
    }

    /// The document with `servers` pointing at `serverURL`.
    static func render(_ document: JSONValue, serverURL: String) -> [UInt8] {
        guard case .object(var members) = document else { return RawJSON(document).bytes }
        let servers: JSONValue = .array([.object([("url", .string(serverURL)), ("description", .string("this addonmock"))])])
        if let i = members.firstIndex(where: { $0.key == "servers" }) {
            members[i].value = servers
        } else {
            members.insert(("servers", servers), at: 2)
        }
        return RawJSON(.object(members)).bytes
    }
}
