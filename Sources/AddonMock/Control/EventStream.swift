import AddonMockCore
import AddonMockHTTP
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
import AddonMockKit
#endif

/// `GET /_mock/events`: Server-Sent Events of what happens (resource changes, requests, clock changes), filterable
/// by type, service and scope.
///
/// A stream: the connection stays open and each batch of events the filter admits is written as it happens (a
/// comment line every 15 s keeps proxies from closing a quiet one), for `curl -N`, `EventSource` and any SSE
/// client. It starts after the client's cursor (`Last-Event-ID`, or `?after=ID`; `after=0` replays what is kept),
/// or, without one, at the newest event. Batches are rendered by `EventPump` on a thread of the lowest CPU
/// priority, woken by the event log, and only once the client has taken the previous batch: a subscriber that
/// reads nothing makes the server render nothing, and one that cannot keep up falls behind and, once its cursor is
/// older than the kept events, first gets an `event: gap` with how many were missed — it never holds the server
/// back or makes it hold more than one batch for it.
///
/// With `holdMs=N` the answer is one batch instead (the long-poll form): held until an admitted event exists after
/// the cursor, or N ms pass, then it carries every such event (about 2,000 at most) and ends with the cursor
/// (`id:`) past everything it looked at; without a cursor it comes at once and only says where the log stands.
extension ControlService {
    /// What a browser waits before it reconnects once a stream has ended (a server restart).
    static let eventsRetryMs = 1000

    var eventRoutes: [ServiceRoute] { [ServiceRoute("GET", Self.eventsPattern) { try streamEvents($0) }] }

    func streamEvents(_ ctx: RequestContext) throws -> HTTPResponse {
        let request = ctx.request
        let allowed = Set(["types", "service", "resource", "after", "control", "holdMs", "access_token"] + registry.scopeFields)
        for (name, _) in request.query ?? [] where !allowed.contains(name) {
            throw APIError(.badRequest, "unknown query parameter \(name); expected one of: \(allowed.sorted().joined(separator: ", "))")
        }
        var filter = EventFilter()
        if let text = request.queryValue("types"), !text.isEmpty {
            let types = Set(text.split(separator: ",").map(String.init))
            if let bad = types.subtracting(EventFilter.types).sorted().first {
                throw APIError(.badRequest, "types: unknown event type \"\(bad)\"; expected \(EventFilter.types.sorted().orList)")
            }
            filter.types = types
        }
        if let text = request.queryValue("service"), !text.isEmpty {
            let services = Set(text.split(separator: ",").map(String.init))
            let known = Set(registry.faultVocabulary.services + [Self.serviceName])
            if let bad = services.subtracting(known).sorted().first {
                throw APIError(.badRequest, "service: unknown service \"\(bad)\"; expected \(known.sorted().orList)")
            }
            filter.services = services
        }
        for field in registry.scopeFields {
            if let value = request.queryValue(field) { filter.scope[field] = try IdentifierRule.check(value, field: field) }
        }
        if let id = request.queryValue("resource") { filter.resource = try IdentifierRule.check(id, field: "resource") }
        filter.includeControl = request.queryValue("control") == "true"
        let holdMs = try request.queryValue("holdMs").map { text throws(APIError) in
            guard let n = Int(text), (0...60_000).contains(n) else {
                throw APIError(.badRequest, "holdMs must be a whole number from 0 to 60000")
            }
            return n
        }
        let cursorText = request.headers["Last-Event-ID"] ?? request.queryValue("after")
        let cursor: Int
        if let cursorText {
            guard let n = Int(cursorText), n >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID (or after) must be an event id, got \(IdentifierRule.quoted(cursorText))")
            }
            cursor = n
        } else {
            cursor = events.lastID
        }
        let reader = EventReader(events: events, filter: filter, kinds: { [registry] in registry.kind(ofService: $0) }, cursor: cursor)

