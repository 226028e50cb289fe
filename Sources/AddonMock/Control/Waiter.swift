import AddonMockCore
import AddonMockHTTP
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
import AddonMockKit
#endif

/// `POST /_mock/wait`: answers once resources reach a state, so a script or test waits for a state rather than a
/// duration, under any profile and clock. The answer is held on the suspended connection; the condition is looked
/// at again only when a committed change that can affect it is published (or the clock moves), never on a timer:
/// 2,000 waits on something that does not change cost no CPU.
///
///     {"addon": ID, "status": "running"}                 a resource by id: its status (or phase) …
///     {"plugin": {"project", "pool", "name"}, "phase": "Running"}   … or by scope and name
///     {"addon": ID, "gone": true}                        … or gone (deleted, or never there)
///     {"settled": true, "cluster": "c1"}                 nothing in flight (anywhere, or in a scope)
///     "timeoutMs": 10000 (default; up to 600000)         past it: 408 naming the state reached
///
/// A wait whose client goes is dropped at once; past `--max-held` waits and streams the newest is refused (503),
/// and when connections run out the oldest is ended (503) to make room.
extension ControlService {
    private enum Goal {
        case state(String)
        case gone
    }

    private enum Target {
        case resource(ResourceKind, id: String?, scope: String?, name: String?, goal: Goal)
        /// Each kind to look at, narrowed to a scope when the request named one.
        case settled([(kind: ResourceKind, scope: ServiceRegistry.ScopeFilter?)])

        /// Which published changes can end it.
        var interest: WaitBook.Interest {
            switch self {
            case let .resource(_, id?, _, _, _): return .resource(id: id)
            case let .resource(kind, nil, scope, name, _): return .named(services: Set(kind.services), scope: scope ?? "", name: name ?? "")
            case let .settled(scopes):
                return .scopes(scopes.map { kind, filter in (Set(kind.services), filter.map { f in { f.contains($0) } }) })
            }
        }
    }

    var waitRoutes: [ServiceRoute] { [ServiceRoute("POST", "/_mock/wait") { try wait($0) }] }

    func wait(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try ctx.body()
        let kindKeys = registry.kinds.map { (key: $0.singular, kind: $0) }
        try body.allowOnly(Set(kindKeys.map(\.key) + ["status", "phase", "gone", "settled", "timeoutMs"] + registry.scopeFields))
        let timeoutMs = try body.optionalInt("timeoutMs", in: 1...600_000) ?? 10_000
        let settled = try body.optionalBool("settled") ?? false
        // `cluster` names both a kind and a scope field: with settled it is the scope.
        let named = kindKeys.filter { body.optional($0.key) != nil && !(settled && registry.scopeFields.contains($0.key)) }
        guard named.count + (settled ? 1 : 0) == 1 else {
            throw APIError(.badRequest, "name one thing to wait for: \(kindKeys.map(\.key).joined(separator: ", ")) or settled: true")
        }
        let target: Target
        if let (key, kind) = named.first {
            for field in registry.scopeFields where field != key && body.optional(field) != nil {
                throw APIError(.badRequest, "\(field) is for settled; name the \(key)'s scope inside \(key)")
            }
            let state = try body.optionalString("status") ?? body.optionalString("phase")
            let gone = try body.optionalBool("gone") ?? false
            guard (state != nil) != gone else { throw APIError(.badRequest, "give the \(key)'s status (or phase), or gone: true") }
            if let state, !Self.states(of: kind).contains(state) {
                throw APIError(.badRequest, "\(key) status must be one of \(Self.states(of: kind).joined(separator: ", ")); got \"\(state)\"")
            }
            let goal: Goal = state.map { .state($0) } ?? .gone
            if case .string(let id)? = body.optional(key) {
                target = .resource(kind, id: id, scope: nil, name: nil, goal: goal)
            } else {
                let located = try body.object(key)
                try located.allowOnly(Set(kind.scopeFields + ["name"]))
                var fields: [String: String] = [:]
                for field in kind.scopeFields { fields[field] = try located.identifier(field) }
                target = .resource(kind, id: nil, scope: kind.scope(fields), name: try located.identifier("name"), goal: goal)
            }
        } else {
            for key in ["status", "phase", "gone"] where body.optional(key) != nil {
                throw APIError(.badRequest, "\(key) is for a resource; settled waits for nothing in flight")
            }
            var fields: [String: String] = [:]
            for field in registry.scopeFields { fields[field] = try body.optionalString(field) }
            let filters = try registry.scopes(named: fields)
            target = .settled(filters?.map { ($0.kind, $0) } ?? registry.kinds.map { ($0, nil) })
        }

        let started = Self.monotonicMs()
        let check: @Sendable (Bool) -> WaitHold.Look = { [self] describing in
            do { return try evaluate(target, waitedMs: Self.monotonicMs() - started, describing: describing) } catch {
                return WaitHold.Look(reached: true, body: codeAndMessageBody(code: "MOCK.500", message: "cannot read the state: \(error)"), state: "")
            }
        }
        let first = check(false)
        if first.reached { return .json(200, first.body) }
        var held = HTTPResponse.json(200, first.body)
        held.hold = WaitHold(book: waits, interest: target.interest, timeoutMs: timeoutMs, check: check)
        return held
    }

