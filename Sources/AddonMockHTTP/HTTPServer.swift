import AddonMockCore
import CMHDShim
import CMicroHTTPD
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

public struct HTTPServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The libmicrohttpd linked in, as it reports itself ("1.0.1" when built by scripts/libmicrohttpd).
public enum MicroHTTPDLibrary {
    public static var version: String { String(cString: MHD_get_version()) }
    /// A build linked against Debian 12's 0.9.75 instead (a plain `swift build` with libmicrohttpd-dev installed):
    /// it works, but sends the head of its answer to an unparseable Content-Length twice (docs/api.md).
    public static var isOlderThanPinned: Bool { version.hasPrefix("0.") }
}

/// A libmicrohttpd daemon (epoll, internal thread pool) that hands complete requests to an `HTTPHandler`.
///
/// Requests are answered on the final access-handler call, never the first: libmicrohttpd (0.9.75 at least) closes the
/// connection after a response queued on the headers-only call, which would kill keep-alive.
///
/// An answer with a hold (a write waiting for its commit, a fault's latency) is kept on a suspended connection
/// while the thread serves others; `ConnectionBook` knows at every moment which connections are held and how
/// many requests are not yet complete, so `stop` can answer all of them before libmicrohttpd stops.
public final class HTTPServer: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: UInt16
        public var threads: Int
        public var maxBodyBytes: Int
        /// How long a connection may take to send a whole request (head and body), counted from when it opened or
        /// its last answer was written; an idle keep-alive connection is closed after as long. Slow clients
        /// (slowloris) cannot hold a connection longer than this.
        public var requestTimeoutSeconds: Int
        /// Open connections at most; the longest-waiting idle or slow ones are closed to keep a reserve free.
        public var maxConnections: Int
        /// How long `stop` waits for held answers (commits, latency) before answering the rest 503.
        public var drainTimeoutMs: Int
        /// Request bodies held at once, all connections together; a body that would pass it is not read and its
        /// request gets the handler's `overloaded` 503.
        public var bodyBudgetBytes: Int
        /// Paths (exact) whose bodies may be larger than `maxBodyBytes`, and how large (a world import).
        public var largerBodies: [String: Int] = [:]

        public init(
            host: String = "127.0.0.1", port: UInt16 = 8080, threads: Int = 2, maxBodyBytes: Int = 1 << 20,
            requestTimeoutSeconds: Int = 10, maxConnections: Int = 10_000, drainTimeoutMs: Int = 5000,
            largerBodies: [String: Int] = [:], bodyBudgetBytes: Int = 64 << 20
        ) {
            self.largerBodies = largerBodies
            self.bodyBudgetBytes = bodyBudgetBytes
            self.host = host
            self.port = port
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.requestTimeoutSeconds = requestTimeoutSeconds
            self.maxConnections = maxConnections
            self.drainTimeoutMs = drainTimeoutMs
        }

        /// Connections kept free for new clients: past `maxConnections - reserve`, the longest-waiting go.
        var connectionReserve: Int { max(1, min(100, maxConnections / 10)) }
    }

    let handler: any HTTPHandler
    let options: Options
    fileprivate let book = ConnectionBook()
    /// Closes connections that take longer than the request timeout to send a request, and keeps the reserve.
    private let reaper = Repeater(label: "addonmock.http.reaper")
    /// Only touched on the reaper's queue.
    private let freedMemory = FreedMemory()
    /// Bytes of request bodies held now, all connections together (see `Options.bodyBudgetBytes`).
    fileprivate let bodiesInFlight = Atomic<Int>(0)

    public init(options: Options, handler: any HTTPHandler) {
        self.options = options
        self.handler = handler
    }

    /// libmicrohttpd says only that it could not start: binding a socket of our own tells why, in words that say
    /// what to do. nil when that bind works (the failure was something else).
    static func whyBindFails(host: String, port: UInt16) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else {
            return "\(host) is not an address or a name this machine can resolve: check --host"
        }
        defer { freeaddrinfo(found) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 else { return nil }
        switch errno {
        case EADDRINUSE: return "port \(port) is in use by another process: stop it, or pick another --port (0 picks a free one)"
        case EADDRNOTAVAIL: return "\(host) is not an address of this machine: check --host (0.0.0.0 listens on every address)"
        case EACCES: return "port \(port) needs privileges: pick one above 1023"
        default: return String(cString: strerror(errno))
        }
    }

    /// Binds and starts serving; returns the bound port (useful with port 0).
    @discardableResult
    public func start() throws(HTTPServerError) -> UInt16 {
        // The daemon keeps a raw pointer to self until stop(): this +1 keeps it alive that long.
        let context = Unmanaged.passRetained(self).toOpaque()
        var err: UnsafePointer<CChar>?
        raiseOpenFileLimit(to: options.maxConnections + 256)
        guard
            let daemon = amh_start(
                options.host, options.port, acceptPolicy, context, accessHandler, context, requestCompleted, context,
                connectionNotified, context, UInt32(max(1, options.threads)),
                UInt32(max(1, options.maxConnections)), UInt32(max(1, options.requestTimeoutSeconds)), &err)
        else {
            Unmanaged<HTTPServer>.fromOpaque(context).release()
            let reason = Self.whyBindFails(host: options.host, port: options.port) ?? err.map { String(cString: $0) } ?? "cannot start"
            throw HTTPServerError(message: "cannot listen on \(options.host):\(options.port): \(reason)")
        }
        book.started(daemon, context: context)
        reaper.start(every: 250) { [book, options, self] in
            book.closeOverdue(
                olderThanNs: UInt64(options.requestTimeoutSeconds) * 1_000_000_000,
                keepingAtMost: options.maxConnections - options.connectionReserve)
            if bodiesInFlight.load(ordering: .relaxed) == 0 { freedMemory.returnIfGrown() }
        }
        return amh_bound_port(daemon)
    }

    /// Stops accepting, answers every request already received, then stops libmicrohttpd; never aborts.
    ///
    /// New connections are closed as soon as libmicrohttpd accepts them (its accept policy); the port is given
    /// up when libmicrohttpd stops. (`MHD_quiesce_daemon`, which closes the listener at once, races with a worker
    /// thread taking the listening socket out of its epoll set, and libmicrohttpd aborts when it loses: 1 stop
    /// in 294 under load.) New requests on open connections get the handler's 503 (and the connection closes).
    /// Held answers are asked to hurry (a latency is cut short); each goes out when released. Whatever is still
    /// held after `drainTimeoutMs` is answered 503 in its service's format — never the unconfirmed success.
    /// libmicrohttpd is stopped only once every request is complete (its answer written): it aborts if stopped
    /// with a connection suspended, and cuts off an answer not yet written.
    public func stop() {
        guard book.beginDraining() else { return }
        reaper.stop()
        let deadline = monotonicNanoseconds() + UInt64(max(0, options.drainTimeoutMs)) * 1_000_000
        book.waitUntilAnswered(before: deadline)
        book.answerTheRest { self.handler.unavailable($0) }
        // Resumed connections are answered within a poll cycle; the bound only guards against a stuck client.
        book.waitUntilAnswered(before: monotonicNanoseconds() + 2_000_000_000)
        guard let (daemon, context) = book.take() else { return }
        MHD_stop_daemon(daemon)
        Unmanaged<HTTPServer>.fromOpaque(context).release()
    }

    fileprivate func dispatch(_ request: HTTPRequest) -> HTTPResponse { handler.handle(request) }
}

