import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// Add-on checks (`BatchCreateAddonPrecheck`, `ListAddonPrecheckTasks`): one task per add-on named in a batch,
/// each running, then finding risks or none. A task's risks are worked out when it is created, from the stored
/// add-on and the catalog (the add-on exists and is of the named template, it is healthy and not busy; for an
/// upgrade check, the target version exists, is newer and runs on a cluster type the current version runs on);
/// the task shows them once it finishes. Stored as records of the service `addoncheck` in the cluster's scope,
/// named by their task id, their spec `{"targetVersion", "task"}` (the task's type, add-on, values and risks).
enum AddonCheck {
    static let service = "addoncheck"
    static let running: Phase = "Running", success: Phase = "Success", failed: Phase = "Failed"

    static let run: Operation = "run"

    /// A check runs once: `Running -> Success | Failed`; it has no other operation.
    static let lifecycle = LifecycleTable(
        steps: [run: LifecycleTable.Step(inFlight: running, succeeded: success, failed: failed)],
        degraded: failed, settled: [success, failed], healthy: [success])

    /// Derived from the add-ons they check: neither seeded nor exported.
    static let kind = ResourceKind(
        name: "addonchecks", services: [service], scopeFields: ["cluster"], lifecycle: lifecycle,
        shown: [ShownField("targetVersion") { $0.spec["targetVersion"] ?? .null }], entries: nil, parent: ParentLink(kind: "clusters"),
        title: "Add-on checks")

    /// How long a finished task is said to be kept (`metadata.expireTimeStamp`); the emulator keeps it until a reset.
    static let retentionMilliseconds: Int64 = 24 * 3_600_000

    static let types: Set<String> = ["addonStatic", "addonUpgrade"]
    /// The reason of a task that failed because it found risks (not because a failure was forced).
    static let riskReason = "AddonCheckRisk"
}

/// One entry of `spec.addonList`.
struct AddonCheckItem {
    let templateName: String?
    let instanceID: String
    let targetVersion: String?
    let type: String
    let values: JSONValue?

    /// Field rules from the SDK's `AddonInfo`: `addonInstanceID` and `type` required, `targetVersion` required for
    /// an upgrade check.
    static func decode(_ item: BodyReader) throws(APIError) -> AddonCheckItem {
        let type = try item.string("type")
        guard AddonCheck.types.contains(type) else {
            throw APIError(.badRequest, "\(item.path).type must be addonStatic or addonUpgrade, got \(IdentifierRule.quoted(type))")
        }
        let target = type == "addonUpgrade" ? try item.string("targetVersion") : try item.optionalString("targetVersion")
        if let target, !target.isEmpty { try IdentifierRule.check(target, field: "\(item.path).targetVersion") }
        return AddonCheckItem(
            templateName: try item.optionalIdentifier("addonTemplateName"),
            instanceID: try item.identifier("addonInstanceID"),
            targetVersion: target.flatMap { $0.isEmpty ? nil : $0 },
            type: type,
            values: try item.optionalObject("values")?.value)
    }
}

/// The handlers, mounted under `/api/v3/projects/{project_id}/clusters/{cluster_id}/addons/precheck`.
struct AddonCheckService {
    let manager: ResourceManager
    let catalog: Catalog
    let outcomes: any OutcomeDecider

    static let maxItems = 100

    var routes: [ServiceRoute] {
        let base = "/api/v3/projects/{project_id}/clusters/{cluster_id}/addons/precheck"
        return [
            ServiceRoute("POST", base, service: AddonCheck.service) { try create($0) },
            ServiceRoute("GET", base + "/tasks", service: AddonCheck.service) { try list($0) },
        ]
    }

