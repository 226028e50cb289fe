import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The emulator's own API under `/_mock` (not part of Huawei's): health, reset, clock, forced states, fault rules,
/// the request journal, the effective configuration and the OpenAPI document. Bad input is a 400 naming the problem.
struct ControlService {
    static let serviceName = "control"
    /// Open even with `--control-token`: health checks and readiness probes carry no secrets.
    static let healthPattern = "/_mock/health"
    static let eventsPattern = "/_mock/events"
    static let consolePattern = "/_mock/ui"
    /// Served without the control token: health (readiness probes carry no secrets).
    static let openPatterns: Set<String> = [healthPattern]
    /// Routes a browser opens without headers of its own (the console page, its event stream): they also take the
    /// control token as `?access_token=`, which the journal and the access log show masked.
    static let tokenInQueryPatterns: Set<String> = [eventsPattern, consolePattern]

    let registry: ServiceRegistry
    let manager: ResourceManager
    let clock: VirtualClock
    let faults: FaultBook
    let journal: Journal
    let configuration: Configuration
    let seeder: Seeder?
    /// The kinds `seed.json`, exports and imports hold, with their services' catalogs.
    let seedKinds: [Seeder.Kind]
    /// What `/_mock/events` streams.
    let events: EventLog
    /// Where its batches are looked for and rendered: a thread that yields the CPU to requests, woken by the log.
    let pump: EventPump
    /// The `/_mock/wait`s held now, woken by the log.
    let waits: WaitBook
    /// The OpenAPI document with `servers` pointing at this server (set once the port is known).
    let openAPI: @Sendable () -> [UInt8]
    let listening: @Sendable () -> String
    /// This process: an id made at start-up and when it started. A page or a client that sees another id (in
    /// `/_mock/config` or a stream's `hello`) is talking to a new server, whose world and cursors are not the old one's.
    let instance: ServerInstance

    var mounted: MountedAPI {
        MountedAPI(
            name: Self.serviceName, pathPrefixes: ["/_mock/"], errorFormat: ControlErrorFormat(), routes: routes,
            describe: { _ in RequestScope() }, emulated: false)
    }

    /// The collections, one per concern, each in its own file; the ones here say what the server is.
    private var routes: [ServiceRoute] {
        [
            // Registered only once the database is open and the catalogs loaded: 200 means ready.
            ServiceRoute("GET", Self.healthPattern) { _ in .json(200, Array(#"{"status":"ok"}"#.utf8)) },
            ServiceRoute("GET", "/_mock/config") { _ in .json(200, configBody()) },
            ServiceRoute("GET", "/_mock/openapi.json") { _ in .json(200, openAPI()) },
        ] + worldRoutes + clockRoutes + resourceRoutes + faultRoutes + journalRoutes + waitRoutes + eventRoutes + consoleRoutes
    }

    // MARK: config

    private func configBody() -> [UInt8] {
        let c = configuration
        var w = JSONWriter()
        w.beginObject()
        w.field("version", AddonMockVersion.current)
        w.field("instance", instance.id)
        w.field("startedAt", instance.startedAt)
        w.field("listening", listening())
        w.key("settings")
        w.beginObject()
        func setting(_ name: String, _ value: () -> Void) {
            w.key(name)
            w.beginObject()
            w.key("value"); value()
            w.field("source", c.sources[name] ?? "default")
            w.endObject()
        }
        setting("host") { w.string(c.host) }
        setting("port") { w.number(Int64(c.port)) }
        setting("db") { w.string(c.database) }
        setting("profile") { w.string(c.profile.rawValue) }
        setting("fixtures") { w.optionalString(c.fixtures) }
        setting("seed") { w.number(Int64(bitPattern: c.seed)) }
        setting("log-level") { w.string(c.logLevel) }
        setting("auth") { w.string(c.auth.rawValue) }
        setting("credentials") {
            w.beginArray(); for k in c.credentials { w.string(k.masked) }; w.endArray()
        }
        setting("address-file") { w.optionalString(c.addressFile) }
        setting("control-token") { c.controlToken == nil ? w.null() : w.string("****") }
        setting("request-timeout") { w.number(Int64(c.requestTimeoutSeconds)) }
        setting("idle-timeout") { w.number(Int64(c.idleTimeoutSeconds)) }
        setting("max-connections") { w.number(Int64(c.maxConnections)) }
        setting("max-held") { w.number(Int64(c.maxHeld)) }
        setting("allowed-hosts") {
            if let hosts = c.allowedHosts { w.beginArray(); for h in hosts { w.string(h) }; w.endArray() } else { w.null() }
        }
        setting("cors") {
            if let origins = c.corsOrigins { w.beginArray(); for o in origins { w.string(o) }; w.endArray() } else { w.null() }
        }
        setting("cache-mib") { w.number(Int64(c.cacheBytes >> 20)) }
        setting("body-budget-mib") { w.number(Int64(c.bodyBudgetBytes >> 20)) }
        setting("drain-timeout") { w.numberLiteral(String(Double(c.drainTimeoutMs) / 1000)) }
        w.endObject()
        w.key("journalCapacity"); w.number(Int64(journal.capacity))
        w.field("seedFile", seeder != nil)
        w.endObject()
        return w.bytes
    }
}

struct ControlErrorFormat: ErrorFormat {
    func code(for kind: APIError.Kind) -> String { "MOCK.\(APIError(kind, "").status)" }
    func body(code: String, message: String) -> [UInt8] { codeAndMessageBody(code: code, message: message) }
}

/// One run of the server (see `ControlService.instance`).
struct ServerInstance: Sendable {
    let id: String
    /// RFC 3339, the machine's time (not the virtual clock's).
    let startedAt: String

    static func starting() -> ServerInstance {
        ServerInstance(id: Identifiers.uuid(), startedAt: SystemClock().now().rfc3339)
    }

    /// The first event of every stream: `event: hello` with the instance, so a reconnecting client learns whether
    /// the server it reached is the one it was following.
    var helloFrame: [UInt8] {
        Array("event: hello\ndata: {\"instance\":\"\(id)\",\"startedAt\":\"\(startedAt)\"}\n\n".utf8)
    }
}
