/// The character set of every identifier the emulated APIs take — cluster, instance, project and pool ids,
/// template and plug-in names — wherever it arrives (path, query, header, host, body).
///
/// Huawei's ids are UUIDs or 32 hex digits, names are letters, digits and `-_.` (the CCE template filter: 2–30 of
/// `[A-Za-z0-9._-]`); this accepts that union at 1–64 characters, so test ids like `c1` keep working while a NUL,
/// a control character, a space, a slash or non-ASCII is refused with a 400 naming the field: such a string can
/// never reach the store, alias another id or end up in a log line.
public enum IdentifierRule {
    public static let maxLength = 64
    public static let description = "1 to \(maxLength) characters from A-Z a-z 0-9 - _ ."

    /// Checked on every path parameter of every request: a byte loop over the string's own storage with the
    /// allowed bytes as two bit masks (the generic `allSatisfy` over `utf8` measured ~2 % of a GET's CPU).
    public static func isValid(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            guard (1...maxLength).contains(bytes.count) else { return false }
            for b in bytes {
                let allowed = b < 64 ? (belowSixtyFour >> UInt64(b)) & 1 : b < 128 ? (fromSixtyFour >> UInt64(b - 64)) & 1 : 0
                if allowed == 0 { return false }
            }
            return true
        }
    }

    /// Bit n set: byte n (or 64 + n) is allowed. `-` `.` `0`-`9`; `A`-`Z` `_` `a`-`z`.
    private static let belowSixtyFour: UInt64 = (1 << 0x2D) | (1 << 0x2E) | (0x3FF << 0x30)
    private static let fromSixtyFour: UInt64 = (0x3FF_FFFF << 1) | (1 << (0x5F - 64)) | (0x3FF_FFFF << (0x61 - 64))

    /// `value`, or a 400 saying which field is wrong and what an identifier may hold.
    @discardableResult
    public static func check(_ value: String, field: String) throws(APIError) -> String {
        guard isValid(value) else {
            throw APIError(.badRequest, "\(field) \(quoted(value)) is not a valid identifier: use \(description)")
        }
        return value
    }

    /// The value as a reader can see it: control characters escaped, long values cut.
    public static func quoted(_ value: String) -> String {
        "\"" + escaped(value.unicodeScalars.prefix(80), quotes: true) + (value.unicodeScalars.count > 80 ? "…\"" : "\"")
    }

    /// Control characters as `\u00XX` (so one value stays on one line) and, with `quotes`, `"` and `\` escaped too.
    public static func escaped(_ scalars: some Sequence<Unicode.Scalar>, quotes: Bool) -> String {
        var out = ""
        for scalar in scalars {
            switch scalar.value {
            case 0x22 where quotes: out += "\\\""
            case 0x5C where quotes: out += "\\\\"
            case 0..<0x20, 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
