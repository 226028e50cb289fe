import AddonMockCore
import AddonMockStore
import AddonMockTestSupport
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// The command-line contract, checked on the real executable.
@Suite struct CommandLineTests {
    @Test func tellsItsVersion() throws {
        for arguments in [["--version"], ["serve", "--version"]] {
            let r = try ServerProcess.run(arguments)
            #expect(r.status == 0)
            #expect(r.stdout == "\(AddonMockVersion.current)\n")
        }
        let server = try ServerProcess(["--port", "0", "--db", ":memory:", "--log-level", "info"])
        #expect(try server.request("GET", "/_mock/config").json().string("version") == AddonMockVersion.current)
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        // The libmicrohttpd scripts/libmicrohttpd builds, linked in (a build against another says so here).
        #expect(server.stderr.contains("addonmock \(AddonMockVersion.current) (libmicrohttpd 1.0.1) starting: "))
    }

    @Test func printsExactlyOneReadyLineServesHealthAndStopsCleanlyOnSIGTERM() throws {
        let dir = TempDirectory()
        let server = try ServerProcess(["--port", "0", "--db", dir.file("a.sqlite")])
        #expect(server.readyLine == "addonmock listening on http://127.0.0.1:\(server.port)")
        #expect(try server.request("GET", "/_mock/health").status == 200)
        _ = try server.request("POST", "/api/v3/addons", body: Bodies.install())
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(server.remainingStdout == "", "nothing else on stdout")
        // The WAL was folded back in: one tidy file with the data.
        let walSize = dir.exists("a.sqlite-wal") ? try FileManager.default.attributesOfItem(atPath: dir.file("a.sqlite-wal"))[.size] as? Int : 0
        #expect(walSize == 0)
        let db = try Database(path: dir.file("a.sqlite"))
        #expect(try db.read { try $0.resourceCount() } == 1)
    }

    @Test func sigintStopsToo() throws {
        let server = try ServerProcess(["--port", "0", "--db", ":memory:"])
        server.signal(SIGINT)
        #expect(server.waitForExit() == 0)
    }

