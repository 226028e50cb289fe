import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// ModelArts resource pools under `/v2/{project_id}/pools`, their nodes, and the orders their operations run as
/// under `/v1/{project_id}/orders`. Every operation that changes nodes places an order (the pool's
/// `os.modelarts/order.name` label) that terraform waits on before it reads the nodes.
struct PoolService {
    let manager: ResourceManager
    let outcomes: any OutcomeDecider
    /// `--seed`: pool and node names are made from it.
    let seed: UInt64

    var routes: [ServiceRoute] {
        let pools = "/v2/{project_id}/pools"
        let pool = "\(pools)/{pool_name}"
        return [
            ServiceRoute("POST", pools, service: Pools.service) { try create($0) },
            ServiceRoute("GET", pools, service: Pools.service) { try list($0) },
            ServiceRoute("GET", pool, service: Pools.service) { try show($0) },
            ServiceRoute("PATCH", pool, service: Pools.service) { try patch($0) },
            ServiceRoute("DELETE", pool, service: Pools.service) { try delete($0) },
            ServiceRoute("GET", "\(pool)/nodes", service: Pools.service) { try listNodes($0) },
            ServiceRoute("GET", "\(pool)/nodes/{node_name}", service: Pools.service) { try showNode($0) },
            ServiceRoute("POST", "\(pool)/nodes/batch-delete", service: Pools.service) { try deleteNodes($0) },
            ServiceRoute("POST", "\(pool)/nodes/batch-resize", service: Pools.service) { try resizeNodes($0) },
            ServiceRoute("GET", "/v1/{project_id}/orders", service: Pools.orderService) { try listOrders($0) },
            ServiceRoute("GET", "/v1/{project_id}/orders/{order_name}", service: Pools.orderService) { try showOrder($0) },
        ]
    }

    /// ModelArts' own code for a pool that does not exist (what the SDK shows users as `error_code`).
    static func poolNotFound(_ name: String) -> APIError {
        APIError(.notFound, "pool \(name) not found", code: "ModelArts.50015001")
    }

    // MARK: pools

    private func create(_ ctx: RequestContext) throws -> HTTPResponse {
        let project = ctx.parameters["project_id"]
        let request = try PoolRequest.decode(try ctx.body())
        // The service names pools; the same seed, project and display name make the same name.
        let id = Identifiers.derivedUUID("\(seed)/\(project)/pool/\(request.displayName)")
        let name = "pool-" + id.prefix(8) + "-" + id.dropFirst(9).prefix(4)
        let orderName = Self.orderName(pool: name, action: "create")
        var created: [String] = []
        let pool = try manager.createOrModify(
            service: Pools.service, scope: project, name: name, for: ctx.writes,
            create: { now in
                var pool = manager.engine.create(
                    id: Identifiers.uuid(), service: Pools.service, scope: project, name: name, spec: JSONDocument(request.spec),
                    outcome: try outcomes.outcome(for: Pools.create, service: Pools.service, scope: project, template: name, ctx), now: now)
                pool.status["labels"] = RawJSON(request.labels)
                pool.status["annotations"] = RawJSON(request.annotations)
                pool.status["orderName"] = RawJSON(.string(orderName))
                var nodes = PoolNodes(pool.status)
                created =
                    nodes.add(
                        PoolNodes.counts(of: request.spec), pool: name, origin: "\(seed)/\(project)/\(name)",
                        prefix: request.labels[PoolLabels.nodePrefix]?.stringValue, order: orderName, at: now.rfc3339
                    ).created
                nodes.write(into: &pool.status)
                return pool
            },
            modify: { existing, _ in
                throw APIError(.conflict, "a pool named \(request.displayName) already exists in project \(project) as \(existing.name)")
            })
        try placeOrder(orderName, for: pool, action: "create", items: [(name, "create")] + created.map { ($0, "create") }, previous: nil, ctx)
        ctx.touched(pool)
        return .json(200, PoolWire.poolBody(pool))
    }

