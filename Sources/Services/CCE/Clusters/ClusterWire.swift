import AddonMockCore
import AddonMockKit

/// Clusters, node pools, nodes and jobs as the CCE API writes them, field for field as `huaweicloudsdkcce`'s models
/// name them. A cluster's and a node pool's `spec` is the stored document (what the client sent, defaults filled in
/// at create); `status` is made from the phase and the record's status document.
enum ClusterWire {
    static func clusterBody(_ c: Resource) -> [UInt8] { one(c, writeCluster) }
    static func clusterList(_ items: [Resource]) -> [UInt8] { list("Cluster", items, writeCluster) }
    static func nodePoolBody(_ p: Resource) -> [UInt8] { one(p, writeNodePool) }
    static func nodePoolList(_ items: [Resource]) -> [UInt8] { list("List", items, writeNodePool) }
    static func nodeBody(_ node: Node) -> [UInt8] { one(node, writeNode) }
    static func nodeList(_ nodes: [Node]) -> [UInt8] { list("List", nodes, writeNode) }

    private static func one<T>(_ item: T, _ write: (T, inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        write(item, &w)
        return w.bytes
    }

    /// `{"kind": kind, "apiVersion": "v3", "items": […]}`.
    private static func list<T>(_ kind: String, _ items: [T], _ write: (T, inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + items.count * 1024)
        w.beginObject()
        w.field("kind", kind)
        w.field("apiVersion", "v3")
        w.key("items")
        w.beginArray()
        for item in items { write(item, &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private static func writeCluster(_ c: Resource, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("kind", "Cluster")
        w.field("apiVersion", "v3")
        w.key("metadata")
        w.beginObject()
        w.field("name", c.name)
        w.field("uid", c.id)
        w.field("alias", c.status.string("alias") ?? c.name)
        w.field("annotations", c.status["annotations"] ?? .emptyObject)
        w.field("labels", c.status["labels"] ?? .emptyObject)
        w.field("creationTimestamp", c.createdAt.rfc3339)
        w.field("updateTimestamp", c.updatedAt.rfc3339)
        w.field("timezone", "Etc/UTC")
        w.endObject()
        w.field("spec", c.spec.rawJSON)
        w.key("status")
        w.beginObject()
        w.field("phase", c.phase.rawValue)
        w.field("jobID", c.status.string("jobID") ?? "")
        w.field("reason", c.reason)
        w.field("message", c.message)
        w.key("endpoints")
        w.beginArray()
        let ip = privateIP(for: c.id)
        w.beginObject(); w.field("url", "https://\(ip):5443"); w.field("type", "Internal"); w.endObject()
        w.endArray()
        w.field("isLocked", false)
        w.endObject()
        w.endObject()
    }

    /// `status.phase` as CCE shows a node pool's: empty when it is ready.
    static func nodePoolPhase(_ p: Resource) -> String { Clusters.nodePoolKind.status(p.phase) }

    private static func writeNodePool(_ p: Resource, _ w: inout JSONWriter) {
        let nodes = NodeSet(pool: p)
        w.beginObject()
        w.field("kind", "NodePool")
        w.field("apiVersion", "v3")
        w.key("metadata")
        w.beginObject()
        w.field("name", p.name)
        w.field("uid", p.id)
        w.field("annotations", p.status["annotations"] ?? .emptyObject)
        w.field("creationTimestamp", p.createdAt.rfc3339)
        w.field("updateTimestamp", p.updatedAt.rfc3339)
        w.endObject()
        w.field("spec", p.spec.rawJSON)
        w.key("status")
        w.beginObject()
        w.key("currentNode"); w.number(Int64(nodes.current))
        w.key("creatingNode"); w.number(Int64(nodes.creating))
        w.key("deletingNode"); w.number(Int64(nodes.deleting))
        w.key("activeNode"); w.number(Int64(nodes.current - nodes.deleting))
        w.field("phase", nodePoolPhase(p))
        w.field("jobId", p.status.string("jobID") ?? "")
        w.key("conditions"); w.beginArray(); w.endArray()
        w.endObject()
        w.endObject()
    }

    private static func writeNode(_ n: Node, _ w: inout JSONWriter) {
        let template = n.pool.spec["nodeTemplate"].map { JSONDocument(trusted: $0.bytes) } ?? .empty
        w.beginObject()
        w.field("kind", "Node")
        w.field("apiVersion", "v3")
        w.key("metadata")
        w.beginObject()
        w.field("name", n.name)
        w.field("uid", n.id)
        w.key("annotations")
        w.beginObject(); w.field("kubernetes.io/node-pool.id", n.pool.id); w.endObject()
        w.field("creationTimestamp", n.pool.createdAt.rfc3339)
        w.field("updateTimestamp", n.pool.updatedAt.rfc3339)
        w.key("ownerReferences")
        w.beginObject(); w.field("nodepoolName", n.pool.name); w.field("nodepoolID", n.pool.id); w.endObject()
        w.endObject()
        w.key("spec")
        w.beginObject()
        for key in ["flavor", "az", "os", "login", "rootVolume", "dataVolumes", "runtime", "k8sTags", "taints"] {
            if let v = template[key] { w.field(key, v) }
        }
        w.key("billingMode"); w.number(0)
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("phase", n.phase)
        w.field("jobID", n.pool.status.string("jobID") ?? "")
        w.field("serverId", n.serverID)
        w.field("privateIP", n.privateIP)
        w.endObject()
        w.endObject()
    }

    static func jobBody(_ job: Resource, phase: Phase, reason: String) -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        let type = job.spec.string("type") ?? ""
        w.beginObject()
        w.field("kind", "Job")
        w.field("apiVersion", "v3")
        w.key("metadata")
        w.beginObject()
        w.field("uid", job.name)
        w.field("creationTimestamp", job.createdAt.rfc3339)
        w.field("updateTimestamp", job.updatedAt.rfc3339)
        w.endObject()
        w.key("spec")
        w.beginObject()
        w.field("type", type)
        w.field("clusterUID", job.spec.string("clusterUID") ?? "")
        w.field("resourceID", job.spec.string("resourceID") ?? "")
        w.field("resourceName", job.spec.string("resourceName") ?? "")
        w.key("extendParam"); w.beginObject(); w.endObject()
        // One sub-job per job, in the same phase: the real service splits an operation into steps a client
        // only displays.
        w.key("subJobs")
        w.beginArray()
        w.beginObject()
        w.field("kind", "Job")
        w.field("apiVersion", "v3")
        w.key("metadata"); w.beginObject(); w.field("uid", job.name + "-1"); w.endObject()
        w.key("spec"); w.beginObject(); w.field("type", type + "Task"); w.field("clusterUID", job.spec.string("clusterUID") ?? ""); w.endObject()
        w.key("status"); w.beginObject(); w.field("phase", phase.rawValue); w.field("reason", reason); w.endObject()
        w.endObject()
        w.endArray()
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("phase", phase.rawValue)
        w.field("reason", reason)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// A kubeconfig (`CreateKubernetesClusterCertResponse`) whose server is the cluster's placeholder endpoint and
    /// whose certificate data are placeholders: enough for tools that read the file, not for a real API server.
    static func kubeconfig(_ c: Resource, expiresAt: Instant) -> [UInt8] {
        let ip = privateIP(for: c.id)
        let placeholder = "YWRkb25tb2NrIHBsYWNlaG9sZGVyIGNlcnRpZmljYXRl" // "addonmock placeholder certificate"
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.field("kind", "Config")
        w.field("apiVersion", "v1")
        w.key("preferences"); w.beginObject(); w.endObject()
        w.key("clusters")
        w.beginArray()
        w.beginObject()
        w.field("name", "internalCluster")
        w.key("cluster")
        w.beginObject()
        w.field("server", "https://\(ip):5443")
        w.field("certificate-authority-data", placeholder)
        w.endObject()
        w.endObject()
        w.endArray()
        w.key("users")
        w.beginArray()
        w.beginObject()
        w.field("name", "user")
        w.key("user")
        w.beginObject()
        w.field("client-certificate-data", placeholder)
        w.field("client-key-data", placeholder)
        w.endObject()
        w.endObject()
        w.endArray()
        w.key("contexts")
        w.beginArray()
        w.beginObject()
        w.field("name", "internal")
        w.key("context"); w.beginObject(); w.field("cluster", "internalCluster"); w.field("user", "user"); w.endObject()
        w.endObject()
        w.endArray()
        w.field("current-context", "internal")
        w.field("expireAt", expiresAt.rfc3339)
        w.endObject()
        return w.bytes
    }

    /// A stable private address for a resource id: 192.168.x.y, x and y from a name-derived UUID (y in 2...254).
    static func privateIP(for id: String) -> String {
        let h = derivedBits("ip/" + id)
        return "192.168.\(h & 0xFF).\(2 + (h >> 8) % 253)"
    }

    /// 64 bits of `Identifiers.derivedUUID(name)`: the same for the same name in every process.
    static func derivedBits(_ name: String) -> UInt64 {
        UInt64(String(Identifiers.derivedUUID(name).filter { $0 != "-" }.prefix(16)), radix: 16) ?? 0
    }
}

/// The nodes of a node pool: not stored, but made from the run's `--seed`, the cluster's project and name, the pool's
/// name, its node count and what is in flight, so they are the same on every read, after a restart, and in another
/// run with the same seed that makes the same clusters and pools. While a pool grows, the nodes past its current count are
/// `Installing`; while it shrinks, those past its target are `Deleting`.
struct Node {
    let pool: Resource
    /// `seed/project/cluster name/pool name`: what makes its identity.
    let origin: String
    let index: Int
    let phase: String

    var id: String { Identifiers.derivedUUID(origin + "/node/" + String(index)) }
    /// `{pool}-xxxxx`, as CCE names a pool's nodes.
    var name: String {
        let suffix = String(ClusterWire.derivedBits(origin + "/name/" + String(index)) % 60_466_176, radix: 36)
        return "\(pool.name)-" + String(repeating: "0", count: 5 - suffix.count) + suffix
    }
    var serverID: String { Identifiers.derivedUUID(origin + "/server/" + String(index)) }
    var privateIP: String { ClusterWire.privateIP(for: id) }
}

struct NodeSet {
    let current: Int
    let target: Int

    init(pool: Resource) {
        current = pool.status["currentNode"]?.parsed().intValue ?? 0
        switch pool.pending?.operation {
        case Clusters.scale?: target = pool.pending?.target?.parsed().intValue ?? current
        case Clusters.create?: target = pool.spec["initialNodeCount"]?.parsed().intValue ?? 0
        case Clusters.delete?: target = 0
        default: target = current
        }
    }

    var creating: Int { max(0, target - current) }
    var deleting: Int { max(0, current - target) }

    /// `cluster` is the pool's; `seed` the run's.
    func nodes(of pool: Resource, in cluster: Resource, seed: UInt64) -> [Node] {
        let origin = "\(seed)/\(cluster.scope)/\(cluster.name)/\(pool.name)"
        return (0..<max(current, target)).map { i in
            Node(pool: pool, origin: origin, index: i, phase: i >= current ? "Installing" : i >= target ? "Deleting" : "Active")
        }
    }
}
