import AddonMockCore
import Logging
import Testing

@testable import AddonMock
@testable import AddonMockKit
@testable import CCEAddons
@testable import ModelArtsPlugins

/// Log lines stay one line each and split on spaces, whatever a request carried.
@Suite struct LogLinesTests {
    let t = Instant(milliseconds: 1_795_341_600_042)

    @Test func textLinesEscapeAndQuote() {
        let lines = LogLines(format: .text, level: .info)
        let long = String(repeating: "x", count: 200) + "\nforged line"
        let line = lines.render(time: t, level: .warning, message: long, fields: ["reason": "two words", "path": "/a\"b\\c"])
        #expect(line.hasPrefix("2026-11-22T10:00:00.042Z warning addonmock: " + String(repeating: "x", count: 200) + "\\u000aforged line "))
        #expect(line.hasSuffix(#" path="/a\"b\\c" reason="two words""# + "\n"))
        #expect(line.filter { $0 == "\n" }.count == 1, "nothing is cut and no newline gets through")
    }

    @Test func jsonLinesAreObjects() throws {
        let line = LogLines(format: .json, level: .info).render(time: t, level: .info, message: "a\nb", fields: ["k": "v"])
        let object = try JSONParser.parse(Array(line.dropLast().utf8))
        #expect(
            object
                == .object(
                    [("time", "2026-11-22T10:00:00.042Z"), ("level", "info"), ("label", "addonmock"), ("message", "a\nb"), ("k", "v")].map {
                        ($0.0, JSONValue.string($0.1))
                    }))
    }

    @Test func accessLinesCarryTheirFields() throws {
        let entry = AccessLog.Line(
            method: "GET", path: "/api/v3/addons/x", query: "cluster_id=c1", status: 404, durationMs: 0.4567,
            requestID: "r1", service: "cce", fault: nil, errorCode: "CCE.03404001")
        let text = String(decoding: AccessLog(format: .text).text(entry, t, "info"), as: UTF8.self)
        #expect(
            text
                == "2026-11-22T10:00:00.042Z info addonmock: GET /api/v3/addons/x?cluster_id=c1 404 0.46ms error_code=CCE.03404001 request_id=r1 service=cce\n"
        )
        let json = try JSONParser.parse(Array(AccessLog(format: .json).json(entry, t, "info").dropLast()))
        #expect(json["duration_ms"] == .number("0.457"))
        #expect(json["status"] == .number("404"))
        #expect(json["query"] == .string("cluster_id=c1"))
        #expect(json["fault"] == nil)
        let dropped = AccessLog.Line(
            method: "POST", path: "/x", query: "", status: 0, durationMs: 1, requestID: "r2", service: nil, fault: "fault-1", errorCode: nil)
        #expect(AccessLog.message(dropped) == "POST /x dropped 1.00ms")
    }
}
