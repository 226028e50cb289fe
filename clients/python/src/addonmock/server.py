"""One addonmock process: started on a free port, its output drained, stopped with SIGTERM."""
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request

READY = re.compile(r"addonmock listening on (http://\S+)")

# Credentials the SDK helpers sign with when none are given (any value works unless the server runs --auth aksk).
DEFAULT_AK = "TESTAK0000000000"
DEFAULT_SK = "TESTSK0000000000000000000000000000000000"
DEFAULT_PROJECT = "0123456789abcdef0123456789abcdef"


class AddonMockError(RuntimeError):
    """The server could not start, or a control call was refused (its status and body are attached)."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


def bundled_binary():
    """The server a platform wheel carries (`addonmock/bin/addonmock`), or None (an sdist or a source install)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "addonmock")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def find_binary(explicit=None):
    """`explicit`, else $ADDONMOCK_BIN, else the binary the wheel carries, else `addonmock` on PATH."""
    binary = explicit or os.environ.get("ADDONMOCK_BIN") or bundled_binary() or shutil.which("addonmock")
    if not binary:
        raise AddonMockError(
            "addonmock not found: install the platform wheel (it carries the server), put addonmock on PATH, "
            "or set ADDONMOCK_BIN to the executable")
    if not os.access(binary, os.X_OK) or os.path.isdir(binary):
        raise AddonMockError(f"addonmock binary {binary} is not an executable file")
    return os.path.abspath(binary)


class AddonMockServer:
    """`AddonMockServer(profile="instant").start()`; `.url`, control helpers, `.cce()` / `.modelarts()`, `.stop()`.

    The server's own ADDONMOCK_* settings are not inherited from the caller's environment: the arguments given here
    are its whole configuration. Its stdout and stderr are read continuously (a server logging a line per request
    never blocks on a full pipe) and kept in `.output`.
    """

    def __init__(self, binary=None, profile="instant", db=":memory:", args=(), log_level="warning", start_timeout=15):
        """`profile` and `log_level` None: left to `args` (or the server's defaults)."""
        self.binary = find_binary(binary)
        self.argv = [self.binary, "--port", "0", "--db", db, *(["--profile", profile] if profile else []),
                     *(["--log-level", log_level] if log_level else []), *args]
        self.start_timeout = start_timeout
        self.proc = None
        self.url = None
        self._lines = []
        self._drainer = None
        self._lock = threading.Lock()
        self._ready = threading.Event()

    # Process.

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADDONMOCK_")}
        # The SDKs use requests, which honours proxy variables: loopback stays direct.
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, bufsize=1)
        self._drainer = threading.Thread(target=self._drain, name="addonmock-output", daemon=True)
        self._drainer.start()
        if not self._ready.wait(self.start_timeout) or self.url is None:
            self.proc.kill()
            self.proc.wait()
            raise AddonMockError(f"addonmock did not start: {' '.join(self.argv)}\n{self.output}")
        return self

    def _drain(self):
        for line in self.proc.stdout:
            with self._lock:
                self._lines.append(line)
            if self.url is None:
                match = READY.search(line)
                if match:
                    self.url = match.group(1)
                    self._ready.set()
        self._ready.set()  # ended before it was ready

    @property
    def output(self):
        """Everything the server printed so far (logs and the ready line)."""
        with self._lock:
            return "".join(self._lines)

    def stop(self, timeout=20):
        """SIGTERM, then the exit code (0 for a clean stop); `.output` then holds everything the server printed."""
        if self.proc is None or self.proc.poll() is not None:
            self._drained()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AddonMockError(f"addonmock did not stop within {timeout} s\n{self.output}")
        self._drained()
        return code

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._drained()

    def _drained(self):
        # The process has exited, so its output ends: the reader thread is reading the last lines, if any.
        if self._drainer is not None:
            self._drainer.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # Control plane (/_mock).

    def control(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            raise AddonMockError(f"{method} {path} answered {e.code}: {text}", status=e.code, body=text) from None

    def reset(self, **options):
        """Deletes everything (or a scope: cluster=, project=, pool=, service=); see docs/control-plane.md."""
        return self.control("POST", "/_mock/reset", options)

    def wait(self, timeout_ms=10_000, **state):
        """Blocks until a state is reached, e.g. wait(addon=uid, status="running"), wait(addon=uid, gone=True),
        wait(plugin={"project": p, "pool": pool, "name": n}, phase="Running"), wait(settled=True)."""
        return self.control("POST", "/_mock/wait", {**state, "timeoutMs": timeout_ms}, timeout=timeout_ms / 1000 + 10)

    def advance(self, kind, ident):
        """Completes the operation in flight on a resource (kind: addons, addonchecks, plugins) now."""
        return self.control("POST", f"/_mock/resources/{kind}/{ident}/status", {"advance": True})

    def force(self, kind, ident, status, reason=None, message=None):
        body = {"status": status, **({"reason": reason} if reason is not None else {}), **({"message": message} if message is not None else {})}
        return self.control("POST", f"/_mock/resources/{kind}/{ident}/status", body)

    def resources(self, kind):
        return self.control("GET", f"/_mock/resources/{kind}")["items"]

    def add_fault(self, **rule):
        """A fault rule, e.g. add_fault(match={"template": "coredns"}, outcome="installFailed", times=1)."""
        return self.control("POST", "/_mock/faults", rule)

    def clear_faults(self):
        return self.control("DELETE", "/_mock/faults")

    def clock(self, **change):
        """clock() reads it; clock(advanceSeconds=30), clock(pin=True), clock(unpin=True) change it."""
        return self.control("POST", "/_mock/clock", change) if change else self.control("GET", "/_mock/clock")

    def journal(self, **filters):
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.control("GET", "/_mock/requests" + (f"?{query}" if query else ""))["requests"]

    def export(self):
        return self.control("GET", "/_mock/export")

    def import_world(self, world):
        return self.control("POST", "/_mock/import", world)

    # Official SDK clients (pip install "addonmock[sdk]").

    def cce(self, ak=DEFAULT_AK, sk=DEFAULT_SK, project=None):
        from huaweicloudsdkcce.v3 import CceClient
        from huaweicloudsdkcore.auth.credentials import BasicCredentials

        return CceClient.new_builder().with_http_config(_http_config()) \
            .with_credentials(BasicCredentials(ak, sk, project)).with_endpoints([self.url]).build()

    def modelarts(self, ak=DEFAULT_AK, sk=DEFAULT_SK, project=DEFAULT_PROJECT):
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkmodelarts.v1 import ModelArtsClient

        return ModelArtsClient.new_builder().with_http_config(_http_config()) \
            .with_credentials(BasicCredentials(ak, sk, project)).with_endpoint(self.url).build()


def _http_config():
    from huaweicloudsdkcore.http.http_config import HttpConfig

    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    return config
