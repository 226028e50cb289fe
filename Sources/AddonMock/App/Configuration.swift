import AddonMockCore
import AddonMockKit

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
    public var auth: AuthMode = .none
    public var credentials: [Credential] = []
    /// Where the server writes its URL once listening (for `addonmock health` in a container); nil: nowhere.
    public var addressFile: String?
    /// When set, every `/_mock` call but `GET /_mock/health` needs `Authorization: Bearer <token>`.
    public var controlToken: String?
    /// How long a stop waits for held answers before answering the rest 503.
    public var drainTimeoutMs: Int = 5000
    /// How long a connection may take to send a whole request, from its request line on.
    public var requestTimeoutSeconds: Int = 10
    /// How long a keep-alive connection may wait for its next request.
    public var idleTimeoutSeconds: Int = 120
    /// Open connections at most (a reserve is kept free for new clients).
    public var maxConnections: Int = 10_000
    /// Bytes the instance cache may keep (records and rendered bodies).
    public var cacheBytes: Int = 64 << 20
    /// Bytes of request bodies the server holds at once, all connections together.
    public var bodyBudgetBytes: Int = 64 << 20
    /// `text` (one human line per event) or `json` (one object per line).
    public var logFormat: LogFormat = .text
    /// Origins browsers may call from (`*`: any); nil: no CORS grants.
    public var corsOrigins: [String]? = nil
    /// Host names served beside the local ones (`*`: any); nil: only local ones while bound to loopback.
    public var allowedHosts: [String]? = nil
    /// Waits and event streams held open at once, at most.
    public var maxHeld: Int = 5_000
    /// Whether add-ons and plug-ins need their cluster or pool to exist (`strict`) or any id serves (`lenient`).
    public var parents: ParentPolicy = .lenient
    /// Where each setting came from: `flag`, `env ADDONMOCK_…` or `default`.
    public var sources: [String: String] = [:]
    /// Settings that were given but have no effect, one line each, for the start-up log.
    public var warnings: [String] = []

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
    public var auth: String?
    /// Repeated `--credentials`; empty when none were given.
    public var credentials: [String]
    public var addressFile: String?
    public var controlToken: String?
    public var drainTimeout: String?
    public var requestTimeout: String?
    public var idleTimeout: String?
    public var maxConnections: String?
    public var cacheMiB: String?
    public var bodyBudgetMiB: String?
    public var logFormat: String?
    public var cors: String?
    public var allowedHosts: String?
    public var maxHeld: String?
    public var parents: String?
    /// `--clusters`, the earlier name of `--parents`.
    public var clusters: String?

    public init(
        host: String? = nil, port: String? = nil, database: String? = nil, profile: String? = nil,
        fixtures: String? = nil, seed: String? = nil, logLevel: String? = nil, auth: String? = nil,
        credentials: [String] = [], addressFile: String? = nil, controlToken: String? = nil,
        drainTimeout: String? = nil, requestTimeout: String? = nil, idleTimeout: String? = nil, maxConnections: String? = nil,
        cacheMiB: String? = nil, bodyBudgetMiB: String? = nil, logFormat: String? = nil, cors: String? = nil,
        allowedHosts: String? = nil, maxHeld: String? = nil, parents: String? = nil, clusters: String? = nil
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.profile = profile
        self.fixtures = fixtures
        self.seed = seed
        self.logLevel = logLevel
        self.auth = auth
        self.credentials = credentials
        self.addressFile = addressFile
        self.controlToken = controlToken
        self.drainTimeout = drainTimeout
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.cacheMiB = cacheMiB
        self.bodyBudgetMiB = bodyBudgetMiB
        self.logFormat = logFormat
        self.cors = cors
        self.allowedHosts = allowedHosts
        self.maxHeld = maxHeld
        self.parents = parents
        self.clusters = clusters
    }
}