    private func list(_ ctx: RequestContext) throws -> HTTPResponse {
        let project = ctx.parameters["project_id"]
        let workspace = ctx.request.queryValue("workspaceId").flatMap { $0.isEmpty ? nil : $0 }
        let selector = try LabelSelector(ctx.request.queryValue("labelSelector") ?? "")
        let status = ctx.request.queryValue("status").flatMap { $0.isEmpty ? nil : $0.lowercased() }
        let pools = try manager.resources(service: Pools.service, scope: project).filter { pool in
            let labels = PoolWire.labels(pool)
            if let workspace, labels.string(PoolLabels.workspace) != workspace { return false }
            if !selector.matches(labels) { return false }
            if let status, !Self.statusMatches(status, pool.phase) { return false }
            return true
        }
        pools.forEach(ctx.touched)
        return .json(200, PoolWire.poolList(pools))
    }

    /// `status` as the list filter spells it: a phase (`running`, any case) or the console's words for them
    /// (`created` = Running, `failed` = Error).
    static func statusMatches(_ status: String, _ phase: Phase) -> Bool {
        let shown = Pools.shownPhase(phase).lowercased()
        switch status {
        case "created": return shown == "running"
        case "failed": return shown == "error"
        default: return shown == status
        }
    }

    private func show(_ ctx: RequestContext) throws -> HTTPResponse {
        let pool = try self.pool(ctx)
        ctx.touched(pool)
        return .json(200, PoolWire.poolBody(pool))
    }

    /// Labels, annotations, scope and job flavors change at once; a change of node counts scales the pool under a
    /// new order.
    private func patch(_ ctx: RequestContext) throws -> HTTPResponse {
        let (project, name) = (ctx.parameters["project_id"], ctx.parameters["pool_name"])
        let patch = try PoolPatch.decode(try ctx.body())
        let orderName = Self.orderName(pool: name, action: "scale")
        var before: Resource?
        var items: [(String, String)] = []
        let pool = try manager.modify(service: Pools.service, scope: project, name: name, for: ctx.writes, notFound: { Self.poolNotFound(name) }) {
            pool, now in
            before = pool
            guard pool.pending?.operation != Pools.delete else { throw APIError(.conflict, "pool \(name) is Deleting and cannot be updated") }
            let spec = patch.applied(to: pool.spec.value)
            if patch.resources != nil, Self.countsChange(PoolNodes(pool.status), PoolNodes.counts(of: spec)) {
                try begin(Pools.scale, on: &pool, now: now, ctx)
                var nodes = PoolNodes(pool.status)
                let (created, deleted) = nodes.add(
                    PoolNodes.counts(of: spec), pool: name, origin: "\(seed)/\(project)/\(name)",
                    prefix: PoolWire.labels(pool).string(PoolLabels.nodePrefix), order: orderName, at: now.rfc3339)
                nodes.write(into: &pool.status)
                pool.status["orderName"] = RawJSON(.string(orderName))
                items = created.map { ($0, "create") } + deleted.map { ($0, "delete") }
            }
            if let labels = patch.labels {
                pool.status["labels"] = RawJSON((pool.status["labels"]?.parsed() ?? .object([])).applyingMergePatch(labels))
            }
            if let annotations = patch.annotations {
                pool.status["annotations"] = RawJSON((pool.status["annotations"]?.parsed() ?? .object([])).applyingMergePatch(annotations))
            }
            pool.spec = JSONDocument(spec)
            pool.updatedAt = now
        }
        if !items.isEmpty { try placeOrder(orderName, for: pool, action: "scale", items: items, previous: before, ctx) }
        ctx.touched(pool)
        return .json(200, PoolWire.poolBody(pool))
    }

    private static func countsChange(_ nodes: PoolNodes, _ wanted: [(flavor: String, count: Int, azs: [(az: String, count: Int)])]) -> Bool {
        let asked = Dictionary(wanted.map { ($0.flavor, $0.count) }, uniquingKeysWith: +).filter { $0.value > 0 }
        let have = Dictionary(nodes.entries.filter { $0.state != .deleting }.map { ($0.flavor, 1) }, uniquingKeysWith: +)
        return asked != have
    }

    private func delete(_ ctx: RequestContext) throws -> HTTPResponse {
        let (project, name) = (ctx.parameters["project_id"], ctx.parameters["pool_name"])
        let orderName = Self.orderName(pool: name, action: "delete")
        var before: Resource?
        let pool = try manager.modify(service: Pools.service, scope: project, name: name, for: ctx.writes, notFound: { Self.poolNotFound(name) }) {
            pool, now in
            before = pool
            try begin(Pools.delete, on: &pool, now: now, ctx)
            pool.status["orderName"] = RawJSON(.string(orderName))
        }
        let nodes = PoolNodes(pool.status).entries.map { ($0.name, "delete") }
        try placeOrder(orderName, for: pool, action: "delete", items: [(name, "delete")] + nodes, previous: before, ctx)
        ctx.touched(pool)
        return .json(200, PoolWire.poolBody(pool, deleting: true))
    }

