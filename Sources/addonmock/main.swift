import AddonMock
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
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the emulated APIs (the default command). Every flag has an ADDONMOCK_<FLAG> environment twin; the flag wins.")

    @Option(help: "Address to listen on (ADDONMOCK_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port; 0 picks a free one (ADDONMOCK_PORT, default 8080).") var port: String?
    @Option(help: "SQLite file, or :memory: (ADDONMOCK_DB, default addonmock.sqlite).") var db: String?
    @Option(help: "realistic | fast | instant | manual (ADDONMOCK_PROFILE, default realistic).") var profile: String?
    @Option(help: "Directory whose catalog files replace the built-in ones (ADDONMOCK_FIXTURES).") var fixtures: String?
    @Option(help: "Seed for timing jitter, so runs repeat (ADDONMOCK_SEED, default random).") var seed: String?
    @Option(help: "trace | debug | info | notice | warning | error | critical (ADDONMOCK_LOG_LEVEL).") var logLevel: String?
    @Option(help: "none | token | aksk: how clients of the emulated APIs authenticate (ADDONMOCK_AUTH, default none).") var auth: String?
    @Option(help: "AK:SK or AK:SK:PROJECT accepted in aksk mode; repeatable (ADDONMOCK_CREDENTIALS, comma-separated).")
    var credentials: [String] = []

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
                CommandLineValues(host: host, port: port, database: db, profile: profile, fixtures: fixtures,
                                  seed: seed, logLevel: logLevel, auth: auth, credentials: credentials),
                environment: environment())
        } catch {
            printError("addonmock: \(error)")
            Glibc.exit(2)
        }

        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "addonmock")
        logger.info("starting: \(config.summary)")

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

    private func environment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return env
    }
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