extension Configuration {
    /// Resolves flags over the environment over defaults, validating every value with a message that names
    /// where the bad value came from.
    public static func resolve(
        _ flags: CommandLineValues, environment: [String: String],
        randomSeed: () -> UInt64 = { UInt64.random(in: 1...UInt64(UInt32.max)) }
    ) throws(ConfigurationError) -> Configuration {
        var sources: [String: String] = [:]
        var warnings: [String] = []
        func pick(_ flag: String?, _ name: String) -> (value: String, source: String)? {
            let env = environmentName(of: name)
            if let flag {
                sources[name] = "flag"
                if let v = environment[env], !v.isEmpty, v != flag { warnings.append("\(env)=\(v) is ignored: --\(name) wins") }
                return (flag, "--\(name)")
            }
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
                throw ConfigurationError(
                    message: "\(source) must be one of \(Profile.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(v)\"")
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

        var auth = AuthMode.none
        if let (v, source) = pick(flags.auth, "auth") {
            guard let a = AuthMode(rawValue: v) else {
                throw ConfigurationError(message: "\(source) must be one of none, token, aksk, got \"\(v)\"")
            }
            auth = a
        }

        // Repeatable flag; its environment twin holds a comma-separated list.
        var credentialTexts = flags.credentials
        var credentialSource = "--credentials"
        if credentialTexts.isEmpty, let (v, source) = pick(nil, "credentials") {
            credentialTexts = v.split(separator: ",").map { String($0).trimmingSpaces() }
            credentialSource = source
        } else {
            sources["credentials"] = credentialTexts.isEmpty ? "default" : "flag"
            if !credentialTexts.isEmpty, let v = environment["ADDONMOCK_CREDENTIALS"], !v.isEmpty {
                warnings.append("ADDONMOCK_CREDENTIALS is ignored: --credentials wins")
            }
        }
        var credentials: [Credential] = []
        for text in credentialTexts {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), !parts[0].isEmpty, !parts[1].isEmpty, parts.count == 2 || !parts[2].isEmpty else {
                // Echoed as typed, but with the secret (the second field) masked.
                let echoed = parts.enumerated().map { $0.offset == 1 && !$0.element.isEmpty ? "****" : $0.element }.joined(separator: ":")
                throw ConfigurationError(message: "\(credentialSource) must be AK:SK or AK:SK:PROJECT, got \"\(echoed)\"")
            }
            guard !credentials.contains(where: { $0.accessKey == parts[0] }) else {
                throw ConfigurationError(message: "\(credentialSource) names access key \(parts[0]) twice")
            }
            credentials.append(Credential(accessKey: parts[0], secretKey: parts[1], project: parts.count == 3 ? parts[2] : nil))
        }
        if auth == .aksk && credentials.isEmpty {
            throw ConfigurationError(message: "--auth aksk needs at least one --credentials AK:SK[:PROJECT] (or ADDONMOCK_CREDENTIALS)")
        }
        if auth != .aksk && !credentials.isEmpty {
            throw ConfigurationError(
                message: "\(credentialSource) is only used with --auth aksk (auth is \(auth.rawValue)): add --auth aksk, or drop the credentials")
        }

        let fixtures = pick(flags.fixtures, "fixtures")?.value
        var addressFile: String?
        if let (v, source) = pick(flags.addressFile, "address-file") {
            guard !v.isEmpty else { throw ConfigurationError(message: "\(source) must name a file") }
            addressFile = v
        }
        var controlToken: String?
        if let (v, source) = pick(flags.controlToken, "control-token") {
            guard v.utf8.count >= 8, v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ConfigurationError(message: "\(source) must be at least 8 printable ASCII characters without spaces")
            }
            controlToken = v
        }
        var drainTimeoutMs = 5000
        if let (v, source) = pick(flags.drainTimeout, "drain-timeout") {
            guard let seconds = Double(v), seconds.isFinite, seconds >= 0, seconds <= 600 else {
                throw ConfigurationError(message: "\(source) must be a number of seconds from 0 to 600, got \"\(v)\"")
            }
            drainTimeoutMs = Int((seconds * 1000).rounded())
        }
        var requestTimeoutSeconds = 10
        if let (v, source) = pick(flags.requestTimeout, "request-timeout") {
            guard let seconds = Int(v), (1...3600).contains(seconds) else {
                throw ConfigurationError(message: "\(source) must be a whole number of seconds from 1 to 3600, got \"\(v)\"")
            }
            requestTimeoutSeconds = seconds
        }
        var idleTimeoutSeconds = 120
        if let (v, source) = pick(flags.idleTimeout, "idle-timeout") {
            guard let seconds = Int(v), (1...86_400).contains(seconds) else {
                throw ConfigurationError(message: "\(source) must be a whole number of seconds from 1 to 86400, got \"\(v)\"")
            }
            idleTimeoutSeconds = seconds
        }
        var maxConnections = 10_000
        if let (v, source) = pick(flags.maxConnections, "max-connections") {
            guard let n = Int(v), (10...1_000_000).contains(n) else {
                throw ConfigurationError(message: "\(source) must be a whole number from 10 to 1000000, got \"\(v)\"")
            }
            maxConnections = n
        }
        func mebibytes(_ flag: String?, _ name: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let (v, source) = pick(flag, name) else { return 64 << 20 }
            guard let n = Int(v), range.contains(n) else {
                throw ConfigurationError(
                    message: "\(source) must be a whole number of MiB from \(range.lowerBound) to \(range.upperBound), got \"\(v)\"")
            }
            return n << 20
        }
        let cacheBytes = try mebibytes(flags.cacheMiB, "cache-mib", range: 0...65536)
        let bodyBudgetBytes = try mebibytes(flags.bodyBudgetMiB, "body-budget-mib", range: 1...65536)
        var logFormat = LogFormat.text
        if let (v, source) = pick(flags.logFormat, "log-format") {
            guard let f = LogFormat(rawValue: v) else { throw ConfigurationError(message: "\(source) must be text or json, got \"\(v)\"") }
            logFormat = f
        }
        var corsOrigins: [String]?
        if let (v, source) = pick(flags.cors, "cors") {
            let origins = v.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            for origin in origins where origin != "*" && !Self.isOrigin(origin) {
                throw ConfigurationError(
                    message:
                        "\(source) takes * or comma-separated origins like http://localhost:3000 (scheme://host[:port], no path), got \"\(origin)\"")
            }
            guard !origins.isEmpty else { throw ConfigurationError(message: "\(source) must name at least one origin, or *") }
            corsOrigins = origins
        }
        var allowedHosts: [String]?
        if let (v, source) = pick(flags.allowedHosts, "allowed-hosts") {
            let names = v.split(separator: ",").map { String($0).trimmingSpaces().lowercased() }.filter { !$0.isEmpty }
            for name in names where name != "*" && !Self.isHostName(name) {
                throw ConfigurationError(
                    message:
                        "\(source) takes * or comma-separated host names or addresses without a port (addonmock, my-host.lan, 10.0.0.5, [fd00::1]), got \"\(name)\""
                )
            }
            guard !names.isEmpty else { throw ConfigurationError(message: "\(source) must name at least one host, or *") }
            allowedHosts = names
        }
        var maxHeld = 5_000
        if let (v, source) = pick(flags.maxHeld, "max-held") {
            guard let n = Int(v), (1...1_000_000).contains(n) else {
                throw ConfigurationError(message: "\(source) must be a whole number from 1 to 1000000, got \"\(v)\"")
            }
            maxHeld = n
        }
        var parents = ParentPolicy.lenient
        // --clusters is the earlier name of --parents: either serves, and they must not disagree.
        let asked = [pick(flags.parents, "parents"), pick(flags.clusters, "clusters")].compactMap { $0 }
        for (v, source) in asked {
            guard let policy = ParentPolicy(rawValue: v) else {
                throw ConfigurationError(message: "\(source) must be one of lenient, strict, got \"\(v)\"")
            }
            parents = policy
        }
        if asked.count == 2, asked[0].value != asked[1].value {
            throw ConfigurationError(message: "\(asked[0].source) and \(asked[1].source) (its earlier name) disagree: give one")
        }
        if sources["parents"] == "default" { sources["parents"] = sources["clusters"] }
        // A misspelt variable would otherwise be ignored without a word.
        // Every setting was looked up above (each has a source now), so its twin is known without a second list.
        let known = Set(sources.keys.map(environmentName)).union(Self.clientVariables)
        for name in environment.keys.sorted() where name.hasPrefix("ADDONMOCK_") && !known.contains(name) {
            let guess = known.sorted().min { distance($0, name) < distance($1, name) } // sorted: ties resolve the same way every run
            let hint = guess.flatMap { distance($0, name) <= 3 ? " (did you mean \($0)?)" : nil } ?? ""
            warnings.append("\(name) is not an addonmock setting\(hint); ignored")
        }
        return Configuration(
            host: host, port: port, database: database, profile: profile, fixtures: fixtures, seed: seed,
            logLevel: logLevel, seedWasRandom: seedWasRandom, auth: auth, credentials: credentials,
            addressFile: addressFile, controlToken: controlToken, drainTimeoutMs: drainTimeoutMs,
            requestTimeoutSeconds: requestTimeoutSeconds, idleTimeoutSeconds: idleTimeoutSeconds, maxConnections: maxConnections,
            cacheBytes: cacheBytes, bodyBudgetBytes: bodyBudgetBytes, logFormat: logFormat, corsOrigins: corsOrigins,
            allowedHosts: allowedHosts, maxHeld: maxHeld, parents: parents, sources: sources, warnings: warnings)
    }

    /// `ADDONMOCK_` variables read by the tools around the server (the pytest plugin, the test harness), not by it.
    static let clientVariables: Set<String> = ["ADDONMOCK_BIN", "ADDONMOCK_URL", "ADDONMOCK_IMAGE_CACHE"]

    /// `scheme://host[:port]`, as a browser sends it in `Origin`.
    static func isOrigin(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let colon = b.firstIndex(of: UInt8(ascii: ":")), colon > 0, b.count > colon + 3,
            b[colon + 1] == UInt8(ascii: "/"), b[colon + 2] == UInt8(ascii: "/")
        else { return false }
        let scheme = b[..<colon], rest = b[(colon + 3)...]
        let letter = { (c: UInt8) in (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
        return scheme.allSatisfy { letter($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
            && !rest.contains(UInt8(ascii: "/")) && rest.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// A host name (letters, digits, `-`, `.`), an IPv4 address, or a bracketed IPv6 one: what a `Host` header names.
    static func isHostName(_ s: String) -> Bool {
        if s.hasPrefix("[") { return s.hasSuffix("]") && s.count > 2 && s.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" } }
        return s.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
        }
    }

    /// One line for the log at start-up (secrets masked).
    public var summary: String {
        "host=\(host) port=\(port) db=\(database) profile=\(profile.rawValue) fixtures=\(fixtures ?? "built-in") seed=\(seed)\(seedWasRandom ? " (random)" : "") log-level=\(logLevel) auth=\(auth.rawValue)"
            + (credentials.isEmpty ? "" : " credentials=" + credentials.map(\.masked).joined(separator: ","))
            + (addressFile.map { " address-file=\($0)" } ?? "")
            + (controlToken == nil ? "" : " control-token=****")
            + (drainTimeoutMs == 5000 ? "" : " drain-timeout=\(Double(drainTimeoutMs) / 1000)s")
            + (logFormat == .text ? "" : " log-format=\(logFormat.rawValue)")
            + (corsOrigins.map { " cors=\($0.joined(separator: ","))" } ?? "")
            + (allowedHosts.map { " allowed-hosts=\($0.joined(separator: ","))" } ?? "")
    }
}

/// `log-level` -> `ADDONMOCK_LOG_LEVEL`.
func environmentName(of setting: String) -> String {
    "ADDONMOCK_" + String(setting.uppercased().map { $0 == "-" ? "_" : $0 })
}

/// Edit distance, for "did you mean" hints.
func distance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in 1...b.count {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}