    private func pool(_ ctx: RequestContext) throws -> Resource {
        let (project, name) = (ctx.parameters["project_id"], ctx.parameters["pool_name"])
        guard let pool = try manager.resource(service: Pools.service, scope: project, name: name) else { throw Self.poolNotFound(name) }
        return pool
    }

    // MARK: nodes

    /// `limit` and `continue` page through the nodes in their order (`continue` is where the page ends).
    private func listNodes(_ ctx: RequestContext) throws -> HTTPResponse {
        let pool = try self.pool(ctx)
        let nodes = PoolNodes.shown(pool)
        let start: Int
        switch ctx.request.queryValue("continue") {
        case nil, "": start = 0
        case let token?:
            guard let i = Int(token), (0...nodes.count).contains(i) else {
                throw APIError(.badRequest, "continue must be a token a previous page returned, got \"\(token)\"")
            }
            start = i
        }
        var end = nodes.count
        if let text = ctx.request.queryValue("limit"), !text.isEmpty {
            guard let limit = Int(text), (1...500).contains(limit) else {
                throw APIError(.badRequest, "limit must be a whole number from 1 to 500, got \"\(text)\"")
            }
            end = min(nodes.count, start + limit)
        }
        ctx.touched(pool)
        return .json(200, PoolWire.nodeList(nodes[start..<end], of: pool, next: end < nodes.count ? String(end) : "", remaining: nodes.count - end))
    }

    private func showNode(_ ctx: RequestContext) throws -> HTTPResponse {
        let pool = try self.pool(ctx)
        let name = ctx.parameters["node_name"]
        guard let node = PoolNodes.shown(pool).first(where: { $0.name == name }) else {
            throw APIError(.notFound, "node \(name) not found in pool \(pool.name)")
        }
        ctx.touched(pool)
        return .json(200, PoolWire.nodeBody(node, of: pool))
    }

    /// `{"deleteNodeNames": [...]}`: the nodes leave the pool under an order; its counts drop by as many.
    private func deleteNodes(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try ctx.body()
        let names = try Self.names(body, "deleteNodeNames")
        return try changeNodes(names, action: "delete", ctx) { nodes, i in
            nodes.entries[i].state = .deleting
            return nil
        }
    }

    /// `{"nodes": [{"batchUID", "deleteNodeNames": [...]}], "source": {"flavor"}, "target": {"flavor"}}`: the named
    /// nodes (all of the source flavor) change to the target flavor under an order; answered `{"orderName"}`.
    private func resizeNodes(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try ctx.body()
        let source = try body.object("source").identifier("flavor"), target = try body.object("target").identifier("flavor")
        guard source != target else { throw APIError(.badRequest, "target.flavor must differ from source.flavor (\(source))") }
        guard case .array(let batches)? = body.optional("nodes"), !batches.isEmpty else {
            throw APIError(.badRequest, "nodes must be a non-empty array of {batchUID, deleteNodeNames}")
        }
        var names: [String] = []
        for (i, batch) in batches.enumerated() {
            guard batch.isObject else { throw APIError(.badRequest, "nodes[\(i)] must be an object, got \(batch.typeName)") }
            names += try Self.names(BodyReader(batch, path: "nodes[\(i)]"), "deleteNodeNames")
        }
        return try changeNodes(names, action: "resize", ctx) { nodes, i in
            guard nodes.entries[i].flavor == source else {
                throw APIError(.badRequest, "node \(nodes.entries[i].name) is \(nodes.entries[i].flavor), not source.flavor \(source)")
            }
            nodes.entries[i].state = .resizing
            nodes.entries[i].target = target
            return target
        }
    }

