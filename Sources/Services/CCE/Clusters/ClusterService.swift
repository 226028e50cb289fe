import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The cluster API under `/api/v3/projects/{project_id}`: clusters, their node pools and nodes, and the jobs their
/// operations run as; and Autopilot clusters under `/autopilot/v3/projects/{project_id}` (no node pools, no
/// hibernation). Every operation that takes time starts a job (`status.jobID`) that terraform waits on first.
struct ClusterService {
    let manager: ResourceManager
    let outcomes: any OutcomeDecider
    /// `/api/v3` or `/autopilot/v3`.
    let prefix: String
    /// The clusters' service name in that namespace.
    let clusterService: String
    /// `--seed`: nodes are made from it.
    let seed: UInt64

    var isAutopilot: Bool { clusterService == Clusters.autopilotService }

    var routes: [ServiceRoute] {
        let clusters = "\(prefix)/projects/{project_id}/clusters"
        let cluster = "\(clusters)/{cluster_id}"
        let pools = "\(cluster)/nodepools"
        let common = [
            ServiceRoute("POST", clusters, service: clusterService) { try createCluster($0) },
            ServiceRoute("GET", clusters, service: clusterService) { try listClusters($0) },
            ServiceRoute("GET", cluster, service: clusterService) { try showCluster($0) },
            ServiceRoute("PUT", cluster, service: clusterService) { try updateCluster($0) },
            ServiceRoute("DELETE", cluster, service: clusterService) { try operate(Clusters.delete, $0) },
            ServiceRoute("POST", "\(cluster)/clustercert", service: clusterService) { try clusterCert($0) },
            ServiceRoute("GET", "\(prefix)/projects/{project_id}/jobs/{job_id}", service: Clusters.jobService) { try showJob($0) },
        ]
        if isAutopilot { return common }
        return common + [
            ServiceRoute("POST", "\(cluster)/operation/hibernate", service: clusterService) { try operate(Clusters.hibernate, $0) },
            ServiceRoute("POST", "\(cluster)/operation/awake", service: clusterService) { try operate(Clusters.awake, $0) },
            ServiceRoute("POST", pools, service: Clusters.nodePoolService) { try createNodePool($0) },
            ServiceRoute("GET", pools, service: Clusters.nodePoolService) { try listNodePools($0) },
            ServiceRoute("GET", "\(pools)/{nodepool_id}", service: Clusters.nodePoolService) { try showNodePool($0) },
            ServiceRoute("PUT", "\(pools)/{nodepool_id}", service: Clusters.nodePoolService) { try updateNodePool($0) },
            ServiceRoute("DELETE", "\(pools)/{nodepool_id}", service: Clusters.nodePoolService) { try deleteNodePool($0) },
            ServiceRoute("POST", "\(pools)/{nodepool_id}/operation/scale", service: Clusters.nodePoolService) { try scaleNodePool($0) },
            ServiceRoute("GET", "\(cluster)/nodes", service: Clusters.nodePoolService) { try listNodes($0) },
            ServiceRoute("GET", "\(cluster)/nodes/{node_id}", service: Clusters.nodePoolService) { try showNode($0) },
        ]
    }

    // MARK: clusters

    private func createCluster(_ ctx: RequestContext) throws -> HTTPResponse {
        let project = ctx.parameters["project_id"]
        let request = try ClusterRequest.decode(try ctx.body(), autopilot: isAutopilot)
        let id = Identifiers.uuid()
        let jobID = Identifiers.uuid()
        let made = try manager.createOrModify(
            service: clusterService, scope: project, name: request.name, for: ctx.writes,
            create: { now in
                var cluster = manager.engine.create(
                    id: id, service: clusterService, scope: project, name: request.name, spec: JSONDocument(request.spec),
                    outcome: try outcomes.outcome(for: Clusters.create, service: clusterService, scope: project, template: request.name, ctx),
                    now: now)
                cluster.status["jobID"] = .string(jobID)
                if let alias = request.alias { cluster.status["alias"] = .string(alias) }
                if let annotations = request.annotations { cluster.status["annotations"] = RawJSON(annotations) }
                if let labels = request.labels { cluster.status["labels"] = RawJSON(labels) }
                return cluster
            },
            modify: { existing, _ in
                throw APIError(.conflict, "cluster name \(request.name) already exists in project \(project) as \(existing.id)")
            })
        try startJob(jobID, type: "CreateCluster", project: project, cluster: made.id, subject: made, ctx)
        ctx.touched(made)
        // 201 with status.jobID: terraform's huaweicloud_cce_cluster waits on the job, then on the cluster.
        return .json(201, ClusterWire.clusterBody(made))
    }

