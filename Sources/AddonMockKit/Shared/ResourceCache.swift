import AddonMockCore

#if canImport(Glibc)
import Glibc
#endif

/// Recently read resource records, by id and by (service, scope, name), each with the response bodies the
/// services rendered from it. A hit costs a hash lookup under a read lock instead of an SQLite statement, a
/// record decode and a JSON encode.
///
/// Consistency comes from where the cache is touched: records are remembered only with what `Database.read`
/// returned (committed data), and forgotten by every write that changes them, once inside the write and once
/// more when its commit is done (`committed()`). A read that began before that commit may return the older
/// record; `remember(_:readSince:)` refuses it when a commit has happened since the read began, so a record
/// read before a commit is never kept after it. Entries are immutable: adding a body replaces the entry, and
/// only if it is still the current one.
///
/// Whole list answers are kept beside the records (`list(service:scope:renderer:at:)`): a list of 100 add-ons is then
/// one lookup instead of a read of 100 rows, 100 lookups and a 243 KB join. A list is of the records of one service in
/// one scope, so it holds until a write to a record of that service and scope (or a reset) is committed, or until
/// the first pending operation in it falls due, whichever comes first: like a record, it is forgotten inside the
/// write and once more at its commit, and one read before a commit is not kept after it.
///
/// Bounded twice: by entries and by bytes (the records' values and the rendered bodies, which can be up to
/// a megabyte each): past either, the oldest entries go first. One entry may take at most 1/128 of the byte
/// budget (512 KiB at the default 64 MiB): such a record is read from SQLite each time rather than crowd out a
/// thousand small ones, and a burst of them leaves nothing resident behind.
public final class ResourceCache: Sendable {
    public final class Entry: Sendable {
        public let stored: Resource
        /// By renderer name; a list, not a dictionary: there are one or two, and no hashing on the read path.
        public let bodies: [(renderer: String, bytes: [UInt8])]

        /// Roughly what the entry keeps alive: the record's JSON, its bodies, and a fixed overhead.
        public let size: Int

        public init(stored: Resource, bodies: [(renderer: String, bytes: [UInt8])] = []) {
            self.stored = stored
            self.bodies = bodies
            size =
                512 + stored.spec.byteCount + stored.status.byteCount + (stored.pending?.target?.bytes.count ?? 0)
                + bodies.reduce(0) { $0 + $1.bytes.count }
        }

        public func body(_ renderer: String) -> [UInt8]? { bodies.first { $0.renderer == renderer }?.bytes }
    }

    private struct NameKey: Hashable {
        public let service: String
        public let scope: String
        public let name: String

        public init(_ r: Resource) { self.init(service: r.service, scope: r.scope, name: r.name) }
        public init(service: String, scope: String, name: String) {
            self.service = service
            self.scope = scope
            self.name = name
        }
    }

    public let capacity: Int
    public let byteBudget: Int
    /// Entries over this size are not kept (by default 1/128 of the budget).
    public let largestEntry: Int
    /// Every entry and the bookkeeping around them, under one mutex (not a reader-writer lock: lookups are a hash
    /// probe, shorter than the bookkeeping a reader-writer lock does on each acquire).
    private let state: Locked<Kept>

    /// What a list is of: the records of one service in one scope.
    private struct Listed: Hashable {
        let service: String
        let scope: String

        init(service: String, scope: String) {
            self.service = service
            self.scope = scope
        }
        init(_ record: Resource) { self.init(service: record.service, scope: record.scope) }
    }

    private struct KeptList {
        let answer: ListAnswer
        /// The earliest due time of an operation in flight in the list: from then on it may read differently.
        let dueAt: Instant?
        let size: Int
    }

    /// What the lock guards, and the changes made under it.
    private struct Kept {
        let capacity: Int
        let byteBudget: Int
        let largestEntry: Int
        var bytes = 0
        var byID: [String: Entry] = [:]
        var byName: [NameKey: String] = [:]
        /// Insertion order, for first-in-first-out eviction; a slot may name an id forgotten since.
        var ring: [String?]
        var next = 0
        /// Counts commits. Records changed by writes not yet committed, and whether one of them cleared everything.
        var commits: UInt64 = 0
        var uncommitted: [(id: String, listed: Listed)] = []
        var uncommittedReset = false
        /// By what they list, then by renderer.
        var lists: [Listed: [String: KeptList]] = [:]
        var listBytes = 0

