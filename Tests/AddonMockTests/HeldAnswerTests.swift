import AddonMockCore
import AddonMockHTTP
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
            for release in gate.withLock({ g in defer { g = [] }; return g }) { release(replacement) }
        }

        func waitUntilHeld(_ n: Int) throws {
            for _ in 0..<2000 where waiting < n { usleep(1000) }   // skips the sleep once there
            try #require(waiting == n)
        }
    }

    func started(_ handler: GatedHandler) throws -> (HTTPServer, UInt16) {
        // One thread: if a held answer blocked it, the second connection could not be served.
        let server = HTTPServer(options: .init(host: "127.0.0.1", port: 0, threads: 1), handler: handler)
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
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { handler.releaseAll() }
        server.stop()
        withExtendedLifetime(connection) {}   // the client stays connected while the server stops
        #expect(handler.waiting == 0)

        // A connection still held when the wait runs out: stop answers it 503 (never the unreleased answer)
        // and goes on; a later release does nothing.
        let second = HTTPServer(options: .init(host: "127.0.0.1", port: 0, threads: 1), handler: handler)
        let secondPort = try second.start()
        let late = try held("GET /held-forever HTTP/1.1\r\nHost: x\r\n\r\n", port: secondPort, handler)
        second.stop()
        if let answer = try? late.readResponse() { #expect(answer.status == 503) }
        handler.releaseAll()
    }
}
