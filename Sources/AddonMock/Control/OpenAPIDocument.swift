import AddonMockCore
import AddonMockResources

/// The OpenAPI 3 description of every served route (both emulated APIs and the control API), compiled in from
/// `Sources/AddonMockResources/openapi.json`; `servers` is set to where this server listens.
enum OpenAPIDocument {
    static func render(serverURL: String) -> [UInt8] {
        guard case .object(var members) = (try? JSONParser.parse(BuiltInResources.openAPI, maxDepth: 256)) ?? .null else {
            return BuiltInResources.openAPI
        }
        let servers: JSONValue = .array([.object([("url", .string(serverURL)), ("description", .string("this addonmock"))])])
        if let i = members.firstIndex(where: { $0.key == "servers" }) { members[i].value = servers } else { members.insert(("servers", servers), at: 2) }
        return RawJSON(.object(members)).bytes
    }
}
