import AddonMockCore
import AddonMockKit

/// CCE clusters, their node pools and the jobs their operations run as: three kinds over the kit, each a lifecycle
/// table. Phases are stored as CCE shows them (`Available`, `Hibernation`), except a node pool's ready phase, which
/// CCE shows as an empty `status.phase` and is stored as `Active`.
enum Clusters {
    static let service = "cluster"
    /// Autopilot clusters (`/autopilot/v3/projects/{project_id}/clusters`): the same kind under its own name, the
    /// parents of Autopilot add-ons.
    static let autopilotService = "autopilotcluster"

    /// The cluster service of an add-on service (`cce`, `autopilot`).
    static func clusterService(ofAddons service: String) -> String { service == "autopilot" ? autopilotService : Self.service }
    static let nodePoolService = "nodepool"
    static let jobService = "job"

    static let creating: Phase = "Creating", available: Phase = "Available", deleting: Phase = "Deleting"
    static let hibernating: Phase = "Hibernating", hibernation: Phase = "Hibernation", awaking: Phase = "Awaking"
    static let error: Phase = "Error", unavailable: Phase = "Unavailable"

    static let create: Operation = "create", delete: Operation = "delete"
    static let hibernate: Operation = "hibernate", awake: Operation = "awake"

    /// Creating -> Available | Error; Available -> Hibernating -> Hibernation; Hibernation -> Awaking -> Available;
    /// Deleting -> gone. Unhealthy: Unavailable. Realistic durations are minutes in the real service; here seconds.
    static let lifecycle = LifecycleTable(
        steps: [
            create: .init(inFlight: creating, succeeded: available, failed: error, duration: StepDuration(baseMs: 8_000, jitterMs: 2_000)),
            hibernate: .init(inFlight: hibernating, succeeded: hibernation, failed: error, startsFrom: [available]),
            awake: .init(inFlight: awaking, succeeded: available, failed: error, startsFrom: [hibernation]),
            delete: .init(inFlight: deleting, succeeded: nil, failed: error),
        ],
        degraded: unavailable, settled: [available, hibernation, unavailable, error], healthy: [available, hibernation])

    static let synchronizing: Phase = "Synchronizing", active: Phase = "Active", soldOut: Phase = "SoldOut"
    static let scale: Operation = "scale"

    /// A node pool: Synchronizing (create, scale) -> Active (shown as "") | Error; Deleting -> gone. A scale's target
    /// is the node count: the spec (what is asked) says it at once, `status.currentNode` once it is reached.
    static let nodePoolLifecycle = LifecycleTable(
        steps: [
            create: .init(
                inFlight: synchronizing, succeeded: active, failed: error,
                effect: .init(succeed: { pool, _ in pool.status["currentNode"] = pool.spec["initialNodeCount"] ?? RawJSON(trusted: Array("0".utf8)) })
            ),
            scale: .init(
                inFlight: synchronizing, succeeded: active, failed: error, startsFrom: [active, error],
                effect: .init(
                    begin: { pool, count in
                        if let count { pool.spec["initialNodeCount"] = count }
                        return count
                    },
                    succeed: { pool, count in
                        if let count { pool.status["currentNode"] = count }
                    })),
            delete: .init(inFlight: deleting, succeeded: nil, failed: error),
        ],
        degraded: soldOut, settled: [active, error, soldOut], healthy: [active])

    static let initializing: Phase = "Initializing", running: Phase = "Running", success: Phase = "Success", failed: Phase = "Failed"

    /// A job mirrors the operation it was started for: it is stored `Running` and read from its subject while that
    /// operation is the subject's latest (`ClusterJobs.phase`); it is written `Success` or `Failed` when the
    /// subject's next operation starts. Its one step is there for the control plane's force and fault vocabulary.
    static let jobLifecycle = LifecycleTable(
        steps: ["run": .init(inFlight: running, succeeded: success, failed: failed)],
        degraded: failed, settled: [success, failed], healthy: [success])

    /// Seed and import entries: `spec` (checked, and completed as a create completes it) and `detail`.
    static let clusterEntries = EntryFormat(
        fields: ["spec", "detail"],
        read: { entry, _, _ throws(APIError) in
            let spec = try entry.optionalObject("spec") ?? BodyReader(.object([]), path: entry.path + ".spec")
            return EntryFormat.Read(
                spec: JSONDocument(try ClusterRequest.completed(spec)),
                status: JSONDocument(try entry.optionalObject("detail")?.value ?? .object([])))
        },
        write: EntryFormat.documents.write)

