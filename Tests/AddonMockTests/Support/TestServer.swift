import AddonMockCore
import AddonMockTestSupport
import Logging

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// An in-process server on an ephemeral port with a pinned clock: tests move time by hand.
final class TestServer {
    let app: Application
    let clock: VirtualClock
    var port: UInt16 { app.port }

    static let t0 = Instant(milliseconds: 1_795_341_600_000) // 2026-11-22T10:00:00Z

    convenience init(profile: Profile = .fast, database: String = ":memory:", fixtures: String? = nil) throws {
        try self.init(
            configuration: Configuration(
                host: "127.0.0.1", port: 0, database: database, profile: profile, fixtures: fixtures,
                seed: 1, logLevel: "critical", seedWasRandom: false))
    }

    init(configuration: Configuration) throws {
        clock = VirtualClock(pinnedAt: Self.t0)
        app = try Application(
            configuration: configuration, clock: clock,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    deinit { app.stop() }

    /// Moves the clock and writes what fell due, as `POST /_mock/clock` does.
    func advance(ms: Int64) {
        clock.advance(milliseconds: ms)
        _ = try? app.manager.sweep()
    }

    /// One request on a fresh connection.
    func request(_ method: String, _ target: String, headers: [(String, String)] = [], body: String? = nil) throws -> HTTPResult {
        try RawHTTPConnection(port: port).send(method, target, headers: headers, body: body.map { Array($0.utf8) }, close: true)
    }

    func get(_ target: String, headers: [(String, String)] = []) throws -> HTTPResult { try request("GET", target, headers: headers) }
}

/// Request bodies as the SDK builds them.
enum Bodies {
    static func install(cluster: String = "c1", template: String = "coredns", version: String? = nil, values: String = "{}") -> String {
        let v = version.map { #""version": "\#($0)", "# } ?? ""
        return
            #"{"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.install/type": "install"}}, "spec": {\#(v)"clusterID": "\#(cluster)", "values": \#(values), "addonTemplateName": "\#(template)"}}"#
    }

    static func upgrade(cluster: String = "c1", template: String = "coredns", version: String, values: String = "{}") -> String {
        #"{"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.upgrade/type": "upgrade"}}, "spec": {"version": "\#(version)", "clusterID": "\#(cluster)", "values": \#(values), "addonTemplateName": "\#(template)"}}"#
    }

    static func rollback(cluster: String = "c1") -> String { #"{"clusterID": "\#(cluster)"}"# }
}

extension JSONValue {
    /// `v["a.b.c"]`-style access for assertions.
    func at(_ path: String) -> JSONValue? {
        var v: JSONValue? = self
        for key in path.split(separator: ".") {
            if let i = Int(key), case .array(let items)? = v { v = i < items.count ? items[i] : nil } else { v = v?[String(key)] }
        }
        return v
    }

    func string(_ path: String) -> String? { at(path)?.stringValue }

    /// A number's literal text.
    var numberText: String? {
        if case .number(let n) = self { return n }
        return nil
    }
}

extension JSONValue {
    /// An array's items; nothing for anything else.
    var arrayValues: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }
}
