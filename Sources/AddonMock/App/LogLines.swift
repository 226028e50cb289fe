import AddonMockCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// Every log line the server writes, on stderr, each with one `write(2)` so lines from several threads never
/// interleave. One label (`addonmock`) whatever module logs:
///
///     text: 2026-11-30T07:14:05.123Z info addonmock: GET /api/v3/addons?cluster_id=c1 200 0.41ms request_id=…
///     json: {"time":"2026-11-30T07:14:05.123Z","level":"info","label":"addonmock","message":"…","request_id":"…"}
///
/// Text lines show metadata as `key=value` after the message, except the keys the message already tells
/// (`AccessLog.inMessage`); JSON lines carry every key as a field.
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
            for key in keys where !AccessLog.inMessage.contains(key) {
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
            for key in keys {
                w.key(key)
                if case .stringConvertible(let v) = fields[key]!, let n = v as? any BinaryInteger {
                    w.numberLiteral(String(describing: n))
                } else if case .stringConvertible(let v) = fields[key]!, let d = v as? Double {
                    w.numberLiteral(String(describing: d))
                } else {
                    w.string(fields[key]!.description)
                }
            }
            w.endObject()
            return String(decoding: w.bytes, as: UTF8.self) + "\n"
        }
    }

    /// Control characters escaped, so one event is one line whatever a request carried.
    static func printable(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return s }
        return String(IdentifierRule.quoted(s).dropFirst().dropLast())
    }

    /// Quoted when it holds a space, a quote or a control character, so a line splits on spaces.
    static func textValue(_ s: String) -> String {
        guard s.isEmpty || s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x7F }) else { return s }
        return IdentifierRule.quoted(s)
    }
}

/// The one line per request written at `info` (and its fields in JSON).
enum AccessLog {
    /// Fields a text line's message already shows.
    static let inMessage: Set<String> = ["method", "path", "query", "status", "duration_ms"]

    static func message(method: String, path: String, query: String, status: Int, durationMs: Double) -> String {
        "\(method) \(path)\(query.isEmpty ? "" : "?" + query) \(status == 0 ? "dropped" : String(status)) \(formatted(durationMs))ms"
    }

    static func formatted(_ ms: Double) -> String {
        let hundredths = Int((ms * 100).rounded())
        return "\(hundredths / 100).\(String(hundredths % 100 + 100).dropFirst())"
    }
}
