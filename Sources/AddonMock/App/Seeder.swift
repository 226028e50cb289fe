import AddonMockCore
import AddonMockKit
import AddonMockStore

/// `seed.json` in the fixtures directory: resources a demo starts with, in given states, one list per resource
/// kind under the kind's name, each entry naming its scope by the kind's scope fields and its name by the kind's
/// name field, then the kind's own fields (`EntryFormat`):
///
///     {"addons":  [{"service": "cce", "cluster": "c1", "template": "coredns", "version": "1.28.4",
///                   "values": {…}, "status": "running", "reason": "", "message": ""}],
///      "plugins": [{"project": "p1", "pool": "pool-a", "template": "gpu-driver", "inputs": {…}, "status": "Running"}]}
///
/// Applied at start-up and after a full reset, only where the slot is empty: a restart never duplicates or
/// overwrites what is stored. The create step's phase (`installing`, or as the service shows it, `Pending`)
/// starts a real create under the profile's timing.
///
/// `GET /_mock/export` writes the same document with every field of a record (`WorldExport`): its `id`, the kind's
/// own fields in full (an add-on's annotations, kept revision and `previousVersion`), the operation in flight
/// (`pending`, with the time it has left) and its timestamps; `POST /_mock/import` and `seed.json` read them back,
/// so a world restores exactly.
struct Seeder: Sendable {
    /// A kind as seeds and exports hold it: with its service's catalog (empty when it has none).
    struct Kind: Sendable {
        let kind: ResourceKind
        let format: EntryFormat
        let catalog: Catalog
    }

    struct Entry: Sendable {
        let service: String
        let scope: String
        let name: String
        let read: EntryFormat.Read
        /// nil: in its create step.
        let phase: Phase?
        let reason: String
        let message: String
        /// The fields an export adds; nil (or empty) in a hand-written seed.
        var record = Record()
    }

    /// What an exported entry carries beyond a seed entry.
    struct Record: Sendable {
        var id: String?
        /// The operation in flight and the milliseconds it has left (nil: it waits for an advance).
        var pending: (operation: Operation, remainingMs: Int64?, outcome: Outcome, target: RawJSON?)?
        var createdAt: Instant?
        var updatedAt: Instant?
    }

    /// The document, kept as bytes: entries are parsed again when they are applied, never all held as values (an
    /// import of 200,000 add-ons is 150 MB of JSON, and many times that as values).
    private let bytes: [UInt8]
    /// Per kind, its catalog and each entry's byte range in `bytes`, in document order.
    private let lists: [(kind: Kind, ranges: [Range<Int>])]
    /// `"settings": {"parents": "strict"}` (or `"clusters"`, its earlier name): what a seed file asks of the server
    /// (start-up only; a flag or its environment twin wins).
    let parents: ParentPolicy?

    /// How many entries the document holds.
    var count: Int { lists.reduce(0) { $0 + $1.ranges.count } }

    static let file = "seed.json"

    /// Reads and checks every entry (a wrong one refuses the whole document, naming it), keeping none of them.
    /// `settings`: whether the document may carry `settings` (a seed file may; an import may not: they apply at start-up).
    static func parse(_ bytes: [UInt8], source: String, kinds: [Kind], settings: Bool = false) throws(StartupError) -> Seeder {
        let members: [(key: String, value: JSONParser.LocatedMember)]
        do {
            guard let found = try JSONParser.parseLocatingArrays(bytes) else {
                throw StartupError(message: "\(source): must be a JSON object, got \((try? JSONParser.parse(bytes))?.typeName ?? "something else")")
            }
            members = found
        } catch let e as JSONSyntaxError {
            throw StartupError(message: "\(source) is not valid JSON: \(e.description)")
        } catch {
            throw StartupError(message: "\(error)")
        }
        var lists: [(kind: Kind, ranges: [Range<Int>])] = []
        do throws(APIError) {
            for kind in kinds {
                guard let member = members.first(where: { $0.key == kind.kind.name })?.value else { continue }
                guard case .array(let ranges) = member else { throw APIError(.badRequest, "\(kind.kind.name) must be an array") }
                lists.append((kind, ranges))
            }
            var parents: ParentPolicy?
            if let member = members.first(where: { $0.key == "settings" })?.value {
                guard settings else {
                    throw APIError(.badRequest, "settings apply at start-up (a seed file, or --parents): an import cannot change them")
                }
                guard case .value(let value) = member, case .object = value else { throw APIError(.badRequest, "settings must be an object") }
                let reader = BodyReader(value, path: "settings")
                try reader.allowOnly(["parents", "clusters"])
                for key in ["parents", "clusters"] {
                    guard let text = try reader.optionalString(key) else { continue }
                    guard let policy = ParentPolicy(rawValue: text) else {
                        throw APIError(.badRequest, "settings.\(key) must be one of lenient, strict, got \"\(text)\"")
                    }
                    if let asked = parents, asked != policy {
                        throw APIError(.badRequest, "settings.parents and settings.clusters (its earlier name) disagree: give one")
                    }
                    parents = policy
                }
            }
            let known = Set(kinds.map(\.kind.name) + (settings ? ["settings"] : []))
            if let unknown = members.first(where: { !known.contains($0.key) && !(settings && $0.key == "settings") }) {
                throw APIError(.badRequest, "unknown field \(unknown.key); expected one of: \(known.sorted().joined(separator: ", "))")
            }
            let seeder = Seeder(bytes: bytes, lists: lists, parents: parents)
            try seeder.forEachEntry { _, _ in }
            return seeder
        } catch {
            throw StartupError(message: "\(source): \(error.message)")
        }
    }

