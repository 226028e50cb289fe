import AddonMockCore
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// Golden cases for each lifecycle table, kwok-style: `Golden/<table>.json` gives a record, an operation and its
/// outcome, and the record expected while it is in flight and once it is due. A change to a table that changes
/// behaviour shows up as a failing case named in words.
@Suite struct LifecycleGoldenTests {
    static let tables: [String: LifecycleTable] = [
        "managedPackage": .managedPackage, "addonCheck": AddonCheck.lifecycle, "cluster": Clusters.lifecycle,
        "nodePool": Clusters.nodePoolLifecycle, "pool": Pools.lifecycle,
    ]
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()) ?? []

    let t0 = Instant(milliseconds: 1_795_341_600_000)

    @Test func everyTableHasGoldenCases() {
        #expect(!Self.files.isEmpty)
        let covered = Self.files.compactMap { try? document($0)["table"]?.stringValue }
        #expect(Set(covered) == Set(Self.tables.keys))
    }

    @Test(arguments: files)
    func casesHold(file: String) throws {
        let doc = try document(file)
        let name = try #require(doc["table"]?.stringValue)
        let table = try #require(Self.tables[name], "unknown table \(name)")
        let engine = LifecycleEngine(timing: Timing(profile: .fast, random: SeededRandom(seed: 1)), tables: ["svc": table])
        guard case .array(let cases)? = doc["cases"] else { Issue.record("\(file): no cases"); return }
        #expect(cases.count >= 5)
        for c in cases { try check(c, engine, label: "\(file): \(c["name"]?.stringValue ?? "?")") }
    }

    private func check(_ c: JSONValue, _ engine: LifecycleEngine, label: String) throws {
        let op = Operation(c["operation"]?.stringValue ?? "")
        let outcome: Outcome
        switch c["outcome"]?.stringValue {
        case "fail": outcome = .fail(reason: "Forced", message: "m")
        case "abnormal": outcome = .abnormal(reason: "Forced", message: "m")
        default: outcome = .succeed
        }
        let revision = c["revision"]?.stringValue.map { Revision(version: $0, values: .emptyObject) }
        let table = engine.table(for: "svc")
        var record: Resource
        do {
            if op == table?.create {
                // A case creates from a revision (packages) or a spec of its own (checks).
                let spec = c["spec"].map(JSONDocument.init) ?? .package(revision ?? Revision(version: "", values: .emptyObject))
                record = engine.create(
                    id: "i", service: "svc", scope: "s", name: "t", spec: spec, status: c["status"].map(JSONDocument.init) ?? .empty,
                    outcome: outcome, now: t0)
            } else {
                let given = try #require(c["given"], "\(label): given")
                record = Resource(
                    id: "i", service: "svc", scope: "s", name: "t",
                    spec: given["spec"].map(JSONDocument.init)
                        ?? .package(Revision(version: given["version"]?.stringValue ?? "", values: .emptyObject)),
                    status: given["status"].map(JSONDocument.init) ?? .empty,
                    phase: Phase(given["phase"]?.stringValue ?? ""), createdAt: t0, updatedAt: t0)
                record.kept = given["previous"]?.stringValue.map { Revision(version: $0, values: .emptyObject) }
                if let busy = given["inFlight"]?.stringValue.map { Operation($0) } {
                    record.pending = PendingTransition(operation: busy, dueAt: nil, outcome: .succeed)
                }
                // `input`: what the request gives the step (a scale's node count); a revision for packages.
                let input = c["input"].map { RawJSON($0) } ?? revision?.raw
                try engine.begin(op, on: &record, input: input, templateTiming: nil, outcome: outcome, now: t0)
            }
        } catch let e as LifecycleError {
            let kind: String
            switch e {
            case .busy: kind = "busy"
            case .nothingKept: kind = "nothingKept"
            case .notAllowed: kind = "notAllowed"
            case .unsupported: kind = "unsupported"
            }
            #expect(c["error"]?.stringValue == kind, "\(label): refused with \(e)")
            return
        }
        #expect(c["error"] == nil, "\(label): expected \(c["error"]?.stringValue ?? "") but it started")
        if let during = c["during"] { expect(record, during, "\(label) (during)") }
        let after = engine.settled(record, at: t0.adding(milliseconds: 3_600_000))
        if c["after"] == .string("gone") {
            #expect(after == nil, "\(label): expected gone")
        } else if let expected = c["after"] {
            guard let after else { Issue.record("\(label): gone, expected \(expected)"); return }
            #expect(after.pending == nil, "\(label): still in flight")
            expect(after, expected, "\(label) (after)")
        }
    }

    private func expect(_ r: Resource, _ e: JSONValue, _ label: String) {
        if let phase = e["phase"]?.stringValue { #expect(r.phase.rawValue == phase, "\(label): phase") }
        if let version = e["version"]?.stringValue { #expect(r.revision.version == version, "\(label): version") }
        if let target = e["targetVersion"]?.stringValue { #expect(r.spec.string("targetVersion") == target, "\(label): targetVersion") }
        if let previous = e["previous"] { #expect(r.kept?.version == previous.stringValue, "\(label): previous") }
        if let shown = e["previousVersion"] { #expect(r.shownPreviousVersion == shown.stringValue, "\(label): previousVersion") }
        if let reason = e["reason"]?.stringValue { #expect(r.reason == reason, "\(label): reason") }
        // Members of the spec and status documents, each as the case gives it.
        for (document, name) in [(r.spec, "spec"), (r.status, "status")] {
            guard case .object(let members)? = e[name] else { continue }
            for (key, value) in members { #expect(document[key]?.parsed() == value, "\(label): \(name).\(key)") }
        }
    }

    private func document(_ file: String) throws -> JSONValue {
        try JSONParser.parse(Array(try Data(contentsOf: Self.directory.appendingPathComponent(file))))
    }
}
