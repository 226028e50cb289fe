import AddonMockCore
import CMHDShim
import CMicroHTTPD

#if canImport(Glibc)
import Glibc
#endif

// The functions libmicrohttpd calls (C function pointers: all context arrives through `cls`), and how an answer is
// handed to it.

/// Once a stop has begun, a new connection is closed as soon as it is accepted, before any of it is read.
let acceptPolicy: MHD_AcceptPolicyCallback = { cls, _, _ in
    guard let cls else { return .NO }
    return Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue().book.isAccepting ? .YES : .NO
}

/// A request line has arrived: from now on the connection is receiving a request, and the request timeout applies
/// to it rather than the idle one. The value returned becomes the request's first `req_cls`: none.
let requestLineReceived: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?) -> UnsafeMutableRawPointer? = {
    _, _, connection in
    ConnectionClock.of(connection)?.requestSince.store(monotonicNanoseconds(), ordering: .relaxed)
    return nil
}

let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadSize, reqCls in
    guard let cls, let url, let method, let uploadSize, let reqCls else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()

    // Call 1: headers only. Allocate the state; refuse an announced oversize body without reading it.
    guard let statePointer = reqCls.pointee else {
        let state = RequestState()
        reqCls.pointee = Unmanaged.passRetained(state).toOpaque()
        server.book.requestStarted()
        // Stopping: a request that arrives now is not served (its connection closes after the answer).
        guard server.book.admitsRequests() else {
            var refusal = server.handler.unavailable(request(connection, url: url, method: method, state: state))
            refusal.headers.set("Connection", "close")
            return send(refusal, on: connection, server, state)
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
        return send(held, on: connection, server, state, for: state.request)
    }
    if state.overBudget {
        var refusal = server.handler.overloaded(request(connection, url: url, method: method, state: state))
        refusal.headers.set("Connection", "close")
        return send(refusal, on: connection, server, state)
    }
    return respond(connection, server, url: url, method: method, state: state)
}

let requestCompleted: MHD_RequestCompletedCallback = { cls, connection, reqCls, termination in
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
    // An answer that was given the request timeout for its writing: the connection waits as an idle one again.
    if state.writeTimed, termination == .REQUEST_TERMINATED_COMPLETED_OK {
        amh_set_connection_timeout(connection, server.options.idleBackstopSeconds)
    }
    server.releaseAll(state)
    server.book.requestCompleted()
}

