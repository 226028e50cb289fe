import AddonMockCore
import AddonMockHTTP

/// `GET /_mock/events`: Server-Sent Events of what happens (resource changes, requests, clock changes), filterable
/// by type, service and scope.
///
/// Each answer is one batch: it is held (on the suspended connection, polled by the low-priority `IdleTicker`; no
/// worker thread waits or renders) until an event the filter admits exists after the client's cursor, or `holdMs`
/// pass; then it carries every such event and ends with the cursor (`id:`) past everything it looked at. Browsers'
/// `EventSource` reconnects by itself after `retry` ms, sending `Last-Event-ID`, so a page sees one continuous
/// stream; a script reads batches the same way (`?after=ID`). A batch carries about 2,000 events at most: a
/// subscriber that cannot keep up falls behind and, once its cursor is older than the kept events, first gets an
/// `event: gap` with how many were missed — it never holds the server back. Without a cursor the answer comes at once
/// and only says where the stream stands (`id:` of the newest event), so the next request starts there; `after=0`
/// replays what is kept.
extension ControlService {
    static let eventsPollMs = 20
    /// How long a batch waits for its first event before it ends empty (the client reconnects at once).
    static let eventsHoldMs = 15_000
    /// What the client waits before it reconnects for the next batch.
    static let eventsRetryMs = 50

    func streamEvents(_ ctx: RequestContext) throws -> HTTPResponse {
        let request = ctx.request
        let allowed = Set(["types", "service", "after", "control", "holdMs"] + registry.scopeFields)
        for (name, _) in request.query ?? [] where !allowed.contains(name) {
            throw APIError(.badRequest, "unknown query parameter \(name); expected one of: \(allowed.sorted().joined(separator: ", "))")
        }
        var filter = EventFilter()
        if let text = request.queryValue("types"), !text.isEmpty {
            let types = Set(text.split(separator: ",").map(String.init))
            if let bad = types.subtracting(EventFilter.types).sorted().first {
                throw APIError(.badRequest, "types: unknown event type \"\(bad)\"; expected \(EventFilter.types.sorted().orList)")
            }
            filter.types = types
        }
        if let text = request.queryValue("service"), !text.isEmpty {
            let services = Set(text.split(separator: ",").map(String.init))
            let known = Set(registry.faultVocabulary.services + [Self.serviceName])
            if let bad = services.subtracting(known).sorted().first {
                throw APIError(.badRequest, "service: unknown service \"\(bad)\"; expected \(known.sorted().orList)")
            }
            filter.services = services
        }
        for field in registry.scopeFields {
            if let value = request.queryValue(field) { filter.scope[field] = try IdentifierRule.check(value, field: field) }
        }
        filter.includeControl = request.queryValue("control") == "true"
        let holdMs =
            try request.queryValue("holdMs").map { text throws(APIError) in
                guard let n = Int(text), (0...60_000).contains(n) else {
                    throw APIError(.badRequest, "holdMs must be a whole number from 0 to 60000")
                }
                return n
            } ?? Self.eventsHoldMs
        let cursorText = request.headers["Last-Event-ID"] ?? request.queryValue("after")
        let cursor: Int
        if let cursorText {
            guard let n = Int(cursorText), n >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID (or after) must be an event id, got \(IdentifierRule.quoted(cursorText))")
            }
            cursor = n
        } else {
            cursor = events.lastID
        }

        let kinds: @Sendable (String) -> ResourceKind? = { [registry] in registry.kind(ofService: $0) }
        // Where this batch has looked up to: events the filter turns away are passed over once, not on every poll.
        let scanned = Locked(cursor)
        let batch: @Sendable (Bool) -> HTTPResponse? = { [events, filter] final in
            var admitted: [EventLog.Event] = [], missed = 0
            let (from, to) = scanned.withLock { position -> (Int, Int) in
                let start = position
                while true {
                    let (found, skipped) = events.events(after: position)
                    missed += skipped
                    guard let last = found.last else { break }
                    admitted += found.filter { filter.admits($0, kinds: kinds) }
                    position = last.id
                    if admitted.count >= EventLog.batchLimit { break }
                }
                return (start, position)
            }
            guard final || !admitted.isEmpty || missed > 0 else { return nil }
            var body = Array("retry: \(Self.eventsRetryMs)\n\n".utf8)
            if missed > 0 { body += Array("event: gap\ndata: {\"missed\":\(missed)}\n\n".utf8) }
            for event in admitted { event.frame(kinds: kinds, into: &body) }
            // The cursor past everything looked at, admitted or not, so the next batch starts there.
            if admitted.last?.id != to || to == from { body += Array("id: \(to)\n\n".utf8) }
            var response = HTTPResponse(status: 200)
            response.body = body
            response.headers.set("Content-Type", "text/event-stream")
            response.headers.set("Cache-Control", "no-store")
            return response
        }
        // A first connection (no cursor) is answered at once with the cursor, so a browser's EventSource opens
        // straight away. Every other batch is looked for and rendered on the subscribers' low-priority thread,
        // also when events are already waiting: never on the thread that serves requests.
        if cursorText == nil, let ready = batch(true) { return ready }
        var held = HTTPResponse(status: 200)
        held.hold = PollingHold(polledBy: .ticker(subscribers), timeoutMs: holdMs) { expired in
            batch(expired != nil || holdMs == 0)
        }
        return held
    }
}
