import AddonMockCore

/// One kind of resource a service keeps (CCE add-ons, ModelArts plug-ins, a toy service's shelves): stored as
/// `Resource` records under its service names, moved by its lifecycle table, and — from what it declares here and
/// nothing else — seeded, exported, imported, waited on, listed and forced by the control plane, streamed as events
/// and drawn by the console.
public struct ResourceKind: Sendable {
    /// `/_mock/resources/{name}` and the `seed.json` key (`addons`, `plugins`).
    public var name: String
    /// One of them, as `/_mock/wait` and messages name it (`addon`, `plugin`).
    public var singular: String
    /// The service names its records carry; the first is the default in `seed.json`.
    public var services: [String]
    /// The fields a scope is made of, outermost first: `["cluster"]`, `["project", "pool"]`. A record's scope is
    /// their values joined by `/`.
    public var scopeFields: [String]
    public var lifecycle: LifecycleTable
    /// The status the service shows for a phase (ModelArts: `Running` for running, `Abnormal` for every failure).
    public var status: @Sendable (Phase) -> String
    /// What entries, control bodies and events call a record's name: `template` for add-ons and plug-ins (each
    /// is named by its template), `name` otherwise.
    public var nameField: String
    /// The kind's own fields the control plane, the event stream and the console show beside the engine's
    /// (add-ons: `version`, `previousVersion`), read from the record.
    public var shown: [ShownField]
    /// How `seed.json`, exports and imports write its spec; nil: it is derived from other records (add-on
    /// checks) and neither seeded nor exported.
    public var entries: EntryFormat?
    /// The kind that owns it, when it has one: deleting an owner deletes (or is refused while there are) its
    /// resources of this kind.
    public var parent: ParentLink?
    /// How people call it (the console's group titles): "Add-ons".
    public var title: String
    /// Per stored service, the service API request (`DELETE` path) that deletes one, `{id}`, `{name}` and the scope
    /// fields filled in: the console's Delete button. A service without one has no Delete button.
    public var deletePaths: [String: String]
    /// Per stored service, the service API request (`GET` path, filled in the same way) that reads one as the
    /// service shows it: the console's drawer and its "copy as curl". By default the delete paths (a resource is
    /// read and deleted at one address); a field a record lacks is taken from its parent (a node pool's project).
    public var showPaths: [String: String]
    /// How the console's install form creates one through the service's own API; nil: the kind has no form.
    public var createForm: CreateForm?

    public init(
        name: String, singular: String? = nil, services: [String], scopeFields: [String], lifecycle: LifecycleTable,
        status: @escaping @Sendable (Phase) -> String = { $0.rawValue }, nameField: String = "name", shown: [ShownField] = [],
        entries: EntryFormat? = .documents, parent: ParentLink? = nil, title: String? = nil, deletePaths: [String: String] = [:],
        showPaths: [String: String]? = nil, createForm: CreateForm? = nil
    ) {
        self.name = name
        self.singular = singular ?? (name.hasSuffix("s") ? String(name.dropLast()) : name)
        self.services = services
        self.scopeFields = scopeFields
        self.lifecycle = lifecycle
        self.status = status
        self.nameField = nameField
        self.shown = shown
        self.entries = entries
        self.parent = parent
        self.title = title ?? name
        self.deletePaths = deletePaths
        self.showPaths = showPaths ?? deletePaths
        self.createForm = createForm
    }

    public var seedable: Bool { entries != nil }

    /// The scope's fields by name (`"p1/pool-a"` -> project p1, pool pool-a).
    public func fields(of scope: String) -> [String: String] {
        var out: [String: String] = [:]
        for (field, value) in zip(scopeFields, scopeValues(of: scope)) { out[field] = String(value) }
        return out
    }

    /// The scope's values in `scopeFields` order, without building a dictionary (the event stream writes one per
    /// event).
    public func scopeValues(of scope: String) -> [Substring] {
        scope.split(separator: "/", maxSplits: scopeFields.count - 1, omittingEmptySubsequences: false)
    }

    /// The scope named by `fields` (each an identifier, so none holds a `/`).
    public func scope(_ fields: [String: String]) -> String {
        scopeFields.map { fields[$0] ?? "" }.joined(separator: "/")
    }

    /// A settled phase by its name or the status the service shows for it (`Running`).
    public func settledPhase(named text: String) -> Phase? {
        lifecycle.settled.first { $0.rawValue == text } ?? lifecycle.settled.first { status($0) == text }
    }

    /// Every name `settledPhase(named:)` accepts, for error messages.
    public var settledPhaseNames: [String] { (lifecycle.settled.map(\.rawValue) + lifecycle.settled.map(status)).uniqued }

    /// The operations of its table, in its order, by name.
    public func operation(named name: String) -> Operation? {
        lifecycle.operations.first { $0.rawValue == name }
    }
}