let connectionNotified: MHD_NotifyConnectionCallback = { cls, connection, socketContext, event in
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

func request(
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
    state.request = request
    // The budget is for bodies being received: this one is whole, and its answer may be held a while.
    state.body = []
    server.release(state)
    var response = server.dispatch(request)
    guard let hold = response.hold else { return send(response, on: connection, server, state, for: request) }
    response.hold = nil
    state.held = response
    let held = HeldConnection(pointer: connection, state: state, request: request, hold: hold)
    switch server.book.book(held) {
    case .booked:
        hold.whenReleased { [server] replacement in
            // A client that has half-closed gets it too: see `requestCompleted`.
            server.book.release(held, with: replacement)
        }
        // Released already (a commit that was done at once): answered in this call, nothing suspended.
        guard server.book.suspendIfStillHeld(held) else {
            let answer = state.held ?? response
            state.held = nil
            return sendUnlessHalfClosed(answer, on: connection, server, state, for: request)
        }
        return .YES
    case .overCapacity:
        state.held = nil
        return send(server.handler.overCapacity(request), on: connection, server, state)
    case .closing:
        break
    }
    // Closing: nothing may be suspended any more. Wait here (the hold was asked to hurry), then answer.
    hold.expedite()
    let released = Locked<HTTPResponse??>(nil)
    hold.whenReleased { replacement in
        released.withLock { $0 = .some(replacement) }
        released.broadcast()
    }
    guard let outcome = released.wait(until: { $0 != nil }, timeoutMicroseconds: 2_000_000, then: { $0 }) else {
        return send(server.handler.unavailable(request), on: connection, server, state)
    }
    state.held = nil
    return send(outcome ?? response, on: connection, server, state, for: request)
}

/// A write's answer released before its connection was suspended, sent by libmicrohttpd, or, when the client has
/// half-closed, written here and the connection closed. (Had libmicrohttpd read the FIN before this call,
/// `requestCompleted` writes it.)
private func sendUnlessHalfClosed(
    _ response: HTTPResponse, on connection: OpaquePointer?, _ server: HTTPServer, _ state: RequestState, for request: HTTPRequest
) -> MHD_Result {
    let fd = amh_connection_fd(connection)
    guard fd >= 0, response.stream == nil, peerHasHalfClosed(fd) else { return send(response, on: connection, server, state, for: request) }
    writeDirectly(response, to: fd)
    return .NO
}

/// Answers of this size or more, and streams, get the request timeout for their writing: a client that stops
/// reading is cut off after it, rather than after the idle timeout. Smaller ones fit in the socket's buffer at once
/// and are not worth the two calls.
private let writeTimedBytes = 64 << 10

/// Hands `response` to libmicrohttpd. A stream is booked first; past the cap on long holds (or when the server is
/// closing) its request gets the handler's `overCapacity` answer instead.
func send(
    _ response: HTTPResponse, on connection: OpaquePointer?, _ server: HTTPServer, _ state: RequestState, for request: HTTPRequest? = nil
) -> MHD_Result {
    // Returning NO makes libmicrohttpd close the socket with nothing sent.
    if response.dropConnection { return .NO }
    if let stream = response.stream {
        let streamed = StreamedConnection(pointer: connection, stream: stream, book: server.book)
        guard server.book.book(streamed) else {
            stream.finish(.evicted)
            let refusal = request.map(server.handler.overCapacity) ?? .text(503, "too many streams are open")
            return send(refusal, on: connection, server, state)
        }
        state.writeTimed = true
        amh_set_connection_timeout(connection, UInt32(server.options.requestTimeoutSeconds))
        let cls = Unmanaged.passRetained(streamed).toOpaque()
        guard let r = amh_create_streamed_response(16 << 10, streamReader, cls, streamFreed) else {
            Unmanaged<StreamedConnection>.fromOpaque(cls).release()
            server.book.ended(streamed)
            return .NO
        }
        stream.attach { [weak streamed] in if let streamed { streamed.book.wake(streamed) } }
        return queue(r, status: response.status, headers: response.headers, on: connection)
    }
    if response.body.count >= writeTimedBytes {
        state.writeTimed = true
        amh_set_connection_timeout(connection, UInt32(server.options.requestTimeoutSeconds))
    }
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
    return queue(r, status: response.status, headers: response.headers, on: connection)
}

private func queue(_ r: OpaquePointer, status: Int, headers: HTTPHeaders, on connection: OpaquePointer?) -> MHD_Result {
    // withCString, not implicit bridging: that copies every short (inline) string to the heap.
    for (name, value) in headers.fields {
        name.withCString { n in value.withCString { v in _ = MHD_add_response_header(r, n, v) } }
    }
    let result = MHD_queue_response(connection, UInt32(status), r)
    MHD_destroy_response(r)
    return result
}

/// Asks the stream for the next bytes; with none now, parks its connection (suspends it from here, as
/// libmicrohttpd allows a content reader to) until the stream wakes it.
private let streamReader: MHD_ContentReaderCallback = { cls, _, buffer, max in
    guard let cls, let buffer else { return -2 } // MHD_CONTENT_READER_END_WITH_ERROR
    let streamed = Unmanaged<StreamedConnection>.fromOpaque(cls).takeUnretainedValue()
    streamed.book.willRead(streamed)
    switch streamed.stream.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: max)) {
    case .bytes(let n): return n
    case .nothingYet:
        streamed.book.park(streamed)
        return 0
    case .end: return -1 // MHD_CONTENT_READER_END_OF_STREAM: the last chunk goes out and the request is complete
    case .failed: return -2 // MHD_CONTENT_READER_END_WITH_ERROR: the connection is closed
    }
}

/// libmicrohttpd is done with a stream's answer: written whole, or its client gone (then the producer is told).
private let streamFreed: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    let streamed = Unmanaged<StreamedConnection>.fromOpaque(cls).takeRetainedValue()
    streamed.book.ended(streamed)
    streamed.stream.finish(.clientGone)
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
