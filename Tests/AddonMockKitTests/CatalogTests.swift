import AddonMockCore
import Testing

@testable import AddonMockKit

#if canImport(Glibc)
import Glibc
#endif

@Suite struct CatalogTests {
    func parse(_ text: String) throws -> Catalog {
        try Catalog.parse(try JSONParser.parse(Array(text.utf8)), source: "test.json", operations: LifecycleTable.managedPackage.operations)
    }

    func catalogError(_ text: String) -> String? {
        do { _ = try parse(text); return nil } catch { return "\(error)" }
    }

    /// A shipped fixture file, read from the repository (the core has no I/O of its own).
    static func shippedCatalog(_ file: String = "cce-addon-templates.json") throws -> Catalog {
        let path = String(#filePath.split(separator: "/Tests/")[0]) + "/fixtures/" + file
        guard let f = fopen(path, "rb") else { throw CatalogError(message: "cannot open \(path)") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while case let n = buf.withUnsafeMutableBytes({ fread($0.baseAddress, 1, 65536, f) }), n > 0 { bytes += buf[0..<n] }
        return try Catalog.parse(try JSONParser.parse(bytes, maxDepth: 256), source: path, operations: LifecycleTable.managedPackage.operations)
    }

    @Test func shippedCatalogHasTheTemplatesTheIssueNames() throws {
        let c = try Self.shippedCatalog()
        for name in ["coredns", "everest", "npd", "gpu-beta", "metrics-server", "autoscaler", "nginx-ingress", "node-local-dns"] {
            let t = try #require(c.template(named: name), "\(name) missing")
            #expect(t.versions.count >= 3, "\(name) needs several versions")
            #expect(t.defaultVersion.input.isObject)
            #expect(t.timing?[.install] != nil)
            for v in t.versions {
                guard case .array(let sv) = v.supportVersions else { Issue.record("\(name) \(v.version) supportVersions"); continue }
                #expect(!sv.isEmpty)
                #expect(v.translate["en_US"]?["addon"]?["description"] != nil)
                #expect(Instant(rfc3339: v.creationTimestamp) != nil)
            }
        }
        #expect(c.template(named: "gpu-device-plugin")?.name == "gpu-beta", "alias lookup")
    }

    @Test func defaultVersionIsTheNewestStable() throws {
        let c = try parse(
            #"{"templates":[{"name":"x","versions":[{"version":"1.10.0"},{"version":"1.9.0"},{"version":"2.0.0-rc1","stable":false}]}]}"#)
        let t = try #require(c.template(named: "x"))
        #expect(t.versions.map(\.version) == ["1.9.0", "1.10.0", "2.0.0-rc1"])
        #expect(t.defaultVersion.version == "1.10.0")
        #expect(t.versions(newerThan: "1.9.0") == ["1.10.0", "2.0.0-rc1"])
    }

    /// Every version's defaults are written once at load; values over them are the merge, none are the defaults.
    @Test func storedValuesAreTheDefaultsOrTheMergeOverThem() throws {
        for version in try Self.shippedCatalog().templates.flatMap(\.versions) {
            #expect(version.values(over: .object([])) == RawJSON(version.input), "\(version.version)")
        }
        let c = try parse(#"{"templates":[{"name":"x","versions":[{"version":"1","input":{"basic":{"a":1,"b":"x"},"flavor":{"n":2}}}]}]}"#)
        let version = try #require(c.template(named: "x")?.defaultVersion)
        #expect(version.values(over: .object([])).text == #"{"basic":{"a":1,"b":"x"},"flavor":{"n":2}}"#)
        let overlay = try JSONParser.parse(Array(#"{"basic":{"b":"y","c":true},"extra":[1]}"#.utf8))
        #expect(version.values(over: overlay).text == #"{"basic":{"a":1,"b":"y","c":true},"flavor":{"n":2},"extra":[1]}"#)
    }

    @Test func parsesTiming() throws {
        let c = try parse(#"{"templates":[{"name":"x","timing":{"install":{"seconds":2.5,"jitterSeconds":1}},"versions":[{"version":"1"}]}]}"#)
        #expect(c.template(named: "x")?.timing?[.install] == StepDuration(baseMs: 2_500, jitterMs: 1_000))
    }

    @Test(arguments: [
        (#"{"nope":[]}"#, "expected an object with a \"templates\" array"),
        (#"{"templates":[{"versions":[{"version":"1"}]}]}"#, "missing \"name\""),
        (#"{"templates":[{"name":"x","versions":[]}]}"#, "\"versions\" must be a non-empty array"),
        (#"{"templates":[{"name":"x","versions":[{"version":1}]}]}"#, "\"version\" must be a string, got number"),
        (#"{"templates":[{"name":"x","versions":[{"version":"1","input":[]}]}]}"#, "\"input\" must be an object"),
        (#"{"templates":[{"name":"x","versions":[{"version":"1"},{"version":"1"}]}]}"#, "version 1 is listed twice"),
        (#"{"templates":[{"name":"x","versions":[{"version":"1"}]},{"name":"x","versions":[{"version":"1"}]}]}"#, "template \"x\" is defined twice"),
        (#"{"templates":[{"name":"x","timing":{"explode":{"seconds":1}},"versions":[{"version":"1"}]}]}"#, "unknown operation \"explode\""),
        (#"{"templates":[{"name":"x","timing":{"install":{"seconds":-1}},"versions":[{"version":"1"}]}]}"#, "durations must not be negative"),
    ])
    func rejectsBrokenFixturesNamingTheProblem(text: String, expected: String) {
        let message = catalogError(text)
        #expect(message?.contains(expected) == true, "got \(message ?? "no error")")
        #expect(message?.hasPrefix("test.json") == true)
    }

    @Test(arguments: [("1.9.0", "1.10.0"), ("v1.2", "1.3"), ("1.0.0-beta", "1.0.0"), ("1.0", "1.0.1"), ("2.0.0-rc1", "2.0.0-rc2")])
    func ordersVersions(lower: String, higher: String) {
        #expect(VersionOrder.isLess(lower, higher))
        #expect(!VersionOrder.isLess(higher, lower))
    }
}

@Suite struct PluginCatalogTests {
    @Test func parsesWorkloadsAnnotationsAndVersionText() throws {
        let c = try Catalog.parse(
            try JSONParser.parse(
                Array(
                    """
                    {"templates":[{"name":"p","annotations":{"k":"v"},"versions":[{"version":"1","description":"d","detail":"dd",
                      "workloads":[{"kind":"DaemonSet","name":"w","replicas":3,"limits":{"cpu":"1"}}]}]}]}
                    """.utf8)), source: "t", operations: LifecycleTable.managedPackage.operations)
        let t = try #require(c.template(named: "p"))
        #expect(t.annotations == .object([("k", .string("v"))]))
        let v = t.versions[0]
        #expect(v.description == "d" && v.detail == "dd")
        #expect(
            v.workloads == [
                Workload(
                    kind: "DaemonSet", apiVersion: "apps/v1", namespace: "kube-system", name: "w",
                    replicas: 3, limits: .object([("cpu", .string("1"))]), requests: .object([]))
            ])
    }

    @Test(arguments: [
        (#"{"templates":[{"name":"p","versions":[{"version":"1","workloads":{}}]}]}"#, "workloads: must be an array"),
        (#"{"templates":[{"name":"p","versions":[{"version":"1","workloads":[{"name":"w"}]}]}]}"#, "missing \"kind\""),
        (
            #"{"templates":[{"name":"p","versions":[{"version":"1","workloads":[{"kind":"D","name":"w","replicas":1.5}]}]}]}"#,
            "\"replicas\" must be a whole number"
        ),
        (
            #"{"templates":[{"name":"p","versions":[{"version":"1","workloads":[{"kind":"D","name":"w","limits":{"cpu":1}}]}]}]}"#,
            "\"limits\" must be an object of strings"
        ),
        (#"{"templates":[{"name":"p","annotations":[],"versions":[{"version":"1"}]}]}"#, "\"annotations\" must be an object of strings"),
    ])
    func rejectsBrokenPluginFixtures(text: String, expected: String) {
        do {
            _ = try Catalog.parse(try JSONParser.parse(Array(text.utf8)), source: "t", operations: LifecycleTable.managedPackage.operations)
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)".contains(expected), "got \(error)")
        }
    }

    @Test func shippedPluginCatalog() throws {
        let c = try CatalogTests.shippedCatalog("modelarts-plugin-templates.json")
        for name in ["gpu-driver", "npu-driver", "log-agent", "node-local-dns", "volcano"] {
            let t = try #require(c.template(named: name), "\(name) missing")
            #expect(t.versions.count >= 3)
            #expect(t.versions.allSatisfy { !$0.workloads.isEmpty && $0.input.isObject })
        }
        // The seed page's example: node-local-dns 1.6.36 with the HA flavor.
        #expect(c.template(named: "node-local-dns")?.version("1.6.36")?.input["flavor"]?["name"] == .string("HA"))
    }
}
