import AddonMockCore
import AddonMockStore

/// `seed.json` in the fixtures directory: resources a demo starts with, in given states, one list per resource
/// kind under the kind's name, each entry naming its scope by the kind's scope fields:
///
///     {"addons":  [{"service": "cce", "cluster": "c1", "template": "coredns", "version": "1.28.4",
///                   "values": {…}, "status": "running", "reason": "", "message": ""}],
///      "plugins": [{"project": "p1", "pool": "pool-a", "template": "gpu-driver", "inputs": {…}, "status": "Running"}]}
///
/// Applied at start-up and after a full reset, only where the slot is empty: a restart never duplicates or
/// overwrites what is stored. The install step's phase (`installing`, or as the service shows it, `Pending`)
/// starts a real install under the profile's timing.
struct Seeder: Sendable {
    struct Entry: Sendable {
        let service: String
        let scope: String
        let template: Template
        let revision: Revision
        /// nil: installing.
        let phase: Phase?
        let reason: String
        let message: String
    }

    let entries: [Entry]

    static let file = "seed.json"

    /// `catalogs`: each kind's catalog and how messages name its templates.
    static func parse(_ bytes: [UInt8], source: String, kinds: [(kind: ResourceKind, catalog: Catalog, noun: String)]) throws(StartupError) -> Seeder
    {
        let root: BodyReader
        do {
            let value = try JSONParser.parse(bytes)
            guard value.isObject else { throw StartupError(message: "\(source): must be a JSON object, got \(value.typeName)") }
            root = BodyReader(value)
        } catch let e as JSONSyntaxError {
            throw StartupError(message: "\(source) is not valid JSON: \(e.description)")
        } catch {
            throw StartupError(message: "\(error)")
        }
        var entries: [Entry] = []
        do throws(APIError) {
            for (kind, catalog, noun) in kinds {
                guard let list = root.optional(kind.name) else { continue }
                guard case .array(let items) = list else { throw APIError(.badRequest, "\(kind.name) must be an array") }
                for (i, item) in items.enumerated() {
                    entries.append(try entry(BodyReader(item, path: "\(kind.name)[\(i)]"), kind, catalog, noun))
                }
            }
            try root.allowOnly(Set(kinds.map(\.kind.name)))
        } catch {
            throw StartupError(message: "\(source): \(error.message)")
        }
        return Seeder(entries: entries)
    }

    private static func entry(_ e: BodyReader, _ kind: ResourceKind, _ catalog: Catalog, _ noun: String) throws(APIError) -> Entry {
        let many = kind.services.count > 1
        try e.allowOnly(Set(kind.scopeFields + ["template", "version", kind.valuesField, "status", "reason", "message"] + (many ? ["service"] : [])))
        let service = many ? try e.optionalString("service") ?? kind.services[0] : kind.services[0]
        guard kind.services.contains(service) else {
            throw APIError(.badRequest, "\(e.path).service must be \(kind.services.orList), got \"\(service)\"")
        }
        var fields: [String: String] = [:]
        for field in kind.scopeFields { fields[field] = try e.identifier(field) }
        let values = try e.optionalObject(kind.valuesField)?.value ?? .object([])
        let name = try e.identifier("template"), asked = try e.optionalString("version")
        let (template, version): (Template, TemplateVersion)
        do { (template, version) = try catalog.resolve(name, version: asked, noun: noun) } catch {
            throw APIError(.badRequest, "\(e.path): \(error.message)") // names the entry at fault
        }
        let installing = kind.lifecycle.steps[.install]?.inFlight
        let status = try e.optionalString("status") ?? kind.lifecycle.settled[0].rawValue
        let phase: Phase?
        if let installing, status == installing.rawValue || status == kind.status(installing) {
            phase = nil
        } else if let p = kind.settledPhase(named: status) {
            phase = p
        } else {
            let start = installing.map { kind.status($0) == $0.rawValue ? $0.rawValue : "\($0.rawValue) (\(kind.status($0)))" }
            throw APIError(
                .badRequest,
                "\(e.path).status must be \(start.map { "\($0), or " } ?? "")a settled state (\(kind.settledPhaseNames.joined(separator: ", "))); got \"\(status)\""
            )
        }
        return Entry(
            service: service, scope: kind.scope(fields), template: template,
            revision: Revision(version: version.version, values: RawJSON(version.input.merging(values))),
            phase: phase, reason: try e.optionalString("reason") ?? "", message: try e.optionalString("message") ?? "")
    }

    /// Creates every entry whose slot is free; returns how many were created. With a request (a reset through the
    /// control API), its answer waits for the commit; otherwise this does.
    func apply(to manager: InstanceManager, for request: RequestWrites? = nil) throws -> Int {
        var created = 0
        for e in entries {
            _ = try manager.createOrModify(
                service: e.service, scope: e.scope, template: e.template.name, for: request,
                create: { now in
                    created += 1
                    guard let phase = e.phase else {
                        return manager.engine.install(
                            id: Identifiers.uuid(), service: e.service, scope: e.scope, template: e.template.name,
                            revision: e.revision, annotations: .emptyObject, templateTiming: e.template.timing,
                            outcome: .succeed, now: now)
                    }
                    return Instance(
                        id: Identifiers.uuid(), service: e.service, scope: e.scope, template: e.template.name,
                        current: e.revision, phase: phase, reason: e.reason, message: e.message, createdAt: now, updatedAt: now)
                }, modify: { _, _ in })
        }
        return created
    }
}