/// A connection suspended with its answer held.
private final class HeldConnection: @unchecked Sendable {
    let pointer: OpaquePointer?
    let state: RequestState
    let request: HTTPRequest
    let hold: any ResponseHold
    /// Under the book's lock: released exactly once, by its hold or by `stop`; suspended only if not released
    /// by the time its access-handler call ends (then it is answered in that call, like any other request).
    var released = false
    var suspended = false

    init(pointer: OpaquePointer?, state: RequestState, request: HTTPRequest, hold: any ResponseHold) {
        self.pointer = pointer
        self.state = state
        self.request = request
        self.hold = hold
    }
}

/// The one owner of the daemon pointer and of every connection the server has suspended, under one lock.
/// A connection is suspended only while the daemon serves or drains and resumed only once; with the count of
/// requests not yet complete, `stop` knows when no answer is left to write.
private final class ConnectionBook: Sendable {
    enum Phase: Int { case idle, serving, draining, closing }

    /// Raw pointers are not Sendable; this lock is what guards them.
    private struct State: @unchecked Sendable {
        var daemon: OpaquePointer?
        var context: UnsafeMutableRawPointer?
        var phase = Phase.idle
        var held: [ObjectIdentifier: HeldConnection] = [:]
        /// Open connections by socket: a stop waits while one holds a request not yet read; the reaper closes
        /// those that wait too long.
        var sockets: [Int32: ConnectionClock] = [:]
    }

