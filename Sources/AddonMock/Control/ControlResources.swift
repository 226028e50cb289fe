import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// Every kind's records as the control plane shows them: `GET /_mock/resources/{kind}[/{id}]` and forced states.
extension ControlService {
    var resourceRoutes: [ServiceRoute] {
        [
            ServiceRoute("GET", "/_mock/resources/{kind}") { try listResources($0) },
            ServiceRoute("GET", "/_mock/resources/{kind}/{id}") { try showResource($0) },
            ServiceRoute("POST", "/_mock/resources/{kind}/{id}/status") { try forceStatus($0) },
        ]
    }

    private func resourceKind(_ ctx: RequestContext) throws(APIError) -> ResourceKind {
        let name = ctx.parameters["kind"]
        guard let kind = registry.kind(named: name) else {
            throw APIError(.notFound, "unknown resource kind \"\(name)\": use \(registry.kinds.map(\.name).orList)")
        }
        return kind
    }

    /// Every resource of the kind, oldest first; with `limit` (1 to 10,000) or `after` (an id), a page in id order
    /// (`limit` default 1,000) and `next`, the `after` of the next page (null after the last): a walk through 100,000
    /// holds one page at a time, where the whole list would hold them all.
    private func listResources(_ ctx: RequestContext) throws -> HTTPResponse {
        let kind = try resourceKind(ctx)
        let limitText = ctx.request.queryValue("limit"), after = ctx.request.queryValue("after")
        let paged = limitText != nil || after != nil
        var items: [Resource]
        var next: String?
        if paged {
            var limit = Self.defaultPage
            if let limitText {
                guard let n = Int(limitText), (1...Self.maxPage).contains(n) else {
                    throw APIError(.badRequest, "limit must be a whole number from 1 to \(Self.maxPage), got \"\(limitText)\"")
                }
                limit = n
            }
            if let after, !after.isEmpty { try IdentifierRule.check(after, field: "after") }
            (items, next) = try manager.resourcesPage(services: kind.services, after: after.flatMap { $0.isEmpty ? nil : $0 }, limit: limit)
        } else {
            items = try manager.allResources(services: kind.services)
        }
        var w = JSONWriter(capacity: 256 * items.count + 64)
        w.beginObject()
        w.key("items")
        w.beginArray()
        for i in items { writeResource(i, kind, to: &w) }
        w.endArray()
        if paged {
            w.key("next")
            w.optionalString(next)
        }
        w.endObject()
        return .json(200, w.bytes)
    }

    static let defaultPage = 1_000
    static let maxPage = 10_000

    private func showResource(_ ctx: RequestContext) throws -> HTTPResponse {
        let kind = try resourceKind(ctx)
        guard let i = try manager.resource(id: ctx.parameters["id"]), kind.services.contains(i.service) else { throw resourceNotFound(ctx) }
        return .json(200, resourceBody(i, kind))
    }

    /// `{"status": "abnormal", "reason": "…", "message": "…"}` sets a settled status at once (cancelling any
    /// operation in flight); `{"advance": true}` completes the operation in flight now, with its decided outcome.
    private func forceStatus(_ ctx: RequestContext) throws -> HTTPResponse {
        let kind = try resourceKind(ctx)
        let id = ctx.parameters["id"]
        let body = try ctx.body()
        try body.allowOnly(["status", "reason", "message", "advance"])
        let belongs: (Resource) -> Bool = { kind.services.contains($0.service) }
        let advance = try body.optionalBool("advance") ?? false
        let statusText = try body.optionalString("status")
        if advance {
            guard statusText == nil else { throw APIError(.badRequest, "give status or advance, not both") }
            let next: Resource?
            do {
                next = try manager.advance(id: id, for: ctx.writes, belongs: belongs, notFound: { resourceNotFound(ctx) })
            } catch let settled as ResourceManager.NothingInFlight {
                throw APIError(.conflict, "\(kind.singular) \(settled.description)")
            }
            guard let next else { return .json(200, Array(#"{"id":"\#(id)","deleted":true}"#.utf8)) }
            return .json(200, resourceBody(next, kind))
        }
        guard let statusText else { throw APIError(.badRequest, "status is required (or advance: true)") }
        guard let phase = kind.settledPhase(named: statusText) else {
            throw APIError(.badRequest, "status must be a settled state: \(kind.settledPhaseNames.joined(separator: ", ")); got \"\(statusText)\"")
        }
        let reason = try body.optionalString("reason"), message = try body.optionalString("message")
        let forced = try manager.modify(id: id, for: ctx.writes, belongs: belongs, notFound: { resourceNotFound(ctx) }) { resource, now in
            resource.phase = phase
            resource.pending = nil
            resource.reason = reason ?? (kind.lifecycle.healthy.contains(phase) ? "" : "ForcedByControlAPI")
            resource.message = message ?? ""
            resource.updatedAt = now
        }
        ctx.touched(forced)
        return .json(200, resourceBody(forced, kind))
    }

    private func resourceNotFound(_ ctx: RequestContext) -> APIError {
        APIError(.notFound, "no \(registry.kind(named: ctx.parameters["kind"])?.singular ?? ctx.parameters["kind"]) with id \(ctx.parameters["id"])")
    }

    private func resourceBody(_ i: Resource, _ kind: ResourceKind) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        writeResource(i, kind, to: &w)
        return w.bytes
    }

    /// A record as the control plane shows every kind: id, kind, service, scope fields, name (also under the kind's
    /// name field), the kind's shown fields, status and phase, reason and message, the operation in flight and the
    /// timestamps.
    func writeResource(_ i: Resource, _ kind: ResourceKind, to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", i.id)
        w.field("kind", kind.name)
        w.field("service", i.service)
        let values = kind.scopeValues(of: i.scope)
        for (n, field) in kind.scopeFields.enumerated() { w.field(field, n < values.count ? String(values[n]) : "") }
        w.field("name", i.name)
        if kind.nameField != "name" { w.field(kind.nameField, i.name) }
        for shown in kind.shown { w.field(shown.name, shown.value(i)) }
        w.field("status", kind.status(i.phase))
        w.field("phase", i.phase.rawValue)
        w.field("reason", i.reason)
        w.field("message", i.message)
        w.key("pending")
        if let p = i.pending {
            w.beginObject()
            w.field("operation", p.operation.rawValue)
            w.key("dueAt"); w.optionalString(p.dueAt?.rfc3339)
            switch p.outcome {
            case .succeed: w.field("outcome", "succeed")
            case .fail: w.field("outcome", "fail")
            case .abnormal: w.field("outcome", "abnormal")
            }
            w.endObject()
        } else {
            w.null()
        }
        w.field("createdAt", i.createdAt.rfc3339)
        w.field("updatedAt", i.updatedAt.rfc3339)
        w.endObject()
    }
}
