import AddonMockCore
import AddonMockHTTP
import AddonMockStore
import Dispatch
import Logging

#if canImport(Glibc)
import Glibc
import AddonMockKit
#endif

/// What the dispatcher mounts: an emulated API built from its `ServiceDefinition`, or the control API.
struct MountedAPI: Sendable {
    let name: String
    let pathPrefixes: [String]
    let errorFormat: any ErrorFormat
    let routes: [ServiceRoute]
    let describe: @Sendable (RequestContext) -> RequestScope
    /// Emulated APIs are authenticated, their path parameters must be identifiers, and fault rules apply to them;
    /// the control API is none of these.
    let emulated: Bool
}

/// Routes every request to its service and turns every failure into that service's error format, so a client
/// never sees an empty body or a stack trace. Applies HTTP fault rules (never to the control API), adds
/// `X-Request-Id` to every answer and records every request in the journal.
final class Dispatcher: HTTPHandler {
    /// A class: matched on every request, and one retain is cheaper than copying its fields.
    private final class Endpoint: Sendable {
        let pattern: String
        let service: String
        let owner: MountedAPI
        let handler: RouteHandler

        init(pattern: String, service: String, owner: MountedAPI, handler: @escaping RouteHandler) {
            self.pattern = pattern
            self.service = service
            self.owner = owner
            self.handler = handler
        }
    }

    private let router: Router
    private let endpoints: [Endpoint]
    private let prefixes: [(prefix: String, format: any ErrorFormat)]
    private let fallbackFormat: any ErrorFormat = GatewayErrorFormat()
    private let faults: FaultBook
    private let journal: Journal
    /// Where a request's writes go: its answer is held until they are committed.
    private let database: Database
    private let authenticator: Authenticator
    /// `Bearer <token>` as the control API expects it; nil: the control API is open.
    private let controlAuthorization: [UInt8]?
    private let clock: any Clock
    private let logger: Logger
    /// Where access lines go; nil below `info`.
    private let accessLog: AccessLog?
    /// `--cors`: the page origins that get CORS grants (`*`: any; nil: none).
    private let corsOrigins: Set<String>?
    /// DNS rebinding: which `Host`s are served.
    private let hostGuard: HostGuard
    /// Cross-site requests to the control API.
    private let crossSite: CrossSiteGuard

    init(
        apis: [MountedAPI], database: Database, authenticator: Authenticator, controlToken: String? = nil,
        faults: FaultBook, journal: Journal, clock: any Clock, logger: Logger, accessLog: AccessLog? = nil, corsOrigins: [String]? = nil,
        hostGuard: HostGuard = HostGuard(boundTo: "127.0.0.1", allowedHosts: nil)
    ) {
        var router = Router()
        var endpoints: [Endpoint] = []
        var prefixes: [(String, any ErrorFormat)] = []
        for api in apis {
            for route in api.routes {
                router.add(route.method, route.pattern)
                endpoints.append(Endpoint(pattern: route.pattern, service: route.service ?? api.name, owner: api, handler: route.handler))
            }
            prefixes += api.pathPrefixes.map { ($0, api.errorFormat) }
        }
        self.router = router
        self.endpoints = endpoints
        self.prefixes = prefixes
        self.database = database
        self.authenticator = authenticator
        controlAuthorization = controlToken.map { Array("Bearer \($0)".utf8) }
        self.faults = faults
        self.journal = journal
        self.clock = clock
        self.logger = logger
        self.corsOrigins = corsOrigins.map(Set.init)
        self.hostGuard = hostGuard
        crossSite = CrossSiteGuard(corsOrigins: corsOrigins.map(Set.init))
        self.accessLog = logger.logLevel <= .info ? accessLog : nil
    }

    /// The request's `Origin` when `--cors` allows it.
    private func grantedOrigin(_ request: HTTPRequest) -> String? {
        guard let corsOrigins, let origin = request.headers["Origin"], corsOrigins.contains("*") || corsOrigins.contains(origin)
        else { return nil }
        return origin
    }

    var routePatterns: [(method: String, pattern: String)] { router.patterns }

