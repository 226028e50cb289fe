import Testing

@testable import AddonMockCore

@Suite struct JSONParserTests {
    private func parse(_ s: String, maxDepth: Int = JSONParser.defaultMaxDepth) throws -> JSONValue {
        try JSONParser.parse(Array(s.utf8), maxDepth: maxDepth)
    }

    private func syntaxError(_ bytes: [UInt8]) -> JSONSyntaxError? {
        do { _ = try JSONParser.parse(bytes); return nil } catch { return error }
    }

    @Test func keepsKeyOrderAndNumberLiterals() throws {
        let v = try parse(#"{"z":1.10,"a":[true,false,null],"m":{"k":-0.5e+3},"big":123456789012345678901234567890}"#)
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["z", "a", "m", "big"])
        #expect(v["z"] == .number("1.10"))
        #expect(v["big"] == .number("123456789012345678901234567890"))
        #expect(v["m"]?["k"] == .number("-0.5e+3"))
        #expect(RawJSON(v).text == #"{"z":1.10,"a":[true,false,null],"m":{"k":-0.5e+3},"big":123456789012345678901234567890}"#)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let v = try parse(#"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u4e2d\ud83d\ude00", "ünï"]"#)
        #expect(v == .array([.string("a\"b\\c/d\u{8}\u{c}\n\r\t"), .string("é中😀"), .string("ünï")]))
    }

