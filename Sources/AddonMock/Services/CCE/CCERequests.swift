import AddonMockCore

/// A validated `InstanceRequest` (the body of install and upgrade).
struct InstanceRequest {
    let clusterID: String
    let templateName: String
    let version: String?
    let values: JSONValue
    let annotations: JSONValue?

    /// Field rules from the CCE docs: kind "Addon", apiVersion "v3", spec.clusterID, spec.addonTemplateName and
    /// spec.values required; spec.version required only for an upgrade.
    static func decode(_ root: BodyReader, versionRequired: Bool) throws(APIError) -> InstanceRequest {
        try root.constant("kind", "Addon")
        try root.constant("apiVersion", "v3")
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
