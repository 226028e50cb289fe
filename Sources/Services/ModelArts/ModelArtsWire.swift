import AddonMockCore
import AddonMockKit

/// Domain -> ModelArts wire JSON: `Plugin`, `PluginList`, `PluginTemplateV2` (list) and `PluginTemplate` (v1 show),
/// field for field as the SDK's models name them.
struct ModelArtsWire: Sendable {
    let catalog: Catalog

    /// ModelArts' five phases over the stored add-on phases.
    static func status(_ p: Phase) -> String {
        switch p {
        case .installing: return "Pending"
        case .upgrading, .rollbacking: return "Updating"
        case .deleting: return "Deleting"
        case .running, .available: return "Running"
        default: return "Abnormal"
        }
    }

    /// Changes whenever the plug-in changes, like a Kubernetes resourceVersion: a digest of everything it shows
    /// and when it last changed (two changes within one second used to share the epoch second).
    static func resourceVersion(of i: Resource) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            hash = (hash ^ 0xFF) &* 0x0000_0100_0000_01B3
        }
        mix(String(i.updatedAt.milliseconds).utf8)
        mix(i.phase.rawValue.utf8)
        mix(i.revision.version.utf8)
        mix(i.revision.values.bytes)
        mix(i.reason.utf8)
        mix(i.message.utf8)
        mix((i.pending?.operation.rawValue ?? "").utf8)
        return String(hash % 1_000_000_000_000)
    }

    func pluginBody(_ i: Resource, detail: Bool) -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        write(i, detail: detail, to: &w)
        return w.bytes
    }

    /// The list of plug-ins, each item as `pluginBody(_:detail: true)` rendered it (a GET's cached body serves it too).
    func listBody(_ items: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(capacity: 512 + items.reduce(0) { $0 + $1.count })
        w.beginObject()
        w.field("apiVersion", "v2")
        w.field("kind", "PluginList")
        w.key("items")
        w.beginArray()
        for item in items { w.raw(RawJSON(trusted: item)) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private func write(_ i: Resource, detail: Bool, to w: inout JSONWriter) {
        w.beginObject()
        w.field("apiVersion", "v2")
        w.field("kind", "Plugin")
        w.key("metadata")
        w.beginObject()
        w.field("name", i.name)
        w.field("creationTimestamp", i.createdAt.rfc3339)
        w.endObject()
        w.key("spec")
        w.beginObject()
        w.key("template")
        w.beginObject()
        w.field("name", i.name)
        w.field("version", i.revision.version)
        w.field("inputs", i.revision.values)
        w.endObject()
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("phase", Self.status(i.phase))
        w.field("version", i.revision.version)
        w.field("reason", i.message.isEmpty ? i.reason : i.reason.isEmpty ? i.message : "\(i.reason): \(i.message)")
        // A string holding JSON, not an object: that is how the API reports the effective install parameters.
        w.field("values", i.revision.values.text)
        if detail {
            w.key("resources")
            w.beginArray()
            for workload in catalog.template(named: i.name)?.version(i.revision.version)?.workloads ?? [] {
                writeResource(workload, of: i, to: &w)
            }
            w.endArray()
        }
        w.endObject()
        w.endObject()
    }

    private func writeResource(_ workload: Workload, of i: Resource, to w: inout JSONWriter) {
        w.beginObject()
        w.key("involvedObject")
        w.beginObject()
        w.field("kind", workload.kind)
        w.field("apiVersion", workload.apiVersion)
        w.field("namespace", workload.namespace)
        w.field("name", workload.name)
        w.field("uid", Identifiers.derivedUUID("\(i.id)/\(workload.kind)/\(workload.name)"))
        w.field("resourceVersion", Self.resourceVersion(of: i))
        w.endObject()
        w.key("replicas"); w.number(Int64(workload.replicas))
        w.key("limits"); w.value(workload.limits)
        w.key("requests"); w.value(workload.requests)
        w.endObject()
    }

    /// `GET /v2/{project_id}/plugintemplates`
    func templateListBody(_ templates: [Template]) -> [UInt8] {
        var w = JSONWriter(capacity: 8192)
        w.beginObject()
        w.field("apiVersion", "v1")
        w.field("kind", "PluginTemplateList")
        w.key("items")
        w.beginArray()
        for t in templates {
            w.beginObject()
            writeTemplateHeader(t, to: &w)
            w.key("spec")
            w.beginObject()
            w.field("optional", t.require)
            w.field("type", t.type)
            w.field("logoURL", t.logoURL)
            w.field("description", t.description)
            w.key("versions")
            w.beginArray()
            for v in t.versions { writeVersion(v, to: &w) }
            w.endArray()
            w.endObject()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// `GET /v1/{project_id}/plugintemplates/{name}`: versions keyed by version.
    func templateBody(_ t: Template) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        writeTemplateHeader(t, to: &w)
        w.key("spec")
        w.beginObject()
        w.field("type", t.type)
        w.field("description", t.description)
        w.key("versions")
        w.beginObject()
        for v in t.versions { w.key(v.version); writeVersion(v, to: &w) }
        w.endObject()
        w.endObject()
        w.endObject()
        return w.bytes
    }

    private func writeTemplateHeader(_ t: Template, to w: inout JSONWriter) {
        w.field("apiVersion", "v1")
        w.field("kind", "PluginTemplate")
        w.key("metadata")
        w.beginObject()
        w.field("name", t.name)
        w.key("annotations"); w.value(t.annotations)
        w.endObject()
    }

    private func writeVersion(_ v: TemplateVersion, to w: inout JSONWriter) {
        w.beginObject()
        w.field("version", v.version)
        w.field("creationTimestamp", v.creationTimestamp)
        w.field("inputs", v.renderedInput)
        w.key("translate"); w.value(v.translate)
        w.field("description", v.description)
        w.field("detail", v.detail)
        w.endObject()
    }
}
