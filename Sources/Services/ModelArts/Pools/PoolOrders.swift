import AddonMockCore
import AddonMockKit

/// The orders a pool's operations run as (`GET /v1/{project_id}/orders`): what terraform's
/// `huaweicloud_modelarts_resource_pool` waits on first, then reads the node names from. An order's spec names its
/// pool (`involvedName`, the pool's id in `poolID`), its action and its items (the pool itself and the nodes it
/// touches, each with an action); while it is its pool's latest, each item's status is read from the pool.
enum PoolOrders {
    struct Item: Equatable {
        var resourceName: String
        var action: String
        /// processing, succeed or failed.
        var status: String
        var message: String
    }

    /// The spec of a new order.
    static func spec(pool: Resource, action: String, items: [(name: String, action: String)]) -> JSONDocument {
        JSONDocument([
            ("involvedName", .string(pool.name)), ("poolID", .string(pool.id)), ("action", .string(action)),
            ("items", RawJSON(.array(items.map { .object([("resourceName", .string($0.name)), ("action", .string($0.action))]) }))),
        ])
    }

    /// The order's items and phase: written down once it finished; otherwise read from its pool (`pool` nil: gone).
    static func state(of order: Resource, pool: Resource?) -> (phase: Phase, items: [Item], reason: String) {
        if order.phase != Pools.processing, case .array(let written)? = order.status["items"]?.parsed() {
            return (order.phase, written.map(item), order.reason)
        }
        let asked: [(String, String)]
        if case .array(let list)? = order.spec["items"]?.parsed() {
            asked = list.compactMap { v in v["resourceName"]?.stringValue.map { ($0, v["action"]?.stringValue ?? "") } }
        } else {
            asked = []
        }
        let current = pool.flatMap { $0.status.string("orderName") == order.name ? $0 : nil }
        // The pool's nodes as shown, read once: an order may name a thousand of them.
        let nodes = current.map { Dictionary(PoolNodes.shown($0).map { ($0.name, $0.state) }, uniquingKeysWith: { first, _ in first }) } ?? [:]
        let failure = pool.map { [$0.reason, $0.message].filter { !$0.isEmpty }.joined(separator: ": ") } ?? ""
        let items = asked.map { name, action -> Item in
            let status = status(of: name, action: action, pool: current, nodes: nodes, poolGone: pool == nil)
            return Item(
                resourceName: name, action: action, status: status,
                message: status != "failed" ? "" : failure.isEmpty ? "the operation failed" : failure)
        }
        return (phase(of: items), items, items.first { $0.status == "failed" }?.message ?? "")
    }

    private static func item(_ v: JSONValue) -> Item {
        Item(
            resourceName: v["resourceName"]?.stringValue ?? "", action: v["action"]?.stringValue ?? "", status: v["status"]?.stringValue ?? "",
            message: v["message"]?.stringValue ?? "")
    }

    static func phase(of items: [Item]) -> Phase {
        if items.contains(where: { $0.status == "processing" }) { return Pools.processing }
        let failed = items.filter { $0.status == "failed" }.count
        return failed == 0 ? Pools.successed : failed == items.count ? Pools.failed : Pools.partialSuccessed
    }

    /// One item's status. `pool` is the order's pool while the order is its latest; nil when it is not (then the
    /// order was written down, or its pool is gone); `nodes` its nodes' states as shown, by name.
    private static func status(
        of name: String, action: String, pool: Resource?, nodes: [String: PoolNodes.State], poolGone: Bool
    ) -> String {
        guard let pool else {
            // Gone under it: a delete that finished; anything else was cut short by the delete.
            return poolGone && action != "delete" ? "failed" : "succeed"
        }
        if name == pool.name {
            if pool.pending != nil { return "processing" }
            return pool.phase == Pools.error ? "failed" : "succeed"
        }
        guard let state = nodes[name] else {
            return action == "delete" ? "succeed" : pool.pending != nil ? "processing" : "failed"
        }
        switch (state, action) {
        case (.creating, _), (.deleting, _), (.resizing, _): return "processing"
        case (.abnormal, _): return "failed"
        case (.available, "delete"): return "failed"
        case (.available, _): return "succeed"
        }
    }

    /// The finished order as it will stay: its phase, reason and items written into the record.
    static func writeDown(_ order: inout Resource, pool: Resource?, at now: Instant) {
        let (phase, items, reason) = state(of: order, pool: pool)
        order.phase = phase == Pools.processing ? Pools.failed : phase
        order.reason = phase == Pools.processing ? "superseded by the pool's next operation" : reason
        order.status["items"] = RawJSON(
            .array(
                items.map { i in
                    .object([
                        ("resourceName", .string(i.resourceName)), ("action", .string(i.action)),
                        ("status", .string(i.status == "processing" ? "failed" : i.status)), ("message", .string(i.message)),
                    ])
                }))
        order.updatedAt = now
    }
}
