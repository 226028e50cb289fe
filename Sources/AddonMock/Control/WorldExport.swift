import AddonMockCore

/// `GET /_mock/export`: the world as a `seed.json` document that `POST /_mock/import` (or `seed.json` itself) reads
/// back (`Seeder`). Every record of every seedable kind, each with all it needs to come back as it was: id,
/// values, annotations, the kept revision, the operation in flight with the milliseconds it has left (`null`:
/// waiting for an advance) and its decided outcome, and timestamps to the millisecond. Kinds derived from others
/// (add-on checks) are not exported. Entries are in id order (ids are time-ordered), fields in a fixed order, so the
/// same world always exports to the same bytes.
enum WorldExport {
    static func document(_ kinds: [(kind: ResourceKind, records: [Instance])], now: Instant) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        for (kind, records) in kinds {
            w.key(kind.name)
            w.beginArray()
            for record in records.sorted(by: { $0.id < $1.id }) { entry(record, kind, now: now, to: &w) }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    private static func entry(_ i: Instance, _ kind: ResourceKind, now: Instant, to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", i.id)
        if kind.services.count > 1 { w.field("service", i.service) }
        let fields = kind.fields(of: i.scope)
        for field in kind.scopeFields { w.field(field, fields[field] ?? "") }
        w.field("template", i.template)
        w.field("version", i.current.version)
        w.field(kind.valuesField, i.current.values)
        if i.annotations != .emptyObject { w.field("annotations", i.annotations) }
        w.field("status", i.phase.rawValue)
        w.field("reason", i.reason)
        w.field("message", i.message)
        if let previous = i.previous { w.key("previous"); revision(previous, to: &w) }
        if let previousVersion = i.previousVersion { w.field("previousVersion", previousVersion) }
        if let p = i.pending {
            w.key("pending")
            w.beginObject()
            w.field("operation", p.operation.rawValue)
            w.key("remainingMs")
            if let due = p.dueAt { w.number(max(0, due.milliseconds - now.milliseconds)) } else { w.null() }
            switch p.outcome {
            case .succeed: w.field("outcome", "succeed")
            case let .fail(reason, message): failure("fail", reason, message, to: &w)
            case let .abnormal(reason, message): failure("abnormal", reason, message, to: &w)
            }
            if let target = p.target { w.key("target"); revision(target, to: &w) }
            w.endObject()
        }
        w.field("createdAt", i.createdAt.rfc3339Milliseconds)
        w.field("updatedAt", i.updatedAt.rfc3339Milliseconds)
        w.endObject()
    }

    private static func failure(_ outcome: String, _ reason: String, _ message: String, to w: inout JSONWriter) {
        w.field("outcome", outcome)
        w.field("reason", reason)
        w.field("message", message)
    }

    private static func revision(_ r: Revision, to w: inout JSONWriter) {
        w.beginObject()
        w.field("version", r.version)
        w.field("values", r.values)
        w.endObject()
    }
}
