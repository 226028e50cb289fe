import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The stages of the request pipeline, in the order a request meets them: `admission` before it is routed, the
/// route's stages (`routeStages(for:pattern:)`) before its handler, `finishing` on every answer as it is sent (at
/// once, or when a held answer is released). The dispatcher runs them; each stage is a small type with its own
/// tests (PipelineStageTests).
struct RequestPipeline: Sendable {
    let admission: [any AdmissionStage]
    let finishing: [any FinishingStage]
    let cors: CORSPolicy
    private let crossSite: CrossSiteGuard
    private let controlToken: ControlTokenCheck?
    private let faults: HTTPFaultStage

    init(
        hostGuard: HostGuard, cors: CORSPolicy, controlToken: String?, faults: FaultBook, journal: Journal, clock: any Clock,
        accessLog: AccessLog?, logDebug: Bool
    ) {
        admission = [hostGuard, BodyLimit(), HeadLimit(maxBytes: HeadLimit.maxBytes), QueryCheck()]
        finishing =
            [RequestIDStamp(), cors as any FinishingStage, JournalRecord(journal: journal, clock: clock)]
            + (accessLog.map { [AccessLogLine(log: $0, healthProbes: logDebug)] } ?? [])
        self.cors = cors
        crossSite = CrossSiteGuard(corsOrigins: cors.origins)
        self.controlToken = controlToken.map(ControlTokenCheck.init)
        self.faults = HTTPFaultStage(faults: faults)
    }

    /// What a request matched to `pattern` of `api` passes before the handler: an emulated API's own
    /// authentication, then its path parameters' check, then HTTP fault rules; the control API's guard against
    /// other sites' pages, then its token (except on the routes that stay open).
    func routeStages(for api: MountedAPI, pattern: String) -> [any RouteStage] {
        if api.emulated {
            return [ServiceAuthentication(api.authentication), IdentifierCheck(), faults]
        }
        guard let controlToken, !ControlService.openPatterns.contains(pattern) else { return [crossSite] }
        return [crossSite, controlToken]
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
/// headers), or an answer as it stands (a dropped connection).
enum Refusal {
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