        init(capacity: Int, byteBudget: Int, largestEntry: Int) {
            self.capacity = capacity
            self.byteBudget = byteBudget
            self.largestEntry = largestEntry
            ring = Array(repeating: nil, count: capacity)
        }

        /// The entry kept for `stored`, or nil when it cannot be kept (a commit since the read, or too large).
        mutating func keep(_ stored: Resource, readSince generation: UInt64) -> Entry? {
            guard commits == generation else { return nil }
            if let current = byID[stored.id], current.stored == stored { return current }
            let entry = Entry(stored: stored)
            guard entry.size <= largestEntry else { return nil }
            if let evicted = ring[next] { drop(evicted) }
            ring[next] = stored.id
            next = (next + 1) % capacity
            byID[stored.id] = entry
            byName[NameKey(stored)] = stored.id
            bytes += entry.size
            keepWithinBudget()
            return entry
        }

        mutating func attach(_ body: [UInt8], as renderer: String, to entry: Entry) {
            guard let current = byID[entry.stored.id], current === entry else { return }
            guard entry.body(renderer) == nil else { return }
            let replacement = Entry(stored: entry.stored, bodies: entry.bodies + [(renderer, body)])
            guard replacement.size <= largestEntry else { return }
            byID[entry.stored.id] = replacement
            bytes += replacement.size - entry.size
            keepWithinBudget()
        }

        mutating func keep(_ answer: ListAnswer, of listed: Listed, as renderer: String, dueAt: Instant?, readSince generation: UInt64) {
            guard commits == generation else { return }
            let size = 512 + answer.body.count + 64 * answer.ids.count
            // Lists together take at most a quarter of the budget, so they never push out many records.
            guard size <= byteBudget / 4 else { return }
            if listBytes + size > byteBudget / 4 { dropLists() }
            if let replaced = lists[listed, default: [:]].updateValue(KeptList(answer: answer, dueAt: dueAt, size: size), forKey: renderer) {
                listBytes -= replaced.size
            }
            listBytes += size
            keepWithinBudget()
        }

        mutating func dropLists() {
            lists.removeAll()
            listBytes = 0
        }

        mutating func dropLists(of listed: Listed) {
            // Most writes find no list kept (an install's workload lists nothing): no hashing then.
            guard !lists.isEmpty, let gone = lists.removeValue(forKey: listed) else { return }
            listBytes -= gone.values.reduce(0) { $0 + $1.size }
        }

        mutating func committed() {
            if uncommittedReset {
                dropAll()
                dropLists()
            } else {
                for (id, listed) in uncommitted {
                    drop(id)
                    dropLists(of: listed)
                }
            }
            uncommitted.removeAll(keepingCapacity: true)
            uncommittedReset = false
            commits &+= 1
        }

        mutating func dropAll() {
            byID = [:]
            byName = [:]
            ring = Array(repeating: nil, count: capacity)
            next = 0
            bytes = 0
        }

        mutating func drop(_ id: String) {
            guard let gone = byID.removeValue(forKey: id) else { return }
            bytes -= gone.size
            let key = NameKey(gone.stored)
            if byName[key] == id { byName[key] = nil }
        }

        /// Past the byte budget, drops entries oldest first (the ring from `next` on is in insertion order).
        mutating func keepWithinBudget() {
            if bytes + listBytes > byteBudget { dropLists() }
            var slot = next
            for _ in 0..<capacity where bytes > byteBudget {
                if let id = ring[slot] {
                    drop(id)
                    ring[slot] = nil
                }
                slot = (slot + 1) % capacity
            }
        }
    }

    public init(capacity: Int = 1024, byteBudget: Int = 64 << 20, largestEntry: Int? = nil) {
        self.capacity = max(1, capacity)
        self.byteBudget = max(0, byteBudget)
        self.largestEntry = largestEntry ?? max(0, byteBudget) / 128
        state = Locked(Kept(capacity: self.capacity, byteBudget: self.byteBudget, largestEntry: self.largestEntry))
    }

    public var count: Int { state.withLock { $0.byID.count } }
    public var size: Int { state.withLock { $0.bytes + $0.listBytes } }

    public func entry(id: String) -> Entry? { state.withLock { $0.byID[id] } }

    public func entry(service: String, scope: String, name: String) -> Entry? {
        state.withLock { s in s.byName[NameKey(service: service, scope: scope, name: name)].flatMap { s.byID[$0] } }
    }

    /// What `remember(_:readSince:)` needs: taken before the read.
    public var generation: UInt64 { state.withLock { $0.commits } }

