import AddonMockCore
import AddonMockHTTP
import AddonMockStore

/// One request as the application understands it, built once by the dispatcher when the route matches and read
/// by everything after: auth (path parameters), fault rules and outcomes (matched route, service, scope), the
/// handler (body parsed at most once) and the journal (resources touched).
///
/// A class used on the one thread that serves the request (its answer may be finished on another, after this
/// thread is done with it), hence `@unchecked`.
public final class RequestContext: @unchecked Sendable {
    public let request: HTTPRequest
    public let parameters: PathParameters
    /// The pattern the request matched, e.g. `/api/v3/addons/{id}`.
    public let route: String
    /// The service name routes are tagged with (`cce`, `autopilot`, `modelarts`, `control`).
    public let service: String
    /// Echoed in `X-Request-Id`.
    public let requestID: String
    /// Where this request's writes go (nil for a read): its answer waits for their commit.
    public let writes: RequestWrites?
    /// What the request read or changed, each once, in the order first touched (the journal lists them).
    public private(set) var resourceIDs: [String] = []
    /// The same ids as a set, once there are more than a few: a list of 100 compared each id with every earlier
    /// one (580k instructions, a quarter of the list's cost); for the usual one or two the array alone is cheaper.
    private var touchedSet: Set<String>?

    private let describe: @Sendable (RequestContext) -> RequestScope
    private var parsedBody: Result<BodyReader, APIError>?
    private var describedScope: RequestScope?

    public init(
        request: HTTPRequest, parameters: PathParameters, route: String, service: String, requestID: String,
        writes: RequestWrites?, describe: @escaping @Sendable (RequestContext) -> RequestScope
    ) {
        self.request = request
        self.parameters = parameters
        self.route = route
        self.service = service
        self.requestID = requestID
        self.writes = writes
        self.describe = describe
    }

    /// Notes that this request read or changed the resource (the journal lists them).
    public func touched(_ resource: Resource) { touched(id: resource.id) }

    /// `touched` for the ids of one list answer, which are distinct: the first list a request reads is taken as it is.
    public func touched(listed ids: [String]) {
        guard resourceIDs.isEmpty else { return ids.forEach(touched(id:)) }
        resourceIDs = ids
    }

    private func touched(id: String) {
        if touchedSet == nil, resourceIDs.count > 8 { touchedSet = Set(resourceIDs) }
        if touchedSet != nil {
            if touchedSet!.insert(id).inserted { resourceIDs.append(id) }
            return
        }
        guard !resourceIDs.contains(id) else { return }
        resourceIDs.append(id)
    }

    /// The body as a JSON object, parsed on first use; a 400 naming the problem otherwise.
    public func body() throws(APIError) -> BodyReader {
        if parsedBody == nil {
            do { parsedBody = .success(try BodyReader.parse(request.body)) } catch { parsedBody = .failure(error) }
        }
        return try parsedBody!.get()
    }

    /// A string at `path` in the body, or nil (also when the body is not JSON): for fault matching.
    public func peek(_ path: String...) -> String? {
        guard !request.body.isEmpty, var value = try? body().value else { return nil }
        for key in path {
            guard let next = value[key] else { return nil }
            value = next
        }
        return value.stringValue
    }

    /// Scope and template as the service reads them from the request, worked out on first use.
    public var scope: RequestScope {
        if let describedScope { return describedScope }
        let scope = describe(self)
        describedScope = scope
        return scope
    }

    /// What fault rules see of this request, with the scope and template given (a lifecycle rule sees those of
    /// the resource the operation is on).
    public func faultSubject(template: String?, scope: [String: String], operation: Operation? = nil) -> FaultSubject {
        FaultSubject(method: request.method, route: route, service: service, template: template, scope: scope, operation: operation)
    }
}
