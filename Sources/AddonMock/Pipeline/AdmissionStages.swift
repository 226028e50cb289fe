import AddonMockCore
import AddonMockHTTP
import AddonMockKit

// Admission: what every request is checked for before it is routed. HostGuard (LocalSafety.swift) is the first.

extension HostGuard: AdmissionStage {
    func check(_ request: HTTPRequest) -> Refusal? { refusal(request).map { .error($0) } }
}

/// A body past the 1 MiB limit was not read (the HTTP layer stopped at the limit): 413.
struct BodyLimit: AdmissionStage {
    func check(_ request: HTTPRequest) -> Refusal? {
        guard request.bodyTooLarge else { return nil }
        return .error(APIError(.payloadTooLarge, "request body is larger than the 1 MiB limit"))
    }
}

/// Request heads up to `maxBytes` are served; larger ones get a 431, as long as libmicrohttpd's pool held them.
struct HeadLimit: AdmissionStage {
    /// A 16,384-character token and the SDK's headers fit with room to spare in 20 KiB; libmicrohttpd's 24 KiB pool
    /// holds that and the rest of the connection's state.
    static let maxBytes = 20 * 1024
    let maxBytes: Int

    func check(_ request: HTTPRequest) -> Refusal? {
        var bytes = 0
        for field in request.headers.fields { bytes += field.name.utf8.count + field.value.utf8.count + 4 }
        guard bytes > maxBytes else { return nil }
        return .error(APIError(.other(431), "request headers are \(bytes) bytes; at most \(maxBytes) are accepted"))
    }
}

/// The query string must decode (percent-encoding, UTF-8): the HTTP layer leaves `query` nil when it does not.
struct QueryCheck: AdmissionStage {
    func check(_ request: HTTPRequest) -> Refusal? {
        request.query == nil ? .error(APIError(.badRequest, "the query string is not valid percent-encoded UTF-8")) : nil
    }
}