    private let state = Locked(State())
    /// Read on every request without the lock: whether new requests are still served.
    private let phase = Atomic<Int>(Phase.idle.rawValue)
    /// Requests from their first access-handler call until libmicrohttpd reports them complete (answer sent, or
    /// connection gone): a stop may end libmicrohttpd only when none is left, or an answer queued but not yet
    /// written would be cut off.
    private let inProgress = Atomic<Int>(0)

    func requestStarted() { inProgress.add(1, ordering: .relaxed) }
    func requestCompleted() { inProgress.subtract(1, ordering: .releasing) }

    var isServing: Bool { phase.load(ordering: .acquiring) == Phase.serving.rawValue }
    /// New connections are taken while starting and serving, not once a stop has begun.
    var isAccepting: Bool { phase.load(ordering: .acquiring) <= Phase.serving.rawValue }

    func started(_ daemon: OpaquePointer, context: UnsafeMutableRawPointer) {
        state.withLock { s in
            s.daemon = daemon
            s.context = context
            s.phase = .serving
        }
        phase.store(Phase.serving.rawValue, ordering: .releasing)
    }

    /// Stops accepting (see `acceptPolicy`); false when not serving. Asks every held answer to hurry.
    func beginDraining() -> Bool {
        let holds: [any ResponseHold]? = state.withLock { s in
            guard s.phase == .serving, s.daemon != nil else { return nil }
            s.phase = .draining
            phase.store(Phase.draining.rawValue, ordering: .releasing)
            return s.held.values.map(\.hold)
        }
        guard let holds else { return false }
        for hold in holds { hold.expedite() }
        return true
    }

    /// Books a held answer; false when the server is closing (the caller then waits for the hold itself). A
    /// hold booked while draining is asked to hurry at once.
    func book(_ connection: HeldConnection) -> Bool {
        let phase: Phase? = state.withLock { s in
            guard s.daemon != nil, s.phase == .serving || s.phase == .draining else { return nil }
            s.held[ObjectIdentifier(connection)] = connection
            return s.phase
        }
        guard let phase else { return false }
        if phase == .draining { connection.hold.expedite() }
        return true
    }

    /// At the end of the access-handler call: suspends the connection unless its hold has released it already
    /// (then the call answers it, and libmicrohttpd never sees a suspension). Returns whether it suspended.
    func suspendIfStillHeld(_ connection: HeldConnection) -> Bool {
        state.withLock { s in
            guard !connection.released else { return false }
            connection.suspended = true
            MHD_suspend_connection(connection.pointer)
            return true
        }
    }

    /// Takes a held connection off the book with `replacement` (or its own answer) and, if it was suspended,
    /// resumes it; nothing when it was released already (by `stop`).
    func release(_ connection: HeldConnection, with replacement: HTTPResponse?) {
        state.withLock { s in
            guard !connection.released else { return }
            connection.released = true
            s.held[ObjectIdentifier(connection)] = nil
            if let replacement { connection.state.held = replacement }
            if connection.suspended, s.daemon != nil { MHD_resume_connection(connection.pointer) }
        }
    }