    @Test(arguments: [
        (["--port", "99999"], "addonmock: --port must be a port number from 0 to 65535, got \"99999\""),
        (["--port", "http"], "addonmock: --port must be a port number from 0 to 65535, got \"http\""),
        (["--port", "-1"], "addonmock: --port must be a port number from 0 to 65535, got \"-1\""),
        (["--request-timeout", "-3"], "addonmock: --request-timeout must be a whole number of seconds from 1 to 3600, got \"-3\""),
        (["--profile", "slow"], "addonmock: --profile must be one of realistic, fast, instant, manual, got \"slow\""),
        (["--seed=-4"], "addonmock: --seed must be a non-negative integer, got \"-4\""),
        (["--log-level", "loud"], "addonmock: --log-level must be one of trace, debug, info, notice, warning, error, critical, got \"loud\""),
        (["--clusters", "sometimes"], "addonmock: --clusters must be one of lenient, strict, got \"sometimes\""),
        (["--parents", "sometimes"], "addonmock: --parents must be one of lenient, strict, got \"sometimes\""),
        (["--parents", "strict", "--clusters", "lenient"], "addonmock: --parents and --clusters (its earlier name) disagree: give one"),
        (["--bogus"], "addonmock: Unknown option '--bogus'. Did you mean '--cors'?"),
        (["--log-format", "xml"], "addonmock: --log-format must be text or json, got \"xml\""),
        (
            ["--cors", "demo.local"],
            "addonmock: --cors takes * or comma-separated origins like http://localhost:3000 (scheme://host[:port], no path), got \"demo.local\""
        ),
        (["--fixtures", "/nonexistent/dir", "--db", ":memory:"], "addonmock: --fixtures /nonexistent/dir is not a directory"),
        (["--idle-timeout", "0"], "addonmock: --idle-timeout must be a whole number of seconds from 1 to 86400, got \"0\""),
        (["--max-held", "many"], "addonmock: --max-held must be a whole number from 1 to 1000000, got \"many\""),
        (
            ["--allowed-hosts", "addonmock,evil.example:8080"],
            "addonmock: --allowed-hosts takes * or comma-separated host names or addresses without a port (addonmock, my-host.lan, 10.0.0.5, [fd00::1]), got \"evil.example:8080\""
        ),
    ])
    func badFlagsExitWith2AndOneLine(arguments: [String], line: String) throws {
        let r = try ServerProcess.run(arguments)
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").filter { !$0.contains(" info addonmock:") }
        #expect(lines == [Substring(line)], "stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    /// One access line per request at info, under one label; JSON lines carry the same as fields; health probes
    /// stay out of the info log.
    @Test func accessLinesInTextAndJSON() throws {
        let text = try ServerProcess(["--port", "0", "--db", ":memory:", "--profile", "fast"])
        _ = try text.request("GET", "/api/v3/addons/missing?cluster_id=c1")
        _ = try text.request("GET", "/_mock/health")
        text.signal(SIGTERM)
        #expect(text.waitForExit() == 0)
        let lines = text.stderr.split(separator: "\n")
        #expect(lines.allSatisfy { $0.contains(" addonmock: ") && !$0.contains("[AddonMock]") && !$0.contains("[addonmock]") }, "\(lines)")
        let access = try #require(lines.first { $0.contains("GET /api/v3/addons/missing") })
        #expect(access.contains(" info addonmock: GET /api/v3/addons/missing?cluster_id=c1 404 "))
        #expect(access.contains(" error_code=CCE.03404001 request_id="))
        #expect(access.contains(" service=cce"))
        #expect(!lines.contains { $0.contains("/_mock/health") })

        let json = try ServerProcess(["--port", "0", "--db", ":memory:", "--log-format", "json"])
        _ = try json.request("POST", "/api/v3/addons", body: "{")
        json.signal(SIGTERM)
        #expect(json.waitForExit() == 0)
        let objects = try json.stderr.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
        let entry = try #require(objects.first { $0["path"]?.stringValue == "/api/v3/addons" })
        #expect(entry["label"]?.stringValue == "addonmock")
        #expect(entry["level"]?.stringValue == "info")
        #expect(entry["method"]?.stringValue == "POST")
        #expect(entry["status"] == .number("400"))
        #expect(entry["error_code"]?.stringValue == "CCE.03400001")
        #expect(entry["duration_ms"].map { if case .number = $0 { true } else { false } } == true)
        #expect(entry["time"]?.stringValue?.hasSuffix("Z") == true)
    }

    @Test func ignoredSettingsAreNamed() throws {
        let server = try ServerProcess(
            ["--port", "0", "--db", ":memory:"], environment: ["ADDONMOCK_PROFIEL": "fast", "ADDONMOCK_PORT": "9", "ADDONMOCK_BIN": "/x"])
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        let warnings = server.stderr.split(separator: "\n").filter { $0.contains(" warning addonmock: ") }.map {
            $0.split(separator: ": ", maxSplits: 1)[1]
        }
        #expect(
            warnings == [
                "ADDONMOCK_PORT=9 is ignored: --port wins",
                "ADDONMOCK_PROFIEL is not an addonmock setting (did you mean ADDONMOCK_PROFILE?); ignored",
            ])
    }

