import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// Fault rules: `GET/POST/DELETE /_mock/faults`, `GET/DELETE /_mock/faults/{id}`.
extension ControlService {
    var faultRoutes: [ServiceRoute] {
        [
            ServiceRoute("GET", "/_mock/faults") { _ in .json(200, faultsBody(faults.rules)) },
            ServiceRoute("POST", "/_mock/faults") { try addFault($0) },
            ServiceRoute("DELETE", "/_mock/faults") { _ in .json(200, counted("deleted", faults.removeAll())) },
            ServiceRoute("GET", "/_mock/faults/{id}") { try fault($0, remove: false) },
            ServiceRoute("DELETE", "/_mock/faults/{id}") { try fault($0, remove: true) },
        ]
    }

    private func addFault(_ ctx: RequestContext) throws -> HTTPResponse {
        let spec = try FaultSpec.decode(try ctx.body(), registry.faultVocabulary)
        let rule = faults.add(match: spec.match, effect: spec.effect, times: spec.times, probability: spec.probability)
        var w = JSONWriter()
        FaultSpec.write(rule, to: &w)
        return .json(201, w.bytes)
    }

    private func fault(_ ctx: RequestContext, remove: Bool) throws -> HTTPResponse {
        let id = ctx.parameters["id"]
        let found = remove ? faults.remove(id: id) : faults.rules.first { $0.id == id }
        guard let rule = found else { throw APIError(.notFound, "no fault rule \(id)") }
        var w = JSONWriter()
        FaultSpec.write(rule, to: &w)
        return .json(200, w.bytes)
    }

    private func faultsBody(_ rules: [FaultRule]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("faults")
        w.beginArray()
        for r in rules { FaultSpec.write(r, to: &w) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private func counted(_ key: String, _ n: Int) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key(key); w.number(Int64(n))
        w.endObject()
        return w.bytes
    }
}
