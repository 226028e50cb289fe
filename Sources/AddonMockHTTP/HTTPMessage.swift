/// Header fields in arrival order, looked up case-insensitively.
public struct HTTPHeaders: Sendable {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    /// Room for `capacity` fields before the array grows (a response gets a few more on its way out).
    public init(_ fields: [(name: String, value: String)], reservingCapacity capacity: Int) {
        self.fields = fields
        self.fields.reserveCapacity(capacity)
    }

    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// Replaces any field of that name.
    public mutating func set(_ name: String, _ value: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
        fields.append((name, value))
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        /// Equal bytes, or the same ASCII letter in either case.
        func same(_ x: UInt8, _ y: UInt8) -> Bool {
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
        }
        // Header lookups run on every request: compare the bytes in place when both strings are contiguous.
        let inPlace = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in (0..<a.count).allSatisfy { same(a[$0], b[$0]) } }
        }
        if let inPlace, let result = inPlace { return result }
        return zip(utf8, other.utf8).allSatisfy(same)
    }
}

/// A class, not a struct: it is handed through several layers per request, and one reference count is
/// cheaper than copying (and retaining) each of its strings and arrays.
public final class HTTPRequest: Sendable {
    public let method: String
    /// The path exactly as sent, still percent-encoded (the router decodes each segment).
    public let path: String
    /// Query parameters in order, percent-decoded; nil when the query string is not valid percent-encoded UTF-8.
    public let query: [(name: String, value: String)]?
    public let headers: HTTPHeaders
    public let body: [UInt8]
    /// The body was larger than the server's limit and was not read.
    public let bodyTooLarge: Bool

    public init(
        method: String, path: String, query: [(name: String, value: String)]?, headers: HTTPHeaders,
        body: [UInt8], bodyTooLarge: Bool = false
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }

    public func queryValue(_ name: String) -> String? { query?.first { $0.name == name }?.value }
}

/// What an answer waits for before it is sent: its write's commit, a fault's latency, a state to be reached.
public protocol ResponseHold: Sendable {
    /// Calls `release` exactly once, perhaps at once and on this thread: with nil to send the answer as it
    /// is, or with the answer to send instead.
    func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void)
    /// The server is stopping: release as soon as the answer is true (cut a delay short; a commit still
    /// has to happen).
    func expedite()
    /// A hold that may last long (a wait for a state): counted against the server's cap on held answers, ended
    /// first when connections run out, and told when its client goes. Short holds (a commit, a latency) are none
    /// of these, and cost nothing of them.
    var isLong: Bool { get }
    /// Its client has closed the connection (or its sending side): release now, the answer goes nowhere.
    func clientGone()
    /// Connections ran out (or the cap on held answers was reached) and this is the oldest long hold: release now
    /// with an answer that says so.
    func evicted()
}

extension ResponseHold {
    public func expedite() {}
    public var isLong: Bool { false }
    public func clientGone() {}
    public func evicted() {}
}

/// Why a stream ends before its producer ended it.
public enum StreamEnd: Sendable {
    /// Its client closed the connection.
    case clientGone
    /// The server is stopping: end cleanly, now.
    case stopping
    /// Connections ran out and this is the oldest long-lived answer.
    case evicted
}

/// What a stream's `read` gives.
public enum StreamRead: Sendable, Equatable {
    case bytes(Int)
    case nothingYet
    case end
    case failed
}

/// A body written as it is produced (Server-Sent Events), chunked, for as long as the stream lasts. The server
/// asks for bytes only when the socket can take them, so a client that reads nothing makes it produce nothing.
public protocol ResponseStream: AnyObject, Sendable {
    /// Called once, when the stream starts on its connection: `wake` says that `read` may have more now. Cheap
    /// to call, from any thread, as often as wanted.
    func attach(wake: @escaping @Sendable () -> Void)
    /// Copies up to `buffer.count` bytes of what comes next into `buffer` and says how many (`.bytes`), or that
    /// there is nothing now (`.nothingYet`: the server waits for `wake`), or that the stream is over (`.end`: the last
    /// chunk goes out) or broke (`.failed`: the connection is closed, so the client sees a cut body, not a short one).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamRead
    /// Ends the stream from outside: `read` returns nil from now on (`.stopping`: after nothing more).
    func finish(_ reason: StreamEnd)
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Close the connection without answering (fault injection: what a client sees when a server dies).
    public var dropConnection = false
    /// Set when the answer may only be sent later (once its write is committed); the server serves other
    /// connections meanwhile.
    public var hold: (any ResponseHold)?
    /// Set when the body is produced as it goes (the headers are sent, then `body`, then the stream).
    public var stream: (any ResponseStream)?

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")], reservingCapacity: 4), body: body)
    }

    public static let drop: HTTPResponse = {
        var r = HTTPResponse(status: 0)
        r.dropConnection = true
        return r
    }()

    public static func text(_ status: Int, _ body: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")], reservingCapacity: 4),
            body: Array(body.utf8))
    }
}

/// Whatever answers requests: the application's dispatcher. Called on libmicrohttpd's worker threads.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) -> HTTPResponse
    /// The answer to a request the server will not serve because it is stopping: a 503 in the format its
    /// client expects. Never a success: it may stand in for an answer whose write was not confirmed.
    func unavailable(_ request: HTTPRequest) -> HTTPResponse
    /// The answer to a request whose body did not fit in the server's budget for bodies in flight: a 503 with
    /// Retry-After in the format its client expects; nothing of it was read into the application.
    func overloaded(_ request: HTTPRequest) -> HTTPResponse
    /// The answer to a request for a long hold (a wait, a stream) past the server's cap on them: a 503 with
    /// Retry-After in the format its client expects.
    func overCapacity(_ request: HTTPRequest) -> HTTPResponse
}

extension HTTPHandler {
    public func unavailable(_ request: HTTPRequest) -> HTTPResponse { .text(503, "the server is stopping") }
    public func overloaded(_ request: HTTPRequest) -> HTTPResponse { .text(503, "request bodies in flight are over budget") }
    public func overCapacity(_ request: HTTPRequest) -> HTTPResponse { .text(503, "too many answers are held open") }
}

public enum PercentDecoding {
    /// Decodes `%XX` sequences; nil for a malformed escape or bytes that are not UTF-8. `+` stays `+`
    /// (RFC 3986; the Huawei SDKs send spaces as `%20`).
    public static func decode(_ s: some StringProtocol) -> String? {
        var s = String(s)
        return s.withUTF8 { decode($0) }
    }

    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        // Most segments and values are plain ASCII: nothing to decode or validate.
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 >= 0x80 }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var it = bytes.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { return nil }
                out.append(h << 4 | l)
            } else {
                out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x37
        case 0x61...0x66: return b - 0x57
        default: return nil
        }
    }
}