    /// Starts a scale (delete) or a resize of the named nodes; `mark` changes one entry and returns the flavor it
    /// moves to, if any. The pool's `spec.resources` counts follow.
    private func changeNodes(
        _ names: [String], action: String, _ ctx: RequestContext, mark: (inout PoolNodes, Int) throws -> String?
    ) throws -> HTTPResponse {
        let (project, name) = (ctx.parameters["project_id"], ctx.parameters["pool_name"])
        let orderName = Self.orderName(pool: name, action: action)
        var before: Resource?
        let pool = try manager.modify(service: Pools.service, scope: project, name: name, for: ctx.writes, notFound: { Self.poolNotFound(name) }) {
            pool, now in
            before = pool
            try begin(action == "resize" ? Pools.resize : Pools.scale, on: &pool, now: now, ctx)
            var nodes = PoolNodes(pool.status)
            var counts = Dictionary(PoolNodes.counts(of: pool.spec.value).map { ($0.flavor, $0.count) }, uniquingKeysWith: +)
            for node in names {
                guard let i = nodes.entries.firstIndex(where: { $0.name == node }) else {
                    throw APIError(.notFound, "node \(node) not found in pool \(name)")
                }
                guard nodes.entries[i].state == .available || nodes.entries[i].state == .abnormal else {
                    throw APIError(.conflict, "node \(node) is \(PoolWire.nodePhase(nodes.entries[i].state)); wait until it is Available")
                }
                counts[nodes.entries[i].flavor, default: 0] -= 1
                if let target = try mark(&nodes, i) { counts[target, default: 0] += 1 }
            }
            nodes.write(into: &pool.status)
            pool.status["orderName"] = RawJSON(.string(orderName))
            pool.spec["resources"] = RawJSON(Self.resources(pool.spec["resources"]?.parsed(), counts: counts))
        }
        try placeOrder(orderName, for: pool, action: action, items: names.map { ($0, action) }, previous: before, ctx)
        ctx.touched(pool)
        var w = JSONWriter(capacity: 96)
        w.beginObject()
        w.field("orderName", orderName)
        w.endObject()
        return .json(200, w.bytes)
    }

    /// `spec.resources` with each flavor's count set from `counts`; a flavor new to the pool is appended.
    private static func resources(_ current: JSONValue?, counts: [String: Int]) -> JSONValue {
        var out: [JSONValue] = []
        var seen: Set<String> = []
        if case .array(let list)? = current {
            for r in list {
                guard let flavor = r["flavor"]?.stringValue else { continue }
                seen.insert(flavor)
                out.append(r.merging(.object([("count", .number(String(max(0, counts[flavor] ?? 0))))])))
            }
        }
        for (flavor, count) in counts.sorted(by: { $0.key < $1.key }) where !seen.contains(flavor) && count > 0 {
            out.append(.object([("flavor", .string(flavor)), ("count", .number(String(count)))]))
        }
        return .array(out)
    }

    private static func names(_ body: BodyReader, _ key: String) throws(APIError) -> [String] {
        guard case .array(let items)? = body.optional(key), !items.isEmpty else {
            throw APIError(.badRequest, "\(body.path.isEmpty ? key : body.path + "." + key) must be a non-empty array of node names")
        }
        var names: [String] = []
        for item in items {
            guard let s = item.stringValue, IdentifierRule.isValid(s) else {
                throw APIError(.badRequest, "\(key) must hold node names (\(IdentifierRule.description))")
            }
            if !names.contains(s) { names.append(s) }
        }
        return names
    }

    // MARK: orders

    private static func orderName(pool: String, action: String) -> String {
        "\(pool)-\(action)-\(Identifiers.uuid().suffix(8))"
    }

    /// Records the order an operation runs as; the pool's previous order is written down as the pool showed it
    /// just before (`previous`).
    private func placeOrder(
        _ name: String, for pool: Resource, action: String, items: [(name: String, action: String)], previous: Resource?, _ ctx: RequestContext
    ) throws {
        let project = pool.scope
        if let previous, let old = previous.status.string("orderName") {
            _ = try? manager.modify(service: Pools.orderService, scope: project, name: old, for: ctx.writes, notFound: { Self.poolNotFound(old) }) {
                order, now in
                guard order.phase == Pools.processing else { return }
                PoolOrders.writeDown(&order, pool: previous, at: now)
            }
        }
        _ = try manager.create(for: ctx.writes) { now in
            [
                Resource(
                    id: Identifiers.uuid(), service: Pools.orderService, scope: project, name: name,
                    spec: PoolOrders.spec(pool: pool, action: action, items: items), phase: Pools.processing, createdAt: now, updatedAt: now)
            ]
        }
    }

