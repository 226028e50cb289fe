import AddonMockCore
import AddonMockKit

/// Pools, their nodes and orders as ModelArts writes them, field for field as `huaweicloudsdkmodelarts`'s models
/// (`PoolModel`, `Node`, `ShowOrderResponse`) and terraform's provider read them.
enum PoolWire {
    static func poolBody(_ pool: Resource, deleting: Bool = false) -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        writePool(pool, deleting: deleting, &w)
        return w.bytes
    }

    static func poolList(_ pools: [Resource]) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + pools.count * 2048)
        w.beginObject()
        w.field("apiVersion", "v2")
        w.field("kind", "PoolList")
        w.key("items")
        w.beginArray()
        for p in pools { writePool(p, deleting: false, &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// The labels a pool shows: what the client gave and what the service sets.
    static func labels(_ pool: Resource) -> JSONDocument {
        var labels = pool.status["labels"].map { JSONDocument(trusted: $0.bytes) } ?? JSONDocument()
        if labels[PoolLabels.workspace] == nil { labels[PoolLabels.workspace] = RawJSON(.string("0")) }
        labels[PoolLabels.resourceID] = RawJSON(.string(pool.id))
        labels[PoolLabels.projectID] = RawJSON(.string(pool.scope))
        if let order = pool.status.string("orderName") { labels[PoolLabels.orderName] = RawJSON(.string(order)) }
        return labels
    }

    private static func writePool(_ pool: Resource, deleting: Bool, _ w: inout JSONWriter) {
        let nodes = PoolNodes.shown(pool)
        w.beginObject()
        w.field("apiVersion", "v2")
        w.field("kind", "Pool")
        w.key("metadata")
        w.beginObject()
        w.field("name", pool.name)
        w.field("creationTimestamp", pool.createdAt.rfc3339)
        if deleting || pool.pending?.operation == Pools.delete { w.field("deletionTimestamp", pool.updatedAt.rfc3339) }
        w.field("labels", labels(pool).rawJSON)
        var annotations = pool.status["annotations"].map { JSONDocument(trusted: $0.bytes) } ?? JSONDocument()
        if annotations[PoolLabels.billingMode] == nil { annotations[PoolLabels.billingMode] = RawJSON(.string("0")) }
        w.field("annotations", annotations.rawJSON)
        w.endObject()
        w.field("spec", pool.spec.rawJSON)
        w.key("status")
        w.beginObject()
        w.field("phase", Pools.shownPhase(pool.phase))
        w.field("message", [pool.reason, pool.message].filter { !$0.isEmpty }.joined(separator: ": "))
        w.key("resources")
        w.beginObject()
        for (key, states) in [
            ("creating", [PoolNodes.State.creating]), ("available", [.available, .resizing]), ("abnormal", [.abnormal]), ("deleting", [.deleting]),
        ] {
            let matching = nodes.filter { states.contains($0.state) }
            guard !matching.isEmpty else { continue }
            // The SDK's PoolStatusResources holds one count per state: the flavor when there is one.
            let flavors = Set(matching.map(\.flavor))
            w.key(key)
            w.beginObject()
            if flavors.count == 1 { w.field("flavor", matching[0].flavor) }
            w.key("count")
            w.number(Int64(matching.count))
            w.endObject()
        }
        w.endObject()
        w.key("scope")
        w.beginArray()
        let scopeState =
            pool.phase == Pools.creating ? "Creating" : pool.phase == Pools.deleting ? "Deleting" : pool.phase == Pools.error ? "Disabled" : "Enabled"
        if case .array(let scopes)? = pool.spec["scope"]?.parsed() {
            for s in scopes {
                w.beginObject()
                w.field("scopeType", s.stringValue ?? "")
                w.field("state", scopeState)
                w.endObject()
            }
        }
        w.endArray()
        if let driver = pool.spec["driver"]?.parsed() {
            w.key("driver")
            w.beginObject()
            for (key, field) in [("gpu", "gpuVersion"), ("npu", "npuVersion")] {
                guard let version = driver[field]?.stringValue else { continue }
                w.key(key)
                w.beginObject()
                w.field("version", version)
                w.field("state", pool.pending == nil ? (pool.phase == Pools.error ? "Abnormal" : "Running") : "Creating")
                w.endObject()
            }
            w.endObject()
        }
        w.field("root", pool.name)
        w.endObject()
        w.endObject()
    }

    // MARK: nodes

    static func nodeBody(_ node: PoolNodes.Entry, of pool: Resource) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        writeNode(node, pool, &w)
        return w.bytes
    }

    /// `{"apiVersion","kind":"NodeList","metadata":{"continue","remainingItemCount"},"items"}`.
    static func nodeList(_ nodes: ArraySlice<PoolNodes.Entry>, of pool: Resource, next: String, remaining: Int) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + nodes.count * 1024)
        w.beginObject()
        w.field("apiVersion", "v2")
        w.field("kind", "NodeList")
        w.key("metadata")
        w.beginObject()
        w.field("continue", next)
        w.key("remainingItemCount")
        w.number(Int64(remaining))
        w.endObject()
        w.key("items")
        w.beginArray()
        for node in nodes { writeNode(node, pool, &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    static func nodePhase(_ state: PoolNodes.State) -> String {
        switch state {
        case .creating: "Creating"
        case .available: "Available"
        case .deleting: "Deleting"
        case .resizing: "Resizing"
        case .abnormal: "Abnormal"
        }
    }

    /// What `status.driver.phase` says (terraform waits for Running or Abnormal).
    static func driverPhase(_ state: PoolNodes.State) -> String {
        switch state {
        case .creating: "Pending"
        case .resizing: "Updating"
        case .abnormal: "Abnormal"
        case .available, .deleting: "Running"
        }
    }

    private static func writeNode(_ node: PoolNodes.Entry, _ pool: Resource, _ w: inout JSONWriter) {
        let origin = "\(pool.scope)/\(pool.name)/\(node.name)"
        w.beginObject()
        w.field("apiVersion", "v2")
        w.field("kind", "Node")
        w.key("metadata")
        w.beginObject()
        w.field("name", node.name)
        w.field("creationTimestamp", node.createdAt.isEmpty ? pool.createdAt.rfc3339 : node.createdAt)
        w.key("labels")
        w.beginObject()
        w.field("os.modelarts.node/nodepool", "\(pool.name)-default")
        w.field("os.modelarts.node/nodepoolname", "\(pool.name)-default")
        w.field("os.modelarts.node/batch.name", node.order)
        w.field("os.modelarts/resource.id", Identifiers.derivedUUID(origin + "/resource"))
        w.field("os.modelarts/tenant.project.id", pool.scope)
        w.field("os.modelarts.node/underlying.instance.id", Identifiers.derivedUUID(origin + "/server"))
        w.endObject()
        w.key("annotations")
        w.beginObject()
        w.field("os.modelarts/billing.mode", "0")
        w.endObject()
        w.endObject()
        w.key("spec")
        w.beginObject()
        w.field("flavor", node.flavor)
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("phase", nodePhase(node.state))
        w.field("az", node.az)
        w.field("privateIp", privateIP(Identifiers.derivedUUID(origin + "/ip")))
        w.key("resources")
        w.beginObject()
        w.field("cpu", node.flavor.contains("gpu") || node.flavor.contains("snt") ? "72" : "8")
        w.field("memory", node.flavor.contains("gpu") || node.flavor.contains("snt") ? "512Gi" : "32Gi")
        if node.flavor.contains("gpu") { w.field("nvidia.com/gpu", "8") }
        if node.flavor.contains("snt9") { w.field("huawei.com/ascend-snt9", "8") }
        w.endObject()
        w.key("driver")
        w.beginObject()
        w.field("phase", driverPhase(node.state))
        if let version = pool.spec["driver"]?.parsed()["gpuVersion"]?.stringValue { w.field("version", version) }
        w.endObject()
        w.endObject()
        w.endObject()
    }

    /// 192.168.x.y from an id's first hex digits (x, y in 1…254).
    private static func privateIP(_ id: String) -> String {
        let hex = Array(id.utf8.prefix(4))
        func byte(_ a: UInt8, _ b: UInt8) -> Int {
            func v(_ c: UInt8) -> Int { c >= UInt8(ascii: "a") ? Int(c - UInt8(ascii: "a")) + 10 : Int(c - UInt8(ascii: "0")) }
            return (v(a) * 16 + v(b)) % 254 + 1
        }
        return "192.168.\(byte(hex[0], hex[1])).\(byte(hex[2], hex[3]))"
    }

    // MARK: orders

    private static func writeOrder(_ order: Resource, pool: Resource?, detail: Bool, _ w: inout JSONWriter) {
        let (phase, items, reason) = PoolOrders.state(of: order, pool: pool)
        w.beginObject()
        w.field("orderName", order.name)
        w.field("involvedName", order.spec.string("involvedName") ?? "")
        w.field("involvedKind", "Pool")
        w.field("action", order.spec.string("action") ?? "")
        w.field("phase", phase.rawValue)
        w.field("failReason", reason)
        w.field("createTimestamp", order.createdAt.rfc3339)
        w.field("updateTimestamp", order.updatedAt.rfc3339)
        w.key("count")
        w.number(Int64(items.count))
        if detail { writeItems(items, order, &w) }
        w.endObject()
    }

    private static func writeItems(_ items: [PoolOrders.Item], _ order: Resource, _ w: inout JSONWriter) {
        w.key("items")
        w.beginArray()
        for item in items {
            w.beginObject()
            w.field("resourceName", item.resourceName)
            w.field("action", item.action)
            w.field("status", item.status)
            w.field("beginTimestamp", order.createdAt.rfc3339)
            w.field("updateTimestamp", order.updatedAt.rfc3339)
            w.field("message", item.message)
            w.endObject()
        }
        w.endArray()
    }

    /// `GET /v1/{project_id}/orders`: `{"count": total, "items": [order…]}`, newest first.
    static func orderList(_ orders: ArraySlice<(Resource, Resource?)>, total: Int) -> [UInt8] {
        var w = JSONWriter(capacity: 128 + orders.count * 512)
        w.beginObject()
        w.key("count")
        w.number(Int64(total))
        w.key("items")
        w.beginArray()
        for (order, pool) in orders { writeOrder(order, pool: pool, detail: false, &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// `GET /v1/{project_id}/orders/{order_name}` (`ShowOrderResponse`): `{"count": n, "items": [item…]}`.
    static func orderBody(_ order: Resource, pool: Resource?) -> [UInt8] {
        let (_, items, _) = PoolOrders.state(of: order, pool: pool)
        var w = JSONWriter(capacity: 128 + items.count * 256)
        w.beginObject()
        w.key("count")
        w.number(Int64(items.count))
        writeItems(items, order, &w)
        w.endObject()
        return w.bytes
    }
}
