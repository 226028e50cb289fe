import AddonMockCore
import AddonMockHTTP

/// The emulator's own API under `/_mock` (not part of Huawei's). Errors are plain `{"error_code","error_msg"}`.
struct ControlService: EmulatedService {
    let name = "control"
    let pathPrefixes = ["/_mock/"]
    let errorFormat: any ErrorFormat = ControlErrorFormat()

    var routes: [ServiceRoute] {
        [
            // Registered only once the database is open and the catalog loaded: 200 means ready.
            ServiceRoute("GET", "/_mock/health") { _ in .json(200, Array(#"{"status":"ok"}"#.utf8)) },
        ]
    }
}

struct ControlErrorFormat: ErrorFormat {
    func code(for kind: APIError.Kind) -> String {
        switch kind {
        case .badRequest: return "MOCK.400"
        case .notFound: return "MOCK.404"
        case .methodNotAllowed: return "MOCK.405"
        case .conflict: return "MOCK.409"
        case .payloadTooLarge: return "MOCK.413"
        default: return "MOCK.500"
        }
    }

    func body(code: String, message: String) -> [UInt8] { GatewayErrorFormat().body(code: code, message: message) }
}
