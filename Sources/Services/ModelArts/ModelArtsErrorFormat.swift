import AddonMockCore
import AddonMockKit

/// ModelArts errors: `{"error_code":"ModelArts.XXXXXXXX","error_msg":"…"}`, what the SDK's default handler reads first.
/// Codes follow the one the docs show for a bad body (400 -> ModelArts.50004000): `5000` + the status times ten.
struct ModelArtsErrorFormat: ErrorFormat {
    func code(for kind: APIError.Kind) -> String {
        "ModelArts.5000\(APIError(kind, "").status * 10)"
    }

    func body(code: String, message: String) -> [UInt8] { codeAndMessageBody(code: code, message: message) }
}