    func opened(_ clock: ConnectionClock) { state.withLock { $0.sockets[clock.fd] = clock } }
    func closed(_ clock: ConnectionClock) {
        state.withLock { s in if s.sockets[clock.fd] === clock { s.sockets[clock.fd] = nil } }
    }

    /// Shuts down connections that have waited longer than `olderThanNs` for a whole request, and, past
    /// `keepingAtMost` connections, the longest-waiting ones; libmicrohttpd then sees them end and closes them.
    /// Under the lock: a socket is shut down only while it is still the connection it was booked as.
    func closeOverdue(olderThanNs timeout: UInt64, keepingAtMost limit: Int) {
        let now = monotonicNanoseconds()
        state.withLock { s in
            var waiting: [(since: UInt64, fd: Int32)] = []
            for (fd, clock) in s.sockets {
                let since = clock.waitingSince.load(ordering: .relaxed)
                guard since != 0 else { continue }
                // `since` may be later than `now` (set after `now` was read): not overdue.
                if since < now && now - since > timeout { shutdown(fd, Int32(SHUT_RDWR)) } else { waiting.append((since, fd)) }
            }
            let excess = s.sockets.count - max(0, limit)
            guard excess > 0 else { return }
            for (_, fd) in waiting.sorted(by: { $0.since < $1.since }).prefix(excess) { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Waits until every held answer is out and no connection has request bytes libmicrohttpd has not read
    /// yet (a request sent before the stop is answered, if only with a 503), or until `deadline`.
    func waitUntilAnswered(before deadline: UInt64) {
        while monotonicNanoseconds() < deadline {
            let busy =
                inProgress.load(ordering: .acquiring) > 0
                || state.withLock { s in
                    !s.held.isEmpty || s.sockets.keys.contains { unreadBytes($0) > 0 }
                }
            if !busy { return }
            usleep(1000)
        }
    }

    /// Whatever is still held gets `answer(request)` (a 503) instead; from now on nothing is suspended.
    func answerTheRest(_ answer: (HTTPRequest) -> HTTPResponse) {
        state.withLock { s in
            s.phase = .closing
            phase.store(Phase.closing.rawValue, ordering: .releasing)
            for connection in s.held.values where !connection.released {
                connection.released = true
                connection.state.held = answer(connection.request)
                guard connection.suspended else { continue } // its own call answers it
                if s.daemon != nil { MHD_resume_connection(connection.pointer) }
            }
            s.held = [:]
        }
    }

    func take() -> (OpaquePointer, UnsafeMutableRawPointer)? {
        state.withLock { s in
            guard let d = s.daemon, let c = s.context else { return nil }
            s.daemon = nil
            s.context = nil
            return (d, c)
        }
    }
}

/// Per-request state kept in libmicrohttpd's `req_cls` between access-handler calls. `body` is what has been
/// received so far; it moves into the `HTTPRequest` when the request is dispatched.
/// `held` is written by the releasing thread before it resumes the connection, and read by the connection's
/// thread after: libmicrohttpd's resume goes through its own lock, which orders the two.
private final class RequestState: @unchecked Sendable {
    var body: [UInt8] = []
    var tooLarge = false
    /// The body did not fit in the budget for bodies in flight; `counted` is what this request holds of it.
    var overBudget = false
    var counted = 0
    /// `maxBodyBytes`, or the path's own limit (`Options.largerBodies`), looked up once a body passes the first.
    var limit: Int?
    var held: HTTPResponse?
}

extension HTTPServer {
    /// How large an announced body past its limit may be and still be read (and dropped) before its 413; past
    /// this the 413 goes at once and the connection closes.
    static let discardedBodyBytes = 16 << 20

    /// Whether `size` bytes are more body than `state`'s request may send: `maxBodyBytes`, unless its path is one
    /// of `largerBodies` (looked up once, and only for the rare body that passes the default).
    fileprivate func exceedsLimit(_ size: Int, _ state: RequestState, _ url: UnsafePointer<CChar>) -> Bool {
        guard size > options.maxBodyBytes else { return false }
        if state.limit == nil { state.limit = options.largerBodies[String(cString: url)] ?? options.maxBodyBytes }
        return size > state.limit!
    }
}

// MARK: - libmicrohttpd callbacks (C function pointers: all context arrives through `cls`)

/// Once a stop has begun, a new connection is closed as soon as it is accepted, before any of it is read.
private let acceptPolicy: MHD_AcceptPolicyCallback = { cls, _, _ in
    guard let cls else { return .NO }
    return Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue().book.isAccepting ? .YES : .NO
}

private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadSize, reqCls in
    guard let cls, let url, let method, let uploadSize, let reqCls else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()

    // Call 1: headers only. Allocate the state; refuse an announced oversize body without reading it.
    guard let statePointer = reqCls.pointee else {
        let state = RequestState()
        reqCls.pointee = Unmanaged.passRetained(state).toOpaque()
        server.book.requestStarted()
        // Stopping: a request that arrives now is not served (its connection closes after the answer).
        guard server.book.isServing else {
            var refusal = server.handler.unavailable(request(connection, url: url, method: method, state: state))
            refusal.headers.set("Connection", "close")
            return send(refusal, on: connection)
        }
        if let text = MHD_lookup_connection_value(connection, .HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) {
            let length = Int(strtoll(text, nil, 10))
            if server.exceedsLimit(length, state, url) {
                state.tooLarge = true
                // Up to `discardedBodyBytes` the body is read and dropped, and the 413 follows it on a connection
                // that stays open: answered at once and closed, the client would still be sending, and the reset
                // its unread bytes cause can reach it before the answer does (most clients, the SDK's
                // `requests` among them, then report a broken connection instead of the 413).
                guard length <= HTTPServer.discardedBodyBytes else { return respond(connection, server, url: url, method: method, state: state) }
                return .YES
            }
            // An announced body is budgeted and allocated once, whole: growing it by doubling would hold up to
            // twice what the budget counts.
            if length > 0 { server.budget(length, for: state) }
        }
        return .YES
    }
    let state = Unmanaged<RequestState>.fromOpaque(statePointer).takeUnretainedValue()

    // Calls 2..n: body chunks. Consume everything; never queue a response while data is arriving.
    if uploadSize.pointee > 0 {
        let n = uploadSize.pointee
        if let uploadData, !state.tooLarge, !state.overBudget {
            if server.exceedsLimit(state.body.count + n, state, url) {
                state.tooLarge = true
                state.body = []
                server.release(state)
            } else if state.body.count + n > state.counted,
                // A body of unannounced length (chunked) is budgeted in doubling steps, as it grows.
                !server.budget(min(state.limit ?? server.options.maxBodyBytes, max(state.body.count + n, state.counted * 2)), for: state)
            {
                state.body = []
            } else {
                uploadData.withMemoryRebound(to: UInt8.self, capacity: uploadSize.pointee) {
                    state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: uploadSize.pointee))
                }
            }
        }
        uploadSize.pointee = 0
        return .YES
    }
    // Final call: the whole request is here; or the connection was resumed with its held answer released. A
    // client that half-closed meanwhile gets it too, with no look at the socket for its FIN (a system call per
    // write): libmicrohttpd, calling back here, has not read the FIN, and 1.0.1 writes a queued answer before it
    // reads again; when it reads the FIN first instead, it closes without calling back, and `requestCompleted`
    // writes the answer.
    if let held = state.held {
        state.held = nil
        return send(held, on: connection)
    }
    if state.overBudget {
        var refusal = server.handler.overloaded(request(connection, url: url, method: method, state: state))
        refusal.headers.set("Connection", "close")
        return send(refusal, on: connection)
    }
    return respond(connection, server, url: url, method: method, state: state)
}