    /// Seed and import entries: `spec` (its `initialNodeCount` is the pool's size) and `detail`.
    static let nodePoolEntries = EntryFormat(
        fields: ["spec", "detail"],
        read: { entry, _, _ throws(APIError) in
            let spec = try entry.optionalObject("spec") ?? BodyReader(.object([]), path: entry.path + ".spec")
            let completed = JSONDocument(try NodePoolRequest.completed(spec))
            var status = JSONDocument(try entry.optionalObject("detail")?.value ?? .object([]))
            if status["currentNode"] == nil { status["currentNode"] = completed["initialNodeCount"] }
            return EntryFormat.Read(spec: completed, status: status)
        },
        write: EntryFormat.documents.write)

    static let clusterKind = ResourceKind(
        name: "clusters", services: [service, autopilotService], scopeFields: ["project"], lifecycle: lifecycle,
        shown: [.spec("version"), .spec("flavor")], entries: clusterEntries, title: "Clusters",
        deletePaths: [
            service: "/api/v3/projects/{project}/clusters/{id}", autopilotService: "/autopilot/v3/projects/{project}/clusters/{id}",
        ])

    static let nodePoolKind = ResourceKind(
        name: "nodepools", services: [nodePoolService], scopeFields: ["cluster"], lifecycle: nodePoolLifecycle,
        status: { $0 == active ? "" : $0.rawValue }, shown: [.spec("initialNodeCount")], entries: nodePoolEntries,
        parent: ParentLink(kind: "clusters"), title: "Node pools",
        showPaths: [nodePoolService: "/api/v3/projects/{project}/clusters/{cluster}/nodepools/{id}"])

    /// Derived from the operations they report on: neither seeded nor exported.
    static let jobKind = ResourceKind(
        name: "jobs", services: [jobService], scopeFields: ["project"], lifecycle: jobLifecycle,
        shown: [.spec("type"), .spec("resourceID")], entries: nil, title: "Jobs",
        showPaths: [jobService: "/api/v3/projects/{project}/jobs/{id}"])
}

/// The cluster versions and flavors clusters may be created with: the Kubernetes versions the add-on catalog's
/// `supportVersions` patterns name (v1.25 to v1.31), and CCE's standard and Turbo master flavors.
enum ClusterCatalog {
    static let versions = ["v1.25", "v1.27", "v1.28", "v1.29", "v1.30", "v1.31"]
    static let defaultVersion = "v1.31"
    static let flavors = [
        "cce.s1.small", "cce.s1.medium", "cce.s2.small", "cce.s2.medium", "cce.s2.large", "cce.s2.xlarge",
        "cce.t1.small", "cce.t1.medium", "cce.t2.small", "cce.t2.medium", "cce.t2.large",
    ]
    static let types = ["VirtualMachine", "ARM64"]
    /// The one flavor of an Autopilot cluster (the service sizes it).
    static let autopilotFlavor = "cce.autopilot.cluster"
    static let containerNetworkModes = ["overlay_l2", "vpc-router", "eni"]

    /// Whether a template version's `supportVersions` lists `clusterVersion` for `clusterType`: its entries give
    /// patterns such as `v1.2[5-9].*` (a character class and a trailing wildcard, the only forms the catalog uses).
    static func supports(_ supportVersions: JSONValue, clusterType: String, clusterVersion: String) -> Bool {
        guard case .array(let entries) = supportVersions else { return false }
        for entry in entries where entry["clusterType"]?.stringValue == clusterType {
            guard case .array(let patterns)? = entry["clusterVersion"] else { continue }
            // "v1.29" is matched as "v1.29.0", as the real version strings (v1.29.3-r0) are.
            let full = clusterVersion.split(separator: ".").count == 2 ? clusterVersion + ".0" : clusterVersion
            if patterns.contains(where: { $0.stringValue.map { matches(pattern: Array($0.utf8), Array(full.utf8)) } ?? false }) {
                return true
            }
        }
        return false
    }

    /// A small glob over bytes: literal bytes (`.` literal), `[a-b]` ranges, and `.*` (anything) or `*`.
    static func matches(pattern p: [UInt8], _ s: [UInt8]) -> Bool {
        var i = 0
        var j = 0
        while i < p.count {
            if p[i] == UInt8(ascii: "."), i + 1 < p.count, p[i + 1] == UInt8(ascii: "*") { return true }
            if p[i] == UInt8(ascii: "*") { return true }
            guard j < s.count else { return false }
            if p[i] == UInt8(ascii: "[") {
                guard let close = p[i...].firstIndex(of: UInt8(ascii: "]")) else { return false }
                let set = Array(p[(i + 1)..<close])
                var ok = false
                var k = 0
                while k < set.count {
                    if k + 2 < set.count, set[k + 1] == UInt8(ascii: "-") {
                        if set[k] <= s[j] && s[j] <= set[k + 2] { ok = true }
                        k += 3
                    } else {
                        if set[k] == s[j] { ok = true }
                        k += 1
                    }
                }
                guard ok else { return false }
                i = close + 1
            } else {
                guard p[i] == s[j] else { return false }
                i += 1
            }
            j += 1
        }
        return j == s.count
    }
}
