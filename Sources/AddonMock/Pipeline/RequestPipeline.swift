import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The stages of the request pipeline, in the order a request meets them: admission before it is routed, the
/// route's stages before its handler, finishing on every answer as it is sent (at once, or when a held answer is
/// released). Each stage is a small type with its own tests (PipelineStageTests); the order is written out once,
/// in `admit`, `check` and `finish`. The stages are concrete types called in sequence, not an array of
/// existentials: composed statically, as Hummingbird composes middleware, they cost about what the code they
/// replaced did (82 instructions more a GET, where arrays of `any` stages cost 1,892: boxed copies, retains,
/// witness calls).
struct RequestPipeline: Sendable {
    // Admission, every request.
    let hostGuard: HostGuard
    let bodyLimit = BodyLimit()
    let headLimit = HeadLimit(maxBytes: HeadLimit.maxBytes)
    let queryCheck = QueryCheck()
    // An emulated API's route: its own authentication (RouteChecks.emulated), then these.
    let identifierCheck = IdentifierCheck()
    let httpFaults: HTTPFaultStage
    // The control API's route.
    let crossSite: CrossSiteGuard
    let controlToken: ControlTokenCheck?
    // Finishing, every answer.
    let requestIDStamp = RequestIDStamp()
    let cors: CORSPolicy
    let journalRecord: JournalRecord
    let accessLogLine: AccessLogLine?

    init(
        hostGuard: HostGuard, cors: CORSPolicy, controlToken: String?, faults: FaultBook, journal: Journal, clock: any Clock,
        accessLog: AccessLog?, logDebug: Bool
    ) {
        self.hostGuard = hostGuard
        httpFaults = HTTPFaultStage(faults: faults)
        crossSite = CrossSiteGuard(corsOrigins: cors.origins)
        self.controlToken = controlToken.map(ControlTokenCheck.init)
        self.cors = cors
        journalRecord = JournalRecord(journal: journal, clock: clock)
        accessLogLine = accessLog.map { AccessLogLine(log: $0, healthProbes: logDebug) }
    }

    /// Which route stages a route of `api` matched by `pattern` passes, decided once when it is mounted.
    enum RouteChecks: Sendable {
        /// An emulated API's: its own authentication (the route's `ServiceAuthentication`), the identifier check,
        /// HTTP fault rules.
        case emulated
        /// The control API's: the cross-site guard, and the token unless the route stays open.
        case control(needsToken: Bool)
    }

    func routeChecks(for api: MountedAPI, pattern: String) -> RouteChecks {
        api.emulated ? .emulated : .control(needsToken: controlToken != nil && !ControlService.openPatterns.contains(pattern))
    }

    /// Admission: before routing. A refusal is answered in the format of the service the path falls under.
    /// (`if let` in turn, not `??`: the generic operator reads the large optional through its value witness.)
    func admit(_ request: HTTPRequest) -> Refusal? {
        if let refusal = hostGuard.check(request) { return refusal }
        if let refusal = bodyLimit.check(request) { return refusal }
        if let refusal = headLimit.check(request) { return refusal }
        return queryCheck.check(request)
    }

    /// A routed request's stages, before its handler; `authentication` is its API's.
    func check(
        _ context: RequestContext, _ trace: inout RequestTrace, _ checks: RouteChecks, authentication: ServiceAuthentication
    ) -> Refusal? {
        switch checks {
        case .emulated:
            if let refusal = authentication.check(context, &trace) { return refusal }
            if let refusal = identifierCheck.check(context, &trace) { return refusal }
            return httpFaults.check(context, &trace)
        case .control(let needsToken):
            if let refusal = crossSite.check(context, &trace) { return refusal }
            guard needsToken, let controlToken else { return nil }
            return controlToken.check(context, &trace)
        }
    }

    /// Finishing: every answer as it is sent.
    func finish(_ response: inout HTTPResponse, _ answered: AnsweredRequest) {
        requestIDStamp.finish(&response, answered)
        cors.finish(&response, answered)
        journalRecord.finish(&response, answered)
        accessLogLine?.finish(&response, answered)
    }
}

/// A stage every request passes before it is routed. A refusal is answered in the error format of the service
/// its path falls under.
protocol AdmissionStage: Sendable {
    func check(_ request: HTTPRequest) -> Refusal?
}

/// A stage a routed request passes before its handler. A refusal is answered in the route's service's format.
protocol RouteStage: Sendable {
    func check(_ context: RequestContext, _ trace: inout RequestTrace) -> Refusal?
}

/// A stage every answer passes on its way out, once it is decided.
protocol FinishingStage: Sendable {
    func finish(_ response: inout HTTPResponse, _ answered: AnsweredRequest)
}

/// Why a stage stops a request: an error (the dispatcher writes it in the service's format, with the stage's
/// headers), or an answer as it stands (a dropped connection). Indirect: an optional refusal is one pointer, so the
/// common case — no refusal — costs a nil check.
indirect enum Refusal {
    case error(APIError, headers: [(name: String, value: String)] = [])
    case answer(HTTPResponse)
}

/// What the journal and the access log learn while a request is answered.
struct RequestTrace: Sendable {
    /// Set once a route matched: the service, route and resources touched.
    var context: RequestContext?
    /// The ids of the fault rules that fired.
    var fault: String?
    /// How long a latency fault delays the answer (the request itself takes effect at once).
    var latencyMs: Int64?
}

/// What the finishing stages need of a request once its answer is decided, perhaps on another thread.
struct AnsweredRequest: @unchecked Sendable {
    let request: HTTPRequest
    let requestID: String
    let trace: RequestTrace
    /// From arrival to the answer being sent.
    let durationMs: Double
}
