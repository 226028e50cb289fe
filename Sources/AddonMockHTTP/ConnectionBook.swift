import AddonMockCore
import CMHDShim
import CMicroHTTPD
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A connection suspended with its answer held.
final class HeldConnection: @unchecked Sendable {
    let pointer: OpaquePointer?
    let state: RequestState
    let request: HTTPRequest
    let hold: any ResponseHold
    let fd: Int32
    /// Under the book's lock: released exactly once, by its hold or by `stop`; suspended only if not released
    /// by the time its access-handler call ends (then it is answered in that call, like any other request).
    var released = false
    var suspended = false
    /// While a long hold is suspended: its registration with the hangup watcher.
    var watchToken: UInt64?
    let bookedAt = monotonicNanoseconds()

    init(pointer: OpaquePointer?, state: RequestState, request: HTTPRequest, hold: any ResponseHold) {
        self.pointer = pointer
        self.state = state
        self.request = request
        self.hold = hold
        fd = amh_connection_fd(pointer)
    }
}

/// A connection whose answer is a stream: parked (suspended) while the stream has nothing to send, resumed by its
/// `wake`. Everything but `stream` and `pointer` is under the book's lock.
final class StreamedConnection: @unchecked Sendable {
    let pointer: OpaquePointer?
    let stream: any ResponseStream
    let book: ConnectionBook
    let fd: Int32
    let startedAt = monotonicNanoseconds()
    var parked = false
    /// A wake came while not parked: the next park looks again instead.
    var woken = false
    var watchToken: UInt64?
    /// Its answer is written or its connection gone: nothing resumes it any more.
    var ended = false

    init(pointer: OpaquePointer?, stream: any ResponseStream, book: ConnectionBook) {
        self.pointer = pointer
        self.stream = stream
        self.book = book
        fd = amh_connection_fd(pointer)
    }
}

/// A connection's socket and its clocks: since when it has waited for a request (opened, or its last answer
/// written; 0 while a request it sent is being answered, which may take as long as a commit or a wait), and when
/// the request line of its latest request arrived (libmicrohttpd's URI callback). A connection with a request line
/// newer than its wait is receiving a request (the request timeout applies); otherwise it is idle (the idle timeout).
final class ConnectionClock: Sendable {
    let fd: Int32
    let waitingSince = Atomic<UInt64>(0)
    let requestSince = Atomic<UInt64>(0)

    init(fd: Int32) {
        self.fd = fd
        waitingSince.store(monotonicNanoseconds(), ordering: .relaxed)
    }