    @Test(arguments: [
        ("", "unexpected end of input"),
        ("{", "expected a string key"),
        (#"{"a":1,}"#, "expected a string key"),
        ("[1,]", "unexpected character ']'"),
        (#"{"a" 1}"#, "expected ':' after key"),
        (#"{"a":1,"a":2}"#, "duplicate key \"a\""),
        ("01", "unexpected data after the JSON value"),
        ("1.", "expected a digit after '.'"),
        ("-", "expected a digit"),
        ("1e", "expected a digit in the exponent"),
        ("tru", "unexpected end of input"),
        ("nul1", "invalid literal"),
        (#""abc"#, "unterminated string"),
        ("\"a\u{01}b\"", "control character in string (must be escaped)"),
        (#""\x""#, "invalid escape '\\x'"),
        (#""\ud800""#, "lone surrogate in \\u escape"),
        (#""\udc00""#, "lone surrogate in \\u escape"),
        (#""\u12G4""#, "invalid hex digit in \\u escape"),
        ("{} {}", "unexpected data after the JSON value"),
    ])
    func rejectsMalformedInput(text: String, reason: String) {
        #expect(syntaxError(Array(text.utf8))?.reason == reason)
    }

    /// Small objects find duplicates by scanning their keys, larger ones by a set built at the switch: a duplicate
    /// of any earlier key is found on either side of it, with the offset of the repeated key.
    @Test func findsADuplicateKeyAtEverySizeAroundTheSwitchToHashing() {
        for count in 1...(JSONParser.scannedKeys * 2 + 2) {
            let keys = (0..<count).map { "k\($0)" }
            let object = "{" + keys.map { "\"\($0)\":0" }.joined(separator: ",")
            #expect((try? JSONParser.parse(Array((object + "}").utf8))) != nil, "\(count) distinct keys")
            for repeated in [0, count / 2, count - 1] {
                let text = object + ",\"\(keys[repeated])\":1}"
                let e = syntaxError(Array(text.utf8))
                #expect(e?.reason == "duplicate key \"\(keys[repeated])\"", "\(count) keys, repeating #\(repeated)")
                #expect(e?.offset == object.utf8.count + 1, "the repeated key's offset")
            }
        }
    }

    @Test func rejectsInvalidUTF8() {
        for bad: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82]] {
            let e = syntaxError(bad)
            #expect(e?.reason.hasPrefix("invalid UTF-8") == true, "bytes \(bad)")
        }
    }

    @Test func reportsTheByteOffset() {
        #expect(syntaxError(Array(#"{"a": tru}"#.utf8)) == JSONSyntaxError(offset: 6, reason: "invalid literal"))
        #expect(syntaxError(Array(#"{"a":1,"a":2}"#.utf8))?.offset == 7)
    }

    @Test func boundsNesting() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parse(ok) }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(syntaxError(Array(deep.utf8))?.reason == "nesting deeper than 64 levels")
        // Far deeper than any stack could recurse: still a clean error.
        let hostile = String(repeating: "{\"a\":", count: 100_000)
        #expect(syntaxError(Array(hostile.utf8))?.reason == "nesting deeper than 64 levels")
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesStrings() {
        var w = JSONWriter()
        w.beginObject()
        w.field("q\"k", "line\nbreak\t\u{1}\\ é")
        w.endObject()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"q\"k":"line\nbreak\t\u0001\\ é"}"#)
    }

    @Test func copiesStringsThatNeedNoEscapingAsTheyAre() {
        var w = JSONWriter()
        w.beginArray()
        for s in ["", "a", "short", String(repeating: "long-ascii-", count: 20), "café ☕ 🚀", "tail\\"] { w.string(s) }
        w.endArray()
        #expect(
            String(decoding: w.bytes, as: UTF8.self)
                == #"["","a","short","\#(String(repeating: "long-ascii-", count: 20))","café ☕ 🚀","tail\\"]"#)
    }

    /// The writer checks eight bytes at a time: every byte that needs escaping, and the bytes on either side of
    /// the ones that do not (0x1F/0x20, 0x21/0x23, 0x5B/0x5D, 0x7F, a multi-byte character), at every offset of
    /// strings of 0 to 24 bytes, written as a byte-at-a-time escaper would.
    @Test func escapesEveryByteThatNeedsItAtEveryOffset() throws {
        func escapedOneByOne(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let probes = (0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) } + ["\"", "\\", " ", "!", "#", "[", "]", "\u{7F}", "é", "☕"]
        for length in 0...24 {
            for offset in 0..<max(length, 1) {
                for probe in probes {
                    var s = String(repeating: "a", count: length)
                    if length > 0 { s = String(s.prefix(offset)) + String(probe) + String(s.dropFirst(offset + 1)) }
                    var w = JSONWriter()
                    w.string(s)
                    let written = String(decoding: w.bytes, as: UTF8.self)
                    #expect(written == escapedOneByOne(s), "\(length) bytes, \(probe.unicodeScalars.first!.value) at \(offset)")
                    #expect(try JSONParser.parse(w.bytes) == .string(s))
                }
            }
        }
    }

    @Test func parsesStringsWhoseASCIIPrefixIsFollowedByEscapesOrUnicode() throws {
        #expect(
            try JSONParser.parse(Array(#"["plain","abc\ndef","abcé","abc\u00e9x","x\"y"]"#.utf8))
                == .array([.string("plain"), .string("abc\ndef"), .string("abcé"), .string("abcéx"), .string("x\"y")]))
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array("[\"abc\u{01}\"]".utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(#"["abc"#.utf8)) }
    }

    @Test func writesWhatTheParserReadsBack() throws {
        let v: JSONValue = .object([("a", .array([.number("1"), .null, .bool(false)])), ("b", .object([])), ("c", .string("x\u{7F}"))])
        #expect(try JSONParser.parse(RawJSON(v).bytes) == v)
    }

    @Test func separatesValuesAndSplicesRaw() {
        var w = JSONWriter()
        w.beginArray()
        w.raw(RawJSON(trusted: Array(#"{"x":1}"#.utf8)))
        w.number(2)
        w.optionalString(nil)
        w.beginArray(); w.endArray()
        w.endArray()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"[{"x":1},2,null,[]]"#)
    }
}

@Suite struct JSONMergeTests {
    @Test func overlayWinsObjectsMergeArraysReplace() throws {
        let base = try JSONParser.parse(Array(#"{"basic":{"a":1,"b":2},"list":[1,2],"keep":"x"}"#.utf8))
        let top = try JSONParser.parse(Array(#"{"basic":{"b":3,"c":4},"list":[9],"new":true}"#.utf8))
        #expect(RawJSON(base.merging(top)).text == #"{"basic":{"a":1,"b":3,"c":4},"list":[9],"keep":"x","new":true}"#)
    }

    @Test func nonObjectOverlayReplaces() {
        #expect(JSONValue.object([("a", .null)]).merging(.string("s")) == .string("s"))
    }
}

/// Merging is linear: 80,000 keys on each side (the size a 1 MiB body allows) are matched by hash, not by a
/// search of the other side per key (which cost 12 s of CPU, inside the database write).
@Suite struct LargeMergeTests {
    static let keys = 80_000

    static func object(_ prefix: String, from: Int, count: Int, value: (Int) -> JSONValue) -> JSONValue {
        .object((from..<(from + count)).map { ("\(prefix)\($0)", value($0)) })
    }

    @Test func mergingEightyThousandKeysKeepsOrderAndOverlays() {
        let base = Self.object("k", from: 0, count: Self.keys) { .number("\($0)") }
        let top = Self.object("k", from: Self.keys / 2, count: Self.keys) { .string("v\($0)") }
        guard case .object(let merged) = base.merging(top) else { Issue.record("not an object"); return }
        #expect(merged.count == Self.keys + Self.keys / 2)
        #expect(merged.first?.key == "k0" && merged.first?.value == .number("0"))
        #expect(merged[Self.keys / 2].value == .string("v\(Self.keys / 2)"), "overlaid in place")
        #expect(merged.last?.key == "k\(Self.keys + Self.keys / 2 - 1)", "new keys appended in the overlay's order")
    }

    @Test func aMergePatchOfEightyThousandKeysRemovesReplacesAndAdds() {
        let document = Self.object("k", from: 0, count: Self.keys) { .number("\($0)") }
        // Every even key removed, every odd key replaced, and as many new keys added.
        let patch = JSONValue.object(
            (0..<Self.keys).map { i in ("k\(i)", i % 2 == 0 ? JSONValue.null : .string("odd")) }
                + (0..<Self.keys).map { i in ("n\(i)", JSONValue.bool(true)) })
        guard case .object(let patched) = document.applyingMergePatch(patch) else { Issue.record("not an object"); return }
        #expect(patched.count == Self.keys / 2 + Self.keys)
        #expect(patched.first?.key == "k1" && patched.first?.value == .string("odd"))
        #expect(patched[Self.keys / 2].key == "n0")
        #expect(!patched.contains { $0.key == "k0" })
    }
}

@Suite struct JSONMergePatchTests {
    func json(_ s: String) throws -> JSONValue { try JSONParser.parse(Array(s.utf8)) }

    /// The examples of RFC 7386, appendix A.
    @Test(arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, "null", "null"),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func rfc7386Examples(target: String, patch: String, result: String) throws {
        #expect(RawJSON(try json(target).applyingMergePatch(try json(patch))).text == result)
    }
}