        guard let holdMs else {
            var response = Self.eventStreamResponse()
            response.stream = EventSubscription(reader: reader, pump: pump, hello: instance.helloFrame)
            return response
        }
        // The long-poll form. Without a cursor: at once, with where the stream stands, so the next request starts
        // there. Every other batch is looked for and rendered on the pump's low-priority thread, also when events
        // are already waiting: never on the thread that serves requests.
        if cursorText == nil { return Self.batchResponse(reader.batch(final: true) ?? []) }
        var held = Self.batchResponse([])
        held.hold = EventBatch(reader: reader, pump: pump, holdMs: holdMs)
        return held
    }

    static func eventStreamResponse() -> HTTPResponse {
        var response = HTTPResponse(status: 200)
        response.headers.set("Content-Type", "text/event-stream")
        response.headers.set("Cache-Control", "no-store")
        return response
    }

    static func batchResponse(_ body: [UInt8]) -> HTTPResponse {
        var response = eventStreamResponse()
        response.body = body
        return response
    }
}

/// A subscriber's place in the event log and what it wants; renders the next batch after its cursor.
final class EventReader: Sendable {
    private let events: EventLog
    private let filter: EventFilter
    private let kinds: @Sendable (String) -> ResourceKind?
    /// Where it has looked up to: events the filter turns away are passed over once.
    private let cursor: Locked<Int>

    init(events: EventLog, filter: EventFilter, kinds: @escaping @Sendable (String) -> ResourceKind?, cursor: Int) {
        self.events = events
        self.filter = filter
        self.kinds = kinds
        self.cursor = Locked(cursor)
    }

    /// Whether events exist past the cursor (admitted or not).
    var isBehind: Bool { cursor.withLock { $0 } < events.lastID }

    /// The SSE frames of the admitted events after the cursor (about `EventLog.batchLimit` at most), a `gap` first
    /// when some were no longer kept, and the cursor past everything looked at; nil when nothing was admitted or
    /// missed, unless `final` (then at least the cursor).
    func batch(final: Bool) -> [UInt8]? {
        var admitted: [EventLog.Event] = []
        var missed = 0
        let (from, to) = cursor.withLock { position -> (Int, Int) in
            let start = position
            while true {
                let (found, skipped) = events.events(after: position)
                missed += skipped
                guard let last = found.last else { break }
                admitted += found.filter { filter.admits($0, kinds: kinds) }
                position = last.id
                if admitted.count >= EventLog.batchLimit { break }
            }
            return (start, position)
        }
        guard final || !admitted.isEmpty || missed > 0 else { return nil }
        var body = Array("retry: \(ControlService.eventsRetryMs)\n\n".utf8)
        if missed > 0 { body += Array("event: gap\ndata: {\"missed\":\(missed)}\n\n".utf8) }
        for event in admitted { event.frame(kinds: kinds, into: &body) }
        // The cursor past everything looked at, admitted or not, so a reconnection starts there.
        if admitted.last?.id != to || to == from { body += Array("id: \(to)\n\n".utf8) }
        return body
    }
}

/// One `/_mock/events` stream: the pump fills its buffer with the next batch once the client has taken the last,
/// and wakes the connection; libmicrohttpd reads the buffer when the socket can take it.
final class EventSubscription: ResponseStream, EventPump.Subscriber {
    static let keepAliveNs: UInt64 = 15_000_000_000

    private struct State {
        var buffer: [UInt8] = []
        var offset = 0
        /// `finish` was called: `read` ends the stream (after what is buffered, when stopping).
        var ending: StreamEnd?
        var wake: (@Sendable () -> Void)?
        var lastWrite: UInt64 = 0
        var started = false
    }

    private let reader: EventReader
    private let pump: EventPump
    /// `event: hello`: which server this is, sent right after the stream opens.
    private let hello: [UInt8]
    private let state = Locked(State())

    init(reader: EventReader, pump: EventPump, hello: [UInt8]) {
        self.reader = reader
        self.pump = pump
        self.hello = hello
    }

    func attach(wake: @escaping @Sendable () -> Void) {
        state.withLock { s in
            s.wake = wake
            // The first bytes go out at once: the client sees the stream open before any event.
            s.buffer = Array("retry: \(ControlService.eventsRetryMs)\n: connected\n\n".utf8) + hello
            s.lastWrite = EventPump.now()
            s.started = true
        }
        pump.add(self)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamRead {
        let (n, drained, ended): (Int, Bool, Bool) = state.withLock { s in
            let available = s.buffer.count - s.offset
            if available == 0 {
                return (0, false, s.ending != nil)
            }
            let n = min(available, buffer.count)
            s.buffer.withUnsafeBytes { bytes in
                buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + s.offset, byteCount: n)
            }
            s.offset += n
            let drained = s.offset == s.buffer.count
            if drained {
                s.buffer = []
                s.offset = 0
            }
            return (n, drained, false)
        }
        if ended { return .end }
        if n == 0 { return .nothingYet }
        // The client has taken a whole batch: the pump may render the next one now, if there is one.
        if drained, reader.isBehind { pump.signal() }
        return .bytes(n)
    }