    /// Request heads up to this size are served (a 16,384-character token and the SDK's headers fit with room to
    /// spare); larger ones get a 431 in the service's format, as long as libmicrohttpd's 24 KiB pool holds them.
    static let maxHeaderBytes = 20 * 1024

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = monotonicMs()
        let requestID = Identifiers.requestID()
        var served = Served()
        // A write's answer is sent once the write is committed (a 200 is a promise it survives a crash); the
        // thread serves other connections meanwhile, and the journal records the answer that was sent. Reads
        // (GET, HEAD) write nothing: they skip that bookkeeping, and a commit does not wait for them to finish.
        var response: HTTPResponse
        var commit: PendingCommit?
        if request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS" {
            response = answer(request, requestID: requestID, writes: nil, served: &served)
        } else {
            let writes = database.beginRequest()
            response = answer(request, requestID: requestID, writes: writes, served: &served)
            commit = writes.end()
        }
        if request.method == "HEAD" { response.body = [] }
        let answered = Answered(request: request, requestID: requestID, started: started, served: served)
        // A handler may hold its own answer (`/_mock/wait`); it is finished (journal, request id) once released.
        let handlerHold = response.hold
        response.hold = nil
        guard commit != nil || served.latencyMs != nil || handlerHold != nil else { return finish(response, answered) }
        // Held on a suspended connection, not on this thread: a latency fault occupies no worker.
        if let commit, served.latencyMs == nil, handlerHold == nil {
            response.hold = CommitHold(commit: commit, answer: response, answered: answered, dispatcher: self)
        } else {
            response.hold = AnswerHold(
                commit: commit, delayMs: served.latencyMs, inner: handlerHold, answer: response, answered: answered, dispatcher: self)
        }
        return response
    }

    /// A 503 in the request's service's format, for a request whose body did not fit in the budget for bodies in
    /// flight: nothing of it was read or stored.
    func overloaded(_ request: HTTPRequest) -> HTTPResponse {
        retryLater(request, "too many request bodies are being received at once; nothing was stored: retry")
    }

    /// A 503 in the request's service's format, for a request the server will not serve because it is stopping
    /// (or stood in for an answer still held when the drain ran out).
    func unavailable(_ request: HTTPRequest) -> HTTPResponse {
        retryLater(request, "the server is stopping: this request was not served; retry against the next instance")
    }

    /// A 503 in the request's service's format, for a wait or an event stream past the cap on answers held open.
    func overCapacity(_ request: HTTPRequest) -> HTTPResponse {
        retryLater(request, "too many answers are held open (waits and event streams; --max-held caps them): retry once one has ended")
    }

    /// A 503 with `Retry-After` in the format of the request's path, for answers the HTTP layer gives itself.
    private func retryLater(_ request: HTTPRequest, _ message: String) -> HTTPResponse {
        var r = error(APIError(.serviceUnavailable, message), format(forPath: request.path))
        r.headers.set("Retry-After", "1")
        r.headers.add("X-Request-Id", Identifiers.requestID())
        return r
    }

    /// The request's answer as sent: with its request id, and recorded in the journal.
    fileprivate func finish(_ response: HTTPResponse, _ answered: Answered) -> HTTPResponse {
        var response = response
        // Handlers never set it: appended, not replaced.
        if !response.dropConnection { response.headers.add("X-Request-Id", answered.requestID) }
        // Pages of the origins `--cors` names may read every answer (other clients pay nothing).
        if let origin = grantedOrigin(answered.request) {
            response.headers.set("Access-Control-Allow-Origin", origin)
            response.headers.add("Vary", "Origin")
            response.headers.set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
        }
        let duration = monotonicMs() - answered.started
        let now = clock.now()
        let request = answered.request
        journal.record { sequence in
            JournalEntry(
                sequence: sequence, time: now, method: request.method, path: request.path, query: Self.shown(request.query),
                status: response.dropConnection ? 0 : response.status, durationMs: duration,
                requestID: answered.requestID, service: answered.served.context?.service,
                route: answered.served.context?.route, resources: answered.served.context?.resourceIDs ?? [],
                fault: answered.served.fault)
        }
        // One access line per request at info; health probes (a container polls them) only at debug.
        if let accessLog, request.path != ControlService.healthPattern || logger.logLevel <= .debug {
            accessLog.write(line(request, response, duration, answered), at: SystemClock().now())
        }
        return response
    }

    /// The query as the journal and the access log show it: a token passed in it (`access_token`) masked.
    static func shown(_ query: [(name: String, value: String)]?) -> [(name: String, value: String)] {
        guard let query else { return [] }
        guard query.contains(where: { $0.name == "access_token" }) else { return query }
        return query.map { $0.name == "access_token" ? ($0.name, "****") : $0 }
    }

    private func line(_ request: HTTPRequest, _ response: HTTPResponse, _ duration: Double, _ answered: Answered) -> AccessLog.Line {
        var query = ""
        for (i, item) in Self.shown(request.query).enumerated() {
            if i > 0 { query += "&" }
            query += item.name + "=" + item.value
        }
        let status = response.dropConnection ? 0 : response.status
        return AccessLog.Line(
            method: request.method, path: request.path, query: query, status: status, durationMs: duration,
            requestID: answered.requestID, service: answered.served.context?.service, fault: answered.served.fault,
            errorCode: status >= 400 ? peekString(response.body, "error_code") : nil)
    }

    /// A held write's answer once its commit is settled, finished: as it is when committed, else an internal error
    /// in the format of the request's service.
    fileprivate func finish(_ answer: HTTPResponse, committed failure: (any Error)?, _ answered: Answered) -> HTTPResponse {
        guard let failure else { return finish(answer, answered) }
        let error = APIError(.internalError, "the change could not be committed: \(failure)")
        return finish(self.error(error, format(forPath: answered.request.path)), answered)
    }

    /// What `finish` needs of a request once its answer is decided, perhaps on another thread.
    fileprivate struct Answered: @unchecked Sendable {
        let request: HTTPRequest
        let requestID: String
        let started: Double
        let served: Served
    }

    /// What the journal learns while a request is answered.
    fileprivate struct Served: Sendable {
        /// Set once a route matched: the service, route and resources touched.
        var context: RequestContext?
        /// The ids of the fault rules that fired.
        var fault: String?
        /// How long a latency fault delays the answer (the request itself takes effect at once).
        var latencyMs: Int64?
    }

    private func format(forPath path: String) -> any ErrorFormat {
        prefixes.first { path.hasPrefix($0.prefix) || path + "/" == $0.prefix }?.format ?? fallbackFormat
    }

    private func answer(_ request: HTTPRequest, requestID: String, writes: RequestWrites?, served: inout Served) -> HTTPResponse {
        // Only error answers need the path's format: found on demand, not for every request.
        var pathFormat: any ErrorFormat { format(forPath: request.path) }
        if let refusal = hostGuard.refusal(request) { return error(refusal, pathFormat) }
        if request.bodyTooLarge {
            return error(APIError(.payloadTooLarge, "request body is larger than the 1 MiB limit"), pathFormat)
        }
        let headBytes = request.headers.fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        if headBytes > Self.maxHeaderBytes {
            return error(APIError(.other(431), "request headers are \(headBytes) bytes; at most \(Self.maxHeaderBytes) are accepted"), pathFormat)
        }
        guard request.query != nil else {
            return error(APIError(.badRequest, "the query string is not valid percent-encoded UTF-8"), pathFormat)
        }
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            return error(
                APIError(.notFound, "The API does not exist or has not been published in the environment: \(request.method) \(request.path)"),
                pathFormat)
        case .methodNotAllowed(let allowed) where request.method == "OPTIONS":
            return preflight(request, allowed: allowed)
        case .methodNotAllowed(let allowed):
            var r = error(
                APIError(
                    .methodNotAllowed, "method \(request.method) is not allowed on \(request.path); allowed: \(allowed.joined(separator: ", "))"),
                pathFormat)
            r.headers.set("Allow", allowed.joined(separator: ", "))
            return r
        case .badPath(let segment):
            return error(APIError(.badRequest, "path segment \"\(segment)\" is not valid percent-encoded UTF-8"), pathFormat)
        case let .found(index, parameters):
            let endpoint = endpoints[index]
            let ctx = RequestContext(
                request: request, parameters: parameters, route: endpoint.pattern, service: endpoint.service,
                requestID: requestID, writes: writes, describe: endpoint.owner.describe)
            served.context = ctx
            let emulated = endpoint.owner.emulated
            if !emulated, let refusal = crossSite.refusal(request) { return error(refusal, endpoint.owner.errorFormat) }
            if !emulated, let expected = controlAuthorization, !ControlService.openPatterns.contains(endpoint.pattern),
                !Self.constantTimeEquals(Self.bearer(of: request, pattern: endpoint.pattern), expected)
            {
                var r = error(
                    APIError(.unauthorized, "the control API needs Authorization: Bearer <token> (the server was started with --control-token)"),
                    endpoint.owner.errorFormat)
                r.headers.set("WWW-Authenticate", "Bearer")
                return r
            }
            if emulated {
                do {
                    let credential = try authenticator.authenticate(request)
                    try authenticator.authorize(credential, request: request, pathProject: parameters.value("project_id"))
                } catch {
                    return self.error(error, endpoint.owner.errorFormat)
                }
            }
            // Every path parameter of an emulated API is an identifier; nothing else may reach a handler, a fault
            // rule or the store. (The control API answers unknown kinds and ids with its own 404s.)
            if emulated, let (name, value) = parameters.first(failing: IdentifierRule.isValid) {
                // The SDKs send a path template's placeholder as is when the value is missing, e.g. ModelArts'
                // `{project_id}` when BasicCredentials carries no project id.
                let hint = value == "{\(name)}" ? " (the SDK sends the literal {\(name)} when its credentials carry no \(name))" : ""
                return error(
                    APIError(
                        .badRequest,
                        "path parameter \(name) \(IdentifierRule.quoted(value)) is not a valid identifier: use \(IdentifierRule.description)\(hint)"),
                    endpoint.owner.errorFormat)
            }
            if emulated, let (ids, fault) = faults.httpFault(for: { ctx.faultSubject(template: ctx.scope.template, scope: ctx.scope.fields) }) {
                served.fault = ids
                if let range = fault.latencyMs { served.latencyMs = faults.latency(range) }
                if fault.drop { return .drop }
                if let status = fault.status {
                    let message = fault.message ?? "injected fault \(ids): \(status)"
                    return error(APIError(APIError.Kind(status: status), message, code: fault.code), endpoint.owner.errorFormat)
                }
            }
            do {
                return try endpoint.handler(ctx)
            } catch let e as APIError {
                return error(e, endpoint.owner.errorFormat)
            } catch {
                logger.error("internal error on \(request.method) \(request.path): \(error)", metadata: ["request_id": "\(requestID)"])
                return self.error(APIError(.internalError, "internal error: \(error)"), endpoint.owner.errorFormat)
            }
        }
    }

    /// What a browser asks before a cross-origin request (and what plain `OPTIONS` asks): 204 with the path's
    /// methods; from an origin `--cors` allows, the CORS grant for them and for the headers asked for (or the ones
    /// the SDKs send).
    private func preflight(_ request: HTTPRequest, allowed: [String]) -> HTTPResponse {
        var r = HTTPResponse(status: 204)
        let methods = (allowed + ["OPTIONS"]).joined(separator: ", ")
        r.headers.set("Allow", methods)
        if grantedOrigin(request) != nil { // Allow-Origin is added with every granted answer's (finish)
            r.headers.set("Access-Control-Allow-Methods", methods)
            r.headers.set("Access-Control-Allow-Headers", request.headers["Access-Control-Request-Headers"] ?? Self.corsHeaders)
            r.headers.set("Access-Control-Max-Age", "600")
        }
        return r
    }

    static let corsHeaders = [
        "Content-Type", "Authorization", "X-Auth-Token", "X-Project-Id", "X-Sdk-Date", "X-Sdk-Content-Sha256", "X-Cluster-ID",
        "X-Addonmock-Outcome", "X-Addonmock-Reason",
    ].joined(separator: ", ")

    /// The `Authorization` header's bytes; for what a browser opens without headers of its own (the console page,
    /// its `EventSource`), `?access_token=` stands in for it (the journal and the access log show it masked).
    static func bearer(of request: HTTPRequest, pattern: String) -> [UInt8] {
        if let header = request.headers["Authorization"] { return Array(header.utf8) }
        if ControlService.tokenInQueryPatterns.contains(pattern), let token = request.queryValue("access_token") {
            return Array("Bearer \(token)".utf8)
        }
        return []
    }

    /// Compares every byte whatever the first difference, so the answer's timing says nothing about the token.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<b.count { difference |= (i < a.count ? a[i] : 0) ^ b[i] }
        return difference == 0
    }

    private func error(_ e: APIError, _ format: any ErrorFormat) -> HTTPResponse {
        let (status, body) = format.response(for: e)
        var r = HTTPResponse.json(status, body)
        if status == 429 { r.headers.set("Retry-After", "1") }
        return r
    }

    private func monotonicMs() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1_000_000
    }
}

