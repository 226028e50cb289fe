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
/// An answer with a hold (a write waiting for its commit, a fault's latency, a wait for a state) is kept on a
/// suspended connection while the thread serves others, and so is a stream with nothing to send; `ConnectionBook`
/// knows at every moment which connections are held or streaming and how many requests are not yet complete, so
/// `stop` can answer all of them before libmicrohttpd stops. The callbacks libmicrohttpd calls are in
/// `MicroHTTPDCallbacks.swift`.
public final class HTTPServer: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: UInt16
        public var threads: Int
        public var maxBodyBytes: Int
        /// How long a connection may take to send a whole request, from its request line to its last body byte;
        /// a slow client (slowloris) cannot hold a connection longer. Also how long an answer may go unread.
        public var requestTimeoutSeconds: Int
        /// How long a keep-alive connection may wait for its next request. Above every poll interval real clients
        /// use (terraform's 10 s; Go closes its idle connections after 90 s, so with this above that it is the
        /// client that closes): a server that closes as the client sends loses that request.
        public var idleTimeoutSeconds: Int
        /// Open connections at most; the longest-waiting idle or slow ones are closed to keep a reserve free.
        public var maxConnections: Int
        /// Answers held long (waits for a state) and streams at most, together; past it a new one gets the
        /// handler's `overCapacity` answer.
        public var maxLongHolds: Int
        /// How long `stop` waits for held answers (commits, latency) before answering the rest 503.
        public var drainTimeoutMs: Int
        /// Request bodies held at once, all connections together; a body that would pass it is not read and its
        /// request gets the handler's `overloaded` 503.
        public var bodyBudgetBytes: Int
        /// Paths (exact) whose bodies may be larger than `maxBodyBytes`, and how large (a world import). One such
        /// body past `maxBodyBytes` is received at a time, outside `bodyBudgetBytes` (a second gets `overloaded`).
        public var largerBodies: [String: Int] = [:]

        public init(
            host: String = "127.0.0.1", port: UInt16 = 8080, threads: Int = 2, maxBodyBytes: Int = 1 << 20,
            requestTimeoutSeconds: Int = 10, idleTimeoutSeconds: Int = 120, maxConnections: Int = 10_000,
            maxLongHolds: Int = 5_000, drainTimeoutMs: Int = 5000, largerBodies: [String: Int] = [:],
            bodyBudgetBytes: Int = 64 << 20
        ) {
            self.largerBodies = largerBodies
            self.bodyBudgetBytes = bodyBudgetBytes
            self.host = host
            self.port = port
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.requestTimeoutSeconds = requestTimeoutSeconds
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.maxConnections = maxConnections
            self.maxLongHolds = maxLongHolds
            self.drainTimeoutMs = drainTimeoutMs
        }

        /// Connections kept free for new clients: past `maxConnections - reserve`, the longest-waiting go.
        var connectionReserve: Int { max(1, min(100, maxConnections / 10)) }
        /// libmicrohttpd's own limit on an idle connection's inactivity: past the reaper's, which looks for
        /// request bytes waiting before it closes one, so that the reaper decides.
        var idleBackstopSeconds: UInt32 { UInt32(idleTimeoutSeconds + 2) }
    }

    let handler: any HTTPHandler
    let options: Options
    let book: ConnectionBook
    /// Closes connections that take too long to send a request or wait too long for the next, and keeps the reserve.
    private let reaper = RepeatingTimer(label: "addonmock.http.reaper")
    /// Only touched on the reaper's queue.
    private let freedMemory = FreedMemory()
    /// Bytes of request bodies held now, all connections together (see `Options.bodyBudgetBytes`).
    let bodiesInFlight = Atomic<Int>(0)
    /// A body past `maxBodyBytes` on a `largerBodies` path is being received (and held until its request completes).
    let largeBodyInFlight = Atomic<Bool>(false)

    public init(options: Options, handler: any HTTPHandler) {
        self.options = options
        self.handler = handler
        book = ConnectionBook(maxLongHolds: options.maxLongHolds)
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
                connectionNotified, context, requestLineReceived, nil, UInt32(max(1, options.threads)),
                UInt32(max(1, options.maxConnections)), options.idleBackstopSeconds, &err)
        else {
            Unmanaged<HTTPServer>.fromOpaque(context).release()
            let reason = Self.whyBindFails(host: options.host, port: options.port) ?? err.map { String(cString: $0) } ?? "cannot start"
            throw HTTPServerError(message: "cannot listen on \(options.host):\(options.port): \(reason)")
        }
        book.started(daemon, context: context)
        let requestTimeout = UInt64(options.requestTimeoutSeconds) * 1_000_000_000
        let idleTimeout = UInt64(options.idleTimeoutSeconds) * 1_000_000_000
        reaper.start(everyMs: 250) { [book, options, self] in
            book.closeOverdue(
                requestTimeout: requestTimeout, idleTimeout: idleTimeout,
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
    /// Held answers are asked to hurry (a latency is cut short) and streams to end; each goes out when released.
    /// Whatever is still held after `drainTimeoutMs` is answered 503 in its service's format — never the
    /// unconfirmed success. libmicrohttpd is stopped only once every request is complete (its answer written): it
    /// aborts if stopped with a connection suspended, and cuts off an answer not yet written.
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
        book.watcher.stop()
        Unmanaged<HTTPServer>.fromOpaque(context).release()
    }

    func dispatch(_ request: HTTPRequest) -> HTTPResponse { handler.handle(request) }
}