    func finish(_ reason: StreamEnd) {
        let wake: (@Sendable () -> Void)? = state.withLock { s in
            guard s.ending == nil else { return nil }
            s.ending = reason
            // Stopping or evicted: nothing more is sent, not even what is buffered (the client resumes from its
            // cursor); gone: nobody reads it.
            s.buffer = []
            s.offset = 0
            return s.wake
        }
        wake?()
        pump.signal() // so that it lets go of this one
    }

    /// What is rendered and not yet taken by the client.
    var bufferedBytes: Int { state.withLock { $0.buffer.count - $0.offset } }

    /// The pump's look: the next batch (or a keep-alive comment when nothing was sent for a while) once the last
    /// is taken. Done once the stream has ended.
    func pump(now: UInt64) -> (done: Bool, nextLook: UInt64?) {
        let (ready, lastWrite, ended) = state.withLock { s in (s.offset == 0 && s.buffer.isEmpty && s.started, s.lastWrite, s.ending != nil) }
        if ended { return (true, nil) }
        guard ready else { return (false, nil) } // the client is still reading: its drain signals the pump
        var next = reader.batch(final: false)
        if next == nil, now >= lastWrite + Self.keepAliveNs { next = Array(": keep-alive\n\n".utf8) }
        guard let next else { return (false, lastWrite + Self.keepAliveNs) }
        let wake: (@Sendable () -> Void)? = state.withLock { s in
            guard s.ending == nil else { return nil }
            s.buffer = next
            s.offset = 0
            s.lastWrite = now
            return s.wake
        }
        // Resuming takes the HTTP layer's lock, which request threads take: not from the pump's low-priority
        // thread, which could be kept off the CPU while holding it.
        if let wake { DispatchQueue.global().async { wake() } }
        return (false, now + Self.keepAliveNs)
    }
}

/// One `/_mock/events?holdMs=N` batch: a long hold the pump answers once an admitted event exists or N ms pass.
final class EventBatch: ResponseHold, EventPump.Subscriber {
    private struct State {
        var release: (@Sendable (HTTPResponse?) -> Void)?
        var done = false
        /// Answer now with whatever there is (stopping, evicted) or with nothing (the client is gone).
        var cutShort: Bool?
    }

    private let reader: EventReader
    private let pump: EventPump
    private let deadline: UInt64
    private let state = Locked(State())

    init(reader: EventReader, pump: EventPump, holdMs: Int) {
        self.reader = reader
        self.pump = pump
        deadline = EventPump.now() + UInt64(holdMs) * 1_000_000
    }

    var isLong: Bool { true }

    func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) {
        state.withLock { $0.release = release }
        pump.add(self)
    }

    func expedite() { cut(answering: true) }
    func evicted() { cut(answering: true) }
    func clientGone() { cut(answering: false) }

    private func cut(answering: Bool) {
        state.withLock { s in if s.cutShort == nil { s.cutShort = answering } }
        pump.signal()
    }

    func pump(now: UInt64) -> (done: Bool, nextLook: UInt64?) {
        let cutShort = state.withLock { $0.cutShort }
        let final = cutShort != nil || now >= deadline
        let body: [UInt8]? = cutShort == false ? [] : reader.batch(final: final)
        guard let body else { return (false, deadline) }
        let release: (@Sendable (HTTPResponse?) -> Void)? = state.withLock { s in
            guard !s.done else { return nil }
            s.done = true
            defer { s.release = nil }
            return s.release
        }
        if let release { DispatchQueue.global().async { release(ControlService.batchResponse(body)) } }
        return (true, nil)
    }
}

