import AddonMockCore
import AddonMockHTTP
import AddonMockKit

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

    static func entry(_ i: Instance, _ kind: ResourceKind, now: Instant, to w: inout JSONWriter) {
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

/// The same document as `WorldExport.document`, byte for byte, written as it is read: a page of records at a time
/// from a snapshot of the database (so the document is one moment's world while writes go on), rendered when the
/// client can take more. An export of 200,000 add-ons (150 MB) never holds more than a page.
final class WorldExportStream: ResponseStream, @unchecked Sendable {
    static let pageSize = 500

    private struct State {
        var kindIndex = 0
        /// The last id written of the current kind.
        var after: String?
        var started = false
        var kindStarted = false
        var finished = false
        var failed = false
        var buffer: [UInt8] = []
        var offset = 0
        /// Where the last piece left the document.
        var needsComma = false
    }

    private let kinds: [ResourceKind]
    private let now: Instant
    private let page: (_ services: [String], _ after: String?, _ limit: Int) throws -> [Instance]
    private let state = Locked(State())

    init(kinds: [ResourceKind], now: Instant, page: @escaping (_ services: [String], _ after: String?, _ limit: Int) throws -> [Instance]) {
        self.kinds = kinds
        self.now = now
        self.page = page
    }

    func attach(wake: @escaping @Sendable () -> Void) {}

    func read(into out: UnsafeMutableRawBufferPointer) -> StreamRead {
        state.withLock { s in
            if s.offset == s.buffer.count {
                s.buffer.removeAll(keepingCapacity: true)
                s.offset = 0
                if s.failed { return .failed }
                if s.finished { return .end }
                fill(&s)
            }
            if s.buffer.isEmpty { return s.failed ? .failed : .end }
            let n = min(out.count, s.buffer.count - s.offset)
            s.buffer.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress! + s.offset, byteCount: n) }
            s.offset += n
            return .bytes(n)
        }
    }

    func finish(_ reason: StreamEnd) { state.withLock { $0.failed = true } }

    /// The next piece of the document: its opening, a page of entries, or a kind's close (and the document's).
    private func fill(_ s: inout State) {
        var w = JSONWriter(capacity: 64 << 10, continuing: s.needsComma)
        defer { s.needsComma = w.needsComma }
        if !s.started {
            s.started = true
            w.beginObject()
        }
        while s.kindIndex < kinds.count {
            let kind = kinds[s.kindIndex]
            if !s.kindStarted {
                s.kindStarted = true
                w.key(kind.name)
                w.beginArray()
            }
            let records: [Instance]
            do { records = try page(kind.services, s.after, Self.pageSize) } catch {
                s.failed = true
                return
            }
            for record in records { WorldExport.entry(record, kind, now: now, to: &w) }
            if let last = records.last { s.after = last.id }
            if records.count == Self.pageSize {
                s.buffer = w.bytes
                return
            }
            w.endArray()
            s.kindIndex += 1
            s.kindStarted = false
            s.after = nil
        }
        w.endObject()
        s.finished = true
        s.buffer = w.bytes
    }
}
