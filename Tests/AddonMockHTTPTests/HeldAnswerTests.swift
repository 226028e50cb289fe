import AddonMockCore
import AddonMockHTTP
import AddonMockTestSupport
import Dispatch
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An answer with a hold (a write waiting for its commit) is sent only once released, and the thread that
/// produced it serves other connections meanwhile.
@Suite struct HeldAnswerTests {
    /// Answers `/held` with a hold released by the test (through `gate`), everything else at once.
    final class GatedHandler: HTTPHandler, @unchecked Sendable {
        let gate = Locked<[@Sendable (HTTPResponse?) -> Void]>([])

        struct Hold: ResponseHold {
            let handler: GatedHandler
            func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) {
                handler.gate.withLock { $0.append(release) }
            }
        }

        func handle(_ request: HTTPRequest) -> HTTPResponse {
            var r = HTTPResponse.text(200, "answer for \(request.path)")
            if request.path.hasPrefix("/held") { r.hold = Hold(handler: self) }
            return r
        }

        var waiting: Int { gate.withLock { $0.count } }

        func releaseAll(with replacement: HTTPResponse? = nil) {
            for release in gate.withLock({ g in
                defer { g = [] }; return g
            }) { release(replacement) }
        }

        func waitUntilHeld(_ n: Int) throws {
            for _ in 0..<2000 where waiting < n { usleep(1000) } // skips the sleep once there
            try #require(waiting == n)
        }
    }

    func started(_ handler: GatedHandler, drainTimeoutMs: Int = 5000) throws -> (HTTPServer, UInt16) {
        // One thread: if a held answer blocked it, the second connection could not be served.
        let server = HTTPServer(options: .init(host: "127.0.0.1", port: 0, threads: 1, drainTimeoutMs: drainTimeoutMs), handler: handler)
        return (server, try server.start())
    }

    /// Sends `request` on a new connection and returns once the server holds its answer.
    func held(_ request: String, port: UInt16, _ handler: GatedHandler) throws -> RawHTTPConnection {
        let connection = try RawHTTPConnection(port: port)
        try connection.sendRaw(Array(request.utf8))
        try handler.waitUntilHeld(1)
        return connection
    }

    @Test func aHeldAnswerWaitsWhileTheSameThreadServesOthers() throws {
        let handler = GatedHandler()
        let (server, port) = try started(handler)
        defer { server.stop() }
        let heldConnection = try held("GET /held HTTP/1.1\r\nHost: x\r\n\r\n", port: port, handler)

        let other = try RawHTTPConnection(port: port)
        #expect(try other.send("GET", "/free").text == "answer for /free")

        handler.releaseAll()
        let held = try heldConnection.readResponse()
        #expect(held.status == 200)
        #expect(held.text == "answer for /held")
        // The connection is kept alive and serves the next request.
        #expect(try heldConnection.send("GET", "/free").status == 200)
    }

    @Test func aReleaseMayReplaceTheAnswer() throws {
        let handler = GatedHandler()
        let (server, port) = try started(handler)
        defer { server.stop() }
        let connection = try held("POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", port: port, handler)
        handler.releaseAll(with: .text(500, "the change could not be committed"))
        let r = try connection.readResponse()
        #expect(r.status == 500)
        #expect(r.text == "the change could not be committed")
    }

    @Test func stopWaitsForHeldAnswersAndANoLongerRunningServerIgnoresLateReleases() throws {
        let handler = GatedHandler()
        let (server, port) = try started(handler)
        let connection = try held("GET /held HTTP/1.1\r\nHost: x\r\n\r\n", port: port, handler)
        // Released while the stop drains: the answer goes out as it is.
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { handler.releaseAll() }
        server.stop()
        #expect(handler.waiting == 0)
        let answer = try connection.readResponse()
        #expect(answer.status == 200 && answer.text == "answer for /held")

        // Still held when the drain runs out: answered with the handler's 503, never the unreleased answer;
        // a later release does nothing.
        let (second, secondPort) = try started(handler, drainTimeoutMs: 200)
        let late = try held("GET /held-forever HTTP/1.1\r\nHost: x\r\n\r\n", port: secondPort, handler)
        second.stop()
        let refused = try late.readResponse()
        #expect(refused.status == 503)
        #expect(refused.text == "the server is stopping")
        handler.releaseAll()
    }

    /// A hold that a stop may cut short, as a latency fault's is.
    final class Delay: ResponseHold, @unchecked Sendable {
        let release = Locked<(@Sendable (HTTPResponse?) -> Void)?>(nil)
        let expedited = Locked(false)
        func whenReleased(_ release: @escaping @Sendable (HTTPResponse?) -> Void) { self.release.withLock { $0 = release } }
        func expedite() {
            expedited.withLock { $0 = true }
            release.withLock { r in
                r?(nil); r = nil
            }
        }
    }

    @Test func aStopCutsADelayShortAndRefusesNewRequestsInTheHandlersFormat() throws {
        final class Handler: HTTPHandler, @unchecked Sendable {
            let delay = Delay()
            let gate = GatedHandler()
            func handle(_ request: HTTPRequest) -> HTTPResponse {
                if request.path == "/gated" {
                    return gate.handle(HTTPRequest(method: "GET", path: "/held", query: [], headers: request.headers, body: []))
                }
                var r = HTTPResponse.text(200, "delayed answer")
                if request.path == "/slow" { r.hold = delay }
                return r
            }
            func unavailable(_ request: HTTPRequest) -> HTTPResponse { .json(503, Array(#"{"error_code":"X.503"}"#.utf8)) }
        }
        let handler = Handler()
        let server = HTTPServer(options: .init(host: "127.0.0.1", port: 0, threads: 1, drainTimeoutMs: 30_000), handler: handler)
        let port = try server.start()
        // A commit-like hold keeps the stop draining until the test releases it.
        let gated = try held("GET /gated HTTP/1.1\r\nHost: x\r\n\r\n", port: port, handler.gate)
        let slow = try RawHTTPConnection(port: port)
        try slow.sendRaw(Array("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let idle = try RawHTTPConnection(port: port)
        #expect(try idle.send("GET", "/fast").status == 200)
        for _ in 0..<2000 where handler.delay.release.withLock({ $0 == nil }) { usleep(1000) }

        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            server.stop(); stopped.signal()
        }
        let answer = try slow.readResponse()
        #expect(answer.status == 200 && answer.text == "delayed answer")
        #expect(handler.delay.expedited.withLock { $0 }, "cut short, not waited out")
        // A request on a kept-alive connection after the stop began: the handler's 503, then the connection closes.
        let refused = try idle.send("GET", "/fast")
        #expect(refused.status == 503 && refused.text == #"{"error_code":"X.503"}"#)
        #expect(refused.header("Connection") == "close")
        // A new connection now is closed before anything of it is read: no answer at all, not even the 503.
        if let newcomer = try? RawHTTPConnection(port: port) {
            try? newcomer.sendRaw(Array("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(throws: TestHTTPError.self) { try newcomer.readResponse() }
        }
        handler.gate.releaseAll()
        #expect(try gated.readResponse().status == 200)
        #expect(stopped.wait(timeout: .now() + 30) == .success)
    }

    @Test func aClientThatHalfClosesGetsItsHeldAnswer() throws {
        let handler = GatedHandler()
        let (server, port) = try started(handler)
        defer { server.stop() }
        let connection = try held("POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", port: port, handler)
        // On loopback the FIN is at the server when shutdown returns, before the release. On resuming,
        // libmicrohttpd either reads it first and closes without asking for the answer, which the server then
        // writes itself (`Connection: close`), or asks for the answer and writes it before reading again: the
        // client gets it either way.
        connection.shutdownWrite()
        handler.releaseAll()
        let answer = try connection.readResponse()
        #expect(answer.status == 200)
        #expect(answer.text == "answer for /held")
    }
}