    @Test func aPortInUseIsOneLineSayingWhatToDo() throws {
        let first = try ServerProcess(["--port", "0", "--db", ":memory:"])
        let second = try ServerProcess.run(["--port", String(first.port), "--db", ":memory:"])
        #expect(second.status == 2)
        let lines = second.stderr.split(separator: "\n").filter { !$0.contains(" info addonmock:") }
        #expect(
            lines == [
                "addonmock: cannot listen on 127.0.0.1:\(first.port): port \(first.port) is in use by another process: stop it, or pick another --port (0 picks a free one)"
            ])
    }

    @Test func environmentTwinsApplyAndFlagsWin() throws {
        let bad = try ServerProcess.run([], environment: ["ADDONMOCK_PROFILE": "warp"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("ADDONMOCK_PROFILE must be one of"))

        let dir = TempDirectory()
        let env = ["ADDONMOCK_PORT": "0", "ADDONMOCK_PROFILE": "manual", "ADDONMOCK_DB": dir.file("env.sqlite")]
        let byEnv = try ServerProcess([], environment: env)
        let config = try byEnv.request("GET", "/_mock/config").json()
        #expect(config.string("settings.profile.value") == "manual")
        #expect(config.string("settings.profile.source") == "env ADDONMOCK_PROFILE")
        let id = try #require(try byEnv.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        // A day later on the virtual clock it is still installing: only the manual profile never moves by itself.
        _ = try byEnv.request("POST", "/_mock/clock", body: #"{"advanceSeconds": 86400}"#)
        #expect(
            try byEnv.request("GET", "/api/v3/addons/\(id)").json().string("status.status") == "installing", "manual profile from the environment")
        #expect(dir.exists("env.sqlite"))
        byEnv.signal(SIGTERM)
        #expect(byEnv.waitForExit() == 0)

        let flagWins = try ServerProcess(["serve", "--profile", "instant", "--db", ":memory:"], environment: env)
        let id2 = try #require(try flagWins.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        #expect(try flagWins.request("GET", "/api/v3/addons/\(id2)").json().string("status.status") == "running")
    }

    @Test func damagedDatabaseExitsWith2AndIsLeftUntouched() throws {
        let dir = TempDirectory()
        let garbage = String(repeating: "not a database at all\n", count: 200)
        try dir.write("bad.sqlite", garbage)
        let r = try ServerProcess.run(["--port", "0", "--db", dir.file("bad.sqlite")])
        #expect(r.status == 2)
        #expect(r.stderr.contains("addonmock: database \(dir.file("bad.sqlite")) is not a SQLite database"))
        #expect(try String(contentsOfFile: dir.file("bad.sqlite"), encoding: .utf8) == garbage)

        let unreadable = try ServerProcess.run(["--port", "0", "--db", dir.file("missing-dir/x.sqlite")])
        #expect(unreadable.status == 2)
        #expect(
            unreadable.stderr.hasSuffix(
                "addonmock: database \(dir.file("missing-dir/x.sqlite")) cannot be opened (No such file or directory): its directory does not exist; pick another --db\n"
            ))
    }

    @Test func anotherApplicationsDatabaseExitsWith2AndStaysByteIdentical() throws {
        let dir = TempDirectory()
        let path = dir.file("app.sqlite")
        do {
            let conn = try Connection(path: path)
            try conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ada');")
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let r = try ServerProcess.run(["--port", "0", "--db", path])
        #expect(r.status == 2)
        #expect(
            r.stderr.hasSuffix(
                "addonmock: database \(path) is a SQLite database of another application (no application_id; tables: users); refusing to touch it: pick another --db\n"
            ), "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(!dir.exists("app.sqlite-wal") && !dir.exists("app.sqlite-shm"))
    }

    @Test func aSecondServerOnTheSameFileExitsWith2NamingTheFirst() throws {
        let dir = TempDirectory()
        let first = try ServerProcess(["--port", "0", "--db", dir.file("shared.sqlite")])
        let second = try ServerProcess.run(["--port", "0", "--db", dir.file("shared.sqlite")])
        #expect(second.status == 2)
        #expect(
            second.stderr.hasSuffix(
                "addonmock: database \(dir.file("shared.sqlite")) is in use by the addonmock with pid \(first.process.processIdentifier); stop it, or give this server another --db\n"
            ), "\(second.stderr)")
        #expect(try first.request("GET", "/_mock/health").status == 200)
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        let third = try ServerProcess(["--port", "0", "--db", dir.file("shared.sqlite")])
        #expect(try third.request("GET", "/_mock/health").status == 200, "free once the first has stopped")
    }

    @Test func brokenFixturesExitWith2NamingTheProblem() throws {
        let dir = TempDirectory()
        try dir.write("cce-addon-templates.json", #"{"templates":[{"name":"x","versions":[]}]}"#)
        let r = try ServerProcess.run(["--port", "0", "--db", ":memory:", "--fixtures", dir.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("cce-addon-templates.json: templates[0] (x): \"versions\" must be a non-empty array"))
    }

    @Test func portInUseExitsWith2() throws {
        let first = try ServerProcess(["--port", "0", "--db", ":memory:"])
        let r = try ServerProcess.run(["--port", "\(first.port)", "--db", ":memory:"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("cannot listen on 127.0.0.1:\(first.port)"))
    }

    @Test func defaultDatabaseIsAFileInTheWorkingDirectory() throws {
        let dir = TempDirectory()
        let server = try ServerProcess(["--port", "0"], directory: dir.path)
        _ = try server.request("POST", "/api/v3/addons", body: Bodies.install())
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(dir.exists("addonmock.sqlite"))
    }
}

/// `addonmock health`, the container health check: it finds the server however its port was given.
@Suite struct HealthCommandTests {
    @Test func followsTheAddressFileTheServerWritesAndRemoves() throws {
        let dir = TempDirectory()
        let file = dir.file("address")
        let server = try ServerProcess(["--port", "0", "--db", ":memory:", "--address-file", file])
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "http://127.0.0.1:\(server.port)\n")
        let byFlag = try ServerProcess.run(["health", "--address-file", file])
        #expect(byFlag.status == 0, "stderr: \(byFlag.stderr)")
        #expect(byFlag.stdout.isEmpty && byFlag.stderr.isEmpty)
        #expect(try ServerProcess.run(["health"], environment: ["ADDONMOCK_ADDRESS_FILE": file]).status == 0)
        // The address file wins over ADDONMOCK_PORT, which names a port nobody listens on.
        #expect(try ServerProcess.run(["health"], environment: ["ADDONMOCK_ADDRESS_FILE": file, "ADDONMOCK_PORT": "1"]).status == 0)

        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(!dir.exists("address"), "a stopped server leaves no address behind")
        let after = try ServerProcess.run(["health", "--address-file", file])
        #expect(after.status == 1)
        #expect(after.stderr == "addonmock health: no server has written \(file) (not started, or stopped)\n")
    }

    @Test func readsTheSameHostAndPortAsServe() throws {
        let server = try ServerProcess(["--port", "0", "--host", "0.0.0.0", "--db", ":memory:"])
        #expect(try ServerProcess.run(["health", "--port", "\(server.port)"]).status == 0)
        #expect(try ServerProcess.run(["health"], environment: ["ADDONMOCK_HOST": "0.0.0.0", "ADDONMOCK_PORT": "\(server.port)"]).status == 0)
        #expect(try ServerProcess.run(["health", "--url", "http://127.0.0.1:\(server.port)"]).status == 0)
    }

    @Test(arguments: [
        (["health", "--port", "1"], Int32(1), "addonmock health: nothing answers at 127.0.0.1:1 (Connection refused)"),
        (["health", "--url", "localhost:8080"], Int32(2), "addonmock health: --url must be http://HOST:PORT, got \"localhost:8080\""),
        (["health", "--port", "0"], Int32(2), "addonmock health: the port must be a number from 1 to 65535, got \"0\""),
    ])
    func failsWithOneLineSayingWhy(arguments: [String], status: Int32, line: String) throws {
        let r = try ServerProcess.run(arguments)
        #expect(r.status == status)
        #expect(r.stderr == line + "\n")
    }

    @Test func anAnswerOtherThan200IsUnhealthy() throws {
        // A listener that answers every request with a 503, like a server that is stopping.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                guard bind(listener, $0, length) == 0, listen(listener, 1) == 0, getsockname(listener, $0, &length) == 0 else {
                    throw TestHTTPError(description: "cannot listen")
                }
            }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let answered = Thread {
            let c = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 1024)
            _ = read(c, &buffer, buffer.count)
            let answer = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            _ = send(c, answer, answer.count, Int32(MSG_NOSIGNAL)) // a probe that gave up is not a SIGPIPE here
            close(c)
        }
        answered.start()
        // Generous: the answering thread may be scheduled late on two busy cores.
        let r = try ServerProcess.run(["health", "--port", "\(port)", "--timeout-ms", "30000"])
        #expect(r.status == 1)
        #expect(r.stderr == "addonmock health: 127.0.0.1:\(port) answered HTTP/1.1 503 Service Unavailable\n")
    }
}

