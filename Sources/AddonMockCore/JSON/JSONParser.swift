/// Why a body is not acceptable JSON, with the byte offset, so the 400 a client gets names the problem.
public struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "malformed JSON at byte \(offset): \(reason)" }
}

/// Strict RFC 8259 parser over bytes: rejects invalid UTF-8, lone surrogates, duplicate keys, trailing data
/// and nesting deeper than `maxDepth` (a stack-safety bound for hostile input).
public struct JSONParser {
    public static let defaultMaxDepth = 64
    /// Up to this many keys an object's duplicate check scans them instead of hashing.
    static let scannedKeys = 16

    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth) throws(JSONSyntaxError) -> JSONValue {
        let buffer = Array(bytes)
        var parser = JSONParser(bytes: buffer, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == buffer.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    /// A member of a top-level object parsed by `parseLocatingArrays`.
    public enum LocatedMember: Sendable {
        /// An array: each element's byte range in the document (each element was checked as it was passed over).
        case array([Range<Int>])
        /// Anything else, parsed whole.
        case value(JSONValue)
    }

    /// Parses a document that must be an object whose arrays may be too large to hold as values (a world import of
    /// 200,000 entries): each element of a member array is parsed, checked and let go, and only its byte range is
    /// kept, to be parsed again (`parse(bytes[range])`) when it is needed. Strict as `parse`: duplicate keys, trailing
    /// data and bad syntax anywhere are errors with their offsets in the whole document. Non-objects: nil.
    public static func parseLocatingArrays(
        _ bytes: [UInt8], maxDepth: Int = defaultMaxDepth
    ) throws(JSONSyntaxError) -> [(key: String, value: LocatedMember)]? {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        guard parser.current == UInt8(ascii: "{") else {
            _ = try parse(bytes, maxDepth: maxDepth) // a syntax error is reported as such; a valid non-object is nil
            return nil
        }
        parser.index += 1
        var members: [(key: String, value: LocatedMember)] = []
        var seen = Set<String>()
        parser.skipWhitespace()
        if parser.current == UInt8(ascii: "}") {
            parser.index += 1
        } else {
            members: while true {
                parser.skipWhitespace()
                guard parser.current == UInt8(ascii: "\"") else { throw parser.error("expected a string key") }
                let keyOffset = parser.index
                let key = try parser.parseString()
                guard seen.insert(key).inserted else { throw JSONSyntaxError(offset: keyOffset, reason: "duplicate key \"\(key)\"") }
                parser.skipWhitespace()
                guard parser.current == UInt8(ascii: ":") else { throw parser.error("expected ':' after key") }
                parser.index += 1
                parser.skipWhitespace()
                if parser.current == UInt8(ascii: "[") {
                    members.append((key, .array(try parser.locateElements())))
                } else {
                    members.append((key, .value(try parser.parseValue(depth: 1))))
                }
                parser.skipWhitespace()
                switch parser.current {
                case UInt8(ascii: ","): parser.index += 1
                case UInt8(ascii: "}"): parser.index += 1; break members
                case nil: throw parser.error("unexpected end of input")
                default: throw parser.error("expected ',' or '}'")
                }
            }
        }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return members
    }

    /// At a member array's `[` (depth 2): the byte ranges of its elements.
    private mutating func locateElements() throws(JSONSyntaxError) -> [Range<Int>] {
        index += 1
        var ranges: [Range<Int>] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return ranges }
        while true {
            skipWhitespace()
            let start = index
            _ = try parseValue(depth: 2)
            ranges.append(start..<index)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return ranges
            case nil: throw error("unexpected end of input")
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private let bytes: [UInt8]
    private let maxDepth: Int
    private var index = 0

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 }
    }

    private mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let matches = literal.withUTF8Buffer { lit in (0..<count).allSatisfy { bytes[index + $0] == lit[$0] } }
        guard matches else { throw error("invalid literal") }
        index += count
        return value
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard let b = current else { throw error("unexpected end of input") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character '\(printable(b))'")
        }
    }

    private func printable(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "\\u{\(String(b, radix: 16))}"
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        // Duplicate keys: a scan of the keys so far while the object is small (most bodies: no hashing at all),
        // a set of them past that, so a hostile object of 80,000 keys stays linear.
        var seen: Set<String>?
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyOffset = index
            let key = try parseString()
            if members.count == Self.scannedKeys { seen = Set(members.lazy.map(\.key)) }
            let duplicate = seen == nil ? members.contains { $0.key == key } : seen?.insert(key).inserted == false
            guard !duplicate else {
                throw JSONSyntaxError(offset: keyOffset, reason: "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            index += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            case nil: throw error("unexpected end of input")
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            case nil: throw error("unexpected end of input")
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, isDigit(first) else { throw error("expected a digit") }
        index += 1
        if first != UInt8(ascii: "0") { while let b = current, isDigit(b) { index += 1 } }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let b = current, isDigit(b) else { throw error("expected a digit after '.'") }
            while let b = current, isDigit(b) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let b = current, isDigit(b) else { throw error("expected a digit in the exponent") }
            while let b = current, isDigit(b) { index += 1 }
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1 // opening quote
        // Most strings are plain ASCII with nothing escaped: find the closing quote and copy once.
        let start = index
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") { index += 1; return String(decoding: bytes[start..<(index - 1)], as: UTF8.self) }
            if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { break }
            index += 1
        }
        var out = Array(bytes[start..<index])
        while true {
            guard let b = current else { throw error("unterminated string") }
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                try parseEscape(into: &out)
            case 0x00..<0x20:
                throw error("control character in string (must be escaped)")
            case 0x00..<0x80:
                out.append(b)
                index += 1
            default:
                try copyUTF8Sequence(into: &out)
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
    private mutating func copyUTF8Sequence(into out: inout [UInt8]) throws(JSONSyntaxError) {
        let lead = bytes[index]
        let length: Int
        var lowerBound: UInt8 = 0x80, upperBound: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upperBound = 0x9F
        case 0xF0: length = 4; lowerBound = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upperBound = 0x8F
        default: throw error("invalid UTF-8")
        }
        guard index + length <= bytes.count else { throw error("invalid UTF-8 (truncated sequence)") }
        let second = bytes[index + 1]
        guard second >= lowerBound && second <= upperBound else { throw error("invalid UTF-8") }
        for k in 2..<max(2, length) where bytes[index + k] & 0xC0 != 0x80 { throw error("invalid UTF-8") }
        out.append(contentsOf: bytes[index..<index + length])
        index += length
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(JSONSyntaxError) {
        guard let e = current else { throw error("unterminated escape") }
        index += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw error("lone surrogate in \\u escape")
                }
                index += 2
                let low = try parseHex4()
                guard low >= 0xDC00 && low <= 0xDFFF else { throw error("invalid surrogate pair") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw error("lone surrogate in \\u escape")
            }
            out.append(contentsOf: Array(String(Character(UnicodeScalar(scalar)!)).utf8))
        default:
            index -= 1
            throw error("invalid escape '\\\(printable(e))'")
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }
}
