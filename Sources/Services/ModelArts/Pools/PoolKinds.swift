import AddonMockCore
import AddonMockKit

/// ModelArts resource pools and the orders their operations run as: two kinds over the kit. A pool's nodes are
/// not records of their own: they are entries of the pool's status document (`PoolNodes`), changed only by the
/// pool's operations, so a pool and its nodes are always written together.
enum Pools {
    static let service = "pool"
    static let orderService = "order"

    static let creating: Phase = "Creating", running: Phase = "Running", deleting: Phase = "Deleting"
    static let error: Phase = "Error", abnormal: Phase = "Abnormal"
    /// A scale or a node resize in flight. ModelArts shows the pool `Running` meanwhile (its nodes and
    /// `status.resources` show the change); stored apart so that the engine knows an operation is running.
    static let scaling: Phase = "Scaling", resizing: Phase = "Resizing"

    static let create: Operation = "create", scale: Operation = "scale", resize: Operation = "resize", delete: Operation = "delete"

    /// The pool's nodes settle as the operation did (`PoolNodes.settle`); a failed operation leaves `Error`, one
    /// that ends `abnormal` leaves `Abnormal` with the last node it was creating abnormal.
    private static let settleNodes = LifecycleTable.Effect(succeed: { pool, _ in PoolNodes.settle(&pool, as: running) })

    /// Creating -> Running | Error; Running -> Scaling | Resizing -> Running; Deleting -> gone. Unhealthy: Abnormal.
    static let lifecycle = LifecycleTable(
        steps: [
            create: .init(
                inFlight: creating, succeeded: running, failed: error, duration: StepDuration(baseMs: 6_000, jitterMs: 2_000),
                effect: settleNodes),
            scale: .init(inFlight: scaling, succeeded: running, failed: error, startsFrom: [running, abnormal, error], effect: settleNodes),
            resize: .init(inFlight: resizing, succeeded: running, failed: error, startsFrom: [running, abnormal], effect: settleNodes),
            delete: .init(inFlight: deleting, succeeded: nil, failed: error),
        ],
        degraded: abnormal, settled: [running, abnormal, error], healthy: [running])

    /// What `status.phase` says: a pool scaling or resizing its nodes is `Running`.
    static func shownPhase(_ phase: Phase) -> String { phase == scaling || phase == resizing ? running.rawValue : phase.rawValue }

    static let processing: Phase = "processing", successed: Phase = "successed", partialSuccessed: Phase = "partialSuccessed"
    static let failed: Phase = "failed"

    /// An order mirrors the pool operation it was placed for: stored `processing` and read from its pool while that
    /// operation is the pool's latest (`PoolOrders`), written down when the pool's next operation starts. Its one
    /// step is there for the control plane's vocabulary.
    static let orderLifecycle = LifecycleTable(
        steps: ["run": .init(inFlight: processing, succeeded: successed, failed: failed)],
        degraded: partialSuccessed, settled: [successed, partialSuccessed, failed], healthy: [successed])

    /// Seed and import entries: `spec` (checked and completed as a create completes it, the pool's nodes made from its
    /// counts unless `detail.nodes` lists them) and `detail`.
    static let poolEntries = EntryFormat(
        fields: ["spec", "detail"],
        read: { entry, name, _ throws(APIError) in
            let spec = try entry.optionalObject("spec") ?? BodyReader(.object([]), path: entry.path + ".spec")
            let completed = try PoolRequest.completedSpec(spec, requireResources: false)
            var status = JSONDocument(try entry.optionalObject("detail")?.value ?? .object([]))
            if status["nodes"] == nil {
                let project = try entry.identifier("project")
                var nodes = PoolNodes(status)
                nodes.add(PoolNodes.counts(of: completed), pool: name, origin: "seed/\(project)/\(name)", prefix: nil, order: "", at: "")
                nodes.settle(as: running)
                nodes.write(into: &status)
            }
            return EntryFormat.Read(spec: JSONDocument(completed), status: status)
        },
        write: EntryFormat.documents.write)

