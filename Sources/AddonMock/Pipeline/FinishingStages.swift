import AddonMockCore
import AddonMockHTTP
import AddonMockKit

// Finishing: what every answer gets on its way out (RequestPipeline.finish), in this order.

/// `X-Request-Id` on every answer (not on a dropped connection: there is none). Handlers never set it: appended.
struct RequestIDStamp: FinishingStage {
    func finish(_ response: inout HTTPResponse, _ answered: AnsweredRequest) {
        if !response.dropConnection { response.headers.add("X-Request-Id", answered.requestID) }
    }
}

/// `--cors`: pages of the origins it names may call the server and read every answer; other clients pay nothing.
struct CORSPolicy: FinishingStage {
    /// `*`: any origin; nil: none.
    let origins: Set<String>?
    /// The headers a preflight is granted when it lists none: the mounted services' and the control API's.
    let requestHeaders: String

    init(origins: [String]?, requestHeaders: [String]) {
        self.origins = origins.map(Set.init)
        var unique: [String] = []
        for header in requestHeaders where !unique.contains(header) { unique.append(header) }
        self.requestHeaders = unique.joined(separator: ", ")
    }

    /// The request's `Origin` when `--cors` allows it.
    func grantedOrigin(_ request: HTTPRequest) -> String? {
        guard let origins, let origin = request.headers["Origin"], origins.contains("*") || origins.contains(origin) else { return nil }
        return origin
    }

    func finish(_ response: inout HTTPResponse, _ answered: AnsweredRequest) {
        guard let origin = grantedOrigin(answered.request) else { return }
        response.headers.set("Access-Control-Allow-Origin", origin)
        response.headers.add("Vary", "Origin")
        response.headers.set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
    }

    /// What a browser asks before a cross-origin request (and what plain `OPTIONS` asks): 204 with the path's
    /// methods; from an allowed origin, the grant for them and for the headers asked for (or `requestHeaders`).
    /// `Access-Control-Allow-Origin` comes with every granted answer (`finish`).
    func preflight(_ request: HTTPRequest, allowed: [String]) -> HTTPResponse {
        var r = HTTPResponse(status: 204)
        let methods = (allowed + ["OPTIONS"]).joined(separator: ", ")
        r.headers.set("Allow", methods)
        if grantedOrigin(request) != nil {
            r.headers.set("Access-Control-Allow-Methods", methods)
            r.headers.set("Access-Control-Allow-Headers", request.headers["Access-Control-Request-Headers"] ?? requestHeaders)
            r.headers.set("Access-Control-Max-Age", "600")
        }
        return r
    }
}

/// Every request in the journal (`/_mock/requests`), with the answer that was sent.
struct JournalRecord: FinishingStage {
    let journal: Journal
    let clock: any Clock

    func finish(_ response: inout HTTPResponse, _ answered: AnsweredRequest) {
        let now = clock.now()
        let request = answered.request
        let status = response.dropConnection ? 0 : response.status
        let trace = answered.trace
        journal.record { sequence in
            JournalEntry(
                sequence: sequence, time: now, method: request.method, path: request.path, query: shownQuery(request.query),
                status: status, durationMs: answered.durationMs, requestID: answered.requestID, service: trace.context?.service,
                route: trace.context?.route, resources: trace.context?.resourceIDs ?? [], fault: trace.fault)
        }
    }
}

/// One access line per request (at `info`); health probes, which a container polls, only at `debug`.
struct AccessLogLine: FinishingStage {
    let log: AccessLog
    /// Whether health probes are logged too.
    let healthProbes: Bool

    func finish(_ response: inout HTTPResponse, _ answered: AnsweredRequest) {
        let request = answered.request
        guard healthProbes || request.path != ControlService.healthPattern else { return }
        var query = ""
        for (i, item) in shownQuery(request.query).enumerated() {
            if i > 0 { query += "&" }
            query += item.name + "=" + item.value
        }
        let status = response.dropConnection ? 0 : response.status
        log.write(
            AccessLog.Line(
                method: request.method, path: request.path, query: query, status: status, durationMs: answered.durationMs,
                requestID: answered.requestID, service: answered.trace.context?.service, fault: answered.trace.fault,
                errorCode: status >= 400 ? peekString(response.body, "error_code") : nil),
            at: SystemClock().now())
    }
}

/// The query as the journal and the access log show it: a token passed in it (`access_token`) masked.
func shownQuery(_ query: [(name: String, value: String)]?) -> [(name: String, value: String)] {
    guard let query else { return [] }
    guard query.contains(where: { $0.name == "access_token" }) else { return query }
    return query.map { $0.name == "access_token" ? ($0.name, "****") : $0 }
}