    /// Each entry, parsed and checked, with its kind (an error names the entry at fault).
    func forEachEntry(_ body: (Entry, ResourceKind) throws -> Void) throws(APIError) {
        for (kind, ranges) in lists {
            for (i, range) in ranges.enumerated() {
                let value: JSONValue
                do { value = try JSONParser.parse(bytes[range]) } catch {
                    throw APIError(.badRequest, "\(kind.kind.name)[\(i)] is not valid JSON: \(error.description)") // checked whole already
                }
                let entry = try Self.entry(BodyReader(value, path: "\(kind.kind.name)[\(i)]"), kind)
                do { try body(entry, kind.kind) } catch let e as APIError { throw e } catch {
                    throw APIError(.internalError, "\(error)")
                }
            }
        }
    }

    static let recordFields = ["id", "pending", "createdAt", "updatedAt"]

    private static func entry(_ e: BodyReader, _ seeded: Kind) throws(APIError) -> Entry {
        let kind = seeded.kind
        let many = kind.services.count > 1
        try e.allowOnly(
            Set(
                kind.scopeFields + [kind.nameField] + seeded.format.fields + ["status", "reason", "message"] + (many ? ["service"] : [])
                    + recordFields))
        let service = many ? try e.optionalString("service") ?? kind.services[0] : kind.services[0]
        guard kind.services.contains(service) else {
            throw APIError(.badRequest, "\(e.path).service must be \(kind.services.orList), got \"\(service)\"")
        }
        var fields: [String: String] = [:]
        for field in kind.scopeFields { fields[field] = try e.identifier(field) }
        let name = try e.identifier(kind.nameField)
        let read = try seeded.format.read(e, name, seeded.catalog)
        let creating = kind.lifecycle.steps[kind.lifecycle.create]?.inFlight
        let status = try e.optionalString("status") ?? kind.lifecycle.settled[0].rawValue
        let record = try Self.record(e, seeded, name: read.name ?? name, status: status)
        let phase: Phase?
        if let pending = record.pending {
            phase = kind.lifecycle.steps[pending.operation]?.inFlight
        } else if let creating, status == creating.rawValue || status == kind.status(creating) {
            phase = nil
        } else if let p = kind.settledPhase(named: status) {
            phase = p
        } else {
            let start = creating.map { kind.status($0) == $0.rawValue ? $0.rawValue : "\($0.rawValue) (\(kind.status($0)))" }
            throw APIError(
                .badRequest,
                "\(e.path).status must be \(start.map { "\($0), or " } ?? "")a settled state (\(kind.settledPhaseNames.joined(separator: ", "))); got \"\(status)\""
            )
        }
        return Entry(
            service: service, scope: kind.scope(fields), name: read.name ?? name, read: read,
            phase: phase, reason: try e.optionalString("reason") ?? "", message: try e.optionalString("message") ?? "", record: record)
    }

