"""Every response the compatibility suite sees, checked against the server's own OpenAPI document: the status must be
documented for the route and method, and a JSON body must match the documented schema. The suite's traffic goes
through `requests` (the SDKs' HTTP client too), so `requests.Session.send` is where responses are collected."""
import re
import threading

import jsonschema_rs
import requests


def _json_schema(node):
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class ResponseSchemas:
    def __init__(self, document):
        self.components = _json_schema(document.get("components", {}))
        self.routes = []
        for template, operations in document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            # Fixed segments first: /addons/precheck before /addons/{id}.
            self.routes.append((template.count("{"), pattern, template, operations))
        self.routes.sort(key=lambda r: r[0])
        self.validators = {}

    def violations(self, method, path, status, content_type, body):
        route = next((r for r in self.routes if r[1].match(path)), None)
        if route is None:
            return [f"{method} {path}: no documented route"]
        _, _, template, operations = route
        operation = operations.get(method.lower())
        if operation is None:
            return [] if status == 405 else [f"{method} {template}: method not documented (answered {status})"]
        responses = operation.get("responses", {})
        documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if documented is None:
            return [f"{method} {template}: status {status} not documented (documented: {', '.join(sorted(responses))})"]
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if not content_type.startswith("application/json"):
            return [] if schema is None else [f"{method} {template} {status}: documented as JSON, sent {content_type!r}"]
        if schema is None:
            return [f"{method} {template} {status}: JSON body but no documented schema"]
        key = (method, template, str(status))
        if key not in self.validators:
            self.validators[key] = jsonschema_rs.validator_for({**_json_schema(schema), "components": self.components})
        try:
            instance = requests.models.complexjson.loads(body)
        except ValueError:
            return [f"{method} {template} {status}: body is not JSON"]
        return [f"{method} {template} {status}: {e.message} at /{'/'.join(map(str, e.instance_path))}"
                for e in self.validators[key].iter_errors(instance)][:5]


class ResponseRecorder:
    """Collects responses from the given servers while installed; `take()` returns and clears what was seen."""

    def __init__(self):
        self.servers = {}
        self.seen = []
        self.lock = threading.Lock()
        self.original = requests.Session.send

    def watch(self, base_url):
        if base_url not in self.servers:
            self.servers[base_url] = ResponseSchemas(requests.get(base_url + "/_mock/openapi.json", timeout=10).json())

    def install(self):
        recorder, original = self, self.original

        def send(session, request, **kwargs):
            response = original(session, request, **kwargs)
            base = next((b for b in recorder.servers if request.url.startswith(b + "/")), None)
            if base is not None:
                path = request.url[len(base):].split("?", 1)[0]
                with recorder.lock:
                    recorder.seen.append((base, request.method, path, response.status_code,
                                          response.headers.get("Content-Type", ""), response.content))
            return response

        requests.Session.send = send

    def uninstall(self):
        requests.Session.send = self.original

    def take(self):
        with self.lock:
            seen, self.seen = self.seen, []
        return seen

    def violations(self):
        problems, checked = [], 0
        for base, method, path, status, content_type, body in self.take():
            checked += 1
            problems += self.servers[base].violations(method, path, status, content_type, body)
        return checked, problems
