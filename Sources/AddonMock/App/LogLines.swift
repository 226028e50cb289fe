import AddonMockCore
import Logging

#if canImport(Glibc)
import Glibc
import AddonMockKit
#endif

public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// Every log line the server writes, on stderr, each with one `write(2)` so lines from several threads never
/// interleave. One label (`addonmock`) whatever module logs:
///
///     text: 2026-11-30T07:14:05.123Z info addonmock: signal 15: stopping key=value…
///     json: {"time":"2026-11-30T07:14:05.123Z","level":"info","label":"addonmock","message":"…","key":"value"}
///
/// Text lines show metadata as `key=value` after the message; JSON lines carry every key as a field. Access lines
/// (`AccessLog`) have the same layout.
public struct LogLines: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let format: LogFormat
    let label: String

    public init(format: LogFormat, level: Logger.Level, label: String = "addonmock") {
        self.format = format
        logLevel = level
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        var line = render(time: SystemClock().now(), level: event.level, message: event.message.description, fields: fields)
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    func render(time: Instant, level: Logger.Level, message: String, fields: Logger.Metadata) -> String {
        let stamp = time.rfc3339Milliseconds
        let keys = fields.keys.sorted()
        switch format {
        case .text:
            var line = "\(stamp) \(level.rawValue) \(label): \(Self.printable(message))"
            for key in keys {
                line += " \(key)=\(Self.textValue(fields[key]!.description))"
            }
            return line + "\n"
        case .json:
            var w = JSONWriter(capacity: 256)
            w.beginObject()
            w.field("time", stamp)
            w.field("level", level.rawValue)
            w.field("label", label)
            w.field("message", message)
            for key in keys { w.field(key, fields[key]!.description) }
            w.endObject()
            return String(decoding: w.bytes, as: UTF8.self) + "\n"
        }
    }

    /// Control characters escaped (`\n` as `\u000a`), so one event is one line whatever a request carried.
    static func printable(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return s }
        return IdentifierRule.escaped(s.unicodeScalars, quotes: false)
    }

    /// Quoted when it holds a space, a quote or a control character, so a line splits on spaces.
    static func textValue(_ s: String) -> String {
        guard s.isEmpty || s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x7F }) else { return s }
        return "\"" + IdentifierRule.escaped(s.unicodeScalars, quotes: true) + "\""
    }
}

/// The one line per request written at `info`, in the layout `LogLines` gives every other line. Written
/// straight to stderr as bytes, not through swift-log: on the request path, a metadata dictionary and string
/// interpolation per request cost a third of the GET throughput (docs/performance.md).
struct AccessLog: Sendable {
    let format: LogFormat
    var label = "addonmock"

    struct Line {
        var method: String
        var path: String
        var query: String
        /// 0: the connection was dropped (a fault).
        var status: Int
        var durationMs: Double
        var requestID: String
        var service: String?
        var fault: String?
        var errorCode: String?
    }

    func write(_ line: Line, at time: Instant, level: String = "info") {
        let bytes = format == .json ? json(line, time, level) : text(line, time, level)
        bytes.withUnsafeBufferPointer { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    func text(_ l: Line, _ time: Instant, _ level: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(200 + l.path.utf8.count + l.query.utf8.count)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        func field(_ key: String, _ value: String?) {
            guard let value else { return }
            put(" "); put(key); put("="); put(LogLines.textValue(value))
        }
        put(time.rfc3339Milliseconds); put(" "); put(level); put(" "); put(label); put(": ")
        put(LogLines.printable(Self.message(l)))
        field("error_code", l.errorCode)
        field("fault", l.fault)
        field("request_id", l.requestID)
        field("service", l.service)
        out.append(0x0A)
        return out
    }

    func json(_ l: Line, _ time: Instant, _ level: String) -> [UInt8] {
        var w = JSONWriter(capacity: 320 + l.path.utf8.count + l.query.utf8.count)
        w.beginObject()
        w.field("time", time.rfc3339Milliseconds)
        w.field("level", level)
        w.field("label", label)
        w.field("message", Self.message(l))
        w.key("duration_ms"); w.numberLiteral(Self.decimal(l.durationMs, places: 3))
        if let code = l.errorCode { w.field("error_code", code) }
        if let fault = l.fault { w.field("fault", fault) }
        w.field("method", l.method)
        w.field("path", l.path)
        if !l.query.isEmpty { w.field("query", l.query) }
        w.field("request_id", l.requestID)
        if let service = l.service { w.field("service", service) }
        w.key("status"); w.number(Int64(l.status))
        w.endObject()
        var out = w.bytes
        out.append(0x0A)
        return out
    }

    static func message(_ l: Line) -> String {
        "\(l.method) \(l.path)\(l.query.isEmpty ? "" : "?" + l.query) \(l.status == 0 ? "dropped" : String(l.status)) \(decimal(l.durationMs, places: 2))ms"
    }

    /// `ms` with `places` decimals, without Foundation.
    static func decimal(_ value: Double, places: Int) -> String {
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let n = Int((max(0, value) * Double(scale)).rounded())
        let fraction = String(n % scale + scale).dropFirst()
        return "\(n / scale).\(fraction)"
    }
}