    /// `kind` and `apiVersion` are not read, as for add-ons: the SDK calls both fixed values.
    private func create(_ ctx: RequestContext) throws -> HTTPResponse {
        let cluster = ctx.parameters["cluster_id"]
        let spec = try ctx.body().object("spec")
        if let named = try spec.optionalString("clusterID"), !named.isEmpty, named != cluster {
            throw APIError(.badRequest, "spec.clusterID \(IdentifierRule.quoted(named)) does not match cluster \"\(cluster)\" of the path")
        }
        guard case .array(let list)? = spec.optional("addonList") else {
            throw APIError(.badRequest, "spec.addonList is required: an array of {addonInstanceID, type, targetVersion?, addonTemplateName?}")
        }
        guard (1...Self.maxItems).contains(list.count) else {
            throw APIError(.badRequest, "spec.addonList must name 1 to \(Self.maxItems) add-ons, got \(list.count)")
        }
        var items: [AddonCheckItem] = []
        for (i, entry) in list.enumerated() {
            guard entry.isObject else { throw APIError(.badRequest, "spec.addonList[\(i)] must be an object, got \(entry.typeName)") }
            items.append(try AddonCheckItem.decode(BodyReader(entry, path: "spec.addonList[\(i)]")))
        }
        // Risks and outcomes are decided before the write, from the add-ons as they are now.
        let planned = try items.map { item in
            let addon = try manager.resource(id: item.instanceID).flatMap { $0.service == "cce" && $0.scope == cluster ? $0 : nil }
            let risks = risks(of: item, addon: addon, cluster: cluster)
            let template = item.templateName ?? addon?.name ?? ""
            let decided = try outcomes.outcome(for: AddonCheck.run, service: AddonCheck.service, scope: cluster, template: template, ctx)
            return (item, addon, template, risks, Self.outcome(decided, risks))
        }
        let tasks = try manager.create(for: ctx.writes) { now in
            planned.map { item, addon, template, risks, outcome in
                let id = Identifiers.uuid()
                let task = JSONValue.object([
                    ("type", .string(item.type)),
                    ("addonTemplateName", .string(template)),
                    ("addonInstanceID", .string(item.instanceID)),
                    ("addonInstanceName", .string(addon?.name ?? "")),
                    ("values", item.values ?? .object([])),
                    ("risks", .array(risks.map(\.json))),
                ])
                return manager.engine.create(
                    id: id, service: AddonCheck.service, scope: cluster, name: id,
                    spec: JSONDocument([("targetVersion", .string(item.targetVersion ?? "")), ("task", RawJSON(task))]),
                    outcome: outcome, now: now)
            }
        }
        tasks.forEach(ctx.touched)
        return .json(200, AddonCheckWire.batchBody(cluster: cluster, items: list, tasks: tasks))
    }

    private func list(_ ctx: RequestContext) throws -> HTTPResponse {
        let query = ctx.request
        let type = query.queryValue("type").flatMap { $0.isEmpty ? nil : $0 }
        if let type, !AddonCheck.types.contains(type) {
            throw APIError(.badRequest, "type must be addonStatic or addonUpgrade, got \(IdentifierRule.quoted(type))")
        }
        let taskID = try query.queryValue("task_id").flatMap { $0.isEmpty ? nil : try IdentifierRule.check($0, field: "task_id") }
        let instanceID = try query.queryValue("addon_instance_id").flatMap {
            $0.isEmpty ? nil : try IdentifierRule.check($0, field: "addon_instance_id")
        }
        let tasks = try manager.resources(service: AddonCheck.service, scope: ctx.parameters["cluster_id"]).filter { task in
            let task = AddonCheckWire.Task(task)
            return (taskID == nil || task.record.id == taskID) && (type == nil || task.type == type)
                && (instanceID == nil || task.instanceID == instanceID)
        }
        tasks.forEach(ctx.touched)
        return .json(200, AddonCheckWire.listBody(tasks))
    }

    /// A risk found makes the check fail; a forced failure wins over a clean result.
    static func outcome(_ decided: Outcome, _ risks: [Risk]) -> Outcome {
        guard decided == .succeed else { return decided }
        let found = risks.filter { $0.found }
        guard let first = found.first else { return .succeed }
        return .fail(reason: AddonCheck.riskReason, message: "\(found.count) risk\(found.count == 1 ? "" : "s") found: \(first.message)")
    }

    // MARK: risks

    struct Risk {
        let name: String
        /// `Fatal` (may not be skipped) or `Warning`.
        let level: String
        let found: Bool
        let message: String

        var json: JSONValue {
            .object([("riskName", .string(name)), ("level", .string(level)), ("found", .bool(found)), ("message", .string(message))])
        }
    }

