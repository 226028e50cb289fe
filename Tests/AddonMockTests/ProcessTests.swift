import AddonMockCore
import AddonMockStore
import Foundation
import Testing

/// The command-line contract, checked on the real executable.
@Suite struct CommandLineTests {
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
        #expect(try db.read { try $0.instanceCount() } == 1)
    }

    @Test func sigintStopsToo() throws {
        let server = try ServerProcess(["--port", "0", "--db", ":memory:"])
        server.signal(SIGINT)
        #expect(server.waitForExit() == 0)
    }

    @Test(arguments: [
        (["--port", "99999"], "addonmock: --port must be a port number from 0 to 65535, got \"99999\""),
        (["--port", "http"], "addonmock: --port must be a port number from 0 to 65535, got \"http\""),
        (["--profile", "slow"], "addonmock: --profile must be one of realistic, fast, instant, manual, got \"slow\""),
        (["--seed=-4"], "addonmock: --seed must be a non-negative integer, got \"-4\""),
        (["--log-level", "loud"], "addonmock: --log-level must be one of trace, debug, info, notice, warning, error, critical, got \"loud\""),
        (["--bogus"], "addonmock: Unknown option '--bogus'"),
        (["--fixtures", "/nonexistent/dir", "--db", ":memory:"], "addonmock: --fixtures /nonexistent/dir is not a directory"),
    ])
    func badFlagsExitWith2AndOneLine(arguments: [String], line: String) throws {
        let r = try ServerProcess.run(arguments)
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").filter { !$0.contains(" info addonmock:") }
        #expect(lines == [Substring(line)], "stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func environmentTwinsApplyAndFlagsWin() throws {
        let bad = try ServerProcess.run([], environment: ["ADDONMOCK_PROFILE": "warp"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("ADDONMOCK_PROFILE must be one of"))

        let dir = TempDirectory()
        let env = ["ADDONMOCK_PORT": "0", "ADDONMOCK_PROFILE": "manual", "ADDONMOCK_DB": dir.file("env.sqlite")]
        let byEnv = try ServerProcess([], environment: env)
        let id = try #require(try byEnv.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        usleep(300_000)
        #expect(try byEnv.request("GET", "/api/v3/addons/\(id)").json().string("status.status") == "installing", "manual profile from the environment")
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
        #expect(r.stderr.contains("addonmock: database \(dir.file("bad.sqlite")) is not an addonmock database or is damaged"))
        #expect(try String(contentsOfFile: dir.file("bad.sqlite"), encoding: .utf8) == garbage)

        let unreadable = try ServerProcess.run(["--port", "0", "--db", dir.file("missing-dir/x.sqlite")])
        #expect(unreadable.status == 2)
        #expect(unreadable.stderr.contains("cannot open database"))
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

/// Persistence across restarts, including SIGKILL at awkward moments.
@Suite struct RestartTests {
    /// A catalog with one template whose install takes `seconds`, no jitter, so timing is exact.
    func fixtures(installSeconds: Double) throws -> TempDirectory {
        let dir = TempDirectory()
        try dir.write("cce-addon-templates.json", """
            {"templates":[{"name":"coredns","timing":{"install":{"seconds":\(installSeconds)},"upgrade":{"seconds":\(installSeconds)}},
              "versions":[{"version":"1.0.0","input":{"basic":{"a":1}}},{"version":"2.0.0","input":{"basic":{"a":2}}}]}]}
            """)
        return dir
    }

    @Test func killedMidInstallTheInstanceStillReachesRunningAfterRestart() throws {
        let dir = try fixtures(installSeconds: 1.5)
        let args = ["--port", "0", "--db", dir.file("r.sqlite"), "--profile", "realistic", "--fixtures", dir.path]
        var server = try ServerProcess(args)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        server.signal(SIGKILL)
        #expect(server.waitForExit() == 128 + SIGKILL)

        server = try ServerProcess(args)
        let after = try server.request("GET", "/api/v3/addons/\(id)").json()
        #expect(after.string("status.status") == "installing", "not due yet: still installing after the restart")
        usleep(1_700_000)
        let done = try server.request("GET", "/api/v3/addons/\(id)").json()
        #expect(done.string("status.status") == "running")
        #expect(done.string("metadata.creationTimestamp") == after.string("metadata.creationTimestamp"))
    }

    @Test func transitionsThatFellDueWhileDownAreAppliedAtStartUp() throws {
        let dir = try fixtures(installSeconds: 0.2)
        let args = ["--port", "0", "--db", dir.file("r.sqlite"), "--profile", "realistic", "--fixtures", dir.path]
        var server = try ServerProcess(args)
        let id = try #require(try server.request("POST", "/api/v3/addons", body: Bodies.install()).json().string("metadata.uid"))
        server.signal(SIGKILL)
        _ = server.waitForExit()
        usleep(400_000)

        // The file still says installing (nobody was there to apply it)...
        do {
            let db = try Database(path: dir.file("r.sqlite"))
            #expect(try db.read { try $0.instance(id: id) }?.phase == .installing)
        }
        server = try ServerProcess(args)
        #expect(try server.request("GET", "/api/v3/addons/\(id)").json().string("status.status") == "running")
        server.signal(SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(server.stderr.contains("applied 1 transition(s) that fell due while stopped"))
        // ...and start-up wrote the catch-up into it.
        let db = try Database(path: dir.file("r.sqlite"))
        #expect(try db.read { try $0.instance(id: id) }?.phase == .running)
    }

    @Test func sigkillRightAfterAcknowledgedWritesLosesNone() throws {
        let dir = TempDirectory()
        let args = ["--port", "0", "--db", dir.file("k.sqlite"), "--profile", "manual"]
        var server = try ServerProcess(args)
        var acknowledged: [String: String] = [:]   // uid -> cluster
        let conn = try RawHTTPConnection(port: server.port)
        for i in 0..<40 {
            let r = try conn.send("POST", "/api/v3/addons", body: Array(Bodies.install(cluster: "k\(i)").utf8))
            #expect(r.status == 200)
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
        try dir.write("modelarts-plugin-templates.json", """
            {"templates":[{"name":"volcano","timing":{"install":{"seconds":1.2},"upgrade":{"seconds":1.2}},
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
        usleep(1_400_000)
        #expect(try server.request("GET", "\(pluginsA)/volcano").json().string("status.phase") == "Running")
        let patched = try server.request("PATCH", "\(pluginsA)/volcano", body: #"{"spec":{"template":{"version":"2.0"}}}"#).json()
        #expect(patched.string("status.phase") == "Updating")
        _ = try server.request("POST", pluginsB, body: PluginBodies.create("volcano", version: "1.0"))
        server.signal(SIGKILL)
        _ = server.waitForExit()

        server = try ServerProcess(args)
        #expect(try server.request("GET", "\(pluginsA)/volcano").json().string("status.phase") == "Updating")
        usleep(1_400_000)
        let a = try server.request("GET", "\(pluginsA)/volcano").json()
        #expect(a.string("status.phase") == "Running")
        #expect(a.string("status.version") == "2.0")
        let b = try server.request("GET", "\(pluginsB)/volcano").json()
        #expect(b.string("status.phase") == "Running")
        #expect(b.string("status.version") == "1.0")
        #expect(try server.request("GET", pluginsB).json().at("items.1") == nil, "project B holds only its own plug-in")
    }
}
