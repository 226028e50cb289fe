import AddonMock
import AddonMockHTTP
import ArgumentParser
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stderr (Swift 6 rejects the C `stderr` global).
func printError(_ line: String) {
    var s = line + "\n"
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

struct Root: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "addonmock",
        abstract: "A local emulator of Huawei Cloud's CCE add-on and ModelArts pool plug-in APIs.",
        version: AddonMockVersion.current,
        subcommands: [Serve.self, Health.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    // Named here, not derived from the type: the parser derives a name with String(describing:), which demangles
    // the type each of the 8 times it asks (1.5M instructions of a 37M start-up).
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the emulated APIs (the default command). Every flag has an ADDONMOCK_<FLAG> environment twin; the flag wins.",
        version: AddonMockVersion.current)

    // Values are taken as given (validated by Configuration), so `--port -1` gets the range check's message
    // instead of being read as a flag.
    @Option(parsing: .unconditional, help: "Address to listen on (ADDONMOCK_HOST, default 127.0.0.1).") var host: String?
    @Option(parsing: .unconditional, help: "Port; 0 picks a free one (ADDONMOCK_PORT, default 8080).") var port: String?
    @Option(parsing: .unconditional, help: "SQLite file, or :memory: (ADDONMOCK_DB, default addonmock.sqlite).") var db: String?
    @Option(parsing: .unconditional, help: "realistic | fast | instant | manual (ADDONMOCK_PROFILE, default realistic).") var profile: String?
    @Option(parsing: .unconditional, help: "Directory whose catalog files replace the built-in ones (ADDONMOCK_FIXTURES).") var fixtures: String?
    @Option(parsing: .unconditional, help: "Seed for timing jitter, so runs repeat (ADDONMOCK_SEED, default random).") var seed: String?
    @Option(parsing: .unconditional, help: "trace | debug | info | notice | warning | error | critical (ADDONMOCK_LOG_LEVEL).") var logLevel: String?
    @Option(parsing: .unconditional, help: "none | token | aksk: how clients of the emulated APIs authenticate (ADDONMOCK_AUTH, default none).")
    var auth: String?
    @Option(
        parsing: .unconditionalSingleValue, help: "AK:SK or AK:SK:PROJECT accepted in aksk mode; repeatable (ADDONMOCK_CREDENTIALS, comma-separated)."
    )
    var credentials: [String] = []
    @Option(
        parsing: .unconditional,
        help:
            "Write the URL the server listens on to this file once ready, and remove it on stop; `addonmock health` reads it (ADDONMOCK_ADDRESS_FILE)."
    )
    var addressFile: String?
    @Option(
        parsing: .unconditional, help: "Require `Authorization: Bearer TOKEN` on every /_mock call but GET /_mock/health (ADDONMOCK_CONTROL_TOKEN).")
    var controlToken: String?
    @Option(
        parsing: .unconditional,
        help: "Seconds a stop waits for answers still held (commits, latency faults) before answering 503 (ADDONMOCK_DRAIN_TIMEOUT, default 5).")
    var drainTimeout: String?
    @Option(
        parsing: .unconditional,
        help: "Seconds a connection may take to send a whole request, from its request line on (ADDONMOCK_REQUEST_TIMEOUT, default 10).")
    var requestTimeout: String?
    @Option(
        parsing: .unconditional,
        help:
            "Seconds a keep-alive connection may wait for its next request; keep it above your clients' poll interval (ADDONMOCK_IDLE_TIMEOUT, default 120)."
    )
    var idleTimeout: String?
    @Option(
        parsing: .unconditional,
        help: "Open connections at most; the longest-waiting idle or slow ones make room for new clients (ADDONMOCK_MAX_CONNECTIONS, default 10000).")
    var maxConnections: String?
    @Option(
        parsing: .unconditional,
        help: "MiB the instance cache may keep, records and rendered bodies (ADDONMOCK_CACHE_MIB, default 64; 0 turns it off).")
    var cacheMib: String?
    @Option(
        parsing: .unconditional,
        help:
            "MiB of request bodies held at once over all connections; past it a request gets a 503 with Retry-After (ADDONMOCK_BODY_BUDGET_MIB, default 64)."
    )
    var bodyBudgetMib: String?
    @Option(parsing: .unconditional, help: "text | json: one line per event on stderr (ADDONMOCK_LOG_FORMAT, default text).")
    var logFormat: String?
    @Option(
        parsing: .unconditional,
        help: "Origins whose pages may call the server, comma-separated, or * for any (ADDONMOCK_CORS; default: no CORS grants).")
    var cors: String?
    @Option(
        parsing: .unconditional,
        help:
            "Host names served beside localhost, *.localhost, 127.0.0.0/8 and [::1] (compose service names), or * for any; while bound to loopback other Hosts get a 403 (ADDONMOCK_ALLOWED_HOSTS)."
    )
    var allowedHosts: String?
    @Option(
        parsing: .unconditional,
        help: "Waits and event streams held open at once; past it the newest gets a 503 with Retry-After (ADDONMOCK_MAX_HELD, default 5000).")
    var maxHeld: String?
    @Option(
        parsing: .unconditional,
        help:
            "lenient: add-ons and plug-ins name any cluster or pool, existing or not; strict: it must exist, as in the real cloud (ADDONMOCK_PARENTS, default lenient)."
    )
    var parents: String?
    @Option(parsing: .unconditional, help: "The earlier name of --parents (ADDONMOCK_CLUSTERS).")
    var clusters: String?

    func run() throws {
        // Block the stop signals before any thread starts (threads inherit the mask); the main thread sigwait()s.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        let config: Configuration
        do {
            config = try Configuration.resolve(
                CommandLineValues(
                    host: host, port: port, database: db, profile: profile, fixtures: fixtures,
                    seed: seed, logLevel: logLevel, auth: auth, credentials: credentials,
                    addressFile: addressFile, controlToken: controlToken, drainTimeout: drainTimeout,
                    requestTimeout: requestTimeout, idleTimeout: idleTimeout, maxConnections: maxConnections,
                    cacheMiB: cacheMib, bodyBudgetMiB: bodyBudgetMib, logFormat: logFormat, cors: cors,
                    allowedHosts: allowedHosts, maxHeld: maxHeld, parents: parents, clusters: clusters),
                environment: processEnvironment())
        } catch {
            printError("addonmock: \(error)")
            Glibc.exit(2)
        }

        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { _ in LogLines(format: config.logFormat, level: level) }
        let logger = Logger(label: "addonmock")
        logger.info(
            "addonmock \(AddonMockVersion.current) (libmicrohttpd \(MicroHTTPDLibrary.version)) starting: \(config.summary)")
        for warning in config.warnings { logger.warning("\(warning)") }
        if MicroHTTPDLibrary.isOlderThanPinned {
            logger.warning(
                "linked against libmicrohttpd \(MicroHTTPDLibrary.version), not the 1.0.1 that scripts/run and scripts/test build (scripts/libmicrohttpd): malformed requests may get the head of their answer twice"
            )
        }

        let app: Application
        do {
            app = try Application(configuration: config, logger: logger)
        } catch {
            printError("addonmock: \(error)")
            Glibc.exit(2)
        }
        print("addonmock listening on \(app.baseURL)")
        fflush(nil)

        var received: Int32 = 0
        sigwait(&signals, &received)
        logger.info("signal \(received): stopping")
        app.stop()
        logger.info("stopped")
    }
}