    private func listClusters(_ ctx: RequestContext) throws -> HTTPResponse {
        let project = ctx.parameters["project_id"]
        let status = ctx.request.queryValue("status").flatMap { $0.isEmpty ? nil : $0 }
        let type = ctx.request.queryValue("type").flatMap { $0.isEmpty ? nil : $0 }
        let version = ctx.request.queryValue("version").flatMap { $0.isEmpty ? nil : $0 }
        let items = try manager.resources(service: clusterService, scope: project).filter { c in
            (status == nil || c.phase.rawValue == status) && (type == nil || c.spec.string("type") == type)
                && (version == nil || c.spec.string("version") == version)
        }
        items.forEach(ctx.touched)
        return .json(200, ClusterWire.clusterList(items))
    }

    private func showCluster(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        ctx.touched(cluster)
        return .json(200, ClusterWire.clusterBody(cluster))
    }

    private func updateCluster(_ ctx: RequestContext) throws -> HTTPResponse {
        let (project, id) = (ctx.parameters["project_id"], ctx.parameters["cluster_id"])
        let update = try ClusterUpdate.decode(try ctx.body())
        let changed = try manager.modify(
            id: id, for: ctx.writes, belongs: { $0.service == clusterService && $0.scope == project },
            notFound: { clusterNotFound(id) }
        ) { cluster, now in
            guard cluster.phase != Clusters.deleting else {
                throw APIError(.conflict, "cluster \(id) is Deleting and cannot be updated")
            }
            cluster.spec = JSONDocument(cluster.spec.value.merging(update.spec))
            if let alias = update.alias { cluster.status["alias"] = .string(alias) }
            cluster.updatedAt = now
        }
        ctx.touched(changed)
        return .json(200, ClusterWire.clusterBody(changed))
    }

    /// Hibernate, awake, delete: an operation of the cluster's table, with a job.
    private func operate(_ op: Operation, _ ctx: RequestContext) throws -> HTTPResponse {
        let (project, id) = (ctx.parameters["project_id"], ctx.parameters["cluster_id"])
        let jobID = Identifiers.uuid()
        let (before, after) = try begin(
            op, id: id, service: clusterService, scope: project, jobID: jobID, notFound: { clusterNotFound(id) }, ctx)
        let type = op == Clusters.delete ? "DeleteCluster" : op == Clusters.hibernate ? "HibernateCluster" : "AwakeCluster"
        try startJob(jobID, type: type, project: project, cluster: id, subject: after, previous: before, ctx)
        ctx.touched(after)
        if op == Clusters.delete { return .json(200, ClusterWire.clusterBody(after)) }
        return .json(200, Array("{}".utf8))
    }

    private func clusterCert(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        let body = try ctx.body()
        let duration = try body.optionalInt("duration", in: -1...1827)
        if duration == 0 { throw APIError(.badRequest, "duration must be -1 (five years) or 1 to 1827 days, got 0") }
        if duration == nil, try body.optionalString("expire_at") == nil {
            throw APIError(.badRequest, "duration or expire_at is required")
        }
        let days = Int64(duration == nil || duration == -1 ? 1826 : duration!)
        ctx.touched(cluster)
        return .json(200, ClusterWire.kubeconfig(cluster, expiresAt: manager.clock.now().adding(milliseconds: days * 86_400_000)))
    }

    private func cluster(_ ctx: RequestContext) throws -> Resource {
        let (project, id) = (ctx.parameters["project_id"], ctx.parameters["cluster_id"])
        guard let cluster = try manager.resource(id: id), cluster.service == clusterService, cluster.scope == project else {
            throw clusterNotFound(id)
        }
        return cluster
    }

    private func clusterNotFound(_ id: String) -> APIError {
        APIError(.notFound, "cluster \(id) not found")
    }

    // MARK: jobs

    /// Records the job an operation runs as; when it replaces an earlier operation's job on the same subject, that
    /// job is written down finished, as the subject showed it just before (`previous`).
    private func startJob(
        _ id: String, type: String, project: String, cluster: String, subject: Resource, previous: Resource? = nil,
        _ ctx: RequestContext
    ) throws {
        if let previous, let old = previous.status.string("jobID"), !old.isEmpty {
            let (phase, reason) = ClusterJobs.phase(
                of: old, operation: previous.pending?.operation, subject: previous)
            _ = try? manager.modify(id: old, for: ctx.writes, belongs: { $0.service == Clusters.jobService }, notFound: { clusterNotFound(old) }) {
                job, now in
                guard job.phase == Clusters.running else { return }
                job.phase = phase == Clusters.running ? Clusters.success : phase
                job.reason = reason
                job.updatedAt = now
            }
        }
        _ = try manager.create(for: ctx.writes) { now in
            [
                Resource(
                    id: id, service: Clusters.jobService, scope: project, name: id,
                    spec: JSONDocument([
                        ("type", .string(type)), ("clusterUID", .string(cluster)), ("resourceID", .string(subject.id)),
                        ("resourceName", .string(subject.name)), ("service", .string(subject.service)),
                        ("operation", .string(subject.pending?.operation.rawValue ?? "")),
                    ]),
                    phase: Clusters.running, createdAt: now, updatedAt: now)
            ]
        }
    }

