import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// The virtual clock: `GET/POST /_mock/clock`.
extension ControlService {
    var clockRoutes: [ServiceRoute] {
        [
            ServiceRoute("GET", "/_mock/clock") { _ in .json(200, clockBody()) },
            ServiceRoute("POST", "/_mock/clock") { try setClock($0) },
        ]
    }

    /// Tells the event stream where the clock now stands.
    func clockChanged() { events.publish(.clock(now: clock.now(), pinned: clock.isPinned)) }

    private func clockBody() -> [UInt8] {
        let now = clock.now()
        var w = JSONWriter()
        w.beginObject()
        w.field("now", now.rfc3339)
        w.key("nowMs"); w.number(now.milliseconds)
        w.field("pinned", clock.isPinned)
        w.key("offsetMs"); w.number(clock.offsetMilliseconds)
        w.endObject()
        return w.bytes
    }

    /// `{"advanceSeconds": n}` or `{"advanceMs": n}`, `{"pin": true | "RFC 3339"}`, `{"unpin": true}`.
    /// Pinning or unpinning happens first, then the advance. Time never goes backwards.
    private func setClock(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try ctx.body()
        try body.allowOnly(["advanceSeconds", "advanceMs", "pin", "unpin"])
        let seconds = try body.optionalNumber("advanceSeconds"), ms = try body.optionalNumber("advanceMs")
        if seconds != nil && ms != nil { throw APIError(.badRequest, "give advanceSeconds or advanceMs, not both") }
        let advance = seconds.map { $0 * 1000 } ?? ms
        if let advance, !(0...(10 * 365 * 86_400_000.0)).contains(advance) {
            throw APIError(.badRequest, "the clock only moves forward, by at most ten years at a time")
        }
        let unpin = try body.optionalBool("unpin") ?? false
        let pin = body.optional("pin")
        guard advance != nil || unpin || pin != nil else {
            throw APIError(.badRequest, "nothing to do: give advanceSeconds, advanceMs, pin or unpin")
        }
        if pin != nil && unpin { throw APIError(.badRequest, "give pin or unpin, not both") }
        // RFC 3339 has four-digit years: every time the server writes must stay one, clock and exports included.
        let last = Instant(milliseconds: Instant.latest.milliseconds - 999)
        if let advance, clock.now().milliseconds + Int64(advance.rounded()) > last.milliseconds {
            throw APIError(
                .badRequest,
                "the clock cannot move past \(last.rfc3339) (RFC 3339 years have four digits); it is \(clock.now().rfc3339) now")
        }
        switch pin {
        case nil, .bool(false)?: break
        case .bool(true)?: clock.pin()
        case .string(let text)?:
            guard let at = Instant(rfc3339: text) else { throw APIError(.badRequest, "pin must be true or an RFC 3339 time, got \"\(text)\"") }
            guard at <= last else { throw APIError(.badRequest, "the clock cannot be pinned past \(last.rfc3339), got \"\(text)\"") }
            guard at >= clock.now() else {
                throw APIError(
                    .badRequest, "cannot pin the clock at \(text): it is before now (\(clock.now().rfc3339)) and time never goes backwards")
            }
            clock.pin(at: at)
        case let other?: throw APIError(.badRequest, "pin must be true or an RFC 3339 time, got \(other.typeName)")
        }
        if unpin { clock.unpin() }
        if let advance { clock.advance(milliseconds: Int64(advance.rounded())) }
        // What fell due is written before the answer (the sweeper would, a moment later): a script that moves the
        // clock then reads finds a deleted cluster's node pools and add-ons gone too.
        _ = try manager.sweep()
        clockChanged()
        return .json(200, clockBody())
    }
}