    static let poolKind = ResourceKind(
        name: "pools", services: [service], scopeFields: ["project"], lifecycle: lifecycle, status: shownPhase,
        shown: [
            ShownField("displayName") { $0.status["labels"].flatMap { JSONDocument(trusted: $0.bytes)[PoolLabels.name] } ?? .null },
            ShownField("nodeCount") { RawJSON(trusted: Array(String(PoolNodes($0.status).entries.count).utf8)) },
        ],
        entries: poolEntries, title: "Resource pools", deletePaths: [service: "/v2/{project}/pools/{name}"])

    /// Derived from the operations they report on: neither seeded nor exported.
    static let orderKind = ResourceKind(
        name: "orders", services: [orderService], scopeFields: ["project"], lifecycle: orderLifecycle,
        shown: [.spec("involvedName"), .spec("action")], entries: nil, title: "Pool orders",
        showPaths: [orderService: "/v1/{project}/orders/{name}"])
}

/// The label and annotation keys ModelArts reads and writes on a pool.
enum PoolLabels {
    static let name = "os.modelarts/name"
    static let workspace = "os.modelarts/workspace.id"
    static let nodePrefix = "os.modelarts/node.prefix"
    static let resourceID = "os.modelarts/resource.id"
    static let projectID = "os.modelarts/tenant.project.id"
    static let orderName = "os.modelarts/order.name"
    static let description = "os.modelarts/description"
    static let billingMode = "os.modelarts/billing.mode"
    /// Set by the service: a client may not choose them.
    static let reserved: Set<String> = [resourceID, projectID, orderName]
}

/// A pool's nodes: entries in its status document (`nodes`), each with the state the pool's operations leave it in.
/// Names are made from the server's `--seed`, the pool and a serial, so the same calls make the same names.
struct PoolNodes {
    enum State: String {
        case creating, available, deleting, resizing, abnormal
    }

    struct Entry: Equatable {
        var name: String
        var flavor: String
        var az: String
        var state: State
        /// A resize's target flavor.
        var target: String?
        var createdAt: String
        /// The order that created it (`os.modelarts.node/batch.name`).
        var order: String
    }

    var entries: [Entry]
    /// How many names have been made, so a deleted node's name is never reused.
    var serial: Int

    init(_ status: JSONDocument) {
        serial = status["nodeSerial"]?.parsed().intValue ?? 0
        guard case .array(let items)? = status["nodes"]?.parsed() else {
            entries = []
            return
        }
        entries = items.compactMap { item in
            guard let name = item["name"]?.stringValue, let flavor = item["flavor"]?.stringValue,
                let state = item["state"]?.stringValue.flatMap(State.init(rawValue:))
            else { return nil }
            return Entry(
                name: name, flavor: flavor, az: item["az"]?.stringValue ?? PoolNodes.defaultAZ, state: state,
                target: item["target"]?.stringValue, createdAt: item["createdAt"]?.stringValue ?? "", order: item["order"]?.stringValue ?? "")
        }
    }

    static let defaultAZ = "cn-north-4a"
    static let maxNodes = 1_000

    func write(into status: inout JSONDocument) {
        var w = JSONWriter(capacity: 64 + entries.count * 160)
        w.beginArray()
        for e in entries {
            w.beginObject()
            w.field("name", e.name)
            w.field("flavor", e.flavor)
            w.field("az", e.az)
            w.field("state", e.state.rawValue)
            if let target = e.target { w.field("target", target) }
            w.field("createdAt", e.createdAt)
            w.field("order", e.order)
            w.endObject()
        }
        w.endArray()
        status["nodes"] = RawJSON(trusted: w.bytes)
        status["nodeSerial"] = RawJSON(trusted: Array(String(serial).utf8))
    }

    /// The node count asked per flavor, in the order of `spec.resources` (with each flavor's zones).
    static func counts(of spec: JSONValue) -> [(flavor: String, count: Int, azs: [(az: String, count: Int)])] {
        guard case .array(let resources)? = spec["resources"] else { return [] }
        return resources.compactMap { r in
            guard let flavor = r["flavor"]?.stringValue else { return nil }
            var azs: [(String, Int)] = []
            if case .array(let list)? = r["azs"] {
                for z in list { if let az = z["az"]?.stringValue, let n = z["count"]?.intValue { azs.append((az, n)) } }
            }
            return (flavor, r["count"]?.intValue ?? 0, azs)
        }
    }