    private func showJob(_ ctx: RequestContext) throws -> HTTPResponse {
        let (project, id) = (ctx.parameters["project_id"], ctx.parameters["job_id"])
        guard let job = try manager.resource(id: id), job.service == Clusters.jobService, job.scope == project,
            (job.spec.string("service") == Clusters.autopilotService) == isAutopilot
        else {
            throw APIError(.notFound, "job \(id) not found")
        }
        var phase = job.phase
        var reason = job.reason
        if job.phase == Clusters.running, let subjectID = job.spec.string("resourceID") {
            let subject = try manager.resource(id: subjectID)
            (phase, reason) = ClusterJobs.phase(
                of: id, operation: job.spec.string("operation").map { Operation($0) }, subject: subject)
            // The first fifth of its operation's time it is still being set up, as real jobs start.
            if phase == Clusters.running, let due = subject?.pending?.dueAt,
                manager.clock.now().milliseconds < job.createdAt.milliseconds + (due.milliseconds - job.createdAt.milliseconds) / 5
            {
                phase = Clusters.initializing
            }
        }
        ctx.touched(job)
        return .json(200, ClusterWire.jobBody(job, phase: phase, reason: reason))
    }

    // MARK: node pools

    private func createNodePool(_ ctx: RequestContext) throws -> HTTPResponse {
        let project = ctx.parameters["project_id"]
        let cluster = try self.cluster(ctx)
        guard cluster.phase == Clusters.available else {
            throw APIError(.badRequest, "cluster \(cluster.id) is \(cluster.phase.rawValue): node pools can be created only in an Available cluster")
        }
        let request = try NodePoolRequest.decode(try ctx.body())
        let jobID = Identifiers.uuid()
        let pool = try manager.createOrModify(
            service: Clusters.nodePoolService, scope: cluster.id, name: request.name, for: ctx.writes,
            create: { now in
                var pool = manager.engine.create(
                    id: Identifiers.uuid(), service: Clusters.nodePoolService, scope: cluster.id, name: request.name,
                    spec: JSONDocument(request.spec), status: JSONDocument([("currentNode", RawJSON(trusted: Array("0".utf8)))]),
                    outcome: try outcomes.outcome(
                        for: Clusters.create, service: Clusters.nodePoolService, scope: cluster.id, template: request.name, ctx),
                    now: now)
                pool.status["jobID"] = .string(jobID)
                return pool
            },
            modify: { existing, _ in
                throw APIError(.conflict, "node pool name \(request.name) already exists in cluster \(cluster.id) as \(existing.id)")
            })
        try startJob(jobID, type: "CreateNodePool", project: project, cluster: cluster.id, subject: pool, ctx)
        ctx.touched(pool)
        return .json(201, ClusterWire.nodePoolBody(pool))
    }

    private func listNodePools(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        let pools = try manager.resources(service: Clusters.nodePoolService, scope: cluster.id)
        pools.forEach(ctx.touched)
        return .json(200, ClusterWire.nodePoolList(pools))
    }

    private func showNodePool(_ ctx: RequestContext) throws -> HTTPResponse {
        let pool = try nodePool(ctx, in: try cluster(ctx))
        ctx.touched(pool)
        return .json(200, ClusterWire.nodePoolBody(pool))
    }

    private func updateNodePool(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        let id = ctx.parameters["nodepool_id"]
        let update = try NodePoolUpdate.decode(try ctx.body())
        let current = try nodePool(ctx, in: cluster)
        let count = current.spec["initialNodeCount"]?.parsed().intValue ?? 0
        if let wanted = update.nodeCount, wanted != count {
            return try scale(to: wanted, ctx, cluster: cluster, spec: update.spec)
        }
        let changed = try manager.modify(
            id: id, for: ctx.writes, belongs: { $0.service == Clusters.nodePoolService && $0.scope == cluster.id },
            notFound: { nodePoolNotFound(id) }
        ) { pool, now in
            pool.spec = JSONDocument(pool.spec.value.merging(update.spec))
            pool.updatedAt = now
        }
        ctx.touched(changed)
        return .json(200, ClusterWire.nodePoolBody(changed))
    }

    private func scaleNodePool(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        let spec = try ctx.body().object("spec")
        guard let count = try spec.optionalInt("desiredNodeCount", in: 0...NodePoolRequest.maxNodes) else {
            throw APIError(.badRequest, "spec.desiredNodeCount is required")
        }
        return try scale(to: count, ctx, cluster: cluster, spec: nil)
    }

