import AddonMockCore
import AddonMockKit

/// `apiVersion` and `kind` of plug-in bodies: "v2" and "Plugin". The SDK docstrings and the official docs swap the
/// two descriptions, so clients that followed the docs send them swapped: both orders are accepted, nothing else.
private func checkPluginTypeHeader(_ root: BodyReader) throws(APIError) {
    let apiVersion = try root.string("apiVersion"), kind = try root.string("kind")
    guard (apiVersion, kind) == ("v2", "Plugin") || (apiVersion, kind) == ("Plugin", "v2") else {
        throw APIError(
            .badRequest,
            "apiVersion must be \"v2\" and kind \"Plugin\" (the documented swap is accepted too), got apiVersion \"\(apiVersion)\" and kind \"\(kind)\""
        )
    }
}

/// The body of `POST …/plugins`: `{"apiVersion","kind","spec":{"template":{"name","version","inputs"}}}`.
struct PluginCreateRequest {
    let name: String
    let version: String?
    let inputs: JSONValue

    static func decode(_ root: BodyReader) throws(APIError) -> PluginCreateRequest {
        try checkPluginTypeHeader(root)
        let template = try root.object("spec").object("template")
        let version = try template.optionalString("version")
        if version?.isEmpty == true { throw APIError(.badRequest, "spec.template.version must not be empty") }
        return PluginCreateRequest(
            name: try template.identifier("name"), version: version,
            inputs: try template.optionalObject("inputs")?.value ?? .object([]))
    }
}

/// The body of `PATCH …/plugins/{name}` (merge patch): `{"spec":{"template":{"version","inputs"}}}`.
struct PluginPatchRequest {
    let name: String?
    let version: String?
    /// A merge patch for the current inputs (`null` removes a key).
    let inputs: JSONValue?

    static func decode(_ root: BodyReader) throws(APIError) -> PluginPatchRequest {
        if root.optional("apiVersion") != nil || root.optional("kind") != nil { try checkPluginTypeHeader(root) }
        let template = try root.object("spec").object("template")
        let version = try template.optionalString("version")
        if version?.isEmpty == true { throw APIError(.badRequest, "spec.template.version must not be empty") }
        return PluginPatchRequest(
            name: try template.optionalIdentifier("name"), version: version,
            inputs: try template.optionalObject("inputs")?.value)
    }
}
