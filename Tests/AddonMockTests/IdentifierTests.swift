import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

@Suite struct IdentifierTests {
    @Test func uuidsAreVersion7WithTheTimeFirst() {
        let id = Identifiers.uuid(unixMilliseconds: 0x0193_4E5F_0A2B)
        #expect(CCEService.isUUID(Substring(id)))
        #expect(id.hasPrefix("01934e5f-0a2b-7"), "48-bit big-endian milliseconds, then version 7: \(id)")
        let variant = id[id.index(id.startIndex, offsetBy: 19)]
        #expect("89ab".contains(variant), "RFC 9562 variant: \(id)")
    }

    @Test func uuidsAreUniqueAndSortByTime() {
        let early = (0..<2_000).map { _ in Identifiers.uuid(unixMilliseconds: 1_795_341_600_000) }
        let later = Identifiers.uuid(unixMilliseconds: 1_795_341_600_001)
        #expect(Set(early).count == early.count)
        #expect(early.allSatisfy { $0 < later })
    }

    @Test func requestIDsAre32HexDigitsAndUnique() {
        let ids = (0..<2_000).map { _ in Identifiers.requestID() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
    }
}

/// Every identifier position refuses what no real id holds (NUL, control characters, spaces, slashes, non-ASCII)
/// with a 400 in the service's format naming the field, and nothing aliases: "victim\0other" is never "victim".
@Suite struct IdentifierValidationTests {
    let server: TestServer
    let victim: String

