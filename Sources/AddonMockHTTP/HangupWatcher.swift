import AddonMockCore
import CMHDShim

#if canImport(Glibc)
import Glibc
#endif

/// Tells when the client of a suspended connection goes away. libmicrohttpd does not look at a suspended socket,
/// so without this a wait for a state, or an event stream with nothing to send, would outlive its client by as long
/// as it is held. One `epoll` set and one thread, blocked in `epoll_wait` (no cost while nothing happens); a socket is
/// in the set only while its connection is suspended with a long hold, so its descriptor cannot be reused meanwhile.
final class HangupWatcher: Sendable {
    private struct State {
        var watched: [UInt64: (fd: Int32, gone: @Sendable () -> Void)] = [:]
        var nextToken: UInt64 = 1
        var threadStarted = false
    }

    private let epoll: Int32
    /// Written to end the thread (`stop`).
    private let wakeup: Int32
    private let state = Locked(State())

    init() {
        var wakeup: Int32 = -1
        epoll = amh_watch_create(&wakeup)
        self.wakeup = wakeup
    }

    deinit {
        if epoll >= 0 { close(epoll) }
        if wakeup >= 0 { close(wakeup) }
    }

    /// Calls `gone` (on the watcher's thread) once the peer of `fd` closes its side or resets; returns the token to
    /// stop watching with. A peer that has closed already is reported at once.
    func watch(_ fd: Int32, gone: @escaping @Sendable () -> Void) -> UInt64 {
        let (token, start) = state.withLock { s -> (UInt64, Bool) in
            defer {
                s.nextToken += 1
                s.threadStarted = true
            }
            s.watched[s.nextToken] = (fd, gone)
            return (s.nextToken, !s.threadStarted)
        }
        if start { startThread() }
        _ = amh_watch_add(epoll, fd, token)
        return token
    }

    /// Stops watching; a report already under way for this token is dropped.
    func unwatch(_ token: UInt64) {
        guard let entry = state.withLock({ $0.watched.removeValue(forKey: token) }) else { return }
        _ = amh_watch_remove(epoll, entry.fd)
    }

    /// Ends the thread (the server has stopped).
    func stop() { _ = amh_watch_wake(wakeup) }

    private func startThread() {
        DetachedThread.start { [self] in run() }
    }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            let n = amh_watch_wait(epoll, &tokens, Int32(tokens.count))
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            for token in tokens.prefix(Int(n)) {
                if token == 0 { return } // the wakeup: stopped
                // Not taken out of the set here: by now its connection may have been resumed, closed, and its
                // descriptor reused by another watched one. A one-shot registration stays disarmed until `watch`
                // re-arms it, and goes with its socket when libmicrohttpd closes it.
                guard let entry = state.withLock({ $0.watched.removeValue(forKey: token) }) else { continue }
                entry.gone()
            }
        }
    }
}
