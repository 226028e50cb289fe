import AddonMockCore

/// The effective settings after flags, `ADDONMOCK_*` environment twins and defaults (in that order of precedence).
public struct Configuration: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    public var database: String
    public var profile: Profile
    public var fixtures: String?
    public var seed: UInt64
    public var logLevel: String
    /// Whether the seed was chosen at random (the start-up summary prints it so a run can be repeated).
    public var seedWasRandom: Bool
    /// Where each setting came from: `flag`, `env ADDONMOCK_…` or `default`.
    public var sources: [String: String] = [:]

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Flag values as typed on the command line; nil when not given.
public struct CommandLineValues: Sendable {
    public var host: String?
    public var port: String?
    public var database: String?
    public var profile: String?
    public var fixtures: String?
    public var seed: String?
    public var logLevel: String?

    public init(host: String? = nil, port: String? = nil, database: String? = nil, profile: String? = nil,
                fixtures: String? = nil, seed: String? = nil, logLevel: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.profile = profile
        self.fixtures = fixtures
        self.seed = seed
        self.logLevel = logLevel
    }
}

extension Configuration {
    /// Resolves flags over the environment over defaults, validating every value with a message that names
    /// where the bad value came from.
    public static func resolve(_ flags: CommandLineValues, environment: [String: String],
                               randomSeed: () -> UInt64 = { UInt64.random(in: 1...UInt64(UInt32.max)) }) throws(ConfigurationError) -> Configuration {
        var sources: [String: String] = [:]
        func pick(_ flag: String?, _ name: String) -> (value: String, source: String)? {
            if let flag { sources[name] = "flag"; return (flag, "--\(name)") }
            let env = "ADDONMOCK_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
            if let v = environment[env], !v.isEmpty { sources[name] = "env \(env)"; return (v, env) }
            sources[name] = "default"
            return nil
        }

        let host = pick(flags.host, "host")?.value ?? "127.0.0.1"
        guard !host.isEmpty else { throw ConfigurationError(message: "--host must not be empty") }

        var port: UInt16 = 8080
        if let (v, source) = pick(flags.port, "port") {
            guard let p = UInt16(v) else { throw ConfigurationError(message: "\(source) must be a port number from 0 to 65535, got \"\(v)\"") }
            port = p
        }

        let database = pick(flags.database, "db")?.value ?? "addonmock.sqlite"

        var profile = Profile.realistic
        if let (v, source) = pick(flags.profile, "profile") {
            guard let p = Profile(rawValue: v) else {
                throw ConfigurationError(message: "\(source) must be one of \(Profile.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(v)\"")
            }
            profile = p
        }

        var seed: UInt64
        var seedWasRandom = false
        if let (v, source) = pick(flags.seed, "seed") {
            guard let s = UInt64(v) else { throw ConfigurationError(message: "\(source) must be a non-negative integer, got \"\(v)\"") }
            seed = s
        } else {
            seed = randomSeed()
            seedWasRandom = true
        }

        var logLevel = "info"
        if let (v, source) = pick(flags.logLevel, "log-level") {
            guard logLevels.contains(v) else {
                throw ConfigurationError(message: "\(source) must be one of \(logLevels.joined(separator: ", ")), got \"\(v)\"")
            }
            logLevel = v
        }

        let fixtures = pick(flags.fixtures, "fixtures")?.value
        return Configuration(host: host, port: port, database: database, profile: profile, fixtures: fixtures, seed: seed,
                             logLevel: logLevel, seedWasRandom: seedWasRandom, sources: sources)
    }

    /// One line for the log at start-up.
    public var summary: String {
        "host=\(host) port=\(port) db=\(database) profile=\(profile.rawValue) fixtures=\(fixtures ?? "built-in") seed=\(seed)\(seedWasRandom ? " (random)" : "") log-level=\(logLevel)"
    }
}
