import CMHDShim
import CMicroHTTPD
#if canImport(Glibc)
import Glibc
#endif

public struct HTTPServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A libmicrohttpd daemon (epoll, internal thread pool) that hands complete requests to an `HTTPHandler`.
///
/// Requests are answered on the final access-handler call, never the first: libmicrohttpd 0.9.75 closes the
/// connection after a response queued on the headers-only call, which would kill keep-alive.
public final class HTTPServer: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: UInt16
        public var threads: Int
        public var maxBodyBytes: Int
        public var connectionTimeoutSeconds: Int

        public init(host: String = "127.0.0.1", port: UInt16 = 8080, threads: Int = 2,
                    maxBodyBytes: Int = 1 << 20, connectionTimeoutSeconds: Int = 60) {
            self.host = host
            self.port = port
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.connectionTimeoutSeconds = connectionTimeoutSeconds
        }
    }

    let handler: any HTTPHandler
    let options: Options
    private let daemonBox: DaemonBox

    public init(options: Options, handler: any HTTPHandler) {
        self.options = options
        self.handler = handler
        self.daemonBox = DaemonBox()
    }

    /// Binds and starts serving; returns the bound port (useful with port 0).
    @discardableResult
    public func start() throws(HTTPServerError) -> UInt16 {
        // The daemon keeps a raw pointer to self until stop(): this +1 keeps it alive that long.
        let context = Unmanaged.passRetained(self).toOpaque()
        var err: UnsafePointer<CChar>?
        guard let daemon = amh_start(options.host, options.port, accessHandler, context, requestCompleted, nil,
                                     UInt32(max(1, options.threads)), 1000, UInt32(options.connectionTimeoutSeconds), &err) else {
            Unmanaged<HTTPServer>.fromOpaque(context).release()
            let reason = err.map { String(cString: $0) } ?? "cannot start"
            throw HTTPServerError(message: "cannot listen on \(options.host):\(options.port): \(reason)")
        }
        daemonBox.set(daemon, context: context)
        return amh_bound_port(daemon)
    }

    /// Stops accepting, lets in-flight requests finish and held answers go out (for up to two seconds), then
    /// shuts the daemon down. An answer still held then is replaced by a 503: libmicrohttpd cannot stop with a
    /// connection suspended, and an answer whose write is not committed must not be sent as a success.
    public func stop() {
        guard let listener = daemonBox.whileRunning({ daemon, _ in MHD_quiesce_daemon(daemon) }) else { return }
        if listener >= 0 { close(listener) }
        for _ in 0..<2000 {
            guard daemonBox.whileRunning({ _, held in !held.isEmpty }) == true else { break }
            usleep(1000)
        }
        guard let (daemon, context) = daemonBox.take(releasingHeld: .text(503, "the server is stopping")) else { return }
        MHD_stop_daemon(daemon)
        Unmanaged<HTTPServer>.fromOpaque(context).release()
    }

    fileprivate func dispatch(_ request: HTTPRequest) -> HTTPResponse { handler.handle(request) }

    /// Suspends the connection until `hold` releases its answer; libmicrohttpd then calls the access handler
    /// again, which sends `state.held`.
    fileprivate func hold(_ connection: OpaquePointer?, state: RequestState, until hold: any ResponseHold) {
        let held = HeldConnection(pointer: connection, state: state)
        daemonBox.suspend(held)
        hold.whenReleased { [daemonBox] replacement in daemonBox.resume(held, with: replacement) }
    }
}

/// A connection suspended with its answer held, released exactly once: by its hold, or by `stop`.
private final class HeldConnection: @unchecked Sendable {
    let pointer: OpaquePointer?
    let state: RequestState
    /// Under the daemon box's lock.
    var released = false

    init(pointer: OpaquePointer?, state: RequestState) {
        self.pointer = pointer
        self.state = state
    }
}

