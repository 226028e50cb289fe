import AddonMockCore
import AddonMockStore

/// `seed.json` in the fixtures directory: add-ons and plug-ins a demo starts with, in given states.
///
///     {"addons":  [{"service": "cce", "cluster": "c1", "template": "coredns", "version": "1.28.4",
///                   "values": {…}, "status": "running", "reason": "", "message": ""}],
///      "plugins": [{"project": "p1", "pool": "pool-a", "template": "gpu-driver", "inputs": {…}, "status": "Running"}]}
///
/// Applied at start-up and after a full reset, only where the slot is empty: a restart never duplicates or
/// overwrites what is stored. `installing` / `Pending` start a real install under the profile's timing.
struct Seeder: Sendable {
    struct Entry: Sendable {
        let service: ServiceKind
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

    static func parse(_ bytes: [UInt8], source: String, cce: Catalog, plugins: Catalog) throws(StartupError) -> Seeder {
        let root: BodyReader
        do { root = try BodyReader.parse(bytes) } catch { throw StartupError(message: "\(source): \(error.message)") }
        var entries: [Entry] = []
        for (key, catalog) in [("addons", cce), ("plugins", plugins)] {
            guard let list = root.optional(key) else { continue }
            guard case .array(let items) = list else { throw StartupError(message: "\(source): \(key) must be an array") }
            for (i, item) in items.enumerated() {
                do {
                    entries.append(try entry(BodyReader(item, path: "\(key)[\(i)]"), plugin: key == "plugins", catalog: catalog))
                } catch {
                    throw StartupError(message: "\(source): \(error.message)")
                }
            }
        }
        do { try root.allowOnly(["addons", "plugins"]) } catch { throw StartupError(message: "\(source): \(error.message)") }
        return Seeder(entries: entries)
    }

    private static func entry(_ e: BodyReader, plugin: Bool, catalog: Catalog) throws(APIError) -> Entry {
        let service: ServiceKind, scope: String, values: JSONValue
        if plugin {
            try e.allowOnly(["project", "pool", "template", "version", "inputs", "status", "reason", "message"])
            service = .modelarts
            scope = "\(try e.string("project"))/\(try e.string("pool"))"
            values = try e.optionalObject("inputs")?.value ?? .object([])
        } else {
            try e.allowOnly(["service", "cluster", "template", "version", "values", "status", "reason", "message"])
            switch try e.optionalString("service") ?? "cce" {
            case "cce": service = .cce
            case "autopilot": service = .autopilot
            case let other: throw APIError(.badRequest, "\(e.path).service must be cce or autopilot, got \"\(other)\"")
            }
            scope = try e.string("cluster")
            values = try e.optionalObject("values")?.value ?? .object([])
        }
        let (template, version) = try catalog.resolve(try e.string("template"), version: try e.optionalString("version"),
                                                      noun: plugin ? "plug-in template" : "addon template")
        let status = try e.optionalString("status") ?? "running"
        let phase: Phase?
        if status == "installing" || status == "Pending" {
            phase = nil
        } else if let p = ControlService.settledPhase(status) {
            phase = p
        } else {
            throw APIError(.badRequest, "\(e.path).status must be installing (Pending), or a settled state such as running, abnormal or installFailed; got \"\(status)\"")
        }
        return Entry(service: service, scope: scope, template: template,
                     revision: Revision(version: version.version, values: RawJSON(version.input.merging(values))),
                     phase: phase, reason: try e.optionalString("reason") ?? "", message: try e.optionalString("message") ?? "")
    }

    /// Creates every entry whose slot is free; returns how many were created. With a request (a reset through the
    /// control API), its answer waits for the commit; otherwise this does.
    func apply(to manager: InstanceManager, for request: RequestWrites? = nil) throws -> Int {
        var created = 0
        for e in entries {
            _ = try manager.createOrModify(service: e.service, scope: e.scope, template: e.template.name, for: request, create: { now in
                created += 1
                guard let phase = e.phase else {
                    return manager.engine.install(id: Identifiers.uuid(), service: e.service, scope: e.scope, template: e.template.name,
                                                  revision: e.revision, annotations: .emptyObject, templateTiming: e.template.timing,
                                                  outcome: .succeed, now: now)
                }
                return Instance(id: Identifiers.uuid(), service: e.service, scope: e.scope, template: e.template.name,
                                current: e.revision, phase: phase, reason: e.reason, message: e.message, createdAt: now, updatedAt: now)
            }, modify: { _, _ in })
        }
        return created
    }
}
