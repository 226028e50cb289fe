import AddonMockCore
import AddonMockHTTP
import AddonMockKit

// Route stages: what a routed request is checked for before its handler runs (RequestPipeline.check).

/// An emulated API's own check of its callers (`ServiceDefinition.authentication`, built from `--auth`).
struct ServiceAuthentication: RouteStage {
    let authentication: any RequestAuthentication

    init(_ authentication: any RequestAuthentication) { self.authentication = authentication }

    func check(_ context: RequestContext, _ trace: inout RequestTrace) -> Refusal? {
        do {
            try authentication.admit(context)
            return nil
        } catch {
            return .error(error)
        }
    }
}

/// Every path parameter of an emulated API is an identifier: nothing else reaches a handler, a fault rule or the
/// store. (The control API answers unknown kinds and ids with its own 404s.)
struct IdentifierCheck: RouteStage {
    func check(_ context: RequestContext, _ trace: inout RequestTrace) -> Refusal? {
        guard let (name, value) = context.parameters.first(failing: IdentifierRule.isValid) else { return nil }
        // The SDKs send a path template's placeholder as is when the value is missing, e.g. ModelArts'
        // `{project_id}` when BasicCredentials carries no project id.
        let hint = value == "{\(name)}" ? " (the SDK sends the literal {\(name)} when its credentials carry no \(name))" : ""
        return .error(
            APIError(
                .badRequest,
                "path parameter \(name) \(IdentifierRule.quoted(value)) is not a valid identifier: use \(IdentifierRule.description)\(hint)"))
    }
}

/// HTTP fault rules (`/_mock/faults`): an error, a dropped connection or a delay instead of (or before) the
/// handler's answer. Only emulated APIs meet it.
struct HTTPFaultStage: RouteStage {
    let faults: FaultBook

    func check(_ context: RequestContext, _ trace: inout RequestTrace) -> Refusal? {
        guard let (ids, fault) = faults.httpFault(for: { context.faultSubject(template: context.scope.template, scope: context.scope.fields) })
        else { return nil }
        trace.fault = ids
        if let range = fault.latencyMs { trace.latencyMs = faults.latency(range) }
        if fault.drop { return .answer(.drop) }
        guard let status = fault.status else { return nil }
        return .error(APIError(APIError.Kind(status: status), fault.message ?? "injected fault \(ids): \(status)", code: fault.code))
    }
}

/// Cross-site requests to the control API (CrossSiteGuard, LocalSafety.swift).
extension CrossSiteGuard: RouteStage {
    func check(_ context: RequestContext, _ trace: inout RequestTrace) -> Refusal? { refusal(context.request).map { .error($0) } }
}

/// `--control-token`: the control API's routes, but the few that stay open (health, the console page), need
/// `Authorization: Bearer <token>`; a page's `EventSource` and the console may pass it as `?access_token=`.
struct ControlTokenCheck: RouteStage {
    private let expected: [UInt8]

    init(token: String) { expected = Array("Bearer \(token)".utf8) }

    func check(_ context: RequestContext, _ trace: inout RequestTrace) -> Refusal? {
        guard !Self.constantTimeEquals(Self.bearer(of: context.request, pattern: context.route), expected) else { return nil }
        return .error(
            APIError(.unauthorized, "the control API needs Authorization: Bearer <token> (the server was started with --control-token)"),
            headers: [("WWW-Authenticate", "Bearer")])
    }

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
}