/// Looks for subscribers' next batches and renders them on one thread of its own at the lowest CPU priority
/// (`SCHED_IDLE`), woken by the event log when something is published. Under a load that saturates the CPU,
/// request threads get it first and a subscriber's batches come later and larger: a subscriber takes from requests
/// none of the CPU its events cost to render. Between two looks that found something it rests `restNs`, so that
/// batches gather under load; with nothing to render it sleeps until woken or a subscriber's next deadline (a
/// keep-alive, a batch's hold). The thread exists only while someone subscribes.
final class EventPump: Sendable {
    protocol Subscriber: AnyObject, Sendable {
        /// Looks (and renders, and wakes its client) now; `done` once it needs no more looks, else when it next
        /// must be looked at even if nothing is published (nil: only when woken).
        func pump(now: UInt64) -> (done: Bool, nextLook: UInt64?)
    }

    private struct State {
        /// How many the thread looked after at its last pass (tests and the console read it).
        var count = 0
        var added: [any Subscriber] = []
        var running = false
    }

    /// Linux's `SCHED_IDLE` (sched.h defines it only for GNU sources).
    static let idlePolicy: Int32 = 5
    let restNs: UInt64
    private let state = Locked(State())
    /// Read on every publication without the lock: with no subscriber, publishing pays nothing for the pump.
    private let subscribed = Atomic<Bool>(false)
    /// Something was published since the thread last looked.
    private let pending = Atomic<Bool>(false)

    /// Without a thread of its own nobody looks but whoever calls a subscriber's `pump(now:)` (tests do).
    private let threaded: Bool

    init(restMs: Int = 10, threaded: Bool = true) {
        restNs = UInt64(restMs) * 1_000_000
        self.threaded = threaded
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// How many subscribers the pump looks after.
    var subscriberCount: Int { state.withLock { $0.count + $0.added.count } }

    /// Something was published (or a subscriber took its batch): look soon. Every request publishes, so only the
    /// first signal after a look takes the lock (to wake the thread if it sleeps); the rest are one atomic exchange.
    func signal() {
        guard subscribed.load(ordering: .relaxed), !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        state.withLock { _ in }
        state.broadcast()
    }

    /// Waits until its thread has ended (it does once nobody subscribes); false if it still runs after the timeout.
    func waitUntilThreadEnds(timeoutMicroseconds: Int) -> Bool {
        state.wait(until: { !$0.running }, timeoutMicroseconds: timeoutMicroseconds) { !$0.running }
    }

    func add(_ subscriber: any Subscriber) {
        guard threaded else { return }
        let start = state.withLock { s in
            s.added.append(subscriber)
            pending.store(true, ordering: .releasing)
            subscribed.store(true, ordering: .relaxed)
            defer { s.running = true }
            return !s.running
        }
        guard start else { return state.broadcast() }
        let started = DetachedThread.start { [self] in
            // SCHED_IDLE rather than nice 19: a thread of any other policy that wakes (a request, the committer)
            // takes the CPU from it at once, where a niced thread may finish its time slice first.
            var parameters = sched_param()
            pthread_setschedparam(pthread_self(), EventPump.idlePolicy, &parameters)
            run()
        }
        // No thread to be had (a process limit): batches are still rendered, at normal priority.
        if !started { DispatchQueue.global().async { [self] in run() } }
    }

    private func run() {
        var subscribers: [any Subscriber] = []
        while true {
            let more: [any Subscriber]? = state.withLock { s in
                pending.store(false, ordering: .releasing)
                defer { s.added = [] }
                if subscribers.isEmpty && s.added.isEmpty {
                    s.running = false
                    subscribed.store(false, ordering: .relaxed)
                    return nil
                }
                return s.added
            }
            guard let more else { return state.broadcast() }
            subscribers += more
            let now = Self.now()
            var nextLook = UInt64.max
            subscribers.removeAll { subscriber in
                let (done, next) = subscriber.pump(now: now)
                if let next { nextLook = min(nextLook, next) }
                return done
            }
            state.withLock { $0.count = subscribers.count }
            if subscribers.isEmpty { continue }
            // Rest, so that what is published meanwhile is taken in one batch; then sleep until woken or due.
            usleep(UInt32(restNs / 1000))
            let afterRest = Self.now()
            let waitMicroseconds = nextLook == .max ? 60_000_000 : Int(min(60_000_000, nextLook > afterRest ? (nextLook - afterRest) / 1000 : 0))
            state.wait(until: { [self] in pending.load(ordering: .acquiring) || !$0.added.isEmpty }, timeoutMicroseconds: waitMicroseconds) { _ in }
        }
    }
}