    private func scale(to count: Int, _ ctx: RequestContext, cluster: Resource, spec: JSONValue?) throws -> HTTPResponse {
        let (project, id) = (ctx.parameters["project_id"], ctx.parameters["nodepool_id"])
        let jobID = Identifiers.uuid()
        let (before, after) = try begin(
            Clusters.scale, id: id, service: Clusters.nodePoolService, scope: cluster.id, jobID: jobID,
            input: RawJSON(trusted: Array(String(count).utf8)), notFound: { nodePoolNotFound(id) }, ctx,
            alsoChange: { pool in if let spec { pool.spec = JSONDocument(pool.spec.value.merging(spec)) } })
        try startJob(jobID, type: "ScaleNodePool", project: project, cluster: cluster.id, subject: after, previous: before, ctx)
        ctx.touched(after)
        return .json(200, ClusterWire.nodePoolBody(after))
    }

    private func deleteNodePool(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        let (project, id) = (ctx.parameters["project_id"], ctx.parameters["nodepool_id"])
        let jobID = Identifiers.uuid()
        let (before, after) = try begin(
            Clusters.delete, id: id, service: Clusters.nodePoolService, scope: cluster.id, jobID: jobID,
            notFound: { nodePoolNotFound(id) }, ctx)
        try startJob(jobID, type: "DeleteNodePool", project: project, cluster: cluster.id, subject: after, previous: before, ctx)
        ctx.touched(after)
        return .json(200, ClusterWire.nodePoolBody(after))
    }

    private func nodePool(_ ctx: RequestContext, in cluster: Resource) throws -> Resource {
        let id = ctx.parameters["nodepool_id"]
        guard let pool = try manager.resource(id: id), pool.service == Clusters.nodePoolService, pool.scope == cluster.id else {
            throw nodePoolNotFound(id)
        }
        return pool
    }

    private func nodePoolNotFound(_ id: String) -> APIError {
        APIError(.notFound, "node pool \(id) not found")
    }

    // MARK: nodes

    private func nodes(of cluster: Resource) throws -> [Node] {
        try manager.resources(service: Clusters.nodePoolService, scope: cluster.id).flatMap {
            NodeSet(pool: $0).nodes(of: $0, in: cluster, seed: seed)
        }
    }

    private func listNodes(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        ctx.touched(cluster)
        return .json(200, ClusterWire.nodeList(try nodes(of: cluster)))
    }

    private func showNode(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = try self.cluster(ctx)
        let id = ctx.parameters["node_id"]
        guard let node = try nodes(of: cluster).first(where: { $0.id == id }) else {
            throw APIError(.notFound, "node \(id) not found")
        }
        ctx.touched(node.pool)
        return .json(200, ClusterWire.nodeBody(node))
    }

    // MARK: helpers

    /// Starts `op` on the record `id`, stamping the job it runs as; returns the record as it was just before (settled)
    /// and after.
    private func begin(
        _ op: Operation, id: String, service: String, scope: String, jobID: String, input: RawJSON? = nil,
        notFound: @escaping () -> APIError, _ ctx: RequestContext, alsoChange: (inout Resource) -> Void = { _ in }
    ) throws -> (before: Resource, after: Resource) {
        var before: Resource?
        let after = try manager.modify(
            id: id, for: ctx.writes, belongs: { $0.service == service && $0.scope == scope }, notFound: notFound
        ) { record, now in
            before = record
            let name = record.name
            do {
                try manager.engine.begin(
                    op, on: &record, input: input, templateTiming: nil,
                    outcome: try outcomes.outcome(for: op, service: service, scope: scope, template: name, ctx), now: now)
            } catch let e as LifecycleError {
                throw APIError(.conflict, "\(e)")
            }
            alsoChange(&record)
            record.status["jobID"] = .string(jobID)
        }
        return (before ?? after, after)
    }
}

/// What a job reports while its operation is its subject's latest.
enum ClusterJobs {
    static func phase(of jobID: String, operation: Operation?, subject: Resource?) -> (Phase, String) {
        guard let subject else {
            // Gone: the delete it ran finished; any other operation's subject was deleted under it.
            return operation == Clusters.delete ? (Clusters.success, "") : (Clusters.failed, "the resource was deleted")
        }
        guard subject.status.string("jobID") == jobID else { return (Clusters.success, "") }
        if subject.pending != nil { return (Clusters.running, "") }
        let table = subject.service == Clusters.nodePoolService ? Clusters.nodePoolLifecycle : Clusters.lifecycle
        let failedPhases = Set(table.steps.values.map(\.failed)).union([table.degraded])
        if failedPhases.contains(subject.phase) { return (Clusters.failed, subject.reason.isEmpty ? subject.phase.rawValue : subject.reason) }
        return (Clusters.success, "")
    }
}
