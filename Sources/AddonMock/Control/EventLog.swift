import AddonMockCore
import AddonMockKit

/// What `GET /_mock/events` streams: durable resource changes (created, transition, updated, deleted, reset),
/// requests (the journal's entries) and clock changes, each numbered in the order it happened. The most recent
/// `capacity` are kept for subscribers that reconnect with `Last-Event-ID`. Publishing appends a reference under
/// a short lock and renders nothing: the JSON is written when a subscriber reads, so a request or a commit pays
/// the same with or without subscribers.
final class EventLog: Sendable {
    enum Payload: Sendable {
        case change(ResourceChange)
        case request(JournalEntry)
        case clock(now: Instant, pinned: Bool)
    }

    struct Event: Sendable {
        let id: Int
        let payload: Payload

        var type: String {
            switch payload {
            case .change(let c): return c.kind.rawValue
            case .request: return "request"
            case .clock: return "clock"
            }
        }
    }

    private struct State {
        var events: Ring<Event>
        var nextID = 1
    }

    let capacity: Int
    private let state: Locked<State>
    /// Told after every publication, outside the log's lock: the pump (which renders for subscribers) and the waits.
    private let observers: Observers?

    struct Observers: Sendable {
        let pump: EventPump
        let waits: WaitBook
    }

    /// Events one batch carries at most.
    static let batchLimit = 2_000
    /// Events one look copies out of the log under its lock: the lock is shared with publishers (request threads
    /// and the committer) and a subscriber looks from a low-priority thread, which must not hold it for long.
    static let lookLimit = 256

    init(capacity: Int = 10_000, observers: Observers? = nil) {
        self.capacity = capacity
        self.observers = observers
        state = Locked(State(events: Ring(capacity: capacity)))
    }

    /// One event (a request, a clock change): published on every request, so without the arrays a batch needs.
    func publish(_ payload: Payload) {
        let dropped = state.withLock { s in
            defer { s.nextID += 1 }
            return s.events.append(Event(id: s.nextID, payload: payload))
        }
        _ = dropped // released here, not under the lock
        guard let observers else { return }
        observers.pump.signal()
        // A request's event (every request publishes one) concerns no wait.
        if case .request = payload { return }
        observers.waits.published(CollectionOfOne(payload))
    }

    func publish(_ payloads: [Payload]) {
        // The events pushed out are released after the lock: freeing a request's strings is not done holding it.
        var dropped: [Event] = []
        state.withLock { s in
            for payload in payloads {
                if let old = s.events.append(Event(id: s.nextID, payload: payload)) { dropped.append(old) }
                s.nextID += 1
            }
        }
        _ = dropped
        observers?.pump.signal()
        observers?.waits.published(payloads)
    }

    /// The id of the newest event (0 before the first).
    var lastID: Int { state.withLock { $0.nextID - 1 } }

    /// At most `limit` events after `id`, oldest first, and how many after it are no longer kept. The copy is
    /// bounded so a subscriber far behind never holds publishers (request threads) up for long.
    func events(after id: Int, limit: Int = EventLog.lookLimit) -> (events: [Event], missed: Int) {
        state.withLock { s in
            let newest = s.nextID - 1
            guard id < newest else { return ([], 0) }
            let oldest = newest - s.events.count + 1
            let first = max(id + 1, oldest)
            let last = min(newest, first + limit - 1)
            var out: [Event] = []
            out.reserveCapacity(last - first + 1)
            for n in first...last { out.append(s.events[n - oldest]) }
            return (out, first - (id + 1))
        }
    }
}

/// Which events a subscriber wants, from the query of `GET /_mock/events`.
struct EventFilter {
    /// nil: every type.
    var types: Set<String>?
    /// Route services for requests, stored services for resources (`cce`, `autopilot`, `addoncheck`, `modelarts`).
    var services: Set<String>?
    /// Scope fields (`cluster`; `project`, `pool`): resource events of that scope (resets and clock changes
    /// pass); requests carry none and are left out when any is given.
    var scope: [String: String] = [:]
    /// One resource's events (a console drawer's history); resets and clock changes pass, as with a scope.
    var resource: String?
    var includeControl = false

    static let types: Set<String> = ["created", "transition", "updated", "deleted", "reset", "request", "clock"]

    func admits(_ e: EventLog.Event, kinds: (String) -> ResourceKind?) -> Bool {
        if let types, !types.contains(e.type) { return false }
        switch e.payload {
        case .change(let c):
            if let services, !c.service.split(separator: ",").contains(where: { services.contains(String($0)) }) && c.kind != .reset {
                return false
            }
            guard !scope.isEmpty || resource != nil else { return true }
            guard c.kind != .reset else { return true } // a reset may have taken this scope's resources with it
            if let resource, c.id != resource { return false }
            let fields = kinds(c.service)?.fields(of: c.scope) ?? [:]
            return scope.allSatisfy { fields[$0.key] == $0.value }
        case .request(let r):
            if !includeControl && r.service == ControlService.serviceName { return false }
            if let services, !services.contains(r.service ?? "") { return false }
            return scope.isEmpty && resource == nil
        case .clock:
            return true
        }
    }
}

extension EventLog.Event {
    /// `id: …`, `event: …`, `data: {…}` and a blank line, as Server-Sent Events frames them.
    func frame(kinds: (String) -> ResourceKind?, into out: inout [UInt8]) {
        out.append(contentsOf: "id: \(id)\nevent: \(type)\ndata: ".utf8)
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("id"); w.number(Int64(id))
        w.field("type", type)
        switch payload {
        case .change(let c): Self.write(c, kinds(c.service), to: &w)
        case .request(let r): w.key("request"); r.write(to: &w)
        case .clock(let now, let pinned):
            w.field("now", now.rfc3339Milliseconds)
            w.field("pinned", pinned)
        }
        w.endObject()
        out.append(contentsOf: w.bytes)
        out.append(contentsOf: "\n\n".utf8)
    }

    private static func write(_ c: ResourceChange, _ kind: ResourceKind?, to w: inout JSONWriter) {
        w.field("at", c.at.rfc3339Milliseconds)
        if c.kind == .reset {
            w.key("deleted"); w.number(Int64(c.count))
            if !c.service.isEmpty { w.field("service", c.service) }
            if !c.scope.isEmpty { w.field("scope", c.scope) }
            return
        }
        if let kind { w.field("kind", kind.name) }
        w.field("resource", c.id)
        w.field("service", c.service)
        if let kind {
            let values = kind.scopeValues(of: c.scope)
            for (i, field) in kind.scopeFields.enumerated() { w.field(field, i < values.count ? String(values[i]) : "") }
        }
        w.field("name", c.name)
        if let kind, kind.nameField != "name" { w.field(kind.nameField, c.name) }
        for (name, value) in c.shown { w.field(name, value) }
        w.key("from"); w.optionalString(c.from.map { kind?.status($0) ?? $0.rawValue })
        w.key("to"); w.optionalString(c.to.map { kind?.status($0) ?? $0.rawValue })
        w.key("phase"); w.optionalString(c.to?.rawValue)
        w.field("reason", c.reason)
        w.field("message", c.message)
        w.key("operation"); w.optionalString(c.operation?.rawValue)
        w.key("dueAt"); w.optionalString(c.dueAt?.rfc3339Milliseconds)
    }
}