private let requestCompleted: MHD_RequestCompletedCallback = { cls, connection, reqCls, termination in
    ConnectionClock.of(connection)?.waitingSince.store(monotonicNanoseconds(), ordering: .relaxed)
    guard let reqCls, let p = reqCls.pointee else { return }
    let state = Unmanaged<RequestState>.fromOpaque(p).takeRetainedValue()
    // A held answer that was released but never handed to libmicrohttpd: the client had half-closed (HTTP allows
    // it), and libmicrohttpd, reading its FIN on resuming the connection, closes it without asking for the answer.
    // Nothing of it was sent, and the socket can still be written: libmicrohttpd shuts it down after this call.
    if termination != .REQUEST_TERMINATED_COMPLETED_OK, let answer = state.held {
        let fd = amh_connection_fd(connection)
        if fd >= 0 { writeDirectly(answer, to: fd) }
    }
    reqCls.pointee = nil
    guard let cls else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    server.release(state)
    server.book.requestCompleted()
}

extension HTTPServer {
    /// Grows what `state` holds of the budget for bodies in flight to `bytes` (reserving the body's storage);
    /// false, with the request marked over budget and its share given back, when the budget has no room.
    @discardableResult
    fileprivate func budget(_ bytes: Int, for state: RequestState) -> Bool {
        let more = max(0, bytes - state.counted)
        guard bodiesInFlight.add(more, ordering: .relaxed).newValue <= options.bodyBudgetBytes else {
            bodiesInFlight.subtract(more, ordering: .relaxed)
            state.overBudget = true
            release(state)
            return false
        }
        state.counted += more
        state.body.reserveCapacity(state.counted)
        return true
    }

