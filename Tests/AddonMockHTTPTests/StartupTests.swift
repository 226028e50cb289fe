import AddonMockCore
import Dispatch
import Testing

@testable import AddonMockHTTP

/// The daemon listens a moment before the server books itself as serving: a client that connects in that moment
/// (one polling the port; under valgrind the moment lasted long enough for Benchmarks/instructions.py to hit it)
/// must be served, not told the server is stopping.
@Suite struct StartupTests {
    /// Stand-ins the book only stores (nothing here calls libmicrohttpd with them).
    var daemon: OpaquePointer { OpaquePointer(bitPattern: 0x1000)! }
    var context: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: 0x1000)! }

    @Test func aRequestArrivingWhileTheServerStartsWaitsToBeServed() {
        let book = ConnectionBook(maxLongHolds: 1)
        let answer = Locked<Bool?>(nil)
        DispatchQueue.global().async {
            let admitted = book.admitsRequests()
            answer.withLock { $0 = admitted }
            answer.broadcast()
        }
        book.started(daemon, context: context)
        #expect(answer.wait(until: { $0 != nil }, timeoutMicroseconds: 60_000_000, then: { $0 }) == true)
        #expect(book.admitsRequests(), "and every request after")
    }

    @Test func theWaitIsBoundedAndAStopRefusesAtOnce() {
        let book = ConnectionBook(maxLongHolds: 1)
        #expect(!book.admitsRequests(waitingAtMostMicroseconds: 1000), "a server that never starts serves nothing")
        book.started(daemon, context: context)
        #expect(book.beginDraining())
        #expect(!book.admitsRequests(), "stopping: refused without waiting")
    }
}
