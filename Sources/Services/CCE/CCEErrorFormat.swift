import AddonMockCore
import AddonMockKit

/// CCE errors carry both spellings: `error_code`/`error_msg` (read first by the SDK's CceExceptionHandler and by
/// the core DefaultExceptionHandler) and `errorCode`/`errorMessage` (what the CCE docs show).
struct CCEErrorFormat: ErrorFormat {
    func code(for kind: APIError.Kind) -> String {
        switch kind {
        case .badRequest: return "CCE.03400001"
        case .unauthorized: return "CCE.03401001"
        case .forbidden: return "CCE.03403001"
        case .notFound: return "CCE.03404001"
        case .methodNotAllowed: return "CCE.03405001"
        case .conflict: return "CCE.03409001"
        case .payloadTooLarge: return "CCE.03413001"
        case .tooManyRequests: return "CCE.02429001"
        case .internalError: return "CCE.03500001"
        case .serviceUnavailable: return "CCE.03503001"
        case .other(let status): return "CCE.03\(status)001"
        }
    }

    func body(code: String, message: String) -> [UInt8] {
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.field("error_code", code)
        w.field("error_msg", message)
        w.field("errorCode", code)
        w.field("errorMessage", message)
        w.endObject()
        return w.bytes
    }
}