    static func of(_ connection: OpaquePointer?) -> ConnectionClock? {
        amh_socket_context(connection).map { Unmanaged<ConnectionClock>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// The one owner of the daemon pointer and of every connection the server has suspended or streams to, under one
/// lock. A connection is suspended only while the daemon serves or drains and resumed only once; with the count of
/// requests not yet complete, `stop` knows when no answer is left to write.
final class ConnectionBook: Sendable {
    enum Phase: Int { case idle, serving, draining, closing }

    /// Raw pointers are not Sendable; this lock is what guards them.
    private struct State: @unchecked Sendable {
        var daemon: OpaquePointer?
        var context: UnsafeMutableRawPointer?
        var phase = Phase.idle
        var held: [ObjectIdentifier: HeldConnection] = [:]
        var streams: [ObjectIdentifier: StreamedConnection] = [:]
        /// Held long (waits) and streams together: what `maxLongHolds` caps.
        var longHolds = 0
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
    let watcher = HangupWatcher()
    /// Long holds and streams at most; past it a new one is refused.
    let maxLongHolds: Int

    init(maxLongHolds: Int) { self.maxLongHolds = maxLongHolds }

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
        state.broadcast()
    }

    /// Whether a request arriving now is served: false once a stop has begun. The daemon listens a moment before
    /// `started` books it (a client polling the port can connect in between; under valgrind the moment is
    /// milliseconds), so a request that arrives then waits for it rather than being told the server is stopping.
    func admitsRequests(waitingAtMostMicroseconds patience: Int = 10_000_000) -> Bool {
        if isServing { return true }
        let settled = state.wait(until: { $0.phase != .idle }, timeoutMicroseconds: patience, then: { $0.phase })
        return settled == .serving
    }

    /// Stops accepting (see `acceptPolicy`); false when not serving. Asks every held answer to hurry and every
    /// stream to end.
    func beginDraining() -> Bool {
        let found: ([any ResponseHold], [StreamedConnection])? = state.withLock { s in
            guard s.phase == .serving, s.daemon != nil else { return nil }
            s.phase = .draining
            phase.store(Phase.draining.rawValue, ordering: .releasing)
            return (s.held.values.map(\.hold), Array(s.streams.values))
        }
        guard let (holds, streams) = found else { return false }
        for hold in holds { hold.expedite() }
        for streamed in streams {
            streamed.stream.finish(.stopping)
            wake(streamed)
        }
        return true
    }

    // MARK: held answers

    enum Booking {
        case booked
        /// The server is closing: the caller waits for the hold itself.
        case closing
        /// Too many long holds: the caller answers the handler's refusal.
        case overCapacity
    }

    /// Books a held answer. A hold booked while draining is asked to hurry at once.
    func book(_ connection: HeldConnection) -> Booking {
        let outcome: Booking = state.withLock { s in
            guard s.daemon != nil, s.phase == .serving || s.phase == .draining else { return .closing }
            if connection.hold.isLong {
                guard s.longHolds < maxLongHolds else { return .overCapacity }
                s.longHolds += 1
            }
            s.held[ObjectIdentifier(connection)] = connection
            return .booked
        }
        if case .booked = outcome, !isServing { connection.hold.expedite() }
        return outcome
    }

    /// At the end of the access-handler call: suspends the connection unless its hold has released it already
    /// (then the call answers it, and libmicrohttpd never sees a suspension). Returns whether it suspended. A long
    /// hold's socket is watched for its client going away while suspended.
    func suspendIfStillHeld(_ connection: HeldConnection) -> Bool {
        state.withLock { s in
            guard !connection.released else { return false }
            connection.suspended = true
            MHD_suspend_connection(connection.pointer)
            if connection.hold.isLong, connection.fd >= 0 {
                connection.watchToken = watcher.watch(connection.fd) { [hold = connection.hold] in hold.clientGone() }
            }
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
            if connection.hold.isLong { s.longHolds -= 1 }
            if let token = connection.watchToken { watcher.unwatch(token) }
            if let replacement { connection.state.held = replacement }
            if connection.suspended, s.daemon != nil { MHD_resume_connection(connection.pointer) }
        }
    }

    // MARK: streams

    /// Books a stream about to start; false when too many long holds are open already, or the server is closing.
    func book(_ streamed: StreamedConnection) -> Bool {
        state.withLock { s in
            guard s.daemon != nil, s.phase == .serving, s.longHolds < maxLongHolds else { return false }
            s.longHolds += 1
            s.streams[ObjectIdentifier(streamed)] = streamed
            return true
        }
    }

    /// The stream's reader is about to look: wakes until now are answered by this look.
    func willRead(_ streamed: StreamedConnection) {
        state.withLock { _ in streamed.woken = false }
    }

    /// The stream had nothing to send (called from its reader, on the connection's thread): suspends the
    /// connection until `wake`, unless a wake came since the reader last looked (then it looks again).
    func park(_ streamed: StreamedConnection) {
        state.withLock { s in
            guard !streamed.ended, !streamed.woken, s.phase != .closing, s.daemon != nil else { return }
            streamed.parked = true
            MHD_suspend_connection(streamed.pointer)
            if streamed.fd >= 0 {
                streamed.watchToken = watcher.watch(streamed.fd) { [weak self, weak streamed] in
                    guard let self, let streamed else { return }
                    streamed.stream.finish(.clientGone)
                    self.wake(streamed)
                }
            }
        }
    }

    /// The stream may have more: resumes its connection if parked, else makes its next park look again.
    func wake(_ streamed: StreamedConnection) {
        state.withLock { s in
            guard !streamed.ended else { return }
            guard streamed.parked else {
                streamed.woken = true
                return
            }
            streamed.parked = false
            if let token = streamed.watchToken { watcher.unwatch(token) }
            streamed.watchToken = nil
            if s.daemon != nil { MHD_resume_connection(streamed.pointer) }
        }
    }

    /// libmicrohttpd is done with the stream's answer (written whole, or its connection gone).
    func ended(_ streamed: StreamedConnection) {
        state.withLock { s in
            guard !streamed.ended else { return }
            streamed.ended = true
            if let token = streamed.watchToken { watcher.unwatch(token) }
            if s.streams.removeValue(forKey: ObjectIdentifier(streamed)) != nil { s.longHolds -= 1 }
        }
    }

    // MARK: sockets

    func opened(_ clock: ConnectionClock) { state.withLock { $0.sockets[clock.fd] = clock } }
    func closed(_ clock: ConnectionClock) {
        state.withLock { s in if s.sockets[clock.fd] === clock { s.sockets[clock.fd] = nil } }
    }

    /// Shuts down connections that have been receiving a request for longer than `requestTimeout`, and idle ones
    /// (no request under way) past `idleTimeout` — never one with request bytes waiting to be read: the race with
    /// a client that sends as the idle limit passes is what loses requests. Past `keepingAtMost` open connections,
    /// the longest-idle go first, then the slowest senders, then the oldest long holds (waits and streams), which
    /// are answered rather than cut. libmicrohttpd sees a shut-down socket end and closes it. Under the lock: a
    /// socket is shut down only while it is still the connection it was booked as.
    func closeOverdue(requestTimeout: UInt64, idleTimeout: UInt64, keepingAtMost limit: Int) {
        let now = monotonicNanoseconds()
        let evict: (holds: [any ResponseHold], streams: [StreamedConnection]) = state.withLock { s in
            // Idle ones make room first (rank 0), then slow senders (rank 1); each oldest first.
            var candidates: [(rank: Int, since: UInt64, fd: Int32)] = []
            for (fd, clock) in s.sockets {
                let waiting = clock.waitingSince.load(ordering: .relaxed)
                guard waiting != 0 else { continue }
                let requested = clock.requestSince.load(ordering: .relaxed)
                // A clock read after `now` was taken may be later than it: not overdue.
                if requested >= waiting {
                    if requested < now && now - requested > requestTimeout {
                        shutdown(fd, Int32(SHUT_RDWR))
                    } else {
                        candidates.append((1, requested, fd))
                    }
                } else if waiting < now && now - waiting > idleTimeout && unreadBytes(fd) == 0 {
                    shutdown(fd, Int32(SHUT_RDWR))
                } else {
                    candidates.append((0, waiting, fd))
                }
            }
            var excess = s.sockets.count - max(0, limit)
            guard excess > 0 else { return ([], []) }
            for candidate in candidates.sorted(by: { ($0.rank, $0.since) < ($1.rank, $1.since) }) where excess > 0 {
                guard unreadBytes(candidate.fd) == 0 else { continue }
                shutdown(candidate.fd, Int32(SHUT_RDWR))
                excess -= 1
            }
            guard excess > 0 else { return ([], []) }
            // Still too many: the oldest long-lived answers end, each with an answer that says why.
            var long: [(since: UInt64, hold: (any ResponseHold)?, stream: StreamedConnection?)] =
                s.held.values.filter { $0.hold.isLong && !$0.released }.map { ($0.bookedAt, $0.hold, nil) }
            long += s.streams.values.filter { !$0.ended }.map { ($0.startedAt, nil, $0) }
            let oldest = long.sorted { $0.since < $1.since }.prefix(excess)
            return (oldest.compactMap(\.hold), oldest.compactMap(\.stream))
        }
        for hold in evict.holds { hold.evicted() }
        for streamed in evict.streams {
            streamed.stream.finish(.evicted)
            wake(streamed)
        }
    }

    /// Waits until every held answer is out and no connection has request bytes libmicrohttpd has not read
    /// yet (a request sent before the stop is answered, if only with a 503), or until `deadline`.
    func waitUntilAnswered(before deadline: UInt64) {
        while monotonicNanoseconds() < deadline {
            let busy =
                inProgress.load(ordering: .acquiring) > 0
                || state.withLock { s in
                    !s.held.isEmpty || !s.streams.isEmpty || s.sockets.keys.contains { unreadBytes($0) > 0 }
                }
            if !busy { return }
            usleep(1000)
        }
    }

    /// Whatever is still held gets `answer(request)` (a 503) instead, and every stream ends; from now on nothing
    /// is suspended.
    func answerTheRest(_ answer: (HTTPRequest) -> HTTPResponse) {
        state.withLock { s in
            s.phase = .closing
            phase.store(Phase.closing.rawValue, ordering: .releasing)
            for connection in s.held.values where !connection.released {
                connection.released = true
                if let token = connection.watchToken { watcher.unwatch(token) }
                connection.state.held = answer(connection.request)
                guard connection.suspended else { continue } // its own call answers it
                if s.daemon != nil { MHD_resume_connection(connection.pointer) }
            }
            s.held = [:]
            for streamed in s.streams.values where streamed.parked {
                streamed.stream.finish(.stopping)
                streamed.parked = false
                if let token = streamed.watchToken { watcher.unwatch(token) }
                streamed.watchToken = nil
                if s.daemon != nil { MHD_resume_connection(streamed.pointer) }
            }
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