/// The common case, every write without a latency fault: the answer waits for its commit and nothing else, so
/// it needs none of `AnswerHold`'s locked bookkeeping (one lock and three allocations fewer per write).
private final class CommitHold: ResponseHold, @unchecked Sendable {
    private let commit: PendingCommit
    private let answer: HTTPResponse
    private let answered: Dispatcher.Answered
    private let dispatcher: Dispatcher

    init(commit: PendingCommit, answer: HTTPResponse, answered: Dispatcher.Answered, dispatcher: Dispatcher) {
        self.commit = commit
        self.answer = answer
        self.answered = answered
        self.dispatcher = dispatcher
    }

    func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) {
        commit.whenDone { [self] failure in
            release(dispatcher.finish(answer, committed: failure, answered))
        }
    }
    // `expedite` is the default: nothing cuts a commit short.
}

/// Holds an answer until its write is committed, a latency fault's delay has passed and the handler's own hold has
/// released it (each may be absent);
/// then sends it finished (request id, journal), or, when the commit rolled back, an internal error in the
/// service's format instead. The delay runs on a timer, never on a worker thread, and `expedite` (the server is
/// stopping) cuts it short; nothing cuts a commit short.
private final class AnswerHold: ResponseHold, @unchecked Sendable {
    private struct State {
        var release: (@Sendable (HTTPResponse?) -> Void)?
        var delayDone: Bool
        /// nil while the commit is outstanding; then its outcome (nil error: committed).
        var committed: (any Error)??
        /// nil while the handler's hold is outstanding; then the answer it gave (nil: the answer as it is).
        var handed: HTTPResponse??
        var sent = false
    }

