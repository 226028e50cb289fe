import AddonMockCore

/// A template version together with the values it runs with: what a package-shaped kind (a CCE add-on, a ModelArts
/// plug-in) is installed as, and what an upgrade keeps for a rollback.
public struct Revision: Sendable, Equatable {
    public var version: String
    public var values: RawJSON

    public init(version: String, values: RawJSON) {
        self.version = version
        self.values = values
    }

    /// `{"version":…,"values":…}`.
    public var raw: RawJSON { JSONDocument([("version", .string(version)), ("values", values)]).rawJSON }

    /// From `{"version":…,"values":…}`; nil when it is not one.
    public init?(raw: RawJSON?) {
        guard let raw else { return nil }
        let d = JSONDocument(trusted: raw.bytes)
        guard let version = d.string("version") else { return nil }
        self.init(version: version, values: d["values"] ?? .emptyObject)
    }
}

/// The spec document of a package-shaped resource, member by member:
///
///     {"version": "1.28.4", "values": {…}, "annotations": {…}, "previous": {"version", "values"}, "previousVersion": "…"}
///
/// `annotations` (CCE's metadata.annotations) only when given; `previous` only while a rollback could restore it;
/// `previousVersion`, the version before the last upgrade or rollback, outlives it.
extension Resource {
    public var revision: Revision {
        get { Revision(version: spec.string("version") ?? "", values: spec["values"] ?? .emptyObject) }
        set {
            spec["version"] = .string(newValue.version)
            spec["values"] = newValue.values
        }
    }

    /// What a rollback would restore; its presence is what makes the resource rollbackable.
    public var kept: Revision? {
        get { Revision(raw: spec["previous"]) }
        set { spec["previous"] = newValue?.raw }
    }

    public var isRollbackable: Bool { spec["previous"] != nil }

    public var previousVersion: String? {
        get { spec.string("previousVersion") }
        set { spec["previousVersion"] = newValue.map(RawJSON.string) }
    }

    /// `previousVersion`, or for records stored before it was kept, the kept revision's.
    public var shownPreviousVersion: String? { previousVersion ?? kept?.version }

    /// Free-form metadata the client sent (CCE: metadata.annotations); empty when none.
    public var annotations: RawJSON {
        get { spec["annotations"] ?? .emptyObject }
        set { spec["annotations"] = newValue == .emptyObject ? nil : newValue }
    }
}

extension JSONDocument {
    /// A package's spec: its revision, and annotations when there are any.
    public static func package(_ revision: Revision, annotations: RawJSON = .emptyObject) -> JSONDocument {
        var d = JSONDocument([("version", .string(revision.version)), ("values", revision.values)])
        if annotations != .emptyObject { d["annotations"] = annotations }
        return d
    }
}

/// The phases of a managed package (CCE add-on, ModelArts plug-in), named as CCE names add-on statuses: what
/// is stored. ModelArts shows them in its own five words (`ModelArtsWire.status`).
extension Phase {
    public static let installing: Phase = "installing", upgrading: Phase = "upgrading", rollbacking: Phase = "rollbacking"
    public static let deleting: Phase = "deleting", running: Phase = "running", available: Phase = "available"
    public static let abnormal: Phase = "abnormal", unknown: Phase = "unknown", installFailed: Phase = "installFailed"
    public static let upgradeFailed: Phase = "upgradeFailed", rollbackFailed: Phase = "rollbackFailed", deleteFailed: Phase = "deleteFailed"
}

extension Operation {
    public static let install: Operation = "install", upgrade: Operation = "upgrade", rollback: Operation = "rollback"
    public static let delete: Operation = "delete"
}

extension LifecycleTable {
    /// Install, upgrade (keeping the replaced revision for a rollback), rollback and delete, each in flight in its
    /// own phase and failing into its own:
    ///
    ///     installing  -> running | installFailed
    ///     upgrading   -> running | upgradeFailed   (the new revision at once; the old one kept)
    ///     rollbacking -> running | rollbackFailed  (running restores the kept revision)
    ///     deleting    -> gone    | deleteFailed
    ///
    /// and any of them into `abnormal` when its outcome says the result is unhealthy. Seconds under `realistic`
    /// (6, 5, 4 and 3, with jitter), 150 / 120 / 100 / 80 ms under `fast`.
    public static let managedPackage = LifecycleTable(
        steps: [
            .install: Step(
                inFlight: .installing, succeeded: .running, failed: .installFailed, duration: StepDuration(baseMs: 6_000, jitterMs: 2_000),
                fastMs: 150),
            .upgrade: Step(
                inFlight: .upgrading, succeeded: .running, failed: .upgradeFailed, duration: StepDuration(baseMs: 5_000, jitterMs: 2_000),
                fastMs: 120, effect: .replaceRevision),
            .rollback: Step(
                inFlight: .rollbacking, succeeded: .running, failed: .rollbackFailed,
                startsFrom: [.running, .available, .abnormal, .upgradeFailed, .rollbackFailed],
                duration: StepDuration(baseMs: 4_000, jitterMs: 1_500), fastMs: 100, effect: .restoreKept),
            .delete: Step(
                inFlight: .deleting, succeeded: nil, failed: .deleteFailed, duration: StepDuration(baseMs: 3_000, jitterMs: 1_000), fastMs: 80),
        ],
        degraded: .abnormal,
        settled: [.running, .available, .abnormal, .unknown, .installFailed, .upgradeFailed, .rollbackFailed, .deleteFailed],
        healthy: [.running, .available])
}

extension LifecycleTable.Effect {
    /// The request's revision (the step's input) becomes current when the step begins; the replaced one is kept for
    /// a rollback and named as the previous version.
    public static let replaceRevision = LifecycleTable.Effect(begin: { resource, input in
        guard let new = Revision(raw: input) else { preconditionFailure("an upgrade needs the new revision as its input") }
        resource.kept = resource.revision
        resource.previousVersion = resource.revision.version
        resource.revision = new
        return nil
    })

    /// Needs a kept revision; on success it becomes current again and is no longer kept, and the version it
    /// replaced is named as the previous version.
    public static let restoreKept = LifecycleTable.Effect(
        begin: { resource, _ throws(LifecycleError) in
            guard let kept = resource.kept else {
                throw .nothingKept(id: resource.id, operation: .rollback, what: "no previous version to roll back to (isRollbackable is false)")
            }
            return kept.raw
        },
        succeed: { resource, target in
            if let restored = Revision(raw: target) {
                resource.previousVersion = resource.revision.version
                resource.revision = restored
            }
            resource.kept = nil
        })
}
