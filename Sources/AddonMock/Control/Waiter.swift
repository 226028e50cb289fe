import AddonMockCore
import AddonMockHTTP
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// `POST /_mock/wait`: answers once resources reach a state, so a script or test waits for a state rather than a
/// duration, under any profile and clock. The answer is held on the suspended connection and the condition checked
/// on a timer: no worker thread waits.
///
///     {"addon": ID, "status": "running"}                 a resource by id: its status (or phase) …
///     {"plugin": {"project", "pool", "name"}, "phase": "Running"}   … or by scope and name
///     {"addon": ID, "gone": true}                        … or gone (deleted, or never there)
///     {"settled": true, "cluster": "c1"}                 nothing in flight (anywhere, or in a scope)
///     "timeoutMs": 10000 (default; up to 600000)         past it: 408 naming the state reached
extension ControlService {
    static let waitPollMs = 10

    private enum Goal {
        case state(String)
        case gone
    }

    private enum Target {
        case resource(ResourceKind, id: String?, scope: String?, name: String?, goal: Goal)
        /// Each kind to look at, narrowed to a scope when the request named one.
        case settled([(kind: ResourceKind, scope: ServiceRegistry.ScopeFilter?)])
    }

    func wait(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try ctx.body()
        let kindKeys = registry.kinds.map { (key: String($0.name.dropLast()), kind: $0) }
        try body.allowOnly(Set(kindKeys.map(\.key) + ["status", "phase", "gone", "settled", "timeoutMs"] + registry.scopeFields))
        let timeoutMs = try body.optionalInt("timeoutMs", in: 1...600_000) ?? 10_000
        let named = kindKeys.filter { body.optional($0.key) != nil }
        let settled = try body.optionalBool("settled") ?? false
        guard named.count + (settled ? 1 : 0) == 1 else {
            throw APIError(.badRequest, "name one thing to wait for: \(kindKeys.map(\.key).joined(separator: ", ")) or settled: true")
        }
        let target: Target
        if let (key, kind) = named.first {
            for field in registry.scopeFields where body.optional(field) != nil {
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
        let check: @Sendable () -> (reached: Bool, body: [UInt8], state: String) = { [self] in
            do { return try evaluate(target, waitedMs: Self.monotonicMs() - started) } catch {
                return (true, codeAndMessageBody(code: "MOCK.500", message: "cannot read the state: \(error)"), "")
            }
        }
        let first = check()
        if first.reached { return .json(200, first.body) }
        var held = HTTPResponse.json(200, first.body)
        held.hold = PollingHold(polledBy: .timer(everyMs: Self.waitPollMs), timeoutMs: timeoutMs) { expired in
            let now = check()
            if now.reached { return .json(200, now.body) }
            guard let expired else { return nil }
            let (status, message) =
                expired == .stopping
                ? (503, "the server is stopping: \(now.state)")
                : (408, "waited \(timeoutMs) ms: \(now.state)")
            return .json(status, ControlErrorFormat().body(code: "MOCK.\(status)", message: message))
        }
        return held
    }

    /// Status words a resource of `kind` can show: phase names and the service's own words for them.
    private static func states(of kind: ResourceKind) -> [String] {
        let phases = Operation.allCases.compactMap { kind.lifecycle.steps[$0]?.inFlight } + kind.lifecycle.settled
        return (phases.map(\.rawValue) + phases.map(kind.status)).uniqued
    }

    private func evaluate(_ target: Target, waitedMs: Int64) throws -> (reached: Bool, body: [UInt8], state: String) {
        var w = JSONWriter()
        w.beginObject()
        w.field("reached", true)
        w.key("waitedMs"); w.number(waitedMs)
        switch target {
        case let .resource(kind, id, scope, name, goal):
            let noun = String(kind.name.dropLast())
            var found: Instance?
            if let id {
                found = try manager.instance(id: id).flatMap { kind.services.contains($0.service) ? $0 : nil }
            } else if let scope, let name {
                for service in kind.services where found == nil { found = try manager.instance(service: service, scope: scope, template: name) }
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
            return (reached, w.bytes, state)
        case let .settled(scopes):
            var inFlight: [(Instance, ResourceKind)] = []
            for (kind, scope) in scopes {
                for i in try manager.allInstances(services: kind.services) where i.isInFlight && scope?.contains(i.scope) ?? true {
                    inFlight.append((i, kind))
                }
            }
            w.key("inFlight"); w.number(Int64(inFlight.count))
            w.endObject()
            let state =
                inFlight.first.map { i, kind in
                    "\(inFlight.count) still in flight, e.g. \(kind.name.dropLast()) \(i.id) \(kind.status(i.phase))"
                } ?? "settled"
            return (inFlight.isEmpty, w.bytes, state)
        }
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// An answer held until `decide` gives one: asked by its poller (never a worker thread), with `.timedOut` once
/// `timeoutMs` have passed and `.stopping` when the server stops (then it must answer).
final class PollingHold: ResponseHold, @unchecked Sendable {
    enum Expiry { case timedOut, stopping }

    enum Poller {
        /// A dispatch timer every `everyMs`, at normal priority (`/_mock/wait`: small looks, answered promptly).
        case timer(everyMs: Int)
        /// The ticker's low-priority thread, on its interval (event batches: rendering that can wait).
        case ticker(IdleTicker)
    }

    private let decide: @Sendable (Expiry?) -> HTTPResponse?
    private let poller: Poller
    private let deadline: DispatchTime
    private struct State {
        var release: (@Sendable (HTTPResponse?) -> Void)?
        var timer: DispatchSourceTimer?
        var done = false
    }

    private let state = Locked(State())

    init(polledBy poller: Poller, timeoutMs: Int, decide: @escaping @Sendable (Expiry?) -> HTTPResponse?) {
        self.decide = decide
        self.poller = poller
        deadline = .now() + .milliseconds(timeoutMs)
    }

    func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) {
        let intervalMs: Int
        switch poller {
        case .ticker(let ticker):
            state.withLock { $0.release = release }
            return ticker.add { [self] in tick(DispatchTime.now() >= deadline ? .timedOut : nil) }
        case .timer(let everyMs): intervalMs = everyMs
        }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .milliseconds(intervalMs), repeating: .milliseconds(intervalMs), leeway: .milliseconds(intervalMs / 2))
        timer.setEventHandler { [self] in tick(DispatchTime.now() >= deadline ? .timedOut : nil) }
        state.withLock { s in
            s.release = release
            s.timer = timer
        }
        timer.resume()
    }

    func expedite() { tick(.stopping) }

    /// Whether the answer is released (now or before).
    @discardableResult
    private func tick(_ expiry: Expiry?) -> Bool {
        guard state.withLock({ !$0.done && $0.release != nil }) else { return true }
        guard let answer = decide(expiry) else { return false }
        let release: (@Sendable (HTTPResponse?) -> Void)? = state.withLock { s in
            guard !s.done else { return nil }
            s.done = true
            s.timer?.cancel()
            let release = s.release
            s.release = nil
            s.timer = nil
            return release
        }
        guard let release else { return true }
        // Releasing resumes the connection under the HTTP layer's lock, which request threads take: not from the
        // ticker's low-priority thread, which could be kept off the CPU while holding it.
        if case .ticker = poller { DispatchQueue.global().async { release(answer) } } else { release(answer) }
        return true
    }
}
