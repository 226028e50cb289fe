"""What terraform-provider-huaweicloud sends and requires, replayed with the standard library alone (there is no
terraform binary on these machines).

Written from the provider's public source (github.com/huaweicloud/terraform-provider-huaweicloud, its vendored
github.com/chnsz/golangsdk): `provider_client.go` (headers, JSON encoding, OkCodes and the errors they raise),
`auth/core/signer/signer.go` (the AK/SK signature, which rewrites the query into its canonical form), the
`openstack/cce/v3/addons` and `templates` packages (paths, the `{cluster_id}.` host prefix), and the resources'
`StateChangeConf` refresh functions (targets, failure states, 404 after delete).
"""
import datetime
import hashlib
import hmac
import http.client
import json
import select
import time
import urllib.parse

USER_AGENT = "terraform-provider-iac golangsdk/2.0.0"  # config.providerUserAgent + golangsdk.DefaultUserAgent


def go_json(value):
    """Go's json.Encoder with SetEscapeHTML(false), as golangsdk's jsonMarshal: map keys sorted, nothing between
    tokens, non-ASCII as is, and a trailing newline. (Request bodies are maps: BuildRequestBody and RemoveNil.)"""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n").encode()


def escape(s):
    """golangsdk's signer escape: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.~") else "".join(f"%{b:02X}" for b in c.encode()) for c in s)


class UnexpectedResponseCode(Exception):
    """golangsdk.ErrUnexpectedResponseCode (ErrDefault404 and friends are this with a status)."""

    def __init__(self, method, url, expected, actual, body, request_id):
        super().__init__(f"Expected HTTP response code {expected} when accessing [{method} {url}], but got {actual} instead\n{body!r}")
        self.expected, self.actual, self.body, self.request_id = expected, actual, body, request_id


def default_ok_codes(method):
    """provider_client.go defaultOkCodes."""
    return {"GET": [200], "HEAD": [200], "POST": [200, 201, 202], "PUT": [200, 201, 202],
            "PATCH": [200, 202, 204], "DELETE": [200, 202, 204]}.get(method, [])


class ServiceClient:
    """One golangsdk ServiceClient against `url` (the provider's `endpoints { cce = url }`), keeping one keep-alive
    connection per host name as Go's transport does. `ak`/`sk`: AK/SK signing (else no auth header at all, as
    with a token-less local endpoint); `project`: X-Project-Id, set after signing (unsigned), as golangsdk does."""

    def __init__(self, url, ak=None, sk=None, project=None):
        parsed = urllib.parse.urlparse(url)
        self.address = (parsed.hostname, parsed.port)
        self.port = parsed.port
        self.ak, self.sk, self.project = ak, sk, project
        self.connections = {}
        self.sent = []  # (method, target, headers, body) of every request, as sent
        self.opened = 0  # connections opened
        self.lost = []  # requests that met a connection closed under them

    def host(self, prefix=None):
        """The Host header: `localhost:PORT`, or with addons.CCEServiceURL's `{cluster_id}.` in front."""
        return (f"{prefix}." if prefix else "") + f"localhost:{self.port}"

    def request(self, method, path_and_query, body=None, ok_codes=None, host_prefix=None, more_headers=None):
        """ProviderClient.Request: returns (status, parsed JSON or raw text); raises UnexpectedResponseCode when the
        status is not one of `ok_codes` (the method's defaults when None)."""
        path, _, raw_query = path_and_query.partition("?")
        headers = {}
        data = None
        if body is not None:
            data = go_json(body)
            headers["Content-Type"] = "application/json"
        headers["Accept"] = "application/json"
        headers["User-Agent"] = USER_AGENT
        for name, value in (more_headers or {}).items():
            headers[name] = value
        query = raw_query
        if self.ak:
            query = self.sign(method, path, raw_query, headers, data or b"")
            if self.project:
                headers["X-Project-Id"] = self.project
        target = path + (f"?{query}" if query else "")
        host = self.host(host_prefix)
        status, response_headers, text = self.send(method, target, host, headers, data)
        ok = ok_codes if ok_codes is not None else default_ok_codes(method)
        if status not in ok:
            raise UnexpectedResponseCode(method, target, ok, status, text, response_headers.get("X-Request-Id"))
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def sign(self, method, path, raw_query, headers, body):
        """auth.Sign: signs every header set so far (Host is not among them), and returns the canonical query,
        which golangsdk then sends instead of what the caller wrote (`?&a=b` goes out as `a=b`)."""
        headers["X-Sdk-Date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        signed = sorted(name.lower() for name in headers)
        uri = "/".join(escape(urllib.parse.unquote(segment)) for segment in path.split("/"))
        if not uri.endswith("/"):
            uri += "/"
        pairs = {}
        for part in raw_query.split("&"):
            if not part:
                continue
            key, _, value = part.partition("=")
            key = urllib.parse.unquote(key)
            if key:
                pairs.setdefault(key, []).append(urllib.parse.unquote(value))
        canonical_query = "&".join(f"{escape(k)}={escape(v)}" for k in sorted(pairs) for v in sorted(pairs[k]))
        lower = {name.lower(): value for name, value in headers.items()}
        canonical_headers = "".join(f"{name}:{lower[name].strip()}\n" for name in signed)
        canonical = "\n".join([method, uri, canonical_query, canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
        to_sign = f"SDK-HMAC-SHA256\n{headers['X-Sdk-Date']}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self.sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = f"SDK-HMAC-SHA256 Access={self.ak}, SignedHeaders={';'.join(signed)}, Signature={signature}"
        return canonical_query

    def send(self, method, target, host, headers, data):
        """Go's net/http on a kept-alive connection: Host, User-Agent, Content-Length, then the rest sorted, and the
        transport's own Accept-Encoding. Like Go's transport, a pooled connection the server has visibly closed is
        not used (Go's read loop sees the EOF), and a request that meets a closed connection anyway is sent again
        only when it may be replayed (GET, HEAD): a lost PUT is an error (Go returns EOF), as terraform reports it."""
        lines = [("Host", host), ("User-Agent", headers["User-Agent"])]
        if data is not None:
            lines.append(("Content-Length", str(len(data))))
        rest = {**{k: v for k, v in headers.items() if k != "User-Agent"}, "Accept-Encoding": "gzip"}
        lines += sorted(rest.items())
        self.sent.append((method, target, lines, data))
        for attempt in (1, 2):
            conn = self.connections.get(host)
            if conn is not None and conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
                conn.close()  # closed (or reset) by the server while idle: the transport drops it
                conn = None
            if conn is None:
                conn = self.connections[host] = http.client.HTTPConnection(*self.address, timeout=30)
                self.opened += 1
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in lines:
                    conn.putheader(name, value)
                conn.endheaders(data)
                response = conn.getresponse()
                text = response.read().decode()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.connections.pop(host, None)
                return response.status, response.headers, text
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self.connections.pop(host, None)
                self.lost.append((method, target))
                if attempt == 2 or method not in ("GET", "HEAD"):
                    raise
        raise AssertionError("unreachable")

    def close(self):
        for conn in self.connections.values():
            conn.close()
        self.connections = {}


class UnexpectedState(Exception):
    pass


def wait_for_state(refresh, pending, target, timeout=60, delay=0.0, poll=0.05):
    """retry.StateChangeConf.WaitForStateContext, as the provider configures it (its Delay and PollInterval scaled
    down: the fast profile moves in milliseconds; the keep-alive test waits the real 10 s). `refresh` returns
    (result, state) or raises; a state neither pending nor target is an error, as the SDK treats it."""
    time.sleep(delay)
    deadline = time.monotonic() + timeout
    while True:
        result, state = refresh()
        if state in target:
            return result
        if state not in pending:
            raise UnexpectedState(f"unexpected state '{state}', wanted target '{target}'")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timeout while waiting for state to become '{target}' (last state: '{state}')")
        time.sleep(poll)


# Go's encoding/json decodes an answer into the provider's structs: a field of the wrong JSON type fails the whole
# decode ("cannot unmarshal string into Go struct field …"). The structs the CCE add-on resource and data sources
# decode into, as types: str, bool, {"k": type} for a struct, [type] for a slice, dict for map[string]interface{}
# (an object), "map[string]string", "any". Every field may also be null. Go matches keys case-insensitively.
VERSIONS = {"version": str, "input": dict, "stable": bool, "translate": dict,
            "supportVersions": [{"clusterType": str, "clusterVersion": [str]}]}
ADDON = {"kind": str, "apiVersion": str,
         "metadata": {"name": str, "uid": str, "lables": "map[string]string", "annotaions": "map[string]string"},
         "spec": {"version": str, "clusterID": str, "addonTemplateName": str, "addonTemplateType": str,
                  "addonTemplateLables": [str], "description": str,
                  "values": {"basic": dict, "custom": dict, "flavor": dict}},
         "status": {"status": str, "reason": str, "message": str, "targetVersions": [str], "currentVersion": VERSIONS}}
ADDON_LIST = {"kind": str, "apiVersion": str, "items": [ADDON]}
TEMPLATE_LIST = {"items": [{"kind": str, "apiVersion": str,
                            "metadata": {"uid": str, "name": str, "creationTimestamp": str, "updateTimestamp": str},
                            "spec": {"type": str, "labels": [str], "logoURL": str, "description": str, "versions": [VERSIONS]}}]}


def go_decode_errors(value, shape, path="$"):
    """Where `value` would not decode into `shape` the way encoding/json decodes it: a list of messages."""
    if value is None or shape == "any":
        return []
    if shape is str:
        return [] if isinstance(value, str) else [f"{path}: cannot unmarshal {type(value).__name__} into string"]
    if shape is bool:
        return [] if isinstance(value, bool) else [f"{path}: cannot unmarshal {type(value).__name__} into bool"]
    if shape is dict:
        return [] if isinstance(value, dict) else [f"{path}: cannot unmarshal {type(value).__name__} into map[string]interface{{}}"]
    if shape == "map[string]string":
        if not isinstance(value, dict):
            return [f"{path}: cannot unmarshal {type(value).__name__} into map[string]string"]
        return [f"{path}.{k}: cannot unmarshal {type(v).__name__} into string" for k, v in value.items() if v is not None and not isinstance(v, str)]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path}: cannot unmarshal {type(value).__name__} into a slice"]
        return [e for i, item in enumerate(value) for e in go_decode_errors(item, shape[0], f"{path}[{i}]")]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{path}: cannot unmarshal {type(value).__name__} into a struct"]
        fields = {k.lower(): k for k in value}
        return [e for name, sub in shape.items() if name.lower() in fields
                for e in go_decode_errors(value[fields[name.lower()]], sub, f"{path}.{name}")]
    raise AssertionError(f"unknown shape {shape!r}")


def decoded(value, shape):
    """`value`, asserted to decode into `shape` as the provider's structs would."""
    assert not go_decode_errors(value, shape), go_decode_errors(value, shape)
    return value


def get_unless_gone(client, path, host_prefix=None):
    """GET `path`'s JSON, or None when it answers 404: how the provider's refresh functions tell a deleted resource
    (golangsdk.ErrDefault404) from one still there."""
    try:
        return client.request("GET", path, host_prefix=host_prefix)[1]
    except UnexpectedResponseCode as e:
        if e.actual == 404:
            return None
        raise
