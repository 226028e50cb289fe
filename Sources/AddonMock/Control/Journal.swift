import AddonMockCore
import AddonMockKit

/// One served request, as `GET /_mock/requests` reports it. A class: the ring stores and hands out
/// references, not copies of a dozen fields.
final class JournalEntry: Sendable {
    /// Bytes of path, and of query names and values together, kept per entry (the rest cut, marked `…`): the journal
    /// and the event log keep 11,000 entries between them, and a request head may hold 20 KiB.
    static let maxTextBytes = 2048

    let sequence: Int
    /// On the emulator's (virtual) clock, like every timestamp it serves.
    let time: Instant
    let method: String
    let path: String
    let query: [(name: String, value: String)]
    let status: Int
    let durationMs: Double
    let requestID: String
    let service: String?
    let route: String?
    let resources: [String]
    let fault: String?

    init(
        sequence: Int, time: Instant, method: String, path: String, query: [(name: String, value: String)], status: Int,
        durationMs: Double, requestID: String, service: String?, route: String?, resources: [String], fault: String?
    ) {
        self.sequence = sequence
        self.time = time
        self.method = method
        self.path = Self.cut(path, to: Self.maxTextBytes)
        self.query = Self.bounded(query)
        self.status = status
        self.durationMs = durationMs
        self.requestID = requestID
        self.service = service
        self.route = route
        self.resources = resources
        self.fault = fault
    }
}

/// The most recent requests, oldest dropped first once `capacity` is reached. In memory: a restart or a reset
/// starts it empty.
final class Journal: Sendable {
    struct Filter {
        var method: String?
        var pathPrefix: String?
        /// An exact status, or a class: 4 for "4xx".
        var status: Int?
        var statusClass: Int?
        var since: Instant?
        var afterSequence: Int?
        var includeControl = false
        var limit = 100
    }

    private struct State {
        var entries: Ring<JournalEntry>
        var nextSequence = 1
    }

    let capacity: Int
    private let state: Locked<State>
    /// Told every entry as it is recorded (the event stream).
    private let recorded: (@Sendable (JournalEntry) -> Void)?

    init(capacity: Int = 1000, recorded: (@Sendable (JournalEntry) -> Void)? = nil) {
        self.capacity = capacity
        self.recorded = recorded
        state = Locked(State(entries: Ring(capacity: capacity)))
    }

    func record(_ make: (Int) -> JournalEntry) {
        var replaced: JournalEntry?
        let entry = state.withLock { s in
            let entry = make(s.nextSequence)
            s.nextSequence += 1
            replaced = s.entries.append(entry)
            return entry
        }
        _ = replaced // released here, not under the lock
        recorded?(entry)
    }

    func clear() {
        state.withLock { $0.entries.removeAll() }
    }

    /// Oldest first; the newest `limit` that match.
    func entries(_ f: Filter) -> [JournalEntry] {
        let ordered = state.withLock { $0.entries.ordered }
        let matching = ordered.filter { e in
            (f.includeControl || e.service != "control")
                && (f.method == nil || e.method == f.method)
                && (f.pathPrefix == nil || e.path.hasPrefix(f.pathPrefix!))
                && (f.status == nil || e.status == f.status)
                && (f.statusClass == nil || e.status / 100 == f.statusClass)
                && (f.since == nil || e.time >= f.since!)
                && (f.afterSequence == nil || e.sequence > f.afterSequence!)
        }
        return Array(matching.suffix(f.limit))
    }
}

extension JournalEntry {
    static func cut(_ s: String, to bytes: Int) -> String {
        guard s.utf8.count > bytes else { return s }
        return String(decoding: s.utf8.prefix(max(0, bytes)), as: UTF8.self) + "…"
    }

    /// The query within `maxTextBytes`: pairs kept in order while they fit, the one that does not cut.
    static func bounded(_ query: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var left = maxTextBytes
        for (name, value) in query { left -= name.utf8.count + value.utf8.count }
        guard left < 0 else { return query }
        left = maxTextBytes
        var kept: [(name: String, value: String)] = []
        for (name, value) in query {
            guard left > 0 else { break }
            let n = cut(name, to: left)
            left -= n.utf8.count
            let v = cut(value, to: left)
            left -= v.utf8.count
            kept.append((n, v))
        }
        return kept
    }

    /// The entry as `GET /_mock/requests` and the event stream show it.
    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("sequence"); w.number(Int64(sequence))
        w.field("time", time.rfc3339)
        w.field("method", method)
        w.field("path", path)
        w.key("query"); Self.writeQuery(query, to: &w)
        w.key("status"); w.number(Int64(status))
        w.key("durationMs"); w.numberLiteral(AccessLog.decimal(durationMs, places: 3))
        w.field("requestId", requestID)
        w.key("service"); w.optionalString(service)
        w.key("route"); w.optionalString(route)
        w.key("resources"); w.beginArray(); for r in resources { w.string(r) }; w.endArray()
        w.key("fault"); w.optionalString(fault)
        w.endObject()
    }

    /// A name sent more than once maps to an array of its values.
    static func writeQuery(_ query: [(name: String, value: String)], to w: inout JSONWriter) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for (name, value) in query {
            if values[name] == nil { order.append(name) }
            values[name, default: []].append(value)
        }
        w.beginObject()
        for name in order {
            let all = values[name] ?? []
            w.key(name)
            if all.count == 1 {
                w.string(all[0])
            } else {
                w.beginArray()
                for v in all { w.string(v) }
                w.endArray()
            }
        }
        w.endObject()
    }
}
