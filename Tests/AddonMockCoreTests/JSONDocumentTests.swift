import Testing

@testable import AddonMockCore

/// A document kept as raw top-level members: what a resource's spec and status are.
@Suite struct JSONDocumentTests {
    func document(_ text: String) -> JSONDocument { JSONDocument(trusted: Array(text.utf8)) }

    @Test func readsTopLevelMembersWithNestedValuesWhole() {
        let d = document(#" { "version" : "1.2.3", "values": {"a": [1, {"b": "}]\"x"}], "c": null}, "n": -1.5e3 ,"t": true} "#)
        #expect(d.members.map(\.key) == ["version", "values", "n", "t"])
        #expect(d.string("version") == "1.2.3")
        #expect(d["values"]?.parsed()["a"]?.stringValue == nil && d["values"]?.parsed()["c"] == .null)
        #expect(d["n"] == RawJSON(trusted: Array("-1.5e3".utf8)))
        #expect(d["t"] == RawJSON(trusted: Array("true".utf8)))
    }

    @Test func keysWithEscapesAreDecoded() {
        let d = document(#"{"a\"b": 1, "tab\tkey": "v", "plain": "s\\"}"#)
        #expect(d.members.map(\.key) == ["a\"b", "tab\tkey", "plain"])
        #expect(d.string("plain") == "s\\")
    }

    @Test func aQuoteEndsAStringOnlyAfterAnEvenRunOfBackslashes() {
        let d = document(#"{"k\\": "a\\\"b\\", "x": ["\\\\", "\"]\""], "y": 1}"#)
        #expect(d.members.map(\.key) == ["k\\", "x", "y"])
        #expect(d.string("k\\") == "a\\\"b\\")
        #expect(d["x"]?.parsed() == .array([.string("\\\\"), .string("\"]\"")]))
        #expect(d["y"] == RawJSON(trusted: Array("1".utf8)))
    }

    @Test func writesBackWhatItRead() {
        let text = #"{"version":"1.28.4","values":{"basic":{"x":1}},"previous":{"version":"1.25.1","values":{}}}"#
        #expect(document(text).bytes == Array(text.utf8))
        var d = document(text)
        d["previous"] = nil
        d["annotations"] = RawJSON(trusted: Array(#"{"k":"v"}"#.utf8))
        #expect(String(decoding: d.bytes, as: UTF8.self) == #"{"version":"1.28.4","values":{"basic":{"x":1}},"annotations":{"k":"v"}}"#)
    }

    @Test func anythingButAnObjectIsEmpty() {
        for text in ["", "[]", "\"s\"", "{\"unterminated", "{\"k\" 1}"] { #expect(document(text).members.isEmpty, "\(text)") }
    }
}