/// The container health check: no curl, no shell, and right however `serve` was given its port.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 if a server answers GET /_mock/health with 200, else print why and exit 1.",
        discussion: """
            Where to look, first match wins: --url; the address file that `serve --address-file` writes \
            (--address-file or ADDONMOCK_ADDRESS_FILE); --host/--port or ADDONMOCK_HOST/ADDONMOCK_PORT, as `serve` \
            reads them (0.0.0.0 and :: are reached through loopback).
            """)

    @Option(help: "http://HOST:PORT of the server.") var url: String?
    @Option(help: "The file `serve --address-file` writes (ADDONMOCK_ADDRESS_FILE).") var addressFile: String?
    @Option(help: "ADDONMOCK_HOST, default 127.0.0.1.") var host: String?
    @Option(help: "ADDONMOCK_PORT, default 8080.") var port: String?
    @Option(help: "Milliseconds to wait for the answer.") var timeoutMs: Int32 = 2000

    func run() throws {
        let env = processEnvironment()
        let target: HealthProbe.Target
        if let url {
            guard let t = HealthProbe.target(fromURL: url) else { fail("--url must be http://HOST:PORT, got \"\(url)\"", code: 2) }
            target = t
        } else if let file = addressFile ?? env["ADDONMOCK_ADDRESS_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let text = readText(file) else { fail("no server has written \(file) (not started, or stopped)") }
            guard let t = HealthProbe.target(fromURL: text) else { fail("\(file) does not hold a server URL") }
            target = t
        } else {
            let portText = port ?? env["ADDONMOCK_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "8080"
            guard let p = UInt16(portText), p > 0 else { fail("the port must be a number from 1 to 65535, got \"\(portText)\"", code: 2) }
            let h = host ?? env["ADDONMOCK_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
            target = HealthProbe.Target(host: HealthProbe.connectable(h), port: p)
        }
        if let problem = HealthProbe.check(target, timeoutMs: max(1, timeoutMs)) { fail(problem) }
    }

    private func fail(_ line: String, code: Int32 = 1) -> Never {
        printError("addonmock health: \(line)")
        Glibc.exit(code)
    }

    private func readText(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), f) != nil else { return nil }
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return line.hasSuffix("\n") ? String(line.dropLast()) : line
    }
}

func processEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return env
}

// Usage errors exit with 2 and one line, like start-up errors; --help still prints help and exits 0.
do {
    var command = try Root.parseAsRoot()
    try command.run()
} catch {
    let code = Root.exitCode(for: error)
    if code == .success {
        Root.exit(withError: error)
    }
    let message = Root.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    printError("addonmock: \(message)")
    Glibc.exit(2)
}
