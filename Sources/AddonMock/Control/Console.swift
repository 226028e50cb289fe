import AddonMockCore
import AddonMockHTTP
import AddonMockKit

/// `GET /_mock/ui`: the live console, one page compiled into the binary (no CDN, no build step). It lists every
/// resource kind's records grouped by scope, follows `/_mock/events`, and acts through the control plane (advance,
/// force, clock, fault rules) and the services' own delete routes. What it knows of the kinds (names, scope
/// fields, shown fields, settled and healthy states, delete routes) is written into the page from the registry, so a new service
/// shows up with no change here.
extension ControlService {
    /// The console, and the two short addresses that lead to it.
    var consoleRoutes: [ServiceRoute] {
        [
            ServiceRoute("GET", Self.consolePattern) { _ in consolePage() },
            ServiceRoute("GET", "/_mock/") { _ in Self.redirect(to: "/_mock/ui") },
            ServiceRoute("GET", "/") { _ in Self.redirect(to: "/_mock/ui") },
        ]
    }

    func consolePage() -> HTTPResponse {
        var w = JSONWriter(capacity: 1024)
        w.beginArray()
        for kind in registry.kinds {
            w.beginObject()
            w.field("name", kind.name)
            w.field("title", kind.title)
            w.key("services"); w.beginArray(); for s in kind.services { w.string(s) }; w.endArray()
            w.key("scopeFields"); w.beginArray(); for f in kind.scopeFields { w.string(f) }; w.endArray()
            w.key("shown"); w.beginArray(); for f in kind.shown { w.string(f.name) }; w.endArray()
            w.key("settled"); w.beginArray(); for name in kind.lifecycle.settled.map(kind.status).uniqued { w.string(name) }; w.endArray()
            let healthy = kind.lifecycle.settled.filter(kind.lifecycle.healthy.contains).flatMap { [$0.rawValue, kind.status($0)] }
            w.key("healthy"); w.beginArray(); for name in healthy.uniqued { w.string(name) }; w.endArray()
            w.key("deletePaths"); w.beginObject(); for (s, path) in kind.deletePaths.sorted(by: { $0.key < $1.key }) { w.field(s, path) };
            w.endObject()
            w.key("showPaths"); w.beginObject(); for (s, path) in kind.showPaths.sorted(by: { $0.key < $1.key }) { w.field(s, path) }; w.endObject()
            if let parent = kind.parent { w.field("parent", parent.kind) }
            if let form = kind.createForm {
                w.key("create"); w.beginObject()
                w.field("service", form.service); w.field("path", form.path); w.field("body", form.body)
                // The catalog's templates, newest version first, as the form offers them.
                w.key("templates"); w.beginArray()
                for template in seedKinds.first(where: { $0.kind.name == kind.name })?.catalog.templates ?? [] {
                    w.beginObject(); w.field("name", template.name); w.field("default", template.defaultVersion.version)
                    w.key("versions"); w.beginArray(); for v in template.versions.reversed() { w.string(v.version) }; w.endArray()
                    w.endObject()
                }
                w.endArray()
                w.endObject()
            }
            w.endObject()
        }
        w.endArray()
        var r = HTTPResponse(status: 200)
        r.body = Self.page(kinds: w.bytes)
        r.headers.set("Content-Type", "text/html; charset=utf-8")
        r.headers.set("Cache-Control", "no-store")
        // The page loads nothing from elsewhere and runs only its own inline script.
        r.headers.set(
            "Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
        return r
    }
}

extension ControlService {
    static let kindsMarker = Array("/*KINDS*/[]".utf8)

    /// The page with the kinds written in where its script expects them. A catalog from `--fixtures` may hold any
    /// text, so every `<` (only ever inside a JSON string here) is written `\u003c`: nothing can close the script.
    static func page(kinds: [UInt8]) -> [UInt8] {
        let html = PackageResources.console_html
        guard let at = html.indices.first(where: { html[$0...].starts(with: kindsMarker) }) else { return html }
        var escaped: [UInt8] = []
        escaped.reserveCapacity(kinds.count)
        for byte in kinds { if byte == UInt8(ascii: "<") { escaped += Array(#"\u003c"#.utf8) } else { escaped.append(byte) } }
        return Array(html[..<at]) + escaped + Array(html[(at + kindsMarker.count)...])
    }

    static func redirect(to location: String) -> HTTPResponse {
        var r = HTTPResponse(status: 302)
        r.headers.set("Location", location)
        r.headers.set("Content-Type", "text/plain; charset=utf-8")
        r.body = Array("see \(location)\n".utf8)
        return r
    }
}