    /// What checking `item` finds on `addon` (nil: no such add-on in the cluster).
    func risks(of item: AddonCheckItem, addon: Resource?, cluster: String) -> [Risk] {
        guard let addon else {
            return [
                Risk(
                    name: "AddonInstanceExists", level: "Fatal", found: true,
                    message: "addon instance \(item.instanceID) not found in cluster \(cluster)")
            ]
        }
        var risks = [
            Risk(
                name: "AddonInstanceExists", level: "Fatal", found: false,
                message: "addon instance \(addon.id) is \(addon.name) in cluster \(cluster)")
        ]
        if let named = item.templateName {
            let same = catalog.template(named: named)?.name == addon.name
            risks.append(
                Risk(
                    name: "AddonTemplateMatches", level: "Fatal", found: !same,
                    message: same ? "the instance is of template \(named)" : "addon instance \(addon.id) is \(addon.name), not \(named)"))
        }
        risks.append(statusRisk(addon))
        if item.type == "addonUpgrade", let target = item.targetVersion { risks += upgradeRisks(addon, to: target) }
        return risks
    }

    private func statusRisk(_ addon: Resource) -> Risk {
        let name = "AddonInstanceStatus"
        if addon.isInFlight {
            return Risk(name: name, level: "Fatal", found: true, message: "the add-on is \(addon.phase.rawValue): wait until its operation finishes")
        }
        if LifecycleTable.managedPackage.healthy.contains(addon.phase) {
            return Risk(name: name, level: "Warning", found: false, message: "the add-on is \(addon.phase.rawValue)")
        }
        let why = addon.reason.isEmpty ? "" : " (\(addon.reason))"
        return Risk(name: name, level: "Warning", found: true, message: "the add-on is \(addon.phase.rawValue)\(why)")
    }

    private func upgradeRisks(_ addon: Resource, to target: String) -> [Risk] {
        guard let template = catalog.template(named: addon.name), let version = template.version(target) else {
            return [Risk(name: "TargetVersionExists", level: "Fatal", found: true, message: "version \(target) of \(addon.name) does not exist")]
        }
        let current = addon.revision.version
        let newer = VersionOrder.isLess(current, target)
        let running = Self.clusterTypes(template.version(current)), offered = Self.clusterTypes(version)
        let shared = running.isEmpty || !running.isDisjoint(with: offered)
        return [
            Risk(name: "TargetVersionExists", level: "Fatal", found: false, message: "version \(target) of \(addon.name) exists"),
            Risk(
                name: "TargetVersionNewer", level: "Warning", found: !newer,
                message: newer ? "\(target) is newer than the current \(current)" : "\(target) is not newer than the current \(current)"),
            Risk(
                name: "ClusterTypeSupported", level: "Fatal", found: !shared,
                message: shared
                    ? "\(target) supports the cluster types \(current) runs on"
                    : "\(target) supports none of the cluster types \(current) runs on (\(running.sorted().joined(separator: ", ")))"),
        ]
    }

    /// The cluster types a version lists in `supportVersions`.
    static func clusterTypes(_ version: TemplateVersion?) -> Set<String> {
        guard case .array(let entries)? = version?.supportVersions else { return [] }
        return Set(entries.compactMap { $0["clusterType"]?.stringValue })
    }
}

/// Records -> the wire shapes of the SDK models: `AddonCheckTask` (metadata, spec, status with `riskList`) and
/// the batch answer `AddonCheck` (the request's spec echoed, `status.phase` and one `itemsStatus` entry per task).
/// The batch answer also lists the tasks under `status.items`, where the API page says their task ids are found.
enum AddonCheckWire {
    /// A stored task read back.
    struct Task {
        let record: Resource
        let document: JSONValue

        init(_ record: Resource) {
            self.record = record
            document = record.spec["task"]?.parsed() ?? .object([])
        }

        var type: String { document["type"]?.stringValue ?? "" }
        var instanceID: String { document["addonInstanceID"]?.stringValue ?? "" }

        /// The task's status word, and each risk's: `Running` until the task ends. A task forced to success
        /// shows every risk passed.
        var status: String { record.phase.rawValue }