/// Per-request state kept in libmicrohttpd's `req_cls` between access-handler calls. `body` is what has been
/// received so far; it moves into the `HTTPRequest` when the request is dispatched.
/// `held` is written by the releasing thread before it resumes the connection, and read by the connection's
/// thread after: libmicrohttpd's resume goes through its own lock, which orders the two.
final class RequestState: @unchecked Sendable {
    var body: [UInt8] = []
    var tooLarge = false
    /// The body did not fit in the budget for bodies in flight; `counted` is what this request holds of it.
    var overBudget = false
    var counted = 0
    /// `maxBodyBytes`, or the path's own limit (`Options.largerBodies`), looked up once a body passes the first.
    var limit: Int?
    var held: HTTPResponse?
    /// The request as dispatched, for an answer given later in its name (a refused stream).
    var request: HTTPRequest?
    /// Its answer was given the request timeout for its writing (see `writeTimedBytes`).
    var writeTimed = false
    /// It holds the one place for a body past `maxBodyBytes` (`largerBodies`), which the body budget does not count.
    var largeBody = false
}

extension HTTPServer {
    /// How large an announced body past its limit may be and still be read (and dropped) before its 413; past
    /// this the 413 goes at once and the connection closes.
    static let discardedBodyBytes = 16 << 20

    /// Whether `size` bytes are more body than `state`'s request may send: `maxBodyBytes`, unless its path is one
    /// of `largerBodies` (looked up once, and only for the rare body that passes the default).
    func exceedsLimit(_ size: Int, _ state: RequestState, _ url: UnsafePointer<CChar>) -> Bool {
        guard size > options.maxBodyBytes else { return false }
        if state.limit == nil { state.limit = options.largerBodies[String(cString: url)] ?? options.maxBodyBytes }
        return size > state.limit!
    }

    /// Grows what `state` holds of the budget for bodies in flight to `bytes` (reserving the body's storage);
    /// false, with the request marked over budget and its share given back, when the budget has no room.
    @discardableResult
    func budget(_ bytes: Int, for state: RequestState) -> Bool {
        // A body past the default limit on a path that allows more: the one place for such a body, or a refusal.
        if bytes > options.maxBodyBytes, !state.largeBody {
            guard largeBodyInFlight.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
                state.overBudget = true
                release(state)
                return false
            }
            release(state)
            state.largeBody = true
        }
        if state.largeBody {
            // An announced length is allocated once; a chunked body grows as arrays do.
            if state.body.isEmpty { state.body.reserveCapacity(bytes) }
            return true
        }
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
    func release(_ state: RequestState) {
        if state.counted > 0 { bodiesInFlight.subtract(state.counted, ordering: .relaxed) }
        state.counted = 0
    }

    /// The request is complete: its body (held by its request until now) is let go, and the place for a large one.
    func releaseAll(_ state: RequestState) {
        release(state)
        if state.largeBody {
            state.largeBody = false
            largeBodyInFlight.store(false, ordering: .releasing)
        }
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
