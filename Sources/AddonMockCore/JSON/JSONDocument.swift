#if canImport(Glibc)
import Glibc
#endif

/// A JSON object kept as its top-level members, each value raw JSON: what a resource stores as its spec and status.
/// A member is read or replaced without parsing or rewriting the others (an add-on's `values` is spliced into an
/// answer as stored), and the document is written back member by member, in order.
public struct JSONDocument: Sendable, Equatable {
    public private(set) var members: [(key: String, value: RawJSON)]

    public init(_ members: [(key: String, value: RawJSON)] = []) { self.members = members }

    public static let empty = JSONDocument()

    public static func == (a: JSONDocument, b: JSONDocument) -> Bool {
        a.members.count == b.members.count && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// An object's members, from a value (anything else is an empty document).
    public init(_ value: JSONValue) {
        guard case .object(let members) = value else {
            self.members = []
            return
        }
        self.members = members.map { ($0.key, RawJSON($0.value)) }
    }

    /// Reads an object written by `bytes` (stored by this program): top-level members found by one pass over the
    /// bytes, nested values left as they are. Anything that is not such an object reads as empty.
    public init(trusted bytes: [UInt8]) {
        members = Self.topLevelMembers(bytes) ?? []
    }

    public subscript(key: String) -> RawJSON? {
        get { members.first { $0.key == key }?.value }
        set {
            if let i = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    /// A member that is a JSON string, decoded.
    public func string(_ key: String) -> String? { self[key]?.stringValue }

    /// About how many bytes `bytes` has (exact for keys without escapes).
    public var byteCount: Int { members.reduce(2) { $0 + $1.key.utf8.count + $1.value.bytes.count + 4 } }

    /// `{"key":value,…}` in member order.
    public var bytes: [UInt8] {
        var w = JSONWriter(capacity: byteCount)
        w.beginObject()
        for (key, value) in members { w.field(key, value) }
        w.endObject()
        return w.bytes
    }

    public var rawJSON: RawJSON { RawJSON(trusted: bytes) }

    /// The whole document as a value.
    public var value: JSONValue { .object(members.map { ($0.key, $0.value.parsed()) }) }

    /// One pass over bytes this program wrote (valid JSON), over an unsafe buffer: every stored record's spec and
    /// status are read through it (a list reads one per item).
    private static func topLevelMembers(_ bytes: [UInt8]) -> [(key: String, value: RawJSON)]? {
        bytes.withUnsafeBufferPointer { b -> [(key: String, value: RawJSON)]? in
            let n = b.count
            var i = 0
            @inline(__always) func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
            func skipSpace() { while i < n, isSpace(b[i]) { i += 1 } }
            /// Past a string starting at `i` (its opening quote); whether it held an escape, nil if unterminated.
            /// Most stored bytes are inside strings: `memchr` finds each closing-quote candidate (vectorised in the C
            /// library) instead of a byte-at-a-time loop; a quote after an odd run of backslashes is escaped.
            func skipString() -> Bool? {
                guard let base = b.baseAddress else { return nil }
                let start = i + 1
                var from = start
                while from < n {
                    guard let found = memchr(base + from, 0x22, n - from) else { return nil }
                    let quote = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
                    var slashes = 0
                    while quote - slashes - 1 >= start, b[quote - slashes - 1] == UInt8(ascii: "\\") { slashes += 1 }
                    from = quote + 1
                    if slashes % 2 == 0 {
                        i = from
                        return memchr(base + start, 0x5C, quote - start) != nil
                    }
                }
                return nil
            }
            /// Past one value starting at `i`.
            func skipValue() -> Bool {
                guard i < n else { return false }
                switch b[i] {
                case UInt8(ascii: "\""): return skipString() != nil
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    var depth = 0
                    while i < n {
                        switch b[i] {
                        case UInt8(ascii: "\""):
                            if skipString() == nil { return false }
                            continue
                        case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                        case UInt8(ascii: "}"), UInt8(ascii: "]"):
                            depth -= 1
                            if depth == 0 {
                                i += 1
                                return true
                            }
                        default: break
                        }
                        i += 1
                    }
                    return false
                default:
                    while i < n {
                        let c = b[i]
                        if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || isSpace(c) { break }
                        i += 1
                    }
                    return true
                }
            }
            skipSpace()
            guard i < n, b[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            var out: [(key: String, value: RawJSON)] = []
            while true {
                skipSpace()
                guard i < n else { return nil }
                if b[i] == UInt8(ascii: "}") { return out }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                let keyStart = i
                guard b[i] == UInt8(ascii: "\""), let escaped = skipString() else { return nil }
                // Keys this program writes rarely hold escapes: most are the bytes between the quotes.
                let key: String
                if escaped {
                    guard let decoded = RawJSON(trusted: Array(b[keyStart..<i])).stringValue else { return nil }
                    key = decoded
                } else {
                    key = String(decoding: UnsafeBufferPointer(rebasing: b[(keyStart + 1)..<(i - 1)]), as: UTF8.self)
                }
                skipSpace()
                guard i < n, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                skipSpace()
                let valueStart = i
                guard skipValue() else { return nil }
                out.append((key, RawJSON(trusted: Array(UnsafeBufferPointer(rebasing: b[valueStart..<i])))))
            }
        }
    }
}

extension RawJSON {
    /// The string this JSON is, decoded; nil when it is not a string.
    public var stringValue: String? {
        guard bytes.first == UInt8(ascii: "\"") else { return nil }
        // Most stored strings have no escapes: the bytes between the quotes are the string.
        if !bytes.contains(UInt8(ascii: "\\")), bytes.count >= 2 { return String(decoding: bytes[1..<(bytes.count - 1)], as: UTF8.self) }
        return parsed().stringValue
    }

    /// A JSON string.
    public static func string(_ s: String) -> RawJSON {
        var w = JSONWriter(capacity: s.utf8.count + 2)
        w.string(s)
        return RawJSON(trusted: w.bytes)
    }

    public var isNull: Bool { bytes == RawJSON.null.bytes }
}
