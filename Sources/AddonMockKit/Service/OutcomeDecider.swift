import AddonMockCore

/// Decides, when an operation begins, how it will end: by the request's own `X-Addonmock-Outcome` header,
/// a lifecycle fault rule, or success.
public protocol OutcomeDecider: Sendable {
    /// For the operation `ctx` starts on the resource `template` in `scope` of `service`. Throws a 400 for an
    /// outcome header that does not apply.
    func outcome(
        for operation: Operation, service: String, scope: String, template: String,
        _ ctx: RequestContext
    ) throws(APIError) -> Outcome
}