    /// Gives back what `state` holds of the budget for bodies in flight.
    fileprivate func release(_ state: RequestState) {
        if state.counted > 0 { bodiesInFlight.subtract(state.counted, ordering: .relaxed) }
        state.counted = 0
    }
}

/// After a burst (big bodies read, a cache's worth of large records dropped), freed memory stays with the
/// allocator; it is given back to the system once nothing is being received.
/// Trims only when the free memory has grown by 4 MiB since the last look: what fragmentation keeps cannot be
/// returned, and trimming it again every tick would be wasted work.
private final class FreedMemory: @unchecked Sendable {
    private var baseline = 0

    func returnIfGrown() {
        let free = amh_free_heap_bytes()
        if free > 8 << 20, free > baseline + (4 << 20) {
            amh_return_free_heap()
            baseline = amh_free_heap_bytes()
        } else {
            baseline = min(baseline, free)
        }
    }
}

private func request(
    _ connection: OpaquePointer?, url: UnsafePointer<CChar>, method: UnsafePointer<CChar>,
    state: RequestState
) -> HTTPRequest {
    HTTPRequest(
        method: String(cString: method), path: String(cString: url), query: collectQuery(connection),
        headers: collectHeaders(connection), body: state.body, bodyTooLarge: state.tooLarge)
}

private func respond(
    _ connection: OpaquePointer?, _ server: HTTPServer, url: UnsafePointer<CChar>,
    method: UnsafePointer<CChar>, state: RequestState
) -> MHD_Result {
    ConnectionClock.of(connection)?.waitingSince.store(0, ordering: .relaxed) // received whole: no deadline now
    let request = request(connection, url: url, method: method, state: state)
    // The budget is for bodies being received: this one is whole, and its answer may be held a while.
    state.body = []
    server.release(state)
    var response = server.dispatch(request)
    guard let hold = response.hold else { return send(response, on: connection) }
    response.hold = nil
    state.held = response
    let held = HeldConnection(pointer: connection, state: state, request: request, hold: hold)
    if server.book.book(held) {
        hold.whenReleased { [server] replacement in
            // A client that has half-closed gets it too: see `requestCompleted`.
            server.book.release(held, with: replacement)
        }
        // Released already (a commit that was done at once): answered in this call, nothing suspended.
        guard server.book.suspendIfStillHeld(held) else {
            let answer = state.held ?? response
            state.held = nil
            return sendUnlessHalfClosed(answer, on: connection)
        }
        return .YES
    }
    // Closing: nothing may be suspended any more. Wait here (the hold was asked to hurry), then answer.
    hold.expedite()
    let released = Locked<HTTPResponse??>(nil)
    hold.whenReleased { replacement in
        released.withLock { $0 = .some(replacement) }
        released.broadcast()
    }
    guard let outcome = released.wait(until: { $0 != nil }, timeoutMicroseconds: 2_000_000, then: { $0 }) else {
        return send(server.handler.unavailable(request), on: connection)
    }
    state.held = nil
    return send(outcome ?? response, on: connection)
}

