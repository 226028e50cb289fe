import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The request journal: `GET /_mock/requests`.
extension ControlService {
    var journalRoutes: [ServiceRoute] {
        [ServiceRoute("GET", "/_mock/requests") { try requests($0) }]
    }

    /// `?method=&path=&status=429|4xx&since=RFC3339&after=SEQ&limit=N&control=true`
    private func requests(_ ctx: RequestContext) throws -> HTTPResponse {
        var f = Journal.Filter()
        let q = ctx.request
        let known: Set<String> = ["method", "path", "status", "since", "after", "limit", "control"]
        for (k, _) in q.query ?? [] where !known.contains(k) {
            throw APIError(.badRequest, "unknown query parameter \(k); expected one of: \(known.sorted().joined(separator: ", "))")
        }
        f.method = q.queryValue("method")?.uppercased()
        f.pathPrefix = q.queryValue("path")
        if let status = q.queryValue("status") {
            if status.count == 3, status.hasSuffix("xx"), let c = Int(status.prefix(1)), (1...5).contains(c) {
                f.statusClass = c
            } else if let s = Int(status), (0...599).contains(s) {
                f.status = s
            } else {
                throw APIError(.badRequest, "status must be a code such as 429 or a class such as 4xx, got \"\(status)\"")
            }
        }
        if let since = q.queryValue("since") {
            guard let at = Instant(rfc3339: since) else { throw APIError(.badRequest, "since must be an RFC 3339 time, got \"\(since)\"") }
            f.since = at
        }
        if let after = q.queryValue("after") {
            guard let n = Int(after), n >= 0 else { throw APIError(.badRequest, "after must be a journal sequence number, got \"\(after)\"") }
            f.afterSequence = n
        }
        if let limit = q.queryValue("limit") {
            guard let n = Int(limit), (1...journal.capacity).contains(n) else {
                throw APIError(.badRequest, "limit must be from 1 to \(journal.capacity), got \"\(limit)\"")
            }
            f.limit = n
        }
        switch q.queryValue("control") {
        case nil, "false": break
        case "true": f.includeControl = true
        case let other?: throw APIError(.badRequest, "control must be true or false, got \"\(other)\"")
        }

        let entries = journal.entries(f)
        var w = JSONWriter(capacity: 256 * entries.count + 64)
        w.beginObject()
        w.key("requests")
        w.beginArray()
        for e in entries { e.write(to: &w) }
        w.endArray()
        w.key("capacity"); w.number(Int64(journal.capacity))
        w.endObject()
        return .json(200, w.bytes)
    }
}
