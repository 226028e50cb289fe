import AddonMockCore
import AddonMockKit

/// Domain -> CCE wire JSON (`AddonInstance`, `AddonTemplate` and their list wrappers), field for field as the
/// SDK models name them. Template fragments are encoded once at start-up and spliced into every response.
struct CCEWire: Sendable {
    let catalog: Catalog
    /// `status.currentVersion` object per template and version.
    private let versionObjects: [String: [String: RawJSON]]
    /// The whole `AddonTemplate` object per template.
    private let templateObjects: [String: RawJSON]
    /// `status.targetVersions` per template and version (a JSON array, or null when nothing is newer).
    private let targetVersions: [String: [String: RawJSON]]
    /// The cluster types `supportVersions` lists (nil: all).
    private let clusterTypes: Set<String>?

    /// `clusterTypes`: the cluster types a template version may list in `supportVersions` (nil: all the catalog
    /// gives). Autopilot clusters are VirtualMachine only, as the SDK's `SupportVersions.cluster_type` says.
    init(catalog: Catalog, clusterTypes: Set<String>? = nil) {
        self.catalog = catalog
        self.clusterTypes = clusterTypes
        var versions: [String: [String: RawJSON]] = [:]
        var templates: [String: RawJSON] = [:]
        var targets: [String: [String: RawJSON]] = [:]
        for t in catalog.templates {
            var perVersion: [String: RawJSON] = [:]
            var newer: [String: RawJSON] = [:]
            for v in t.versions {
                perVersion[v.version] = Self.encodeVersion(v, supportVersions: false)
                let upgrades = t.versions(newerThan: v.version)
                newer[v.version] = upgrades.isEmpty ? .null : RawJSON(.array(upgrades.map { .string($0) }))
            }
            versions[t.name] = perVersion
            targets[t.name] = newer
            templates[t.name] = Self.encodeTemplate(t, clusterTypes: clusterTypes)
        }
        versionObjects = versions
        templateObjects = templates
        targetVersions = targets
    }

    /// `supportVersions` without the entries of other cluster types.
    private static func entries(of supportVersions: JSONValue, for clusterTypes: Set<String>?) -> JSONValue {
        guard let clusterTypes, case .array(let entries) = supportVersions else { return supportVersions }
        return .array(entries.filter { $0["clusterType"]?.stringValue.map(clusterTypes.contains) ?? true })
    }

    /// The `Versions` object. Inside an instance's `currentVersion` the real API sends `supportVersions: null`.
    private static func encodeVersion(_ v: TemplateVersion, supportVersions: Bool, clusterTypes: Set<String>? = nil) -> RawJSON {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.field("version", v.version)
        w.field("input", v.renderedInput)
        w.field("stable", v.stable)
        w.key("translate"); w.value(v.translate)
        w.key("supportVersions")
        if supportVersions { w.value(Self.entries(of: v.supportVersions, for: clusterTypes)) } else { w.null() }
        w.field("creationTimestamp", v.creationTimestamp)
        w.field("updateTimestamp", v.updateTimestamp)
        w.endObject()
        return RawJSON(trusted: w.bytes)
    }

    private static func encodeTemplate(_ t: Template, clusterTypes: Set<String>?, keeping keep: ((TemplateVersion) -> Bool)? = nil) -> RawJSON {
        var w = JSONWriter(capacity: 2048)
        Self.beginAddonObject(&w)
        w.key("metadata")
        w.beginObject()
        w.field("uid", t.name)
        w.field("name", t.name)
        w.field("alias", t.alias ?? t.name)
        w.key("labels"); w.beginObject(); w.endObject()
        w.key("annotations"); w.beginObject(); w.endObject()
        w.field("creationTimestamp", t.creationTimestamp)
        w.field("updateTimestamp", t.updateTimestamp)
        w.endObject()
        w.key("spec")
        w.beginObject()
        w.field("type", t.type)
        w.field("require", t.require)
        w.key("labels"); w.beginArray(); for l in t.labels { w.string(l) }; w.endArray()
        w.field("logoURL", t.logoURL)
        w.field("readmeURL", t.readmeURL)
        w.field("description", t.description)
        w.key("versions")
        w.beginArray()
        for v in t.versions where keep?(v) ?? true { w.raw(encodeVersion(v, supportVersions: true, clusterTypes: clusterTypes)) }
        w.endArray()
        w.endObject()
        w.endObject()
        return RawJSON(trusted: w.bytes)
    }

    /// Every CCE object and list wrapper opens with the same type header.
    private static func beginAddonObject(_ w: inout JSONWriter) {
        w.beginObject()
        w.field("kind", "Addon")
        w.field("apiVersion", "v3")
    }

    func instanceBody(_ i: Resource) -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        write(i, to: &w)
        return w.bytes
    }

    /// The list of add-ons, each item as `instanceBody` rendered it (a GET's cached body serves its list item too).
    func listBody(_ items: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(capacity: 512 + items.reduce(0) { $0 + $1.count })
        Self.beginAddonObject(&w)
        w.key("items")
        w.beginArray()
        for item in items { w.raw(RawJSON(trusted: item)) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    func templateListBody(_ templates: [Template]) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        Self.beginAddonObject(&w)
        w.key("items")
        w.beginArray()
        for t in templates { if let raw = templateObjects[t.name] { w.raw(raw) } }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// The templates with only the versions `keep` accepts (those a cluster's version supports), encoded for the
    /// request; a template left without versions is left out.
    func templateListBody(_ templates: [Template], keeping keep: @escaping (TemplateVersion) -> Bool) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        Self.beginAddonObject(&w)
        w.key("items")
        w.beginArray()
        for t in templates where t.versions.contains(where: keep) { w.raw(Self.encodeTemplate(t, clusterTypes: clusterTypes, keeping: keep)) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private func write(_ i: Resource, to w: inout JSONWriter) {
        let template = catalog.template(named: i.name)
        let current = i.revision
        Self.beginAddonObject(&w)
        w.key("metadata")
        w.beginObject()
        w.field("uid", i.id)
        w.field("name", i.name)
        w.field("alias", template?.alias ?? i.name)
        w.key("labels"); w.beginObject(); w.field("addon.cce.io/name", i.name); w.endObject()
        w.field("annotations", i.annotations)
        w.field("creationTimestamp", i.createdAt.rfc3339)
        w.field("updateTimestamp", i.updatedAt.rfc3339)
        w.endObject()
        w.key("spec")
        w.beginObject()
        w.field("clusterID", i.scope)
        w.field("version", current.version)
        w.field("addonTemplateName", i.name)
        w.field("addonTemplateType", template?.type ?? "helm")
        w.field("addonTemplateLogo", template?.logoURL ?? "")
        w.key("addonTemplateLabels"); w.beginArray(); for l in template?.labels ?? [] { w.string(l) }; w.endArray()
        w.field("description", template?.description ?? "")
        w.field("values", current.values)
        w.endObject()
        w.key("status")
        w.beginObject()
        w.field("status", i.phase.rawValue)
        w.field("Reason", i.reason)
        w.field("message", i.message)
        w.field("targetVersions", targetVersions[i.name]?[current.version] ?? .null)
        w.key("currentVersion")
        if let raw = versionObjects[i.name]?[current.version] { w.raw(raw) } else { w.null() }
        w.field("isRollbackable", i.isRollbackable)
        w.field("previousVersion", i.shownPreviousVersion ?? "")
        w.endObject()
        w.endObject()
    }
}
