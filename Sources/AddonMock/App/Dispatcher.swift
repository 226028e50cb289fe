import AddonMockHTTP
import Logging

/// Routes every request to its service and turns every failure into that service's error format, so a client
/// never sees an empty body or a stack trace. Adds `X-Request-Id` to every answer.
final class Dispatcher: HTTPHandler {
    private struct Endpoint: Sendable {
        let format: any ErrorFormat
        let handler: RouteHandler
    }

    private let router: Router<Endpoint>
    private let prefixes: [(prefix: String, format: any ErrorFormat)]
    private let fallbackFormat: any ErrorFormat = GatewayErrorFormat()
    private let logger: Logger

    init(services: [any EmulatedService], logger: Logger) {
        var router = Router<Endpoint>()
        var prefixes: [(String, any ErrorFormat)] = []
        for service in services {
            for route in service.routes {
                router.add(route.method, route.pattern, Endpoint(format: service.errorFormat, handler: route.handler))
            }
            prefixes += service.pathPrefixes.map { ($0, service.errorFormat) }
        }
        self.router = router
        self.prefixes = prefixes
        self.logger = logger
    }

    var routePatterns: [(method: String, pattern: String)] { router.patterns }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let requestID = Identifiers.requestID()
        var response = answer(request, requestID: requestID)
        response.headers.set("X-Request-Id", requestID)
        if request.method == "HEAD" { response.body = [] }
        logger.debug("\(request.method) \(request.path) -> \(response.status)", metadata: ["request_id": "\(requestID)"])
        return response
    }

    private func format(forPath path: String) -> any ErrorFormat {
        prefixes.first { path.hasPrefix($0.prefix) || path + "/" == $0.prefix }?.format ?? fallbackFormat
    }

    private func answer(_ request: HTTPRequest, requestID: String) -> HTTPResponse {
        let pathFormat = format(forPath: request.path)
        if request.bodyTooLarge {
            return error(APIError(.payloadTooLarge, "request body is larger than the 1 MiB limit"), pathFormat)
        }
        guard request.query != nil else {
            return error(APIError(.badRequest, "the query string is not valid percent-encoded UTF-8"), pathFormat)
        }
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            return error(APIError(.notFound, "The API does not exist or has not been published in the environment: \(request.method) \(request.path)"), pathFormat)
        case .methodNotAllowed(let allowed):
            var r = error(APIError(.methodNotAllowed, "method \(request.method) is not allowed on \(request.path); allowed: \(allowed.joined(separator: ", "))"), pathFormat)
            r.headers.set("Allow", allowed.joined(separator: ", "))
            return r
        case .badPath(let segment):
            return error(APIError(.badRequest, "path segment \"\(segment)\" is not valid percent-encoded UTF-8"), pathFormat)
        case let .found(endpoint, parameters):
            do {
                return try endpoint.handler(RequestContext(request: request, parameters: parameters, requestID: requestID))
            } catch let e as APIError {
                return error(e, endpoint.format)
            } catch {
                logger.error("internal error on \(request.method) \(request.path): \(error)", metadata: ["request_id": "\(requestID)"])
                return self.error(APIError(.internalError, "internal error: \(error)"), endpoint.format)
            }
        }
    }

    private func error(_ e: APIError, _ format: any ErrorFormat) -> HTTPResponse {
        let (status, body) = format.response(for: e)
        return .json(status, body)
    }
}