/// A field of a kind shown beside the engine's: its name, and its value read from a record.
public struct ShownField: Sendable {
    public var name: String
    public var value: @Sendable (Resource) -> RawJSON

    public init(_ name: String, _ value: @escaping @Sendable (Resource) -> RawJSON) {
        self.name = name
        self.value = value
    }

    /// A member of the spec, `null` when absent.
    public static func spec(_ member: String) -> ShownField { ShownField(member) { $0.spec[member] ?? .null } }
}

/// Which kind owns a kind's resources, and what deleting an owner does to them.
public struct ParentLink: Sendable, Equatable {
    /// How an owned resource's scope is made from its owner: the owner's id (a CCE cluster's add-ons are scoped by
    /// the cluster's id), its name, or its scope and name (a ModelArts pool's plug-ins: `project/pool`).
    public enum ChildScope: Sendable, Equatable {
        case ownerID
        case ownerName
        case ownerScopeAndName
    }

    public enum OnDelete: Sendable, Equatable {
        /// The owner's delete, once it completes, deletes them too (each with its own `deleted` event).
        case cascade
        /// The owner's delete is refused (409) while any of them exists.
        case block
    }

    /// The owner's kind name (`clusters`).
    public var kind: String
    public var childScope: ChildScope
    public var onDelete: OnDelete

    public init(kind: String, childScope: ChildScope = .ownerID, onDelete: OnDelete = .cascade) {
        self.kind = kind
        self.childScope = childScope
        self.onDelete = onDelete
    }

    /// The scope the resources `owner` owns live in.
    public func scope(of owner: Resource) -> String {
        switch childScope {
        case .ownerID: return owner.id
        case .ownerName: return owner.name
        case .ownerScopeAndName: return owner.scope + "/" + owner.name
        }
    }
}

/// How `seed.json`, exports and imports spell a kind's records beyond the fields every kind shares (`id`, `service`,
/// scope fields, the name, `status`, `reason`, `message`, `pending`, `createdAt`, `updatedAt`).
public struct EntryFormat: Sendable {
    /// What `read` makes of an entry.
    public struct Read: Sendable {
        /// The record's name when it is not the one the entry gives (a template named by its alias).
        public var name: String?
        public var spec: JSONDocument
        public var status: JSONDocument
        /// The durations its template declares, if any (used while its operations run under `realistic`).
        public var timing: TimingTable?

        public init(name: String? = nil, spec: JSONDocument, status: JSONDocument = .empty, timing: TimingTable? = nil) {
            self.name = name
            self.spec = spec
            self.status = status
            self.timing = timing
        }
    }

    /// Its own fields, as an entry may hold them.
    public var fields: [String]
    /// The spec (and status document) of the entry named `name`, from its own fields; `catalog` is its service's.
    /// Throws a 400 naming the field at fault (`entry.path`).
    public var read: @Sendable (_ entry: BodyReader, _ name: String, _ catalog: Catalog) throws(APIError) -> Read
    /// An operation in flight's target as an entry gives it (a rollback: the revision it restores), checked.
    public var readTarget: @Sendable (_ target: BodyReader, _ name: String, _ catalog: Catalog) throws(APIError) -> RawJSON
    /// Writes the record's own fields, in a fixed order.
    public var write: @Sendable (_ record: Resource, _ to: inout JSONWriter) -> Void

    public init(
        fields: [String], read: @escaping @Sendable (BodyReader, String, Catalog) throws(APIError) -> Read,
        readTarget: @escaping @Sendable (BodyReader, String, Catalog) throws(APIError) -> RawJSON = { t, _, _ in RawJSON(t.value) },
        write: @escaping @Sendable (Resource, inout JSONWriter) -> Void
    ) {
        self.fields = fields
        self.read = read
        self.readTarget = readTarget
        self.write = write
    }

    /// The record's documents as they are: `spec` and `detail` (its status document), both objects.
    public static let documents = EntryFormat(
        fields: ["spec", "detail"],
        read: { entry, _, _ throws(APIError) in
            Read(
                spec: JSONDocument(try entry.optionalObject("spec")?.value ?? .object([])),
                status: JSONDocument(try entry.optionalObject("detail")?.value ?? .object([])))
        },
        write: { record, w in
            w.field("spec", record.spec.rawJSON)
            if !record.status.members.isEmpty { w.field("detail", record.status.rawJSON) }
        })
}

/// The request the console's install form sends: `POST path` with `body`, where `{template}`, `{version}` and the
/// kind's scope fields (`{cluster}`; `{project}`, `{pool}`) are filled in from the form (each within a JSON string,
/// so the body's shape is the service's own). The form offers the templates of the service's catalog.
public struct CreateForm: Sendable {
    /// The stored service the request creates under (`cce`, `modelarts`).
    public var service: String
    public var path: String
    public var body: String

    public init(service: String, path: String, body: String) {
        self.service = service
        self.path = path
        self.body = body
    }
}
