import AddonMock
import AddonMockCore
import AddonMockHTTP
import Logging

/// One fuzz input is one request: a method byte, then the target (`/path?query`) up to a newline, then header
/// lines up to an empty line, then the body. Every request goes through the whole application (router, auth,
/// fault rules, services, SQLite in memory) and must get an answer that is not a 5xx, whose JSON body parses.
/// Any body that parses as JSON must also survive a write/parse round trip unchanged.
enum FuzzHarness {
    static let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "GET", "POST"]

    nonisolated(unsafe) static var runs = 0
    static let app: Application = {
        let flags = CommandLineValues(port: "0", database: ":memory:", profile: "fast", seed: "1", logLevel: "critical")
        do {
            let configuration = try Configuration.resolve(flags, environment: [:])
            return try Application(configuration: configuration, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() })
        } catch {
            fatalError("cannot start the application: \(error)")
        }
    }()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func request(from data: [UInt8]) -> HTTPRequest? {
        guard let first = data.first else { return nil }
        let method = methods[Int(first) % methods.count]
        var lines = data.dropFirst().split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return nil }
        let target = String(decoding: lines.removeFirst(), as: UTF8.self)
        var rest = lines.first ?? []
        var headers: [(name: String, value: String)] = []
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            let line = rest[rest.startIndex..<newline]
            rest = rest[(newline + 1)...]
            guard !line.isEmpty, let colon = line.firstIndex(of: UInt8(ascii: ":")) else { break }
            headers.append(
                (
                    String(decoding: line[..<colon], as: UTF8.self),
                    String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingLeadingSpaces()
                ))
        }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts.first ?? "")
        // The control API's fault rules may inject 5xx on purpose: not what this target looks for.
        guard path.hasPrefix("/"), !path.hasPrefix("/_mock/faults") else { return nil }
        var query: [(name: String, value: String)]? = []
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") where !pair.isEmpty {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = PercentDecoding.decode(kv[0]), let value = PercentDecoding.decode(kv.count > 1 ? kv[1] : "") else {
                    query = nil
                    break
                }
                query?.append((name, value))
            }
        }
        return HTTPRequest(method: method, path: path, query: query, headers: HTTPHeaders(headers), body: Array(rest))
    }

    static func check(_ data: [UInt8]) throws(Failure) {
        runs += 1
        if runs % 5_000 == 0 { _ = app.handle(HTTPRequest(method: "POST", path: "/_mock/reset", query: [], headers: HTTPHeaders(), body: [])) }
        if let value = try? JSONParser.parse(data, maxDepth: 64) {
            let again = try? JSONParser.parse(RawJSON(value).bytes, maxDepth: 64)
            guard again == value else { throw Failure(description: "JSON round trip changed \(value) into \(String(describing: again))") }
        }
        guard let request = request(from: data) else { return }
        let response = app.handle(request)
        guard !response.dropConnection else { return }
        guard response.status < 500 else {
            throw Failure(
                description: "\(request.method) \(request.path) answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        }
        let json = response.headers["Content-Type"]?.hasPrefix("application/json") ?? false
        if json, request.method != "HEAD", (try? JSONParser.parse(response.body, maxDepth: 256)) == nil {
            throw Failure(
                description: "\(request.method) \(request.path) answered \(response.status) with a body that is not JSON: "
                    + String(decoding: response.body.prefix(2_000), as: UTF8.self).debugDescription)
        }
    }
}

extension String {
    func trimmingLeadingSpaces() -> String { String(drop { $0 == " " }) }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        try FuzzHarness.check(Array(UnsafeBufferPointer(start: data, count: size)))
    } catch {
        fatalError(error.description)
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry point as `<module>_main`; here that hands over to libFuzzer's driver.
@_cdecl("addonmock_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}
#endif
