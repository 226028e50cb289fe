import AddonMockCore
import AddonMockHTTP
import AddonMockStore
import Dispatch
import Logging

#if canImport(Glibc)
import Glibc
import AddonMockKit
#endif

/// Start-up failures: the message is printed as one line and the process exits with 2.
public struct StartupError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Everything wired together: database, catalog, engine, services, HTTP server and the sweeper.
public final class Application: Sendable {
    public let configuration: Configuration
    public let clock: VirtualClock
    public let manager: ResourceManager
    public let port: UInt16
    let faults: FaultBook
    let journal: Journal
    private let server: HTTPServer
    let control: ControlService
    let dispatcher: Dispatcher

    /// Opens the database (migrating it), loads the services' catalogs, applies every transition that fell due
    /// while the server was down, and starts listening. Throws `StartupError` for anything a user has to fix.
    /// `services`: the emulated APIs to run (tests add their own).
    public init(
        configuration: Configuration, services: [ServiceDefinition] = BuiltInServices.all,
        clock: VirtualClock = VirtualClock(), logger: Logger
    ) throws(StartupError) {
        self.configuration = configuration
        self.clock = clock

        let database: Database
        do {
            database = try Database(path: configuration.database)
        } catch let e as DatabaseRefused {
            throw StartupError(message: "database \(configuration.database) \(e.message)")
        } catch let e as SQLiteError {
            throw StartupError(
                message: e.isCorruption
                    ? "database \(configuration.database) is not an addonmock database or is damaged (\(e.message)); refusing to touch it: move it away or pick another --db"
                    : "cannot open database \(configuration.database): \(e.message)")
        } catch {
            throw StartupError(message: "cannot open database \(configuration.database): \(error)")
        }

        let registry = try ServiceRegistry(services)
        var catalogs: [Catalog] = []
        for service in services {
            catalogs.append(
                try service.catalog.map { source throws(StartupError) in
                    try Self.loadCatalog(
                        file: source.file, builtIn: source.builtIn, directory: configuration.fixtures,
                        operations: service.kinds.flatMap(\.lifecycle.operations).uniqued)
                } ?? Catalog(templates: []))
        }
        let engine = LifecycleEngine(
            timing: Timing(profile: configuration.profile, random: SeededRandom(seed: configuration.seed)),
            tables: registry.tables)
        let pump = EventPump()
        let waits = WaitBook()
        let events = EventLog(observers: .init(pump: pump, waits: waits))
        let manager = ResourceManager(
            database: database, engine: engine, clock: clock, cacheBytes: configuration.cacheBytes, relations: registry.relations,
            shown: registry.shownFields, committed: { changes in events.publish(changes.map { .change($0) }) })
        self.manager = manager
        if database.startedFromCleanStop {
            logger.debug("database \(configuration.database) is as its last clean stop left it: its damage check was skipped")
        }
        do {
            let caughtUp = try manager.sweep()
            if caughtUp > 0 { logger.info("applied \(caughtUp) transition(s) that fell due while stopped") }
        } catch {
            throw StartupError(message: "database \(configuration.database) cannot be read: \(error)")
        }

        let seedKinds = zip(services, catalogs).flatMap { service, catalog in
            service.kinds.compactMap { kind in kind.entries.map { Seeder.Kind(kind: kind, format: $0, catalog: catalog) } }
        }
        let seeder = try Self.loadSeed(directory: configuration.fixtures, kinds: seedKinds)
        // --parents (or --clusters, or their twins) wins over the seed file's settings, which win over the default.
        let parents =
            configuration.sources["parents"].map { $0 != "default" } ?? false
            ? configuration.parents : seeder?.parents ?? configuration.parents
        if let seeder {
            do {
                let created = try seeder.apply(to: manager)
                logger.info("seed file: created \(created) of \(seeder.count) resource(s)")
            } catch {
                throw StartupError(message: "cannot apply the seed file: \(error)")
            }
        }

        let faults = FaultBook(seed: configuration.seed, kinds: registry.kindsByStoredService)
        let journal = Journal(recorded: { events.publish(.request($0)) })
        self.faults = faults
        self.journal = journal
        // The bound port is known only once the server listens; the control API reads it from here.
        let boundURL = Locked("")
        // Assembled on first request, not at start-up (start-up is measured in milliseconds).
        let openAPI = Locked<JSONValue?>(nil)
        let assembled: @Sendable () -> JSONValue = {
            openAPI.withLock { cached in
                if let cached { return cached }
                let document = OpenAPIDocument.assemble(services: services, registry: registry)
                cached = document
                return document
            }
        }
        let control = ControlService(
            registry: registry, manager: manager, clock: clock, faults: faults, journal: journal,
            configuration: configuration, seeder: seeder, seedKinds: seedKinds, events: events, pump: pump, waits: waits,
            openAPI: { OpenAPIDocument.render(assembled(), serverURL: boundURL.withLock { $0 }) },
            listening: { boundURL.withLock { $0 } }, instance: .starting())
        self.control = control
        let emulated = zip(services, catalogs).map { service, catalog in
            MountedAPI(
                name: service.name, pathPrefixes: service.pathPrefixes, errorFormat: service.errorFormat,
                routes: service.routes(
                    ServiceEnvironment(manager: manager, catalog: catalog, outcomes: faults, parents: parents, seed: configuration.seed)),
                describe: service.describe, emulated: true,
                authentication: service.authentication(AuthSettings(mode: configuration.auth, credentials: configuration.credentials)))
        }
        let pipeline = RequestPipeline(
            hostGuard: HostGuard(boundTo: configuration.host, allowedHosts: configuration.allowedHosts),
            cors: CORSPolicy(
                origins: configuration.corsOrigins,
                requestHeaders: ["Content-Type"] + services.flatMap(\.requestHeaders) + [
                    "Authorization", FaultBook.outcomeHeader, FaultBook.reasonHeader,
                ]),
            controlToken: configuration.controlToken, faults: faults, journal: journal, clock: clock,
            accessLog: logger.logLevel <= .info ? AccessLog(format: configuration.logFormat) : nil, logDebug: logger.logLevel <= .debug)
        let dispatcher = Dispatcher(apis: emulated + [control.mounted], pipeline: pipeline, database: database, logger: logger)
        self.dispatcher = dispatcher
        server = HTTPServer(
            options: .init(
                host: configuration.host, port: configuration.port,
                threads: max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))),
                requestTimeoutSeconds: configuration.requestTimeoutSeconds,
                idleTimeoutSeconds: configuration.idleTimeoutSeconds,
                maxConnections: configuration.maxConnections,
                maxLongHolds: configuration.maxHeld,
                drainTimeoutMs: configuration.drainTimeoutMs,
                largerBodies: [ControlService.importPattern: ControlService.importBodyBytes],
                bodyBudgetBytes: configuration.bodyBudgetBytes),
            handler: dispatcher)
        do {
            port = try server.start()
        } catch {
            throw StartupError(message: error.description)
        }
        let url = Self.url(host: configuration.host, port: port)
        boundURL.withLock { $0 = url }

        // Due transitions are written down (and their events told) as they fall due.
        manager.startSweeping()
        if let file = configuration.addressFile, let reason = Self.writeAtomically(file, Array((url + "\n").utf8)) {
            server.stop()
            manager.stopSweeping()
            throw StartupError(message: "--address-file \(file): cannot write it (\(reason)); pick a writable path")
        }
    }

    /// Answers one request exactly as the server would, without a socket (in-process fuzzing drives this):
    /// an answer held for its commit is waited for here, as the server waits before sending it.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        var response = dispatcher.handle(request)
        guard let hold = response.hold else { return response }
        response.hold = nil
        let released = Locked<HTTPResponse?>(nil)
        hold.whenReleased { [response] replacement in
            released.withLock { $0 = replacement ?? response }
            released.broadcast()
        }
        return released.wait(until: { $0 != nil }) { $0 } ?? response
    }

    /// `http://HOST:PORT` as clients should use it.
    public var baseURL: String { Self.url(host: configuration.host, port: port) }

    static func url(host: String, port: UInt16) -> String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Stops accepting, finishes in-flight requests, stops the sweeper and leaves a checkpointed database.
    public func stop() {
        server.stop()
        manager.stopSweeping()
        manager.database.stop()
        if let file = configuration.addressFile { unlink(file) }
    }

    /// Written beside its final name, then renamed: a reader sees the old file or the whole new one.
    /// Returns why it failed, or nil.
    static func writeAtomically(_ path: String, _ bytes: [UInt8]) -> String? {
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let failure = written == bytes.count ? nil : String(cString: strerror(errno))
        close(fd)
        guard failure == nil, rename(temporary, path) == 0 else {
            let reason = failure ?? String(cString: strerror(errno))
            unlink(temporary)
            return reason
        }
        return nil
    }

    /// `operations`: those a template's `timing` may name.
    static func loadCatalog(file: String, builtIn: [UInt8], directory: String?, operations: [Operation]) throws(StartupError) -> Catalog {
        var bytes = builtIn
        var source = "built-in \(file)"
        if let directory {
            guard isDirectory(directory) else { throw StartupError(message: "--fixtures \(directory) is not a directory") }
            let path = directory + "/" + file
            if let data = readFile(path) {
                bytes = data
                source = path
            }
        }
        do {
            return try Catalog.parse(try JSONParser.parse(bytes, maxDepth: 256), source: source, operations: operations)
        } catch let e as JSONSyntaxError {
            throw StartupError(message: "\(source): \(e.description)")
        } catch {
            throw StartupError(message: "\(error)")
        }
    }

    static func loadSeed(directory: String?, kinds: [Seeder.Kind]) throws(StartupError) -> Seeder? {
        guard let directory else { return nil }
        let path = directory + "/" + Seeder.file
        guard let bytes = readFile(path) else { return nil }
        return try Seeder.parse(bytes, source: path, kinds: kinds, settings: true)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 65536, f) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }
}
