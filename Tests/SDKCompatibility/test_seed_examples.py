"""The request examples of the API pages this product was created from (../shared/seeds), sent verbatim, each
answered 200 with the structure of the page's example response: every field the example shows is there, with a
JSON value of the same kind (template-specific values and inputs aside; null matches anything)."""
import json
import pathlib
import re

import pytest
import requests

SEEDS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "seeds"
PROJECT = "0123456789abcdef0123456789abcdef"
REQUEST_MARKERS = ("请求示例", "Example Requests", "Example request")
RESPONSE_MARKERS = ("响应示例", "Example Responses", "Example response")
# Template-specific contents: their shape depends on the template, not on the API.
OPAQUE = {"values", "input", "inputs", "translate", "annotations", "labels"}


def first_json_after(text, markers):
    at = min((i for i in (text.find(m) for m in markers) if i >= 0), default=-1)
    if at < 0:
        return None
    start = re.compile(r'\{\s*["}]').search(text, at).start()   # an object, not a {placeholder} in a URL
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            escaped, in_string = (not escaped and c == "\\"), (in_string if escaped or c != '"' else False)
            continue
        if c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return json.loads(text[start:i + 1])
    raise ValueError("unterminated example")


def seeds():
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text()
        route = re.search(r"^(POST|PUT|GET|PATCH|DELETE) (/\S+)", text, re.M)
        out.append(pytest.param(route.group(1), route.group(2), first_json_after(text, REQUEST_MARKERS),
                                first_json_after(text, RESPONSE_MARKERS), id=path.stem))
    return out


def missing(documented, ours, path=""):
    """Where `ours` lacks a field `documented` shows, or holds another kind of value there."""
    if documented is None or path.rsplit(".", 1)[-1] in OPAQUE:
        return []
    if isinstance(documented, dict):
        if not isinstance(ours, dict):
            return [f"{path or '.'}: object expected, got {type(ours).__name__}"]
        return [m for k, v in documented.items() for m in (missing(v, ours[k], f"{path}.{k}") if k in ours else [f"{path}.{k}: missing"])]
    if isinstance(documented, list):
        if not isinstance(ours, list):
            return [f"{path}: array expected, got {type(ours).__name__}"]
        return missing(documented[0], ours[0], f"{path}[0]") if documented and ours else []
    same = isinstance(ours, bool) == isinstance(documented, bool) and (
        isinstance(ours, type(documented)) or (isinstance(ours, (int, float)) and isinstance(documented, (int, float))))
    return [] if ours is None or same else [f"{path}: {type(documented).__name__} expected, got {type(ours).__name__}"]


@pytest.mark.parametrize("method,route,example,documented", seeds())
def test_seed_example_is_served_as_documented(start, method, route, example, documented):
    server = start("--profile", "instant")
    server.reset()
    headers = {"Content-Type": "application/json"}
    if route.startswith("/api/v3/addons") and method != "POST" or route.startswith("/api/v3/addons/{id}"):
        # The page works on an existing add-on: install its template (an older version when the example upgrades).
        cluster = (example or {}).get("spec", {}).get("clusterID", "c-example")
        template = (example or {}).get("spec", {}).get("addonTemplateName", "coredns")
        versions = [v["version"] for v in requests.get(f"{server.url}/api/v3/addontemplates?addon_template_name={template}",
                                                      timeout=10).json()["items"][0]["spec"]["versions"]]
        body = {"kind": "Addon", "apiVersion": "v3", "spec": {"clusterID": cluster, "addonTemplateName": template,
                                                              "version": versions[0], "values": {}}}
        installed = requests.post(f"{server.url}/api/v3/addons", json=body, timeout=10).json()
        path = route.replace("{id}", installed["metadata"]["uid"]).replace("{cluster_id}", cluster)
    else:
        path = route.replace("{project_id}", PROJECT).replace("{pool_name}", "pool-example")
    body = json.dumps(example) if example and method != "GET" else None
    r = requests.request(method, server.url + path, headers=headers, data=body, timeout=10)
    # The pages say 200 everywhere; an add-on install answers 201, what terraform's golangsdk requires of the real
    # service (docs/api.md, "Status codes real clients require").
    assert r.status_code == (201 if (method, route) == ("POST", "/api/v3/addons") else 200), r.text
    if documented is not None:
        assert missing(documented, r.json()) == []