/// A write's answer released before its connection was suspended, sent by libmicrohttpd, or, when the client has
/// half-closed, written here and the connection closed. (Had libmicrohttpd read the FIN before this call,
/// `requestCompleted` writes it.)
private func sendUnlessHalfClosed(_ response: HTTPResponse, on connection: OpaquePointer?) -> MHD_Result {
    let fd = amh_connection_fd(connection)
    guard fd >= 0, peerHasHalfClosed(fd) else { return send(response, on: connection) }
    writeDirectly(response, to: fd)
    return .NO
}

/// A connection's socket and since when it has been waiting for a request (opened, or its last answer written);
/// 0 while a request it sent is being answered (a held answer may take as long as a commit or a latency).
final class ConnectionClock: Sendable {
    let fd: Int32
    let waitingSince = Atomic<UInt64>(0)

    init(fd: Int32) {
        self.fd = fd
        waitingSince.store(monotonicNanoseconds(), ordering: .relaxed)
    }

    static func of(_ connection: OpaquePointer?) -> ConnectionClock? {
        amh_socket_context(connection).map { Unmanaged<ConnectionClock>.fromOpaque($0).takeUnretainedValue() }
    }
}

private let connectionNotified: MHD_NotifyConnectionCallback = { cls, connection, socketContext, event in
    guard let cls, let socketContext else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    if event.rawValue == 0 /* MHD_CONNECTION_NOTIFY_STARTED */ {
        let fd = amh_connection_fd(connection)
        guard fd >= 0 else { return }
        let clock = ConnectionClock(fd: fd)
        socketContext.pointee = Unmanaged.passRetained(clock).toOpaque()
        server.book.opened(clock)
    } else if let p = socketContext.pointee {
        let clock = Unmanaged<ConnectionClock>.fromOpaque(p).takeRetainedValue()
        socketContext.pointee = nil
        server.book.closed(clock)
    }
}

/// Raises the soft limit on open files towards `wanted` (as far as the hard limit allows): each connection is one.
private func raiseOpenFileLimit(to wanted: Int) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
    limit.rlim_cur = min(limit.rlim_max, rlim_t(wanted))
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// Runs `work` every `ms` milliseconds on its own queue until stopped.
private final class Repeater: @unchecked Sendable {
    private let queue: DispatchQueue
    private var timer: DispatchSourceTimer?

    init(label: String) { queue = DispatchQueue(label: label) }

    func start(every ms: Int, _ work: @escaping @Sendable () -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(ms), repeating: .milliseconds(ms), leeway: .milliseconds(ms / 4))
        timer.setEventHandler(handler: work)
        timer.resume()
        self.timer = timer
    }

    func stop() {
        timer?.cancel()
        queue.sync {}
    }
}

/// Bytes received on the socket that nobody has read yet.
private func unreadBytes(_ fd: Int32) -> Int32 {
    var count: Int32 = 0
    return ioctl(fd, UInt(FIONREAD), &count) == 0 ? count : 0
}

/// True when the peer has sent its FIN: a zero-byte read is waiting (peeked, not consumed).
private func peerHasHalfClosed(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
}