/// The daemon pointer (set once by start(), taken once by stop()) and the connections suspended on it, under
/// one lock: a connection is resumed only while the daemon runs, and only once.
private final class DaemonBox: @unchecked Sendable {
    private var daemon: OpaquePointer?
    private var context: UnsafeMutableRawPointer?
    private var held: [ObjectIdentifier: HeldConnection] = [:]
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }

    func set(_ d: OpaquePointer, context c: UnsafeMutableRawPointer) {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        daemon = d
        context = c
    }

    /// Runs `body` only while the daemon runs.
    func whileRunning<T>(_ body: (OpaquePointer, _ held: [ObjectIdentifier: HeldConnection]) -> T) -> T? {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return daemon.map { body($0, held) }
    }

    func suspend(_ connection: HeldConnection) {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        held[ObjectIdentifier(connection)] = connection
        MHD_suspend_connection(connection.pointer)
    }

    func resume(_ connection: HeldConnection, with replacement: HTTPResponse?) {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        guard !connection.released else { return }
        connection.released = true
        held[ObjectIdentifier(connection)] = nil
        if let replacement { connection.state.held = replacement }
        if daemon != nil { MHD_resume_connection(connection.pointer) }
    }

    /// Takes the daemon for stopping, after resuming whatever is still held with `answer`.
    func take(releasingHeld answer: HTTPResponse) -> (OpaquePointer, UnsafeMutableRawPointer)? {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        guard let d = daemon, let c = context else { return nil }
        for connection in held.values {
            connection.released = true
            connection.state.held = answer
            MHD_resume_connection(connection.pointer)
        }
        held = [:]
        daemon = nil
        context = nil
        return (d, c)
    }
}

/// Per-request state kept in libmicrohttpd's `req_cls` between access-handler calls.
/// `held` is written by the releasing thread before it resumes the connection, and read by the connection's
/// thread after: libmicrohttpd's resume goes through its own lock, which orders the two.
private final class RequestState: @unchecked Sendable {
    var body: [UInt8] = []
    var tooLarge = false
    var held: HTTPResponse?
}

// MARK: - libmicrohttpd callbacks (C function pointers: all context arrives through `cls`)

private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadSize, reqCls in
    guard let cls, let url, let method, let uploadSize, let reqCls else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()

    // Call 1: headers only. Allocate the state; refuse an announced oversize body without reading it.
    guard let statePointer = reqCls.pointee else {
        let state = RequestState()
        reqCls.pointee = Unmanaged.passRetained(state).toOpaque()
        if let length = MHD_lookup_connection_value(connection, .HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
           strtoll(length, nil, 10) > server.options.maxBodyBytes {
            state.tooLarge = true
            return respond(connection, server, url: url, method: method, state: state)
        }
        return .YES
    }
    let state = Unmanaged<RequestState>.fromOpaque(statePointer).takeUnretainedValue()

    // Calls 2..n: body chunks. Consume everything; never queue a response while data is arriving.
    if uploadSize.pointee > 0 {
        if let uploadData, !state.tooLarge {
            if state.body.count + uploadSize.pointee > server.options.maxBodyBytes {
                state.tooLarge = true
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
    // Final call: the whole request is here; or the connection was resumed with its held answer released.
    if let held = state.held {
        state.held = nil
        return send(held, on: connection)
    }
    return respond(connection, server, url: url, method: method, state: state)
}

private let requestCompleted: MHD_RequestCompletedCallback = { _, _, reqCls, _ in
    guard let reqCls, let p = reqCls.pointee else { return }
    Unmanaged<RequestState>.fromOpaque(p).release()
    reqCls.pointee = nil
}

private func respond(_ connection: OpaquePointer?, _ server: HTTPServer, url: UnsafePointer<CChar>,
                     method: UnsafePointer<CChar>, state: RequestState) -> MHD_Result {
    let request = HTTPRequest(method: String(cString: method), path: String(cString: url),
                              query: collectQuery(connection), headers: collectHeaders(connection),
                              body: state.body, bodyTooLarge: state.tooLarge)
    var response = server.dispatch(request)
    if let hold = response.hold {
        response.hold = nil
        state.held = response
        server.hold(connection, state: state, until: hold)
        return .YES
    }
    return send(response, on: connection)
}

private func send(_ response: HTTPResponse, on connection: OpaquePointer?) -> MHD_Result {
    // Returning NO makes libmicrohttpd close the socket with nothing sent.
    if response.dropConnection { return .NO }
    // The body is lent, not copied: a retained box keeps the bytes alive until libmicrohttpd frees the response
    // (cached bodies are sent straight from the cache).
    let box = ResponseBody(response.body)
    let cls = Unmanaged.passRetained(box).toOpaque()
    let r = box.bytes.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer_with_free_callback_cls(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
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
