import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// `GET /_mock/export`: the world as a `seed.json` document that `POST /_mock/import` (or `seed.json` itself) reads
/// back (`Seeder`). Every record of every seedable kind, each with all it needs to come back as it was: id, scope,
/// name, the kind's own fields (`EntryFormat`: an add-on's version, values, annotations, kept revision), the
/// operation in flight with the milliseconds it has left (`null`: waiting for an advance), its decided outcome and
/// target, and timestamps to the millisecond. Kinds derived from others (add-on checks) are not exported. Entries
/// are in id order (ids are time-ordered), fields in a fixed order, so the same world always exports to the same
/// bytes.
enum WorldExport {
    static func document(_ kinds: [(kind: Seeder.Kind, records: [Resource])], now: Instant) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        for (kind, records) in kinds {
            w.key(kind.kind.name)
            w.beginArray()
            for record in records.sorted(by: { $0.id < $1.id }) { entry(record, kind, now: now, to: &w) }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    static func entry(_ r: Resource, _ seeded: Seeder.Kind, now: Instant, to w: inout JSONWriter) {
        let kind = seeded.kind
        w.beginObject()
        w.field("id", r.id)
        if kind.services.count > 1 { w.field("service", r.service) }
        let values = kind.scopeValues(of: r.scope)
        for (i, field) in kind.scopeFields.enumerated() { w.field(field, i < values.count ? String(values[i]) : "") }
        w.field(kind.nameField, r.name)
        seeded.format.write(r, &w)
        w.field("status", r.phase.rawValue)
        w.field("reason", r.reason)
        w.field("message", r.message)
        if let p = r.pending {
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
            if let target = p.target { w.field("target", target) }
            w.endObject()
        }
        w.field("createdAt", r.createdAt.rfc3339Milliseconds)
        w.field("updatedAt", r.updatedAt.rfc3339Milliseconds)
        w.endObject()
    }

    private static func failure(_ outcome: String, _ reason: String, _ message: String, to w: inout JSONWriter) {
        w.field("outcome", outcome)
        w.field("reason", reason)
        w.field("message", message)
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

    private let kinds: [Seeder.Kind]
    private let now: Instant
    private let page: (_ services: [String], _ after: String?, _ limit: Int) throws -> [Resource]
    private let state = Locked(State())

    init(kinds: [Seeder.Kind], now: Instant, page: @escaping (_ services: [String], _ after: String?, _ limit: Int) throws -> [Resource]) {
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
                w.key(kind.kind.name)
                w.beginArray()
            }
            let records: [Resource]
            do { records = try page(kind.kind.services, s.after, Self.pageSize) } catch {
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
