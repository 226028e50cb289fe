import AddonMockCore

#if canImport(Glibc)
import Glibc
#endif

public struct TestHTTPError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// A parsed HTTP/1.1 response.
public struct HTTPResult {
    public let status: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as JSON (fails the test with the body text if it is not JSON).
    public func json() throws -> JSONValue {
        do { return try JSONParser.parse(body, maxDepth: 512) } catch {
            throw TestHTTPError(description: "status \(status) body is not JSON: \(text)")
        }
    }
}

/// One TCP connection speaking HTTP/1.1 by hand, so tests can send exactly the bytes they mean
/// (bad escapes, chunked bodies, pipelines) and reuse a connection to check keep-alive.
public final class RawHTTPConnection {
    private var fd: Int32
    private var buffer: [UInt8] = []

    public init(port: UInt16, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestHTTPError(description: "socket() failed") }
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw TestHTTPError(description: "connect to port \(port) failed: errno \(errno)")
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Closes the connection (a client that goes away).
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Closes the sending side only (HTTP allows it); the answer can still be read.
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    public func sendRaw(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            // MSG_NOSIGNAL: a server that closes first is an error to report, not a SIGPIPE that ends the test run.
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestHTTPError(description: "write failed: errno \(errno)") }
            sent += n
        }
    }

    public func send(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        close: Bool = false
    ) throws -> HTTPResult {
        var head = "\(method) \(target) HTTP/1.1\r\n"
        var names = Set<String>()
        for (k, v) in headers { head += "\(k): \(v)\r\n"; names.insert(k.lowercased()) }
        if !names.contains("host") { head += "Host: 127.0.0.1\r\n" }
        if let body, !names.contains("content-length"), !names.contains("transfer-encoding") {
            head += "Content-Length: \(body.count)\r\n"
        }
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        try sendRaw(Array(head.utf8) + (body ?? []))
        return try readResponse(method: method)
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw TestHTTPError(description: "read failed or timed out: errno \(errno)") }
        if n == 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    public func readResponse(method: String = "GET") throws -> HTTPResult {
        let head = try readHead()
        let (status, headers) = (head.status, head.headers)
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) }
        let chunked = headers.contains { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 {
            body = []
        } else if chunked {
            while let chunk = try readChunk() { body += chunk }
        } else if let length {
            while buffer.count < length { if try !fill() { throw TestHTTPError(description: "short body") } }
            body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        } else {
            while try fill() {}
            body = buffer
            buffer = []
        }
        return HTTPResult(status: status, headers: headers, body: body)
    }

    /// The next chunk of a chunked body; nil after the last (empty) one.
    public func readChunk() throws -> [UInt8]? {
        let crlf: [UInt8] = [13, 10]
        func line() throws -> [UInt8] {
            while true {
                if buffer.count >= 2, let end = (0...(buffer.count - 2)).first(where: { Array(buffer[$0..<$0 + 2]) == crlf }) {
                    let text = Array(buffer[0..<end])
                    buffer.removeFirst(end + 2)
                    return text
                }
                if try !fill() { throw TestHTTPError(description: "connection closed inside a chunked body") }
            }
        }
        let sizeText = String(decoding: try line(), as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
        guard let size = Int(sizeText, radix: 16) else { throw TestHTTPError(description: "bad chunk size \(sizeText)") }
        if size == 0 {
            _ = try line() // the empty line after the last chunk (no trailers are sent)
            return nil
        }
        while buffer.count < size + 2 { if try !fill() { throw TestHTTPError(description: "short chunk") } }
        let chunk = Array(buffer[0..<size])
        buffer.removeFirst(size + 2)
        return chunk
    }

    /// Reads a response's head and returns it with an empty body: for a stream, whose chunks `readChunk` then reads.
    public func readHead() throws -> HTTPResult {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if buffer.count >= 4 { headerEnd = (0...(buffer.count - 4)).first { Array(buffer[$0..<$0 + 4]) == separator } }
            if headerEnd == nil, try !fill() { throw TestHTTPError(description: "connection closed before a response") }
        }
        let headText = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        buffer.removeFirst(headerEnd! + 4)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestHTTPError(description: "bad status line in \(headText)") }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingSpaces())
        }
        return HTTPResult(status: status, headers: headers, body: [])
    }

    /// Stream chunks, read until their text holds `text` (or the stream ends); what was read, as text.
    public func readStream(until text: String) throws -> String {
        var seen = ""
        while !seen.contains(text), let chunk = try readChunk() { seen += String(decoding: chunk, as: UTF8.self) }
        return seen
    }

    /// Everything the server sends after what has been read, up to its closing the connection.
    public func readUntilClosed() throws -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// True when the server has closed its side (or reset the connection): what a client's connection pool looks
    /// for before it reuses a connection.
    public func isClosedByPeer() -> Bool {
        var b: UInt8 = 0
        let n = recv(fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String { String(self).trimmingSpaces() }
}