/// Writes a complete HTTP/1.1 answer with `Connection: close` on a connection's socket that libmicrohttpd will not
/// write to (non-blocking: waits for room at most two seconds; a client that reads nothing gets what fitted).
private func writeDirectly(_ response: HTTPResponse, to fd: Int32) {
    guard !response.dropConnection else { return }
    var head = "HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n"
    for (name, value) in response.headers.fields where name.lowercased() != "connection" && name.lowercased() != "content-length" {
        head += "\(name): \(value)\r\n"
    }
    head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
    let bytes = Array(head.utf8) + response.body
    var sent = 0
    let deadline = monotonicNanoseconds() + 2_000_000_000
    while sent < bytes.count && monotonicNanoseconds() < deadline {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if n > 0 { sent += n; continue }
        guard n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&pfd, 1, 100)
    }
}

private func reasonPhrase(_ status: Int) -> String {
    MHD_get_reason_phrase_for(UInt32(status)).map { String(cString: $0) } ?? ""
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

private func send(_ response: HTTPResponse, on connection: OpaquePointer?) -> MHD_Result {
    // Returning NO makes libmicrohttpd close the socket with nothing sent.
    if response.dropConnection { return .NO }
    // The body is lent, not copied: a retained box keeps the bytes alive until libmicrohttpd frees the response
    // (cached bodies are sent straight from the cache).
    let box = ResponseBody(response.body)
    let cls = Unmanaged.passRetained(box).toOpaque()
    let r = box.bytes.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer_with_free_callback_cls(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
            releaseBody, cls)
    }
    guard let r else {
        Unmanaged<ResponseBody>.fromOpaque(cls).release()
        return .NO
    }
    // withCString, not implicit bridging: that copies every short (inline) string to the heap.
    for (name, value) in response.headers.fields {
        name.withCString { n in value.withCString { v in _ = MHD_add_response_header(r, n, v) } }
    }
    let result = MHD_queue_response(connection, UInt32(response.status), r)
    MHD_destroy_response(r)
    return result
}

/// Owns a response body while libmicrohttpd sends it. `[UInt8]` storage never moves while referenced.
private final class ResponseBody {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

private let releaseBody: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    Unmanaged<ResponseBody>.fromOpaque(cls).release()
}

/// Collects name/value pairs of one kind through libmicrohttpd's iterator (a C callback, hence the box).
private final class PairCollector {
    var pairs: [(name: String, value: String)] = []
    var malformed = false
    let decode: Bool
    init(decode: Bool) { self.decode = decode }
}

private let collectPair: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let box = Unmanaged<PairCollector>.fromOpaque(cls).takeUnretainedValue()
    if box.decode {
        func decoded(_ c: UnsafePointer<CChar>?) -> String? {
            guard let c else { return "" }
            let length = strlen(c)
            return c.withMemoryRebound(to: UInt8.self, capacity: length + 1) {
                PercentDecoding.decode(UnsafeBufferPointer(start: $0, count: length))
            }
        }
        guard let n = decoded(key), let v = decoded(value) else {
            box.malformed = true
            return .NO
        }
        box.pairs.append((n, v))
    } else {
        box.pairs.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
    }
    return .YES
}

private func collectHeaders(_ connection: OpaquePointer?) -> HTTPHeaders {
    let box = PairCollector(decode: false)
    box.pairs.reserveCapacity(Int(MHD_get_connection_values(connection, .HEADER_KIND, nil, nil)))
    withExtendedLifetime(box) {
        _ = MHD_get_connection_values(connection, .HEADER_KIND, collectPair, Unmanaged.passUnretained(box).toOpaque())
    }
    return HTTPHeaders(box.pairs)
}

private func collectQuery(_ connection: OpaquePointer?) -> [(name: String, value: String)]? {
    // Counting first is cheap and most requests carry no query.
    let count = Int(MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, nil, nil))
    guard count > 0 else { return [] }
    let box = PairCollector(decode: true)
    box.pairs.reserveCapacity(count)
    withExtendedLifetime(box) {
        _ = MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, collectPair, Unmanaged.passUnretained(box).toOpaque())
    }
    return box.malformed ? nil : box.pairs
}