        func riskStatus(found: Bool) -> String {
            switch record.phase {
            case AddonCheck.running: return "Running"
            case AddonCheck.success: return "Success"
            default: return found ? "Failed" : "Success"
            }
        }

        /// Risks found are told in the message; a forced failure also names its reason.
        var message: String {
            switch record.phase {
            case AddonCheck.running: return "checking"
            case AddonCheck.success: return record.message.isEmpty ? "no risk found" : record.message
            default:
                if record.reason.isEmpty || record.reason == AddonCheck.riskReason { return record.message }
                return record.message.isEmpty ? record.reason : "\(record.reason): \(record.message)"
            }
        }
    }

    static func write(_ record: Resource, to w: inout JSONWriter) {
        let task = Task(record)
        let d = task.document
        w.beginObject()
        w.key("metadata")
        w.beginObject()
        w.field("type", task.type)
        w.field("taskID", record.id)
        w.field("addonTemplateName", d["addonTemplateName"]?.stringValue ?? "")
        w.field("addonInstanceName", d["addonInstanceName"]?.stringValue ?? "")
        w.field("addonInstanceID", task.instanceID)
        w.field("createTimeStamp", record.createdAt.rfc3339)
        if !record.isInFlight { w.field("expireTimeStamp", record.updatedAt.adding(milliseconds: AddonCheck.retentionMilliseconds).rfc3339) }
        w.endObject()
        w.key("spec")
        w.beginObject()
        w.field("addonTargetVersion", record.spec["targetVersion"] ?? .string(""))
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("status", task.status)
        w.field("message", task.message)
        w.key("riskList")
        w.beginArray()
        if case .array(let risks)? = d["risks"] {
            for risk in risks {
                w.beginObject()
                w.field("riskName", risk["riskName"]?.stringValue ?? "")
                w.field("level", risk["level"]?.stringValue ?? "")
                w.field("status", task.riskStatus(found: risk["found"] == .bool(true)))
                w.field("message", risk["message"]?.stringValue ?? "")
                w.endObject()
            }
        }
        w.endArray()
        w.endObject()
        w.endObject()
    }

    private static func begin(_ w: inout JSONWriter) {
        w.beginObject()
        w.field("kind", "AddonCheck")
        w.field("apiVersion", "v3")
    }

    static func listBody(_ tasks: [Resource]) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + tasks.count * 1024)
        begin(&w)
        w.key("pageInfo")
        w.beginObject()
        w.key("currentCount"); w.number(Int64(tasks.count))
        w.endObject()
        w.key("items")
        w.beginArray()
        for t in tasks { write(t, to: &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// The batch's phase: Running while any task runs, Failed if any failed, else Success.
    static func phase(_ tasks: [Resource]) -> Phase {
        if tasks.contains(where: \.isInFlight) { return AddonCheck.running }
        return tasks.contains { $0.phase == AddonCheck.failed } ? AddonCheck.failed : AddonCheck.success
    }

    static func batchBody(cluster: String, items: [JSONValue], tasks: [Resource]) -> [UInt8] {
        var w = JSONWriter(capacity: 512 + tasks.count * 1536)
        begin(&w)
        w.key("spec")
        w.beginObject()
        w.field("clusterID", cluster)
        w.key("addonList"); w.value(.array(items))
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("phase", phase(tasks).rawValue)
        w.key("itemsStatus")
        w.beginArray()
        for record in tasks {
            let task = Task(record)
            let template = task.document["addonTemplateName"]?.stringValue ?? ""
            w.beginObject()
            w.field("name", record.id)
            w.field("kind", "Risk")
            w.field("group", "AddonCheck")
            w.field("level", record.phase == AddonCheck.failed ? "Warning" : "Info")
            w.field("phase", task.status)
            w.field(
                "message", "\(task.type) check of \(template.isEmpty ? "add-on" : template) \(task.instanceID): task \(record.id), \(task.message)")
            w.key("errorCodes"); w.beginArray(); w.endArray()
            w.endObject()
        }
        w.endArray()
        w.key("items")
        w.beginArray()
        for t in tasks { write(t, to: &w) }
        w.endArray()
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
