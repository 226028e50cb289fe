import AddonMockCore
import AddonMockKit

/// A validated `InstanceRequest` (the body of install and upgrade).
struct InstanceRequest {
    let clusterID: String
    let templateName: String
    let version: String?
    let values: JSONValue
    let annotations: JSONValue?

    /// Field rules from the CCE docs: spec.clusterID, spec.addonTemplateName and spec.values required;
    /// spec.version required only for an upgrade. `kind` and `apiVersion` are not read: the SDK's model says of
    /// both "fixed value; a value passed here has no effect", so a request the real service serves whatever they
    /// say is served here too (answers always say Addon / v3).
    static func decode(_ root: BodyReader, versionRequired: Bool) throws(APIError) -> InstanceRequest {
        let annotations = try root.optionalObject("metadata")?.stringMap("annotations")
        let spec = try root.object("spec")
        let version = versionRequired ? try spec.string("version") : try spec.optionalString("version")
        if let version, version.isEmpty { throw APIError(.badRequest, "spec.version must not be empty") }
        return InstanceRequest(
            clusterID: try spec.identifier("clusterID"),
            templateName: try spec.identifier("addonTemplateName"),
            version: version,
            values: try spec.object("values").value,
            annotations: annotations)
    }
}

/// The body of `POST /api/v3/addons/{id}/operation/rollback`.
struct RollbackRequest {
    let clusterID: String

    static func decode(_ root: BodyReader) throws(APIError) -> RollbackRequest {
        RollbackRequest(clusterID: try root.identifier("clusterID"))
    }
}