    init() throws {
        server = try TestServer(profile: .instant)
        let installed = try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: "victim"))
        victim = try #require(try installed.json().string("metadata.uid"))
        #expect(try server.request("POST", "/v2/proj1/pools/pool1/plugins", body: PluginBodies.create("gpu-driver")).status == 200)
    }

    func expectRefused(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: String? = nil,
        code: String, naming field: String
    ) throws {
        let r = try server.request(method, target, headers: headers, body: body)
        #expect(r.status == 400, "\(method) \(target): \(r.text)")
        let json = try r.json()
        #expect(json.string("error_code") == code, "\(method) \(target)")
        #expect(
            json.string("error_msg")?.contains("\(field) ") == true
                && json.string("error_msg")?.contains("is not a valid identifier: use 1 to 64 characters from A-Z a-z 0-9 - _ .") == true,
            "\(method) \(target): \(json.string("error_msg") ?? "")")
    }

    @Test(arguments: ["victim%00other", "victim%01", "vic%20tim", "victim%2Fx", "vi%C3%A9", String(repeating: "a", count: 65)])
    func cceClusterInTheQuery(cluster: String) throws {
        try expectRefused("GET", "/api/v3/addons?cluster_id=\(cluster)", code: "CCE.03400001", naming: "cluster_id")
        try expectRefused("GET", "/api/v3/addons/\(victim)?cluster_id=\(cluster)", code: "CCE.03400001", naming: "cluster_id")
        try expectRefused("DELETE", "/api/v3/addons/\(victim)?cluster_id=\(cluster)", code: "CCE.03400001", naming: "cluster_id")
    }

    @Test func cceIdsInThePathHeaderAndBody() throws {
        try expectRefused("GET", "/api/v3/addons/\(victim)%00junk", code: "CCE.03400001", naming: "path parameter id")
        try expectRefused("GET", "/autopilot/v3/addons/\(victim)%0A", code: "CCE.03400001", naming: "path parameter id")
        try expectRefused("GET", "/api/v3/addons", headers: [("X-Cluster-ID", "vic tim")], code: "CCE.03400001", naming: "X-Cluster-ID")
        try expectRefused(
            "POST", "/api/v3/addons", body: Bodies.install(cluster: #"victim\u0000other"#), code: "CCE.03400001", naming: "spec.clusterID")
        try expectRefused(
            "POST", "/api/v3/addons", body: Bodies.install(template: #"core\u0000dns"#), code: "CCE.03400001", naming: "spec.addonTemplateName")
        try expectRefused(
            "PUT", "/api/v3/addons/\(victim)", body: Bodies.upgrade(cluster: #"victim\u0000"#, version: "1.30.6"), code: "CCE.03400001",
            naming: "spec.clusterID")
        try expectRefused(
            "POST", "/api/v3/addons/\(victim)/operation/rollback", body: Bodies.rollback(cluster: #"victim\u001f"#), code: "CCE.03400001",
            naming: "clusterID")
        // The victim's add-on is untouched, and no install landed in a lookalike cluster.
        #expect(try server.get("/api/v3/addons?cluster_id=victim").json().at("items.1") == nil)
        #expect(try server.get("/api/v3/addons/\(victim)").json().string("status.status") == "running")
        #expect(try server.control("GET", "/_mock/resources/addons").json().at("items.1") == nil)
    }

    @Test func modelArtsIdsInThePathAndBody() throws {
        try expectRefused("GET", "/v2/proj1%00x/pools/pool1/plugins", code: "ModelArts.50004000", naming: "path parameter project_id")
        try expectRefused("GET", "/v2/proj1/pools/pool1%00x/plugins", code: "ModelArts.50004000", naming: "path parameter pool_name")
        try expectRefused("GET", "/v2/proj1/pools/pool1/plugins/gpu-driver%00x", code: "ModelArts.50004000", naming: "path parameter")
        try expectRefused(
            "POST", "/v2/proj1/pools/pool1/plugins", body: PluginBodies.create(#"gpu-driver\u0000"#),
            code: "ModelArts.50004000", naming: "spec.template.name")
        #expect(try server.get("/v2/proj1/pools/pool1/plugins").json().at("items.1") == nil)
    }

    @Test func validIdentifiersStillWork() throws {
        for id in ["c1", "0123456789abcdef0123456789abcdef", "a.b_c-D", String(repeating: "x", count: 64)] {
            #expect(IdentifierRule.isValid(id), "\(id)")
        }
        #expect(!IdentifierRule.isValid("") && !IdentifierRule.isValid(String(repeating: "x", count: 65)))
        // Every byte, alone and inside an otherwise valid id, against the rule as written: A-Z a-z 0-9 - _ .
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.".utf8)
        for byte in UInt8.min...UInt8.max {
            let alone = String(decoding: [byte], as: UTF8.self)
            let inside = String(decoding: Array("ab".utf8) + [byte] + Array("cd".utf8), as: UTF8.self)
            #expect(IdentifierRule.isValid(alone) == allowed.contains(byte), "byte \(byte)")
            #expect(IdentifierRule.isValid(inside) == allowed.contains(byte), "byte \(byte) inside")
        }
        #expect(!IdentifierRule.isValid("caf\u{E9}") && !IdentifierRule.isValid("a\u{0}b"))
        #expect(try server.get("/api/v3/addons?cluster_id=victim").status == 200)
        #expect(try server.get("/api/v3/addons?cluster_id=" + String(repeating: "x", count: 64)).status == 200)
    }
}

@Suite struct DerivedUUIDTests {
    /// RFC 4122 version 5: SHA-1 of the namespace and the name, version and variant bits set.
    @Test func isAVersion5UUIDStableForItsName() {
        let a = Identifiers.derivedUUID("plugin-1/DaemonSet/nvidia-driver-installer")
        #expect(a == Identifiers.derivedUUID("plugin-1/DaemonSet/nvidia-driver-installer"))
        #expect(a != Identifiers.derivedUUID("plugin-2/DaemonSet/nvidia-driver-installer"))
        #expect(CCEService.isUUID(Substring(a)))
        let chars = Array(a)
        #expect(chars[14] == "5", "version 5")
        #expect("89ab".contains(chars[19]), "RFC 4122 variant")
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "addonmock:x")
        #expect(Identifiers.derivedUUID("x") == "eba89132-1ecd-5a1f-952b-a07de0804b36")
    }
}
