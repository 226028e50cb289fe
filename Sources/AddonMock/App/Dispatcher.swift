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
    /// Emulated APIs are authenticated (their own way), their path parameters must be identifiers, and fault rules
    /// apply to them; the control API is none of these.
    let emulated: Bool
    var authentication: any RequestAuthentication = NoAuthentication()
}

/// Routes every request to its service through the request pipeline's stages (RequestPipeline) and turns every
/// failure into that service's error format, so a client never sees an empty body or a stack trace. Holds a
/// write's answer until its commit, and a latency fault's until its delay has passed.
final class Dispatcher: HTTPHandler {
    /// A class: matched on every request, and one retain is cheaper than copying its fields.
    private final class Endpoint: Sendable {
        let pattern: String
        let service: String
        let errorFormat: any ErrorFormat
        let describe: @Sendable (RequestContext) -> RequestScope
        let handler: RouteHandler
        /// What a request passes before the handler (RequestPipeline.check).
        let checks: RequestPipeline.RouteChecks
        let authentication: ServiceAuthentication

        init(pattern: String, service: String, api: MountedAPI, handler: @escaping RouteHandler, checks: RequestPipeline.RouteChecks) {
            self.pattern = pattern
            self.service = service
            errorFormat = api.errorFormat
            describe = api.describe
            self.handler = handler
            self.checks = checks
            authentication = ServiceAuthentication(api.authentication)
        }
    }

    private let router: Router
    private let endpoints: [Endpoint]
    private let prefixes: [(prefix: String, format: any ErrorFormat)]
    private let fallbackFormat: any ErrorFormat = GatewayErrorFormat()
    private let pipeline: RequestPipeline
    /// Where a request's writes go: its answer is held until they are committed.
    private let database: Database
    private let logger: Logger

    init(apis: [MountedAPI], pipeline: RequestPipeline, database: Database, logger: Logger) {
        var router = Router()
        var endpoints: [Endpoint] = []
        var prefixes: [(String, any ErrorFormat)] = []
        for api in apis {
            for route in api.routes {
                router.add(route.method, route.pattern)
                endpoints.append(
                    Endpoint(
                        pattern: route.pattern, service: route.service ?? api.name, api: api, handler: route.handler,
                        checks: pipeline.routeChecks(for: api, pattern: route.pattern)))
            }
            prefixes += api.pathPrefixes.map { ($0, api.errorFormat) }
        }
        self.router = router
        self.endpoints = endpoints
        self.prefixes = prefixes
        self.pipeline = pipeline
        self.database = database
        self.logger = logger
    }

    var routePatterns: [(method: String, pattern: String)] { router.patterns }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = monotonicMs()
        let requestID = Identifiers.requestID()
        var trace = RequestTrace()
        // A write's answer is sent once the write is committed (a 200 is a promise it survives a crash); the
        // thread serves other connections meanwhile, and the journal records the answer that was sent. Reads
        // (GET, HEAD) write nothing: they skip that bookkeeping, and a commit does not wait for them to finish.
        var response: HTTPResponse
        var commit: PendingCommit?
        if request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS" {
            response = answer(request, requestID: requestID, writes: nil, trace: &trace)
        } else {
            let writes = database.beginRequest()
            response = answer(request, requestID: requestID, writes: writes, trace: &trace)
            commit = writes.end()
        }
        if request.method == "HEAD" { response.body = [] }
        let answered = Answered(request: request, requestID: requestID, started: started, trace: trace)
        // A handler may hold its own answer (`/_mock/wait`); it is finished (journal, request id) once released.
        let handlerHold = response.hold
        response.hold = nil
        guard commit != nil || trace.latencyMs != nil || handlerHold != nil else { return finish(response, answered) }
        // Held on a suspended connection, not on this thread: a latency fault occupies no worker.
        if let commit, trace.latencyMs == nil, handlerHold == nil {
            response.hold = CommitHold(commit: commit, answer: response, answered: answered, dispatcher: self)
        } else {
            response.hold = AnswerHold(
                commit: commit, delayMs: trace.latencyMs, inner: handlerHold, answer: response, answered: answered, dispatcher: self)
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

    /// The request's answer as sent, through the finishing stages (request id, CORS, journal, access log).
    fileprivate func finish(_ response: HTTPResponse, _ answered: Answered) -> HTTPResponse {
        var response = response
        let done = AnsweredRequest(
            request: answered.request, requestID: answered.requestID, trace: answered.trace, durationMs: monotonicMs() - answered.started)
        pipeline.finish(&response, done)
        return response
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
        let trace: RequestTrace
    }

    private func format(forPath path: String) -> any ErrorFormat {
        prefixes.first { path.hasPrefix($0.prefix) || path + "/" == $0.prefix }?.format ?? fallbackFormat
    }

    private func answer(_ request: HTTPRequest, requestID: String, writes: RequestWrites?, trace: inout RequestTrace) -> HTTPResponse {
        if let refusal = pipeline.admit(request) { return answer(refusal, format(forPath: request.path)) }
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            return error(
                APIError(.notFound, "The API does not exist or has not been published in the environment: \(request.method) \(request.path)"),
                format(forPath: request.path))
        case .methodNotAllowed(let allowed) where request.method == "OPTIONS":
            return pipeline.cors.preflight(request, allowed: allowed)
        case .methodNotAllowed(let allowed):
            var r = error(
                APIError(
                    .methodNotAllowed, "method \(request.method) is not allowed on \(request.path); allowed: \(allowed.joined(separator: ", "))"),
                format(forPath: request.path))
            r.headers.set("Allow", allowed.joined(separator: ", "))
            return r
        case .badPath(let segment):
            return error(APIError(.badRequest, "path segment \"\(segment)\" is not valid percent-encoded UTF-8"), format(forPath: request.path))
        case let .found(index, parameters):
            let endpoint = endpoints[index]
            let context = RequestContext(
                request: request, parameters: parameters, route: endpoint.pattern, service: endpoint.service,
                requestID: requestID, writes: writes, describe: endpoint.describe)
            trace.context = context
            if let refusal = pipeline.check(context, &trace, endpoint.checks, authentication: endpoint.authentication) {
                return answer(refusal, endpoint.errorFormat)
            }
            do {
                return try endpoint.handler(context)
            } catch let e as APIError {
                return error(e, endpoint.errorFormat)
            } catch {
                logger.error("internal error on \(request.method) \(request.path): \(error)", metadata: ["request_id": "\(requestID)"])
                return self.error(APIError(.internalError, "internal error: \(error)"), endpoint.errorFormat)
            }
        }
    }

    private func answer(_ refusal: Refusal, _ format: any ErrorFormat) -> HTTPResponse {
        switch refusal {
        case .answer(let response):
            return response
        case .error(let e, let headers):
            var r = error(e, format)
            for (name, value) in headers { r.headers.set(name, value) }
            return r
        }
    }

    /// An error in a service's format; a 429 says when to retry.
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