    /// Status words a resource of `kind` can show: phase names and the service's own words for them.
    private static func states(of kind: ResourceKind) -> [String] {
        let phases = kind.lifecycle.inFlightPhases + kind.lifecycle.settled
        return (phases.map(\.rawValue) + phases.map(kind.status)).uniqued
    }

    /// Whether `target` is reached, and the answer saying so; `describing`: with the state seen in words, for a
    /// wait that ends unreached (a settled wait then reads one example record).
    private func evaluate(_ target: Target, waitedMs: Int64, describing: Bool) throws -> WaitHold.Look {
        var w = JSONWriter()
        w.beginObject()
        w.field("reached", true)
        w.key("waitedMs"); w.number(waitedMs)
        switch target {
        case let .resource(kind, id, scope, name, goal):
            let noun = kind.singular
            var found: Resource?
            if let id {
                found = try manager.resource(id: id).flatMap { kind.services.contains($0.service) ? $0 : nil }
            } else if let scope, let name {
                for service in kind.services where found == nil { found = try manager.resource(service: service, scope: scope, name: name) }
            }
            let label = id ?? "\(scope ?? "")/\(name ?? "")"
            let reached: Bool, state: String
            switch (goal, found) {
            case (.gone, nil): (reached, state) = (true, "\(noun) \(label) is gone")
            case (.gone, let i?): (reached, state) = (false, "\(noun) \(label) is \(kind.status(i.phase)), not gone")
            case (.state(let want), let i?):
                reached = kind.status(i.phase) == want || i.phase.rawValue == want
                state = "\(noun) \(label) is \(kind.status(i.phase)), not \(want)"
            case (.state(let want), nil): (reached, state) = (false, "no \(noun) \(label) (waiting for \(want))")
            }
            w.key("resource")
            if let found { writeResource(found, kind, to: &w) } else { w.null() }
            w.endObject()
            return WaitHold.Look(reached: reached, body: w.bytes, state: state)
        case let .settled(scopes):
            // From the counts kept as writes are committed: no row is read.
            var inFlight = 0
            var example: (kind: ResourceKind, scope: ServiceRegistry.ScopeFilter?)?
            for (kind, scope) in scopes {
                let n = manager.inFlightCount(services: kind.services) { scope?.contains($0) ?? true }
                if n > 0, example == nil { example = (kind, scope) }
                inFlight += n
            }
            w.key("inFlight"); w.number(Int64(inFlight))
            w.endObject()
            var state = inFlight == 0 ? "settled" : "\(inFlight) still in flight"
            if describing, let (kind, scope) = example,
                let i = try manager.firstInFlight(services: kind.services, scope: scope?.value, isPrefix: scope?.isPrefix ?? false)
            {
                state += ", e.g. \(kind.singular) \(i.id) \(kind.status(i.phase))"
            }
            return WaitHold.Look(reached: inFlight == 0, body: w.bytes, state: state)
        }
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// The waits held now, by what can end them; told every committed change (and clock change) the event log
/// publishes, it wakes the waits that change can concern. With no wait held, a publication pays one atomic load.
final class WaitBook: Sendable {
    enum Interest: Sendable {
        /// One resource by id.
        case resource(id: String)
        /// One resource by name in a scope, of any of these stored services.
        case named(services: Set<String>, scope: String, name: String)
        /// Anything of these services in scopes the filter accepts (nil: any scope).
        case scopes([(services: Set<String>, includes: (@Sendable (String) -> Bool)?)])

        func concerns(_ change: ResourceChange) -> Bool {
            switch self {
            case .resource(let id): return change.id == id
            case let .named(services, scope, name): return services.contains(change.service) && change.scope == scope && change.name == name
            case .scopes(let list):
                return list.contains { services, includes in services.contains(change.service) && (includes?(change.scope) ?? true) }
            }
        }
    }

    private struct State {
        var waits: [UInt64: (interest: Interest, wake: @Sendable () -> Void)] = [:]
        /// Resource waits by id: most waits are these, and most changes concern none of them.
        var byID: [String: Set<UInt64>] = [:]
        var next: UInt64 = 1
    }

    private let state = Locked(State())
    private let held = Atomic<Int>(0)

    var count: Int { held.load(ordering: .relaxed) }

    func add(_ interest: Interest, wake: @escaping @Sendable () -> Void) -> UInt64 {
        held.add(1, ordering: .relaxed)
        return state.withLock { s in
            defer { s.next += 1 }
            s.waits[s.next] = (interest, wake)
            if case .resource(let id) = interest { s.byID[id, default: []].insert(s.next) }
            return s.next
        }
    }

    func remove(_ token: UInt64) {
        let removed = state.withLock { s -> Bool in
            guard let entry = s.waits.removeValue(forKey: token) else { return false }
            if case .resource(let id) = entry.interest {
                s.byID[id]?.remove(token)
                if s.byID[id]?.isEmpty == true { s.byID[id] = nil }
            }
            return true
        }
        if removed { held.subtract(1, ordering: .relaxed) }
    }

    /// What was published: wakes every wait a change can concern (all of them for a reset or a clock change).
    func published(_ payloads: some Sequence<EventLog.Payload>) {
        guard held.load(ordering: .relaxed) > 0 else { return }
        let wakes: [@Sendable () -> Void] = state.withLock { s in
            var tokens = Set<UInt64>()
            for payload in payloads {
                switch payload {
                case .request: continue
                case .clock: return s.waits.values.map(\.wake)
                case .change(let change):
                    if change.kind == .reset { return s.waits.values.map(\.wake) }
                    tokens.formUnion(s.byID[change.id] ?? [])
                    for (token, entry) in s.waits where !tokens.contains(token) {
                        if case .resource = entry.interest { continue }
                        if entry.interest.concerns(change) { tokens.insert(token) }
                    }
                }
            }
            return tokens.compactMap { s.waits[$0]?.wake }
        }
        for wake in wakes { wake() }
    }
}

/// One held `/_mock/wait`: looks at its condition when woken by the `WaitBook` (on a shared queue, never the thread
/// that published), and answers when it is reached, when `timeoutMs` pass (408), when the server stops (503), or
/// when it is evicted to make room (503). A client that goes ends it without an answer.
final class WaitHold: ResponseHold, @unchecked Sendable {
    struct Look {
        let reached: Bool
        let body: [UInt8]
        /// What was seen, for the 408's message.
        let state: String
    }

    private enum End {
        case timedOut, stopping, evicted, gone
    }

    private struct State {
        var release: (@Sendable (HTTPResponse?) -> Void)?
        var token: UInt64?
        var timer: DispatchSourceTimer?
        /// A look is queued or running: further wakes meanwhile fold into one more look after it.
        var looking = false
        var lookAgain = false
        var done = false
    }

    private let book: WaitBook
    private let interest: WaitBook.Interest
    private let timeoutMs: Int
    /// Looks at the condition; `true`: with the state seen in words (for an answer that ends the wait unreached).
    private let check: @Sendable (Bool) -> Look
    private let state = Locked(State())

    init(book: WaitBook, interest: WaitBook.Interest, timeoutMs: Int, check: @escaping @Sendable (Bool) -> Look) {
        self.book = book
        self.interest = interest
        self.timeoutMs = timeoutMs
        self.check = check
    }

    var isLong: Bool { true }

    func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .milliseconds(timeoutMs), leeway: .milliseconds(1))
        timer.setEventHandler { [self] in end(.timedOut) }
        state.withLock { s in
            s.release = release
            s.timer = timer
        }
        let token = book.add(interest) { [self] in wake() }
        let registered = state.withLock { s -> Bool in
            guard !s.done else { return false }
            s.token = token
            return true
        }
        guard registered else { return book.remove(token) }
        timer.resume()
        // Whatever was committed between the first look and the registration: one more look.
        wake()
    }

