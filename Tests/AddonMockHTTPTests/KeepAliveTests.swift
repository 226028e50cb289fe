import AddonMockCore
import AddonMockHTTP
import AddonMockTestSupport
import Dispatch
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Keep-alive never costs a request: the idle limit between requests is its own (apart from the time a client
/// may take to send one), and the server never closes a connection that has request bytes waiting.
@Suite struct KeepAliveTests {
    struct Plain: HTTPHandler {
        func handle(_ request: HTTPRequest) -> HTTPResponse { .text(200, "answer for \(request.path)") }
    }

    func started(idleSeconds: Int, requestSeconds: Int = 10) throws -> (HTTPServer, UInt16) {
        let server = HTTPServer(
            options: .init(host: "127.0.0.1", port: 0, threads: 2, requestTimeoutSeconds: requestSeconds, idleTimeoutSeconds: idleSeconds),
            handler: Plain())
        return (server, try server.start())
    }

    static func sleep(untilNs deadline: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        if deadline > now { usleep(UInt32((deadline - now) / 1000)) }
    }

    /// 48 connections go idle, then each sends its next request at its own moment around the idle limit (1 s):
    /// from 50 ms before it to 350 ms after, across the reaper's 250 ms beat, so that requests arrive just before,
    /// during and just after the moments connections are closed. A client does what urllib3 and Go's transport do
    /// with a pooled connection: it sends on it unless the server has visibly closed it, and then reconnects. No
    /// request may go unanswered; some connections must have been closed idle (or the test proved nothing).
    @Test func requestsSentAroundTheIdleLimitAreAllAnswered() throws {
        let (server, port) = try started(idleSeconds: 1)
        defer { server.stop() }
        let count = 48
        var connections: [RawHTTPConnection] = []
        var idleSince: [UInt64] = []
        for i in 0..<count {
            let c = try RawHTTPConnection(port: port)
            #expect(try c.send("GET", "/first/\(i)").status == 200)
            connections.append(c)
            idleSince.append(DispatchTime.now().uptimeNanoseconds)
        }
        // Sending moments, in order: idle age 950 ms + i * 400 ms / count.
        let moments = (0..<count).map { idleSince[$0] + 950_000_000 + UInt64($0) * 400_000_000 / UInt64(count) }
        var lost: [String] = []
        var closedBefore = 0
        var keptPastTheLimit = 0
        for i in 0..<count {
            Self.sleep(untilNs: moments[i])
            var connection = connections[i]
            if connection.isClosedByPeer() {
                closedBefore += 1
                connection = try RawHTTPConnection(port: port)
            } else if moments[i] > idleSince[i] + 1_000_000_000 {
                keptPastTheLimit += 1
            }
            do {
                let r = try connection.send("GET", "/next/\(i)")
                if r.status != 200 || r.text != "answer for /next/\(i)" { lost.append("\(i): \(r.status) \(r.text)") }
            } catch {
                lost.append("\(i): \(error)")
            }
        }
        #expect(lost.isEmpty, "requests closed unanswered: \(lost)")
        #expect(closedBefore > 0, "no connection was closed idle: the idle limit was never reached")
        print(
            "keep-alive: \(count) requests around a 1 s idle limit; \(closedBefore) found their connection closed first,",
            "\(keptPastTheLimit) sent past the limit on a still-open one, \(lost.count) lost")
    }

    /// The idle limit is not the request limit: a connection idle longer than the time a request may take is kept,
    /// while one that started a request and stalls is cut off at the request limit.
    @Test func idleIsNotSlow() throws {
        let (server, port) = try started(idleSeconds: 30, requestSeconds: 1)
        defer { server.stop() }
        let idle = try RawHTTPConnection(port: port)
        #expect(try idle.send("GET", "/a").status == 200)
        let slow = try RawHTTPConnection(port: port)
        try slow.sendRaw(Array("GET /stalled HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8))
        // Wait for the state: the stalled one closed (within generous slack of its 1 s limit).
        let deadline = DispatchTime.now().uptimeNanoseconds + 30_000_000_000
        while !slow.isClosedByPeer() && DispatchTime.now().uptimeNanoseconds < deadline { usleep(20_000) }
        #expect(slow.isClosedByPeer(), "a request that stalls is cut off at the request timeout")
        #expect(!idle.isClosedByPeer(), "an idle connection is kept past the request timeout")
        #expect(try idle.send("GET", "/b").status == 200)
    }
}
