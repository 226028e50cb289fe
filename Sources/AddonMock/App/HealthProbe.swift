#if canImport(Glibc)
import Glibc
import AddonMockKit
#endif

/// `addonmock health`: asks a running server for `GET /_mock/health` over loopback with a deadline, so a
/// container's health check needs neither curl nor a shell, and works however the server's port was given.
public enum HealthProbe {
    public struct Target: Sendable, Equatable {
        public var host: String
        public var port: UInt16

        public init(host: String, port: UInt16) {
            self.host = host
            self.port = port
        }
    }

    /// `http://HOST:PORT[/…]` as the server prints it in its ready line and address file.
    public static func target(fromURL url: String) -> Target? {
        guard url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst("http://".count)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        let host: Substring
        let portText: Substring
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].first == ":" else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else { return nil }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty, let port = UInt16(portText), port > 0 else { return nil }
        return Target(host: connectable(String(host)), port: port)
    }

    /// A server listening on every address is reached through loopback.
    public static func connectable(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::", "[::]": return "::1"
        default: return host
        }
    }

    /// nil when the server answered 200 in time; otherwise what went wrong, as one line.
    public static func check(_ target: Target, timeoutMs: Int32) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, String(target.port), &hints, &info) == 0, let first = info else {
            return "cannot resolve \(target.host)"
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "cannot open a socket" }
        defer { close(fd) }
        var timeout = timeval(tv_sec: Int(timeoutMs / 1000), tv_usec: Int(timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let address = "\(target.host.contains(":") ? "[\(target.host)]" : target.host):\(target.port)"
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return "nothing answers at \(address) (\(String(cString: strerror(errno))))"
        }
        let request = Array("GET /_mock/health HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            return "cannot send to \(address)"
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while answer.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer.append(contentsOf: chunk[0..<n])
        }
        let statusLine = answer.prefix { $0 != UInt8(ascii: "\r") }
        guard !statusLine.isEmpty else { return "no answer from \(address) within \(timeoutMs) ms" }
        let parts = statusLine.split(separator: UInt8(ascii: " "), maxSplits: 2)
        guard parts.count >= 2, String(decoding: parts[1], as: UTF8.self) == "200" else {
            return "\(address) answered \(String(decoding: statusLine, as: UTF8.self))"
        }
        return nil
    }
}
