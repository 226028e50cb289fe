import AddonMockCore
import AddonMockTestSupport
import Dispatch
import Foundation
import Testing

@testable import AddonMock

/// `GET /_mock/events`: Server-Sent Events of resource changes, requests and clock changes, in order, filtered,
/// resumable with `Last-Event-ID`. A batch is held until an event exists, so tests wait for events, not durations.
@Suite struct EventStreamTests {
    let server: TestServer
    init() throws { server = try TestServer(profile: .fast) }

    struct Frame {
        let id: Int?
        let event: String?
        let data: JSONValue?
    }

    /// The frames of one batch, and the cursor it ends with (the last `id:` line).
    func batch(_ query: String, lastEventID: String? = nil) throws -> (frames: [Frame], cursor: Int?) {
        let headers = lastEventID.map { [("Last-Event-ID", $0)] } ?? []
        let r = try server.request("GET", "/_mock/events" + query, headers: headers)
        #expect(r.status == 200, "\(r.text)")
        #expect(r.header("Content-Type") == "text/event-stream")
        var frames: [Frame] = [], cursor: Int?
        for block in r.text.components(separatedBy: "\n\n") where !block.isEmpty {
            var id: Int?, event: String?, data: JSONValue?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)); cursor = id }
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = try JSONParser.parse(Array(line.dropFirst(6).utf8)) }
            }
            if event != nil { frames.append(Frame(id: id, event: event, data: data)) }
        }
        return (frames, cursor)
    }

    func install(_ template: String = "coredns", cluster: String = "c1") throws -> String {
        let r = try server.request("POST", "/api/v3/addons", body: Bodies.install(cluster: cluster, template: template))
        #expect(r.status == 200)
        return try #require(try r.json().string("metadata.uid"))
    }

    @Test func changesAndRequestsInOrderThenTheTransitionWhenItFallsDue() throws {
        let start = try batch("?holdMs=0").cursor ?? 0
        let id = try install()
        var (frames, cursor) = try batch("?after=\(start)")
        #expect(frames.map(\.event) == ["created", "request"])
        #expect(frames[0].data?.string("resource") == id)
        #expect(frames[0].data?.string("kind") == "addons")
        #expect(frames[0].data?.string("cluster") == "c1")
        #expect(frames[0].data?.string("to") == "installing")
        #expect(frames[0].data?.string("operation") == "install")
        #expect(frames[0].data?.string("dueAt") == "2026-11-22T10:00:00.150Z", "the fast profile's due time on the pinned clock")
        #expect(frames[1].data?.string("request.path") == "/api/v3/addons")
        #expect(frames[1].data?.at("request.resources") == .array([.string(id)]))
        let first = try #require(frames.first?.id)
        #expect(first > start && frames.map(\.id) == [first, first + 1], "numbered in order (the events call before is event \(start + 1))")

        // The clock moves past the due time: the sweeper writes the transition down, stamped with its due time;
        // the held batch answers once it is there.
        server.advance(ms: 500)
        (frames, cursor) = try batch("?types=transition,clock", lastEventID: String(cursor ?? 0))
        #expect(frames.map(\.event) == ["transition"])
        #expect(frames.first?.data?.string("from") == "installing")
        #expect(frames.first?.data?.string("to") == "running")
        #expect(frames.first?.data?.string("at") == "2026-11-22T10:00:00.150Z")
        _ = cursor
    }

    @Test func filtersByTypeServiceAndScope() throws {
        let start = try batch("?holdMs=0").cursor ?? 0
        _ = try install(cluster: "c1")
        _ = try install(cluster: "c2")
        let plugin = try server.request("POST", "/v2/p1/pools/a/plugins", body: PluginBodies.create("gpu-driver"))
        #expect(plugin.status == 200)
        #expect(try server.control("POST", "/_mock/clock", #"{"advanceMs": 1}"#).status == 200)

        let c2 = try batch("?after=\(start)&cluster=c2&holdMs=0").frames
        #expect(c2.map(\.event) == ["created", "clock"], "scope filters keep resource events of that scope (and the clock)")
        #expect(c2.first?.data?.string("cluster") == "c2")
        let plugins = try batch("?after=\(start)&service=modelarts&types=created,request&holdMs=0").frames
        #expect(plugins.map(\.event) == ["created", "request"])
        #expect(plugins.first?.data?.string("kind") == "plugins")
        #expect(plugins.first?.data?.string("project") == "p1")
        #expect(plugins.first?.data?.string("to") == "Pending", "statuses as the service shows them")
        let requests = try batch("?after=\(start)&types=request&holdMs=0").frames
        #expect(requests.count == 3, "control calls are left out")
        let withControl = try batch("?after=\(start)&types=request&control=true&holdMs=0").frames
        #expect(withControl.contains { $0.data?.string("request.path") == "/_mock/clock" })
        #expect(try batch("?after=\(start)&types=clock&holdMs=0").frames.first?.data?.string("now") == "2026-11-22T10:00:00.001Z")
    }

    @Test func aHeldBatchAnswersWhenAnEventArrives() throws {
        let cursor = try batch("?holdMs=0").cursor ?? 0
        let port = server.port
        let answered = DispatchSemaphore(value: 0)
        let result = Locked<HTTPResult?>(nil)
        DispatchQueue.global().async {
            let r = try? RawHTTPConnection(port: port).send(
                "GET", "/_mock/events?types=created&holdMs=60000", headers: [("Last-Event-ID", String(cursor))], close: true)
            result.withLock { $0 = r }
            answered.signal()
        }
        // Whether the batch is already held or not yet asked, it answers only once the install exists.
        _ = try install()
        #expect(answered.wait(timeout: .now() + 30) == .success, "the held batch answered")
        let text = try #require(result.withLock { $0 }).text
        #expect(text.contains("event: created"))
    }

    @Test func aResetIsOneEventSayingHowManyWent() throws {
        let start = try batch("?holdMs=0").cursor ?? 0
        _ = try install(cluster: "c1")
        _ = try install("everest", cluster: "c1")
        _ = try install(cluster: "c2")
        #expect(try server.control("POST", "/_mock/reset", #"{"cluster": "c1", "keepJournal": true}"#).status == 200)
        let frames = try batch("?after=\(start)&types=reset&holdMs=0").frames
        #expect(frames.map(\.event) == ["reset"])
        #expect(frames.first?.data?.at("deleted") == .number("2"))
        #expect(frames.first?.data?.string("scope") == "c1")
        #expect(try batch("?after=\(start)&types=reset&cluster=c2&holdMs=0").frames.count == 1, "a reset passes scope filters")
    }

    @Test func aCursorOlderThanTheKeptEventsGetsAGap() {
        let log = EventLog(capacity: 3)
        log.publish((0..<5).map { .clock(now: Instant(milliseconds: Int64($0)), pinned: true) })
        let (kept, missed) = log.events(after: 0)
        #expect(kept.map(\.id) == [3, 4, 5])
        #expect(missed == 2)
        #expect(log.events(after: 4).events.map(\.id) == [5])
        #expect(log.events(after: 5).events.isEmpty)
        #expect(log.lastID == 5)
    }

    @Test func batchesAreRenderedOnALowPriorityThreadThatEndsWhenNothingIsHeld() {
        let ticker = IdleTicker(intervalMs: 5)
        struct Seen {
            var asked = 0
            var policy: Int32 = 0
            var onRequestThread = false
        }
        let seen = Locked(Seen())
        let caller = pthread_self()
        // Done on the third ask: the ticker keeps asking what is not done yet.
        ticker.add {
            defer { seen.broadcast() }
            return seen.withLock { s in
                s.asked += 1
                var parameters = sched_param()
                pthread_getschedparam(pthread_self(), &s.policy, &parameters)
                s.onRequestThread = pthread_equal(pthread_self(), caller) != 0
                return s.asked == 3
            }
        }
        seen.wait(until: { $0.asked == 3 }, timeoutMicroseconds: 30_000_000) { _ in }
        let final = seen.withLock { $0 }
        #expect(final.asked == 3)
        #expect(final.policy == IdleTicker.idlePolicy)
        #expect(!final.onRequestThread)
        var parameters = sched_param(), policy: Int32 = 0
        pthread_getschedparam(pthread_self(), &policy, &parameters)
        #expect(policy != IdleTicker.idlePolicy, "only the ticker's thread is lowered")
        // The thread ends once nothing is held, and a later hold starts another.
        #expect(ticker.waitUntilThreadEnds(timeoutMicroseconds: 30_000_000))
        let again = Locked(false)
        ticker.add {
            again.withLock { $0 = true }
            again.broadcast()
            return true
        }
        again.wait(until: { $0 }, timeoutMicroseconds: 30_000_000) { _ in }
        #expect(again.withLock { $0 })
    }

    @Test func aSubscriberFarBehindGetsWhatIsKeptInBatchesOfAboutTwoThousand() throws {
        let start = try batch("?holdMs=0").cursor ?? 0
        // 2,600 clock events: more than a batch carries and many looks (256 each) into the log.
        for _ in 0..<2_600 {
            #expect(try server.control("POST", "/_mock/clock", #"{"advanceMs": 1}"#).status == 200)
        }
        let first = try batch("?after=\(start)&types=clock&holdMs=0")
        #expect(first.frames.count >= EventLog.batchLimit && first.frames.count < EventLog.batchLimit + EventLog.lookLimit)
        let ids = first.frames.compactMap(\.id)
        #expect(ids == Array(ids.sorted()) && Set(ids).count == ids.count, "in order, none twice")
        let rest = try batch("?after=\(try #require(first.cursor))&types=clock&holdMs=0")
        #expect(first.frames.count + rest.frames.count == 2_600)
    }

    @Test func aHeldBatchIsAnsweredWhenTheServerStops() throws {
        let cursor = try batch("?holdMs=0").cursor ?? 0
        let connection = try RawHTTPConnection(port: server.port)
        try connection.sendRaw(Array("GET /_mock/events?holdMs=60000&after=\(cursor) HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        // Held on the event thread (or, if the stop comes first, refused): either way a whole answer, at once.
        _ = try server.get("/_mock/health")
        server.app.stop()
        let r = try connection.readResponse()
        #expect(r.status == 200 || r.status == 503, "\(r.status) \(r.text)")
        if r.status == 200 {
            // Nothing admitted happened (control requests are left out): the batch ends with the cursor alone.
            #expect(!r.text.contains("event:") && r.text.contains("\nid: "), "\(r.text)")
        }
    }

    @Test func badQueriesAre400s() throws {
        let cases = [
            ("?types=explosion", "types: unknown event type \"explosion\"; expected clock, created, deleted, request, reset, transition or updated"),
            ("?service=ecs", "service: unknown service \"ecs\"; expected addoncheck, autopilot, cce, control or modelarts"),
            ("?after=-1", "Last-Event-ID (or after) must be an event id, got \"-1\""),
            ("?holdMs=99999999", "holdMs must be a whole number from 0 to 60000"),
            ("?cluster=a%00b", "cluster \"a\\u0000b\" is not a valid identifier: use \(IdentifierRule.description)"),
            ("?colour=red", "unknown query parameter colour; expected one of: after, cluster, control, holdMs, pool, project, service, types"),
        ]
        for (query, message) in cases { #expect(try server.controlError("GET", "/_mock/events" + query) == message) }
    }
}