/// Persistence across restarts, including SIGKILL at awkward moments.
@Suite struct RestartTests {
    /// A catalog with one template whose install takes `seconds`, no jitter, so timing is exact.
    func fixtures(installSeconds: Double) throws -> TempDirectory {
        let dir = TempDirectory()
        try dir.write(
            "cce-addon-templates.json",
            """
            {"templates":[{"name":"coredns","timing":{"install":{"seconds":\(installSeconds)},"upgrade":{"seconds":\(installSeconds)}},
              "versions":[{"version":"1.0.0","input":{"basic":{"a":1}}},{"version":"2.0.0","input":{"basic":{"a":2}}}]}]}
            """)
        return dir
    }

    /// Timing is moved with the virtual clock after each restart, never waited for: the install takes a minute of
    /// real time, so a slow restart cannot race it.
    @Test func killedMidInstallTheInstanceStillReachesRunningAfterRestart() throws {
        let dir = try fixtures(installSeconds: 60)
        let args = ["--port", "0", "--db", dir.file("r.sqlite"), "--profile", "realistic", "--fixtures", dir.path]
        var server = try ServerProcess(args)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        server.signal(SIGKILL)
        #expect(server.waitForExit() == 128 + SIGKILL)

        server = try ServerProcess(args)
        let after = try server.request("GET", "/api/v3/addons/\(id)").json()
        #expect(after.string("status.status") == "installing", "not due yet: still installing after the restart")
        _ = try server.request("POST", "/_mock/clock", body: #"{"advanceSeconds": 61}"#)
        let done = try server.request("GET", "/api/v3/addons/\(id)").json()
        #expect(done.string("status.status") == "running")
        #expect(done.string("metadata.creationTimestamp") == after.string("metadata.creationTimestamp"))
    }

    /// The virtual clock does not survive a restart, so the time that passes while the server is down is real:
    /// the test waits until the due time has passed (a state, checked on the wall clock), however long the kill
    /// took; the install is 3 s so that the record is still installing when it is killed.
    @Test func transitionsThatFellDueWhileDownAreAppliedAtStartUp() throws {
        let dir = try fixtures(installSeconds: 3)
        let args = ["--port", "0", "--db", dir.file("r.sqlite"), "--profile", "realistic", "--fixtures", dir.path]
        var server = try ServerProcess(args)
        let installed = try server.request("POST", "/api/v3/addons", body: Bodies.install()).json()
        let id = try #require(installed.string("metadata.uid"))
        server.signal(SIGKILL)
        _ = server.waitForExit()
        // Due 3 s after creation; the timestamp has whole seconds, so one more.
        let due = try #require(installed.string("metadata.creationTimestamp").flatMap(Instant.init(rfc3339:))).adding(milliseconds: 4_000)
        while SystemClock().now() <= due { usleep(50_000) }

        // The file still says installing (nobody was there to apply it)...
        do {
            let db = try Database(path: dir.file("r.sqlite"))
            #expect(try db.read { try $0.resource(id: id) }?.phase == .installing)
        }
        server = try ServerProcess(args)
        #expect(try server.request("GET", "/api/v3/addons/\(id)").json().string("status.status") == "running")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(server.stderr.contains("applied 1 transition(s) that fell due while stopped"))
        // ...and start-up wrote the catch-up into it.
        let db = try Database(path: dir.file("r.sqlite"))
        #expect(try db.read { try $0.resource(id: id) }?.phase == .running)
    }

    @Test func freeFormTextRoundTripsByteExactlyThroughARestartNulIncluded() throws {
        let dir = TempDirectory()
        let args = ["--port", "0", "--db", dir.file("n.sqlite"), "--profile", "manual"]
        var server = try ServerProcess(args)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        let forced = try server.request(
            "POST", "/_mock/resources/addons/\(id)/status",
            body: #"{"status": "abnormal", "reason": "Bad\u0000Tail", "message": "line\u0001two\u0000"}"#)
        #expect(forced.status == 200, "\(forced.text)")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)

        server = try ServerProcess(args)
        let after = try server.request("GET", "/api/v3/addons/\(id)").json()
        #expect(after.string("status.Reason") == "Bad\u{0}Tail")
        #expect(after.string("status.message") == "line\u{1}two\u{0}")
    }

    @Test func sigkillRightAfterAcknowledgedWritesLosesNone() throws {
        let dir = TempDirectory()
        let args = ["--port", "0", "--db", dir.file("k.sqlite"), "--profile", "manual"]
        var server = try ServerProcess(args)
        var acknowledged: [String: String] = [:] // uid -> cluster
        let conn = try RawHTTPConnection(port: server.port)
        for i in 0..<40 {
            let r = try conn.send("POST", "/api/v3/addons", body: Array(Bodies.install(cluster: "k\(i)").utf8))
            #expect(r.status == 201)
            acknowledged[try #require(try r.json().string("metadata.uid"))] = "k\(i)"
        }
        server.signal(SIGKILL)
        _ = server.waitForExit()

        server = try ServerProcess(args)
        for (id, cluster) in acknowledged {
            let r = try server.request("GET", "/api/v3/addons/\(id)")
            #expect(r.status == 200)
            #expect(try r.json().string("spec.clusterID") == cluster)
        }
    }

    @Test func pluginsSurviveARestartMidTransition() throws {
        let dir = TempDirectory()
        try dir.write(
            "modelarts-plugin-templates.json",
            """
            {"templates":[{"name":"volcano","timing":{"install":{"seconds":60},"upgrade":{"seconds":60}},
              "versions":[{"version":"1.0","input":{"a":1},"workloads":[{"kind":"Deployment","name":"volcano-scheduler"}]},
                          {"version":"2.0","input":{"a":2},"workloads":[{"kind":"Deployment","name":"volcano-scheduler"}]}]}]}
            """)
        let args = ["--port", "0", "--db", dir.file("p.sqlite"), "--profile", "realistic", "--fixtures", dir.path]
        let pluginsA = "/v2/projecta/pools/pool1/plugins", pluginsB = "/v2/projectb/pools/pool1/plugins"
        var server = try ServerProcess(args)
        #expect(try server.request("POST", pluginsA, body: PluginBodies.create("volcano", version: "1.0")).json().string("status.phase") == "Pending")
        server.signal(SIGKILL)
        _ = server.waitForExit()

        server = try ServerProcess(args)
        #expect(try server.request("GET", "\(pluginsA)/volcano").json().string("status.phase") == "Pending")
        _ = try server.request("POST", "/_mock/clock", body: #"{"advanceSeconds": 61}"#)
        #expect(try server.request("GET", "\(pluginsA)/volcano").json().string("status.phase") == "Running")
        let patched = try server.request("PATCH", "\(pluginsA)/volcano", body: #"{"spec":{"template":{"version":"2.0"}}}"#).json()
        #expect(patched.string("status.phase") == "Updating")
        _ = try server.request("POST", pluginsB, body: PluginBodies.create("volcano", version: "1.0"))
        server.signal(SIGKILL)
        _ = server.waitForExit()

        server = try ServerProcess(args)
        #expect(try server.request("GET", "\(pluginsA)/volcano").json().string("status.phase") == "Updating")
        // The upgrade was started 61 s ahead (the first advance); a restart's clock starts at real time again.
        _ = try server.request("POST", "/_mock/clock", body: #"{"advanceSeconds": 125}"#)
        let a = try server.request("GET", "\(pluginsA)/volcano").json()
        #expect(a.string("status.phase") == "Running")
        #expect(a.string("status.version") == "2.0")
        let b = try server.request("GET", "\(pluginsB)/volcano").json()
        #expect(b.string("status.phase") == "Running")
        #expect(b.string("status.version") == "1.0")
        #expect(try server.request("GET", pluginsB).json().at("items.1") == nil, "project B holds only its own plug-in")
    }
}
