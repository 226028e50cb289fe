import AddonMockCore
import AddonMockHTTP

/// Decides, when an operation begins, how it will end: by the request's own `X-Addonmock-Outcome` header,
/// a lifecycle fault rule, or success.
public protocol OutcomeDecider: Sendable {
    func outcome(for operation: Operation, subject: FaultSubject, request: HTTPRequest) throws(APIError) -> Outcome
}

/// Everything succeeds (a server with no control plane wired in, and unit tests).
public struct AlwaysSucceed: OutcomeDecider {
    public init() {}
    public func outcome(for operation: Operation, subject: FaultSubject, request: HTTPRequest) throws(APIError) -> Outcome { .succeed }
}
