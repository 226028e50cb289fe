import AddonMockCore
import AddonMockKit
import Foundation

/// Golden cases for lifecycle tables, kwok-style: each `<table>.json` in a service's `Golden/` folder gives a record,
/// an operation and its outcome, and the record expected while it is in flight and once it is due. A change to a
/// table that changes behaviour shows up as a failing case named in words. Each service's test target runs its
/// own tables' files through `failures(in:tables:)`.
public enum LifecycleGolden {
    static let t0 = Instant(milliseconds: 1_795_341_600_000)

    /// Every way the golden cases in the `Golden/` folder beside `testFile` (a test's `#filePath`) disagree with
    /// `tables`, including a table with no file and a file naming no table of these; empty: all hold.
    public static func failures(besides testFile: String, tables: [String: LifecycleTable]) throws -> [String] {
        let directory = URL(fileURLWithPath: testFile).deletingLastPathComponent().appendingPathComponent("Golden")
        let covered = try tablesCovered(in: directory)
        var failures = tables.keys.sorted().filter { !covered.contains($0) }.map { "table \($0) has no golden cases in \(directory.path)" }
        for file in files(in: directory) { failures += try self.failures(in: directory.appendingPathComponent(file), tables: tables) }
        return failures
    }

    /// The `.json` files of `directory`, sorted.
    public static func files(in directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    /// The `table` each file names.
    public static func tablesCovered(in directory: URL) throws -> [String] {
        try files(in: directory).compactMap { try document(directory.appendingPathComponent($0))["table"]?.stringValue }
    }

    /// Every way `file`'s cases disagree with its table (from `tables`, by the name the file gives); empty: all hold.
    public static func failures(in file: URL, tables: [String: LifecycleTable], minimumCases: Int = 5) throws -> [String] {
        let doc = try document(file)
        let label = file.lastPathComponent
        guard let name = doc["table"]?.stringValue else { return ["\(label): no table named"] }
        guard let table = tables[name] else { return ["\(label): unknown table \(name)"] }
        let engine = LifecycleEngine(timing: Timing(profile: .fast, random: SeededRandom(seed: 1)), tables: ["svc": table])
        guard case .array(let cases)? = doc["cases"] else { return ["\(label): no cases"] }
        var failures = cases.count >= minimumCases ? [] : ["\(label): \(cases.count) cases, at least \(minimumCases) expected"]
        for c in cases { check(c, engine, label: "\(label): \(c["name"]?.stringValue ?? "?")", into: &failures) }
        return failures
    }

    private static func check(_ c: JSONValue, _ engine: LifecycleEngine, label: String, into failures: inout [String]) {
        func expect(_ holds: Bool, _ what: @autoclosure () -> String) { if !holds { failures.append(what()) } }
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
                guard let given = c["given"] else { return expect(false, "\(label): no given record") }
                record = Resource(
                    id: "i", service: "svc", scope: "s", name: "t",
                    spec: given["spec"].map(JSONDocument.init)
                        ?? .package(Revision(version: given["version"]?.stringValue ?? "", values: .emptyObject)),
                    status: given["status"].map(JSONDocument.init) ?? .empty,
                    phase: Phase(given["phase"]?.stringValue ?? ""), createdAt: t0, updatedAt: t0)
                record.kept = given["previous"]?.stringValue.map { Revision(version: $0, values: .emptyObject) }
                if let busy = given["inFlight"]?.stringValue.map({ Operation($0) }) {
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
            return expect(c["error"]?.stringValue == kind, "\(label): refused with \(e)")
        } catch {
            return expect(false, "\(label): \(error)")
        }
        expect(c["error"] == nil, "\(label): expected \(c["error"]?.stringValue ?? "") but it started")
        if let during = c["during"] { compare(record, during, "\(label) (during)", into: &failures) }
        let after = engine.settled(record, at: t0.adding(milliseconds: 3_600_000))
        if c["after"] == .string("gone") {
            expect(after == nil, "\(label): expected gone")
        } else if let expected = c["after"] {
            guard let after else { return expect(false, "\(label): gone, expected \(expected)") }
            expect(after.pending == nil, "\(label): still in flight")
            compare(after, expected, "\(label) (after)", into: &failures)
        }
    }

    private static func compare(_ r: Resource, _ e: JSONValue, _ label: String, into failures: inout [String]) {
        func expect(_ holds: Bool, _ what: String) { if !holds { failures.append("\(label): \(what)") } }
        if let phase = e["phase"]?.stringValue { expect(r.phase.rawValue == phase, "phase \(r.phase.rawValue), expected \(phase)") }
        if let version = e["version"]?.stringValue { expect(r.revision.version == version, "version \(r.revision.version)") }
        if let target = e["targetVersion"]?.stringValue { expect(r.spec.string("targetVersion") == target, "targetVersion") }
        if let previous = e["previous"] { expect(r.kept?.version == previous.stringValue, "previous \(r.kept?.version ?? "none")") }
        if let shown = e["previousVersion"] { expect(r.shownPreviousVersion == shown.stringValue, "previousVersion") }
        if let reason = e["reason"]?.stringValue { expect(r.reason == reason, "reason \(r.reason ?? "none")") }
        // Members of the spec and status documents, each as the case gives it.
        for (document, name) in [(r.spec, "spec"), (r.status, "status")] {
            guard case .object(let members)? = e[name] else { continue }
            for (key, value) in members { expect(document[key]?.parsed() == value, "\(name).\(key)") }
        }
    }

    private static func document(_ url: URL) throws -> JSONValue {
        try JSONParser.parse(Array(try Data(contentsOf: url)))
    }
}
