import AddonMockCore
import AddonMockHTTP
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

@Suite struct AuthConfigurationTests {
    func resolve(_ flags: CommandLineValues, env: [String: String] = [:]) throws -> Configuration {
        try Configuration.resolve(flags, environment: env)
    }

    @Test func parsesCredentialsFromFlagsOrTheEnvironment() throws {
        let c = try resolve(CommandLineValues(auth: "aksk", credentials: ["AK1:SK1", "AK2:SK2:proj"]))
        #expect(c.auth == .aksk)
        #expect(c.credentials == [Credential(accessKey: "AK1", secretKey: "SK1"), Credential(accessKey: "AK2", secretKey: "SK2", project: "proj")])
        #expect(c.summary.hasSuffix("auth=aksk credentials=AK1:****,AK2:****:proj"))
        #expect(!c.summary.contains("SK1"))
        let e = try resolve(CommandLineValues(), env: ["ADDONMOCK_AUTH": "aksk", "ADDONMOCK_CREDENTIALS": "A:B, C:D:E"])
        #expect(e.credentials.map(\.accessKey) == ["A", "C"])
        #expect(e.sources["credentials"] == "env ADDONMOCK_CREDENTIALS")
    }

    @Test(arguments: [
        (CommandLineValues(auth: "basic"), "--auth must be one of none, token, aksk, got \"basic\""),
        (CommandLineValues(auth: "aksk"), "--auth aksk needs at least one --credentials AK:SK[:PROJECT] (or ADDONMOCK_CREDENTIALS)"),
        (CommandLineValues(credentials: ["justakey"]), "--credentials must be AK:SK or AK:SK:PROJECT, got \"justakey\""),
        (CommandLineValues(credentials: ["A:B:C:D"]), "--credentials must be AK:SK or AK:SK:PROJECT, got \"A:****:C:D\""),
        (CommandLineValues(credentials: ["A:"]), "--credentials must be AK:SK or AK:SK:PROJECT, got \"A:\""),
        (CommandLineValues(credentials: ["A:B", "A:C"]), "--credentials names access key A twice"),
        (
            CommandLineValues(credentials: ["A:B"]),
            "--credentials is only used with --auth aksk (auth is none): add --auth aksk, or drop the credentials"
        ),
        (
            CommandLineValues(auth: "token", credentials: ["A:B"]),
            "--credentials is only used with --auth aksk (auth is token): add --auth aksk, or drop the credentials"
        ),
    ])
    func refusesUnusableAuthSettings(flags: CommandLineValues, message: String) {
        do {
            _ = try resolve(flags)
            Issue.record("accepted")
        } catch let e as ConfigurationError {
            #expect(e.message == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct AuthOverHTTPTests {
    func server(_ auth: AuthMode, credentials: [Credential] = []) throws -> TestServer {
        var c = Configuration(
            host: "127.0.0.1", port: 0, database: ":memory:", profile: .fast, fixtures: nil, seed: 1,
            logLevel: "critical", seedWasRandom: false)
        c.auth = auth
        c.credentials = credentials
        return try TestServer(configuration: c)
    }

    @Test func tokenModeNeedsAnXAuthTokenInEachServicesFormat() throws {
        let s = try server(.token)
        let cce = try s.get("/api/v3/addontemplates")
        #expect(cce.status == 401)
        #expect(try cce.json().string("errorCode") == "CCE.03401001")
        let ma = try s.get("/v2/p/plugintemplates")
        #expect(try ma.json().string("error_code") == "ModelArts.50004010")
        #expect(try s.get("/api/v3/addontemplates", headers: [("X-Auth-Token", "t")]).status == 200)
        #expect(try s.get("/_mock/health").status == 200, "the control API is open")
        let journal = try s.control("GET", "/_mock/requests?status=401").json()
        #expect(journal.at("requests.1.service") == .string("modelarts"))
    }

    @Test func akskModeRefusesUnsignedRequestsBeforeAnythingHappens() throws {
        let s = try server(.aksk, credentials: [Credential(accessKey: "A", secretKey: "B")])
        let r = try s.request("POST", "/api/v3/addons", body: Bodies.install())
        #expect(r.status == 401)
        #expect(try r.json().string("error_msg")?.contains("the Authorization header is missing") == true)
        #expect(try s.control("GET", "/_mock/resources/addons").json().at("items") == .array([]))
        // Unknown routes are still 404s, not 401s.
        #expect(try s.get("/api/v3/nothing").status == 404)
    }
}