    /// Keeps a record `Database.read` returned, unless a commit has happened since `generation` was taken
    /// (the record may predate it). Either way returns an entry to render from.
    @discardableResult
    public func remember(_ stored: Resource, readSince generation: UInt64) -> Entry {
        state.withLock { $0.keep(stored, readSince: generation) } ?? Entry(stored: stored)
    }

    /// `remember` for the records of one list, under one acquisition of the lock; nil where a record was not kept
    /// (render it afresh: nothing would keep its renderings either).
    public func remember(_ records: [Resource], readSince generation: UInt64) -> [Entry?] {
        state.withLock { s in records.map { s.keep($0, readSince: generation) } }
    }

    /// Keeps `body` with `entry` unless the record was forgotten or replaced meanwhile.
    public func attach(_ body: [UInt8], as renderer: String, to entry: Entry) {
        state.withLock { $0.attach(body, as: renderer, to: entry) }
    }

    /// The list answer kept for `service` in `scope` as `renderer` renders it, unless something in it fell due by `now`.
    public func list(service: String, scope: String, renderer: String, at now: Instant) -> ListAnswer? {
        state.withLock { s in
            guard let kept = s.lists[Listed(service: service, scope: scope)]?[renderer] else { return nil }
            if let due = kept.dueAt, due <= now { return nil }
            return kept.answer
        }
    }

    /// Keeps a list answer made from `views` of records read since `generation`, when every one of them is a kept
    /// record (a record settled on the way, or too large to keep, is made afresh each time, and so is its list).
    public func keep(_ answer: ListAnswer, of views: [ResourceView], service: String, scope: String, renderer: String, readSince generation: UInt64) {
        guard views.allSatisfy({ $0.entry != nil }) else { return }
        let dueAt = views.lazy.compactMap(\.resource.pending?.dueAt).min()
        state.withLock { $0.keep(answer, of: Listed(service: service, scope: scope), as: renderer, dueAt: dueAt, readSince: generation) }
    }

    /// Call only inside `Database.write`, for every record the write changes or deletes (as it was, and as it is
    /// when that lists it elsewhere): drops it and the lists it is in, now and again at the commit.
    public func forget(_ record: Resource) {
        let listed = Listed(record)
        state.withLock { s in
            s.drop(record.id)
            s.dropLists(of: listed)
            s.uncommitted.append((record.id, listed))
        }
    }

    /// Call only inside `Database.write`, for bulk deletes.
    public func forgetAll() {
        state.withLock { s in
            s.dropLists()
            s.dropAll()
            s.uncommittedReset = true
        }
    }

    /// Call after every commit (or rolled-back commit) of the writes that called `forget`, before their
    /// answers are sent: forgets their records again, whatever was read meanwhile, and refuses records read
    /// before this point.
    public func committed() { state.withLock { $0.committed() } }
}

/// The answer to a list: its body, and the ids of the resources in it (distinct, in the order listed).
public struct ListAnswer: Sendable {
    public let ids: [String]
    public let body: [UInt8]

    public init(ids: [String], body: [UInt8]) {
        self.ids = ids
        self.body = body
    }
}

/// A settled resource as read through the cache. When nothing was due on the stored record, the resource is
/// that record and its renderings are kept with it; otherwise every rendering is made afresh.
public struct ResourceView {
    public let resource: Resource
    fileprivate let entry: ResourceCache.Entry?
    fileprivate let cache: ResourceCache

    /// `render(resource)`, reused across requests while the stored record is unchanged. `renderer` names the
    /// rendering: one record may be rendered differently by different callers.
    public func body(_ renderer: String, _ render: (Resource) -> [UInt8]) -> [UInt8] {
        guard let entry else { return render(resource) }
        if let body = entry.body(renderer) { return body }
        let body = render(resource)
        cache.attach(body, as: renderer, to: entry)
        return body
    }
}

extension ResourceCache {
    /// What a read through the cache returns: nil when the record is gone or finished deleting at `now`.
    public func view(of entry: Entry, at now: Instant, engine: LifecycleEngine) -> ResourceView? {
        let stored = entry.stored
        if let due = stored.pending?.dueAt, due <= now {
            return engine.settled(stored, at: now).map { ResourceView(resource: $0, entry: nil, cache: self) }
        }
        return ResourceView(resource: stored, entry: entry, cache: self)
    }

    /// A record read but not kept: its renderings are made afresh.
    public func unkeptView(_ resource: Resource) -> ResourceView { ResourceView(resource: resource, entry: nil, cache: self) }
}