    func expedite() { end(.stopping) }
    func evicted() { end(.evicted) }
    func clientGone() { end(.gone) }

    /// Something that may concern the condition happened: look (once, however many wakes come meanwhile).
    private func wake() {
        let start = state.withLock { s -> Bool in
            guard !s.done else { return false }
            if s.looking {
                s.lookAgain = true
                return false
            }
            s.looking = true
            return true
        }
        if start { DispatchQueue.global().async { [self] in look() } }
    }

    private func look() {
        while true {
            let now = check(false)
            if now.reached { return finish(.json(200, now.body)) }
            let again = state.withLock { s -> Bool in
                guard s.lookAgain, !s.done else {
                    s.looking = false
                    return false
                }
                s.lookAgain = false
                return true
            }
            if !again { return }
        }
    }

    private func end(_ reason: End) {
        let (status, message): (Int, String)
        if reason == .gone {
            // Its answer goes nowhere (or, to a client that only half-closed, says why it came early).
            (status, message) = (408, "the client closed its side of the connection while waiting")
        } else {
            let now = check(true)
            if now.reached { return finish(.json(200, now.body)) }
            switch reason {
            case .timedOut: (status, message) = (408, "waited \(timeoutMs) ms: \(now.state)")
            case .stopping: (status, message) = (503, "the server is stopping: \(now.state)")
            default: (status, message) = (503, "this wait was ended to make room for other connections (--max-connections): \(now.state)")
            }
        }
        var answer = HTTPResponse.json(status, ControlErrorFormat().body(code: "MOCK.\(status)", message: message))
        if status == 503 { answer.headers.set("Retry-After", "1") }
        finish(answer)
    }

    private func finish(_ answer: HTTPResponse?) {
        let taken: (release: (@Sendable (HTTPResponse?) -> Void)?, token: UInt64?)? = state.withLock { s in
            guard !s.done else { return nil }
            s.done = true
            s.timer?.cancel()
            s.timer = nil
            defer {
                s.release = nil
                s.token = nil
            }
            return (s.release, s.token)
        }
        guard let taken else { return }
        if let token = taken.token { book.remove(token) }
        taken.release?(answer)
    }
}