    /// `limit` (default and most 500), `offset`, `involvedName`, `since` (Unix ms): newest first.
    private func listOrders(_ ctx: RequestContext) throws -> HTTPResponse {
        let project = ctx.parameters["project_id"]
        let limit = try Self.int(ctx, "limit", in: 1...500) ?? 500
        let offset = try Self.int(ctx, "offset", in: 0...Int(Int32.max)) ?? 0
        let since = try Self.int(ctx, "since", in: 0...Int.max).map(Int64.init)
        let involved = ctx.request.queryValue("involvedName").flatMap { $0.isEmpty ? nil : $0 }
        let orders = try manager.resources(service: Pools.orderService, scope: project).filter { order in
            (involved == nil || order.spec.string("involvedName") == involved) && (since == nil || order.createdAt.milliseconds >= since!)
        }.reversed()
        let page = Array(orders.dropFirst(offset).prefix(limit))
        let pools = try poolsByID(page, project: project)
        page.forEach(ctx.touched)
        return .json(200, PoolWire.orderList(page.map { ($0, pools[$0.spec.string("poolID") ?? ""]) }[...], total: orders.count))
    }

    private func showOrder(_ ctx: RequestContext) throws -> HTTPResponse {
        let (project, name) = (ctx.parameters["project_id"], ctx.parameters["order_name"])
        guard let order = try manager.resource(service: Pools.orderService, scope: project, name: name) else {
            throw APIError(.notFound, "order \(name) not found")
        }
        ctx.touched(order)
        return .json(200, PoolWire.orderBody(order, pool: try poolsByID([order], project: project)[order.spec.string("poolID") ?? ""]))
    }

    /// The pools of orders still being read from them.
    private func poolsByID(_ orders: [Resource], project: String) throws -> [String: Resource] {
        var out: [String: Resource] = [:]
        for order in orders where order.phase == Pools.processing {
            guard let id = order.spec.string("poolID"), out[id] == nil, let pool = try manager.resource(id: id), pool.service == Pools.service else {
                continue
            }
            out[id] = pool
        }
        return out
    }

    private static func int(_ ctx: RequestContext, _ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = ctx.request.queryValue(key), !text.isEmpty else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw APIError(.badRequest, "\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"")
        }
        return n
    }

    // MARK: helpers

    /// Starts `op` on the pool (its nodes first settled where the last operation left them).
    private func begin(_ op: Operation, on pool: inout Resource, now: Instant, _ ctx: RequestContext) throws {
        if pool.pending == nil { PoolNodes.settle(&pool, as: pool.phase) }
        let (scope, name) = (pool.scope, pool.name)
        do {
            try manager.engine.begin(
                op, on: &pool, templateTiming: nil, outcome: try outcomes.outcome(for: op, service: Pools.service, scope: scope, template: name, ctx),
                now: now)
        } catch let e as LifecycleError {
            throw APIError(.conflict, "pool \(e)")
        }
    }
}

/// A Kubernetes-style label selector: `key=value`, `key==value`, `key!=value` and `key` (exists), comma-separated.
struct LabelSelector {
    enum Term {
        case equals(String, String), notEquals(String, String), exists(String)
    }

    let terms: [Term]

    init(_ text: String) throws(APIError) {
        var terms: [Term] = []
        for part in text.split(separator: ",").map({ $0.trimmingSpaces() }) where !part.isEmpty {
            let bytes = Array(part.utf8)
            if let i = bytes.firstIndex(of: UInt8(ascii: "=")) {
                let negated = i > 0 && bytes[i - 1] == UInt8(ascii: "!")
                let keyEnd = negated ? i - 1 : i
                let valueStart = i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "=") ? i + 2 : i + 1
                let key = String(decoding: bytes[..<keyEnd], as: UTF8.self), value = String(decoding: bytes[valueStart...], as: UTF8.self)
                terms.append(negated ? .notEquals(key, value) : .equals(key, value))
            } else {
                terms.append(.exists(part))
            }
        }
        for term in terms {
            switch term {
            case .equals(let k, _), .notEquals(let k, _), .exists(let k):
                if k.isEmpty { throw APIError(.badRequest, "labelSelector has a term without a key: \"\(text)\"") }
            }
        }
        self.terms = terms
    }

    func matches(_ labels: JSONDocument) -> Bool {
        terms.allSatisfy { term in
            switch term {
            case let .equals(k, v): return labels.string(k) == v
            case let .notEquals(k, v): return labels.string(k) != v
            case let .exists(k): return labels[k] != nil
            }
        }
    }
}
