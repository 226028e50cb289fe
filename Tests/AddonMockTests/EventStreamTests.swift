import AddonMockCore
import AddonMockTestSupport
import Dispatch
import Foundation
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

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
        #expect(r.status == 201)
        return try #require(try r.json().string("metadata.uid"))
    }

    @Test func changesAndRequestsInOrderThenTheTransitionWhenItFallsDue() throws {
        let start = try batch("?holdMs=0").cursor ?? 0
        let id = try install()
        var (frames, cursor) = try batch("?after=\(start)&holdMs=30000")
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
        (frames, cursor) = try batch("?types=transition,clock&holdMs=30000", lastEventID: String(cursor ?? 0))
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

    /// The console's drawer reads one resource's history this way (`after=0` replays what is kept).
    @Test func filtersByResource() throws {
        let start = try batch("?holdMs=0").cursor ?? 0
        let mine = try install(cluster: "c1")
        _ = try install("everest", cluster: "c1")
        #expect(try server.control("POST", "/_mock/resources/addons/\(mine)/status", #"{"advance": true}"#).status == 200)
        let history = try batch("?after=\(start)&resource=\(mine)&types=created,transition,deleted&holdMs=0").frames
        #expect(history.map(\.event) == ["created", "transition"])
        #expect(history.allSatisfy { $0.data?.string("resource") == mine })
        #expect(history.last?.data?.string("to") == "running")
        #expect(try batch("?after=\(start)&resource=\(mine)&types=request&holdMs=0").frames.isEmpty, "requests carry no resource")
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

    /// A subscriber for the pump alone: counts its looks and notes the thread they run on.
    final class Looker: EventPump.Subscriber, @unchecked Sendable {
        struct Seen {
            var looks = 0
            var policy: Int32 = 0
            var onCallerThread = false
        }
        let seen = Locked(Seen())
        let doneAfter: Int
        let caller = pthread_self()
        init(doneAfter: Int) { self.doneAfter = doneAfter }

        func pump(now: UInt64) -> (done: Bool, nextLook: UInt64?) {
            defer { seen.broadcast() }
            return seen.withLock { s in
                s.looks += 1
                var parameters = sched_param()
                pthread_getschedparam(pthread_self(), &s.policy, &parameters)
                s.onCallerThread = pthread_equal(pthread_self(), caller) != 0
                return (s.looks >= doneAfter, nil)
            }
        }
    }

    @Test func batchesAreRenderedOnALowPriorityThreadWokenBySignalsThatEndsWhenNobodySubscribes() {
        let pump = EventPump(restMs: 1)
        let looker = Looker(doneAfter: 3)
        pump.add(looker)
        // No timer drives it: each look after the first comes from a signal (a publication, a drained batch).
        looker.seen.wait(until: { $0.looks >= 1 }, timeoutMicroseconds: 30_000_000) { _ in }
        for n in 2...3 {
            pump.signal()
            looker.seen.wait(until: { $0.looks >= n }, timeoutMicroseconds: 30_000_000) { _ in }
        }
        let final = looker.seen.withLock { $0 }
        #expect(final.looks == 3)
        #expect(final.policy == EventPump.idlePolicy)
        #expect(!final.onCallerThread)
        var parameters = sched_param(), policy: Int32 = 0
        pthread_getschedparam(pthread_self(), &policy, &parameters)
        #expect(policy != EventPump.idlePolicy, "only the pump's thread is lowered")
        // The thread ends once nobody subscribes, and a later subscriber starts another.
        #expect(pump.waitUntilThreadEnds(timeoutMicroseconds: 30_000_000))
        let again = Looker(doneAfter: 1)
        pump.add(again)
        again.seen.wait(until: { $0.looks >= 1 }, timeoutMicroseconds: 30_000_000) { _ in }
        #expect(again.seen.withLock { $0.looks } == 1)
    }

    /// `curl -N`: the stream opens at once, with no cursor starts at the newest event, and carries what happens
    /// after it connected, on the same connection, as it happens.
    @Test func aStreamDeliversWhatHappensAfterItConnected() throws {
        let connection = try RawHTTPConnection(port: server.port)
        try connection.sendRaw(Array("GET /_mock/events?types=created,transition HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        let head = try connection.readHead()
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "text/event-stream")
        #expect(head.header("Transfer-Encoding") == "chunked")
        // The stream opens with its retry time, then says which server this is: the id /_mock/config shows, new at
        // every start (both come in the first write).
        let opening = try connection.readStream(until: "}\n\n")
        let instance = try #require(try server.get("/_mock/config").json().string("instance"))
        #expect(opening.hasPrefix("retry: 1000\n: connected\n\nevent: hello\ndata: {\"instance\":\"\(instance)\",\"startedAt\":\""), "\(opening)")
        let id = try install()
        let created = try connection.readStream(until: "event: created")
        #expect(created.contains(#""resource":"\#(id)""#), "\(created)")
        server.advance(ms: 500)
        let transition = try connection.readStream(until: "event: transition")
        #expect(transition.contains(#""to":"running""#), "\(transition)")
    }

    @Test func aStopEndsStreamsCleanly() throws {
        let connection = try RawHTTPConnection(port: server.port)
        try connection.sendRaw(Array("GET /_mock/events HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        #expect(try connection.readHead().status == 200)
        _ = try connection.readStream(until: ": connected")
        server.app.stop()
        // The last chunk ends the body: the stream closes as HTTP says, not by a reset.
        while try connection.readChunk() != nil {}
    }

    @Test func aStreamWhoseClientGoesIsDropped() throws {
        let connection = try RawHTTPConnection(port: server.port)
        try connection.sendRaw(Array("GET /_mock/events HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        #expect(try connection.readHead().status == 200)
        _ = try connection.readStream(until: ": connected")
        let pump = server.app.control.pump
        // The stream's first bytes are handed to the connection as it is attached, and it joins the pump just
        // after: the client may read them first (CI saw 0 once). Wait for the state.
        HeldAnswerLimitsTests.waitUntil { pump.subscriberCount == 1 }
        #expect(pump.subscriberCount == 1)
        connection.close()
        // Its hangup is seen while it is parked (nothing to send): the pump lets it go and its thread ends.
        #expect(pump.waitUntilThreadEnds(timeoutMicroseconds: 30_000_000))
        #expect(pump.subscriberCount == 0)
    }

    /// A subscriber that reads nothing: the pump renders the next batch only once the last is taken, so the server
    /// holds at most one batch for it however much happens; a keep-alive comment goes out after 15 s of quiet.
    @Test func aSubscriberThatReadsNothingCostsOneBatchAndQuietGetsAKeepAlive() {
        let log = EventLog(capacity: 10_000)
        let pump = EventPump(threaded: false) // the test does the pump's looks
        let reader = EventReader(events: log, filter: EventFilter(), kinds: { _ in nil }, cursor: 0)
        let subscription = EventSubscription(
            reader: reader, pump: pump, hello: ServerInstance(id: "i-1", startedAt: "2026-12-02T00:00:00Z").helloFrame)
        let woken = Locked(0)
        subscription.attach { woken.withLock { $0 += 1 } }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        func take() -> String {
            guard case .bytes(let n) = buffer.withUnsafeMutableBytes({ subscription.read(into: $0) }) else { return "" }
            return String(decoding: buffer[0..<n], as: UTF8.self)
        }
        #expect(take().contains(": connected"))
        log.publish((0..<3_000).map { .clock(now: Instant(milliseconds: Int64($0)), pinned: true) })
        let t0 = EventPump.now()
        #expect(subscription.pump(now: t0).done == false)
        let held = subscription.bufferedBytes
        #expect(held > 0)
        log.publish((0..<3_000).map { .clock(now: Instant(milliseconds: Int64($0)), pinned: true) })
        _ = subscription.pump(now: t0 + 1)
        #expect(subscription.bufferedBytes == held, "nothing more rendered while the batch is not taken")
        let first = take()
        #expect(first.components(separatedBy: "event: clock").count - 1 >= EventLog.batchLimit)
        _ = subscription.pump(now: t0 + 2)
        #expect(take().contains("event: clock"), "the next batch once the last was taken")
        while subscription.pump(now: t0 + 3).done == false, subscription.bufferedBytes > 0 { _ = take() }
        // Quiet: nothing for 15 s of the pump's time, then a comment keeps proxies from closing the stream.
        _ = subscription.pump(now: t0 + 4)
        #expect(take() == "")
        _ = subscription.pump(now: t0 + EventSubscription.keepAliveNs + 5)
        #expect(take() == ": keep-alive\n\n")
        subscription.finish(.clientGone)
        #expect(subscription.pump(now: t0 + EventSubscription.keepAliveNs + 6).done)
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
        try connection.sendRaw(Array("GET /_mock/events?holdMs=60000&after=\(cursor) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
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
            (
                "?service=ecs",
                "service: unknown service \"ecs\"; expected addoncheck, autopilot, autopilotcluster, cce, cluster, control, job, modelarts, nodepool, order or pool"
            ),
            ("?after=-1", "Last-Event-ID (or after) must be an event id, got \"-1\""),
            ("?holdMs=99999999", "holdMs must be a whole number from 0 to 60000"),
            ("?cluster=a%00b", "cluster \"a\\u0000b\" is not a valid identifier: use \(IdentifierRule.description)"),
            (
                "?colour=red",
                "unknown query parameter colour; expected one of: access_token, after, cluster, control, holdMs, pool, project, resource, service, types"
            ),
            ("?resource=a/b", "resource \"a/b\" is not a valid identifier: use \(IdentifierRule.description)"),
        ]
        for (query, message) in cases { #expect(try server.controlError("GET", "/_mock/events" + query) == message) }
    }
}
