import AddonMockCore
import AddonMockKit

/// The services one server runs and what follows from their definitions: resource kinds by name and by stored
/// service, the lifecycle tables the engine runs, and the words fault rules and resets may use.
struct ServiceRegistry: Sendable {
    let definitions: [ServiceDefinition]
    let kinds: [ResourceKind]
    /// Every stored service name, in definition order (`cce`, `autopilot`, `modelarts`).
    let storedServices: [String]
    /// Every scope field of every kind, in definition order (`cluster`, `project`, `pool`).
    let scopeFields: [String]
    private let kindsByService: [String: ResourceKind]
    /// Which kinds' records own which others' (from each kind's `parent`).
    let relations: [ResourceRelation]

    init(_ definitions: [ServiceDefinition]) throws(StartupError) {
        self.definitions = definitions
        kinds = definitions.flatMap(\.kinds)
        var stored: [String] = [], fields: [String] = [], byService: [String: ResourceKind] = [:]
        for kind in kinds {
            guard !kind.scopeFields.isEmpty else { throw StartupError(message: "resource kind \(kind.name) has no scope fields") }
            for service in kind.services {
                guard byService[service] == nil else { throw StartupError(message: "service name \(service) is used by two resource kinds") }
                byService[service] = kind
                stored.append(service)
            }
            for field in kind.scopeFields where !fields.contains(field) { fields.append(field) }
        }
        guard Set(kinds.map(\.name)).count == kinds.count else { throw StartupError(message: "two resource kinds share a name") }
        var relations: [ResourceRelation] = []
        for kind in kinds {
            guard let link = kind.parent else { continue }
            guard let owner = kinds.first(where: { $0.name == link.kind }) else {
                throw StartupError(message: "resource kind \(kind.name) names \(link.kind) as its parent, which no service declares")
            }
            relations.append(ResourceRelation(ownerServices: owner.services, ownedServices: kind.services, ownedNoun: kind.name, link: link))
        }
        self.relations = relations
        storedServices = stored
        scopeFields = fields
        kindsByService = byService
    }

    func kind(named name: String) -> ResourceKind? { kinds.first { $0.name == name } }

    /// Per stored service, its kind's shown fields (what each change carries to the event stream).
    var shownFields: [String: [ShownField]] { kindsByService.mapValues(\.shown) }
    func kind(ofService service: String) -> ResourceKind? { kindsByService[service] }

    /// Each stored service's lifecycle table, for the engine.
    var tables: [String: LifecycleTable] { kindsByService.mapValues(\.lifecycle) }
    var kindsByStoredService: [String: ResourceKind] { kindsByService }

    var faultVocabulary: FaultSpec.Vocabulary {
        var services = definitions.map(\.name)
        for s in storedServices where !services.contains(s) { services.append(s) }
        return FaultSpec.Vocabulary(
            services: services.sorted { order($0) < order($1) }, scopeFields: scopeFields,
            tables: kinds.map(\.lifecycle))
    }

    /// Stored services first, in their order, then definition names that no record carries.
    private func order(_ service: String) -> Int { storedServices.firstIndex(of: service) ?? storedServices.count }

    /// A scope to delete: one whole scope, or (`isPrefix`) every scope inside a partial one (a project's pools).
    struct ScopeFilter {
        let kind: ResourceKind
        let value: String
        let isPrefix: Bool

        func contains(_ scope: String) -> Bool { isPrefix ? scope.hasPrefix(value) : scope == value }
    }

    /// The scopes the named fields select in each kind that has them, outermost first (`cluster`; `project`, or
    /// `project` and `pool`); nil when none is named. A 400 when the fields make no kind's scope.
    func scopes(named: [String: String]) throws(APIError) -> [ScopeFilter]? {
        guard !named.isEmpty else { return nil }
        let names = scopeFields.filter { named[$0] != nil }
        var filters: [ScopeFilter] = []
        for kind in kinds where Set(kind.scopeFields.prefix(names.count)) == Set(names) {
            let whole = names.count == kind.scopeFields.count
            let value = kind.scopeFields.prefix(names.count).map { named[$0]! }.joined(separator: "/")
            filters.append(ScopeFilter(kind: kind, value: whole ? value : value + "/", isPrefix: !whole))
        }
        guard filters.isEmpty else { return filters }
        if let kind = kinds.first(where: { Set(names).isSubset(of: $0.scopeFields) }) {
            let missing = kind.scopeFields.prefix { named[$0] == nil }
            throw APIError(.badRequest, "\(names.joined(separator: " and ")) needs \(missing.joined(separator: " and "))")
        }
        let choices = kinds.map { $0.scopeFields[0] }.uniqued
        throw APIError(.badRequest, "name a \(choices.joined(separator: " or a ")), not both")
    }
}
