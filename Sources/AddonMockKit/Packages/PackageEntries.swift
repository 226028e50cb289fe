import AddonMockCore

extension EntryFormat {
    /// A package-shaped record in `seed.json` and exports: its template's `version`, its values under `valuesField`
    /// (`values`, ModelArts' `inputs`) given over the version's defaults, `annotations`, and the kept `previous`
    /// revision and `previousVersion` an export carries. The template and every version named must be in the
    /// service's catalog (a rollback runs the kept one); `noun` names its templates in messages.
    public static func package(valuesField: String = "values", noun: String) -> EntryFormat {
        EntryFormat(
            fields: ["version", valuesField, "annotations", "previous", "previousVersion"],
            read: { entry, name, catalog throws(APIError) in
                let asked = try entry.optionalString("version")
                let (template, version): (Template, TemplateVersion)
                do throws(APIError) { (template, version) = try catalog.resolve(name, version: asked, noun: noun) } catch {
                    throw APIError(.badRequest, "\(entry.path): \(error.message)") // names the entry at fault
                }
                let values = try entry.optionalObject(valuesField)?.value ?? .object([])
                var spec = JSONDocument.package(
                    Revision(version: version.version, values: version.values(over: values)),
                    annotations: RawJSON(try entry.stringMap("annotations") ?? .object([])))
                if let previous = try entry.optionalObject("previous") {
                    spec["previous"] = try revision(previous, of: template, noun: noun).raw
                }
                if let shown = try entry.optionalString("previousVersion") { spec["previousVersion"] = .string(shown) }
                return Read(name: template.name, spec: spec, timing: template.timing)
            },
            readTarget: { target, name, catalog throws(APIError) in
                guard let template = catalog.template(named: name) else {
                    throw APIError(.badRequest, "\(target.path): \(noun) \"\(name)\" not found")
                }
                return try revision(target, of: template, noun: noun).raw
            },
            write: { record, w in
                let spec = record.spec
                w.field("version", spec["version"] ?? .string(""))
                w.field(valuesField, spec["values"] ?? .emptyObject)
                if let annotations = spec["annotations"] { w.field("annotations", annotations) }
                if let previous = spec["previous"] { w.field("previous", previous) }
                if let shown = spec["previousVersion"] { w.field("previousVersion", shown) }
            })
    }

    /// `{"version", "values"}`, the version one the catalog has for `template`.
    private static func revision(_ r: BodyReader, of template: Template, noun: String) throws(APIError) -> Revision {
        try r.allowOnly(["version", "values"])
        let version = try r.string("version")
        guard template.version(version) != nil else {
            throw APIError(
                .badRequest,
                "\(r.path).version: version \"\(version)\" of \(noun) \"\(template.name)\" does not exist; available versions: \(template.versions.map(\.version).joined(separator: ", "))"
            )
        }
        return Revision(version: version, values: RawJSON(try r.optionalObject("values")?.value ?? .object([])))
    }
}

extension ShownField {
    /// A package's current version and the one before its last upgrade or rollback (null when none).
    public static let packageFields: [ShownField] = [
        .spec("version"),
        ShownField("previousVersion") { $0.shownPreviousVersion.map(RawJSON.string) ?? .null },
    ]
}