    private let commit: PendingCommit?
    private let delayMs: Int64?
    private let inner: (any ResponseHold)?
    private let answer: HTTPResponse
    private let answered: Dispatcher.Answered
    private let dispatcher: Dispatcher
    private let state: Locked<State>

    init(
        commit: PendingCommit?, delayMs: Int64?, inner: (any ResponseHold)?, answer: HTTPResponse, answered: Dispatcher.Answered,
        dispatcher: Dispatcher
    ) {
        self.commit = commit
        self.delayMs = delayMs
        self.inner = inner
        self.answer = answer
        self.answered = answered
        self.dispatcher = dispatcher
        state = Locked(
            State(delayDone: delayMs == nil, committed: commit == nil ? .some(nil) : nil, handed: inner == nil ? .some(nil) : nil))
    }

    func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) {
        state.withLock { $0.release = release }
        if let delayMs {
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(delayMs))) { [self] in delayPassed() }
        }
        commit?.whenDone { [self] failure in
            state.withLock { $0.committed = .some(failure) }
            fireIfDue()
        }
        inner?.whenReleased { [self] answer in
            state.withLock { $0.handed = .some(answer) }
            fireIfDue()
        }
        fireIfDue()
    }

    func expedite() {
        inner?.expedite()
        delayPassed()
    }

    // A wait is held by the handler's hold: the HTTP layer counts, watches and evicts it through this one.
    var isLong: Bool { inner?.isLong ?? false }
    func clientGone() { inner?.clientGone() }
    func evicted() { inner?.evicted() }

    private func delayPassed() {
        state.withLock { $0.delayDone = true }
        fireIfDue()
    }

    private func fireIfDue() {
        let due: (release: @Sendable (HTTPResponse?) -> Void, failure: (any Error)?, answer: HTTPResponse)? = state.withLock { s in
            guard !s.sent, s.delayDone, let committed = s.committed, let handed = s.handed, let release = s.release else { return nil }
            s.sent = true
            s.release = nil // it refers back to whoever holds this hold: drop the cycle
            return (release, committed, handed ?? answer)
        }
        guard let due else { return }
        due.release(dispatcher.finish(due.answer, committed: due.failure, answered))
    }
}
