import AddonMockCore

extension Catalog {
    /// The template (by name or alias) and version a request asks for; no version means the newest stable one.
    /// `noun` names the kind of template in messages ("addon template", "plug-in template").
    public func resolve(_ name: String, version: String?, noun: String) throws(APIError) -> (Template, TemplateVersion) {
        guard let template = template(named: name) else {
            throw APIError(.notFound, "\(noun) \"\(name)\" not found")
        }
        guard let version else { return (template, template.defaultVersion) }
        guard let v = template.version(version) else {
            let known = template.versions.map(\.version).joined(separator: ", ")
            throw APIError(.badRequest, "version \"\(version)\" of \(noun) \"\(template.name)\" does not exist; available versions: \(known)")
        }
        return (template, v)
    }
}

extension APIError {
    /// Runs an engine step, turning its refusals (busy, not rollbackable) into 409s prefixed for the service.
    public static func conflicts(_ prefix: String, _ body: () throws -> Void) throws {
        do { try body() } catch let e as LifecycleError {
            throw APIError(.conflict, "\(prefix): \(e.description)")
        }
    }
}
