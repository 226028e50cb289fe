import CMicroHTTPD

#if canImport(Glibc)
import Glibc
#endif

// What the server does on a socket itself, beside libmicrohttpd: looks that tell a connection's state, and the one
// write it makes on its own (an answer for a client that half-closed).

/// Bytes received on the socket that nobody has read yet.
func unreadBytes(_ fd: Int32) -> Int32 {
    var count: Int32 = 0
    return ioctl(fd, UInt(FIONREAD), &count) == 0 ? count : 0
}

/// True when the peer has sent its FIN: a zero-byte read is waiting (peeked, not consumed).
func peerHasHalfClosed(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
}

/// Writes a complete HTTP/1.1 answer with `Connection: close` on a connection's socket that libmicrohttpd will not
/// write to (non-blocking: waits for room at most two seconds; a client that reads nothing gets what fitted).
func writeDirectly(_ response: HTTPResponse, to fd: Int32) {
    guard !response.dropConnection else { return }
    var head = "HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n"
    for (name, value) in response.headers.fields where name.lowercased() != "connection" && name.lowercased() != "content-length" {
        head += "\(name): \(value)\r\n"
    }
    head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
    let bytes = Array(head.utf8) + response.body
    var sent = 0
    let deadline = monotonicNanoseconds() + 2_000_000_000
    while sent < bytes.count && monotonicNanoseconds() < deadline {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if n > 0 { sent += n; continue }
        guard n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&pfd, 1, 100)
    }
}

private func reasonPhrase(_ status: Int) -> String {
    MHD_get_reason_phrase_for(UInt32(status)).map { String(cString: $0) } ?? ""
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Raises the soft limit on open files towards `wanted` (as far as the hard limit allows): each connection is one.
func raiseOpenFileLimit(to wanted: Int) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
    limit.rlim_cur = min(limit.rlim_max, rlim_t(wanted))
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
