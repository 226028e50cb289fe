import AddonMockCore

/// The phases of a managed package (CCE add-on, ModelArts plug-in), named as CCE names add-on statuses: what
/// is stored. ModelArts shows them in its own five words (`ModelArtsWire.status`).
extension Phase {
    public static let installing: Phase = "installing", upgrading: Phase = "upgrading", rollbacking: Phase = "rollbacking"
    public static let deleting: Phase = "deleting", running: Phase = "running", available: Phase = "available"
    public static let abnormal: Phase = "abnormal", unknown: Phase = "unknown", installFailed: Phase = "installFailed"
    public static let upgradeFailed: Phase = "upgradeFailed", rollbackFailed: Phase = "rollbackFailed", deleteFailed: Phase = "deleteFailed"
}

extension LifecycleTable {
    /// Install, upgrade (keeping the replaced version for a rollback), rollback and delete, each in flight in its
    /// own phase and failing into its own:
    ///
    ///     installing  -> running | installFailed
    ///     upgrading   -> running | upgradeFailed
    ///     rollbacking -> running | rollbackFailed   (running restores the kept revision)
    ///     deleting    -> gone    | deleteFailed
    ///
    /// and any of them into `abnormal` when its outcome says the result is unhealthy.
    public static let managedPackage = LifecycleTable(
        steps: [
            .install: Step(inFlight: .installing, succeeded: .running, failed: .installFailed),
            .upgrade: Step(inFlight: .upgrading, succeeded: .running, failed: .upgradeFailed, effect: .replaceRevision),
            .rollback: Step(
                inFlight: .rollbacking, succeeded: .running, failed: .rollbackFailed,
                startsFrom: [.running, .available, .abnormal, .upgradeFailed, .rollbackFailed], effect: .restoreKept),
            .delete: Step(inFlight: .deleting, succeeded: nil, failed: .deleteFailed),
        ],
        degraded: .abnormal,
        settled: [.running, .available, .abnormal, .unknown, .installFailed, .upgradeFailed, .rollbackFailed, .deleteFailed],
        healthy: [.running, .available])
}