    /// The exported fields of an entry, validated.
    private static func record(_ e: BodyReader, _ seeded: Kind, name: String, status: String) throws(APIError) -> Record {
        let kind = seeded.kind
        var r = Record()
        r.id = try e.optionalIdentifier("id")
        r.createdAt = try instant(e, "createdAt")
        r.updatedAt = try instant(e, "updatedAt")
        guard let p = try e.optionalObject("pending") else { return r }
        try p.allowOnly(["operation", "remainingMs", "outcome", "reason", "message", "target"])
        let opName = try p.string("operation")
        guard let operation = kind.operation(named: opName), let step = kind.lifecycle.steps[operation] else {
            throw APIError(.badRequest, "\(p.path).operation must be \(kind.lifecycle.operations.map(\.rawValue).orList), got \"\(opName)\"")
        }
        guard status == step.inFlight.rawValue || status == kind.status(step.inFlight) else {
            throw APIError(
                .badRequest, "\(e.path).status must be \(step.inFlight.rawValue) while \(opName.withArticle) is pending, got \"\(status)\"")
        }
        let remaining = try p.optionalInt("remainingMs", in: 0...(10 * 365 * 86_400_000)).map(Int64.init)
        let reason = try p.optionalString("reason") ?? "", message = try p.optionalString("message") ?? ""
        let outcome: Outcome
        switch try p.optionalString("outcome") ?? "succeed" {
        case "succeed": outcome = .succeed
        case "fail": outcome = .fail(reason: reason, message: message)
        case "abnormal": outcome = .abnormal(reason: reason, message: message)
        case let other: throw APIError(.badRequest, "\(p.path).outcome must be succeed, fail or abnormal, got \"\(other)\"")
        }
        let target = try p.optionalObject("target").map { t throws(APIError) in try seeded.format.readTarget(t, name, seeded.catalog) }
        r.pending = (operation, remaining, outcome, target)
        return r
    }

    private static func instant(_ e: BodyReader, _ key: String) throws(APIError) -> Instant? {
        guard let text = try e.optionalString(key) else { return nil }
        guard let t = Instant(rfc3339: text) else { throw APIError(.badRequest, "\(e.path).\(key) must be an RFC 3339 time, got \"\(text)\"") }
        return t
    }

    /// Creates every entry whose slot (and id) is free; returns how many were created. Entries are parsed again and
    /// written in batches of `batchSize`, each one write, so that neither the whole document as values nor one long
    /// hold of the writer lock is needed. With a request (a reset or an import through the control API), its answer
    /// waits for the last commit; otherwise each batch does.
    func apply(to manager: ResourceManager, for request: RequestWrites? = nil, batchSize: Int = 500) throws -> Int {
        var created = 0
        var batch: [Entry] = []
        batch.reserveCapacity(batchSize)
        func flush() throws {
            guard !batch.isEmpty else { return }
            created += try manager.createWhereFree(
                batch.map { e in
                    (id: e.record.id, service: e.service, scope: e.scope, name: e.name, make: { now in e.resource(manager.engine, at: now) })
                }, for: request)
            batch.removeAll(keepingCapacity: true)
        }
        try forEachEntry { entry, _ in
            batch.append(entry)
            if batch.count == batchSize { try flush() }
        }
        try flush()
        return created
    }
}

extension Seeder.Entry {
    /// The record the entry describes: an entry in its create step's phase starts a real create under the
    /// profile's timing; any other is the settled or in-flight record as given, its operation in flight due
    /// `remainingMs` after `now`.
    func resource(_ engine: LifecycleEngine, at now: Instant) -> Resource {
        guard let phase else {
            var creating = engine.create(
                id: record.id ?? Identifiers.uuid(), service: service, scope: scope, name: name, spec: read.spec, status: read.status,
                templateTiming: read.timing, outcome: .succeed, now: now)
            if let createdAt = record.createdAt { creating.createdAt = createdAt }
            return creating
        }
        let pending = record.pending.map { p in
            PendingTransition(
                operation: p.operation, dueAt: p.remainingMs.map { now.adding(milliseconds: $0) }, outcome: p.outcome, target: p.target)
        }
        return Resource(
            id: record.id ?? Identifiers.uuid(), service: service, scope: scope, name: name, spec: read.spec, status: read.status,
            phase: phase, reason: reason, message: message, pending: pending,
            createdAt: record.createdAt ?? now, updatedAt: record.updatedAt ?? now)
    }
}