    /// The nodes that are (or are becoming) the pool's: every entry but those being deleted.
    func kept(flavor: String) -> [Entry] { entries.filter { $0.flavor == flavor && $0.state != .deleting } }

    /// Brings each flavor to its count: new nodes `creating` (in the zones asked, in order), surplus ones (the
    /// newest first) `deleting`. Returns the names it touched, by action.
    @discardableResult
    mutating func add(
        _ counts: [(flavor: String, count: Int, azs: [(az: String, count: Int)])], pool: String, origin: String, prefix: String?,
        order: String, at time: String
    ) -> (created: [String], deleted: [String]) {
        var created: [String] = []
        var deleted: [String] = []
        let wanted = Dictionary(counts.map { ($0.flavor, $0.count) }, uniquingKeysWith: +)
        for i in entries.indices where entries[i].state != .deleting && wanted[entries[i].flavor] == nil {
            entries[i].state = .deleting
            deleted.append(entries[i].name)
        }
        for (flavor, count, azs) in counts {
            let have = kept(flavor: flavor)
            if have.count > count {
                for victim in have.suffix(have.count - count) {
                    if let i = entries.firstIndex(where: { $0.name == victim.name }) { entries[i].state = .deleting }
                    deleted.append(victim.name)
                }
            }
            guard have.count < count else { continue }
            // Zones fill in the order given, each up to its count; the rest go to the first (or the default).
            var perAZ = Dictionary(have.map { ($0.az, 1) }, uniquingKeysWith: +)
            for _ in have.count..<count {
                let az = azs.first { perAZ[$0.az, default: 0] < $0.count }?.az ?? azs.first?.az ?? Self.defaultAZ
                perAZ[az, default: 0] += 1
                let name = nextName(origin: origin, prefix: prefix)
                entries.append(Entry(name: name, flavor: flavor, az: az, state: .creating, target: nil, createdAt: time, order: order))
                created.append(name)
            }
        }
        return (created, deleted)
    }

    private mutating func nextName(origin: String, prefix: String?) -> String {
        while true {
            serial += 1
            let hex = Identifiers.derivedUUID("\(origin)/node/\(serial)").prefix(5)
            let name = "\(prefix ?? "os-node-created")-\(hex)"
            if !entries.contains(where: { $0.name == name }) { return name }
        }
    }

    /// Where an operation's nodes end when the pool settles in `phase`: `Running` (it succeeded) finishes every
    /// change; `Error` (it failed) undoes deletes and resizes and leaves new nodes abnormal; `Abnormal` finishes
    /// them but the last node it was creating, which is abnormal.
    mutating func settle(as phase: Phase) {
        let lastCreating = entries.lastIndex { $0.state == .creating }
        var kept: [Entry] = []
        for (i, var e) in entries.enumerated() {
            switch (e.state, phase) {
            case (.creating, Pools.error): e.state = .abnormal
            case (.creating, Pools.abnormal): e.state = i == lastCreating ? .abnormal : .available
            case (.creating, _): e.state = .available
            case (.deleting, Pools.error): e.state = .available
            case (.deleting, _): continue
            case (.resizing, Pools.error): e.state = .available
            case (.resizing, _):
                e.flavor = e.target ?? e.flavor
                e.state = .available
            case (.available, _), (.abnormal, _): break
            }
            e.target = nil
            kept.append(e)
        }
        entries = kept
    }

    static func settle(_ pool: inout Resource, as phase: Phase) {
        var nodes = PoolNodes(pool.status)
        guard nodes.entries.contains(where: { $0.state == .creating || $0.state == .deleting || $0.state == .resizing }) else { return }
        nodes.settle(as: phase)
        nodes.write(into: &pool.status)
    }

    /// The pool's nodes as they are shown: while it is being deleted every node is `Deleting`; once an operation has
    /// settled, entries it left unfinished (it failed, or was forced) show where they settled.
    static func shown(_ pool: Resource) -> [Entry] {
        var nodes = PoolNodes(pool.status)
        if pool.pending?.operation == Pools.delete {
            for i in nodes.entries.indices { nodes.entries[i].state = .deleting }
        } else if pool.pending == nil {
            nodes.settle(as: pool.phase)
        }
        return nodes.entries
    }
}
