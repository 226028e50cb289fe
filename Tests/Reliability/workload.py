"""A mixed workload against a running addonmock, with an exact model of what the server must hold.

Each worker thread owns its own clusters and pools (so its model is authoritative without locking) and drives
every write path: CCE installs, upgrades, rollbacks and deletes, ModelArts plug-in creates, patches and deletes,
plus shows, lists and template reads. The server runs with `--profile instant`, so every operation settles at
once and the model can predict every answer exactly.

An operation whose answer never arrived (the server was killed mid-request) is *uncertain*: the model keeps both
the state before and the state after, and `verify` accepts either, then adopts what the server shows.
"""
import http.client
import json
import random
import threading
import time

PROJECT = "0123456789abcdef0123456789abcdef"
ADDONS = {"coredns": ["1.28.4", "1.29.5", "1.30.6"], "npd": ["1.18.14", "1.19.1", "1.19.7"],
          "everest": ["2.1.30", "2.3.14", "2.4.28"]}
PLUGINS = {"gpu-driver": ["2.5.6", "2.6.4", "2.7.5"], "log-agent": ["1.5.1", "1.6.2", "1.7.0"]}
SETTLED_ADDON = "running"
SETTLED_PLUGIN = "Running"


class Failure(AssertionError):
    pass


class Client:
    """One keep-alive connection; `None` as the answer means no answer arrived (connection refused or reset)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None

    def request(self, method, path, body=None, content_type="application/json"):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if payload is not None else {}
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request(method, path, body=payload, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return None, None
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            parsed = json.loads(data) if data and data[:1] in (b"{", b"[") else data.decode()
        except ValueError:
            raise Failure(f"{method} {path}: {r.status} with a body that is not JSON: {data[:200]!r}")
        return r.status, parsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.unanswered = 0
        self.server_errors = []

    def add(self, requests, unanswered, server_errors):
        with self.lock:
            self.requests += requests
            self.unanswered += unanswered
            self.server_errors += server_errors


class Worker:
    """Owns clusters `{run}-w{n}-c{k}` and pools `{run}-w{n}-p{k}`; `model` maps (kind, scope, template) to the
    acceptable states: a set of (id, version) for add-ons, (None, version) for plug-ins; `ABSENT` for none."""

    ABSENT = ("absent",)

    def __init__(self, run, n, scopes=3, seed=None):
        self.rng = random.Random(seed if seed is not None else n)
        self.clusters = [f"{run}-w{n}-c{k}" for k in range(scopes)]
        self.pools = [f"{run}-w{n}-p{k}" for k in range(scopes)]
        self.model = {}
        self.requests = 0
        self.unanswered = 0
        self.server_errors = []

    # --- the model -----------------------------------------------------------------------------------------
    def states(self, key):
        return self.model.get(key, {self.ABSENT})

    def certain(self, key):
        s = self.states(key)
        return next(iter(s)) if len(s) == 1 else None

    def settle(self, key, before, after, answered):
        """Records an operation's effect: exact when answered, either state when not."""
        self.model[key] = {after} if answered else {before, after}

    # --- one step --------------------------------------------------------------------------------------------
    def call(self, client, method, path, body=None, content_type="application/json"):
        status, data = client.request(method, path, body, content_type)
        self.requests += 1
        if status is None:
            self.unanswered += 1
        elif status >= 500:
            self.server_errors.append(f"{method} {path} -> {status} {str(data)[:300]}")
        return status, data

    def change(self, client, key, before, after, what, method, path, body=None, content_type="application/json",
               shows=lambda answer: True):
        """A write expected to succeed: a 200 whose body `shows` the change, then its effect on the model."""
        status, answer = self.call(client, method, path, body, content_type)
        if status is not None:
            self.expect(status == 200 and shows(answer), f"{what}: {status} {answer}")
        self.settle(key, before, after, status is not None)

    def expect(self, ok, what):
        if not ok:
            raise Failure(what)

    def step(self, client):
        if self.rng.random() < 0.6:
            self.addon_step(client)
        else:
            self.plugin_step(client)

    def addon_step(self, client):
        cluster = self.rng.choice(self.clusters)
        template = self.rng.choice(list(ADDONS))
        key = ("addon", cluster, template)
        state = self.certain(key)
        if state is None:
            return  # uncertain: only verify() may resolve it
        versions = ADDONS[template]
        if state == self.ABSENT:
            version = self.rng.choice(versions[:-1])
            status, body = self.call(client, "POST", "/api/v3/addons", {
                "kind": "Addon", "apiVersion": "v3",
                "spec": {"clusterID": cluster, "addonTemplateName": template, "version": version, "values": {}}})
            if status is None:
                self.model[key] = {self.ABSENT, ("any-id", version)}
                return
            self.expect(status == 201, f"install {template} in {cluster}: {status} {body}")
            self.model[key] = {(body["metadata"]["uid"], version)}
            return
        uid, version = state
        path = f"/api/v3/addons/{uid}"
        roll = self.rng.random()
        if roll < 0.35:
            status, body = self.call(client, "GET", path)
            if status is not None:
                self.expect(status == 200 and body["spec"]["version"] == version
                            and body["status"]["status"] == SETTLED_ADDON, f"show {uid}: {status} {body}")
        elif roll < 0.5:
            status, body = self.call(client, "GET", f"/api/v3/addons?cluster_id={cluster}")
            if status is not None:
                self.expect(status == 200, f"list {cluster}: {status} {body}")
                listed = {i["metadata"]["uid"]: i["spec"]["version"] for i in body["items"]}
                self.expect(listed.get(uid) == version, f"list {cluster} shows {listed}, expected {uid} at {version}")
        elif roll < 0.75:
            target = self.rng.choice([v for v in versions if v != version])
            self.change(client, key, state, (uid, target), f"upgrade {uid}", "PUT", path, {
                "kind": "Addon", "apiVersion": "v3",
                "spec": {"clusterID": cluster, "addonTemplateName": template, "version": target, "values": {}}},
                shows=lambda answer: answer["spec"]["version"] == target)
        elif roll < 0.85:
            status, body = self.call(client, "POST", f"{path}/operation/rollback", {"clusterID": cluster})
            if status is None:
                self.model[key] = {state, ("any-id", "any-version")}
            elif status == 200:
                # The answer shows the operation starting: the version it restores is still `previousVersion`.
                self.model[key] = {(uid, body["status"]["previousVersion"])}
            else:
                self.expect(status == 400 or status == 409, f"rollback {uid}: {status} {body}")
        else:
            self.change(client, key, state, self.ABSENT, f"delete {uid}", "DELETE", f"{path}?cluster_id={cluster}")

    def plugin_step(self, client):
        pool = self.rng.choice(self.pools)
        template = self.rng.choice(list(PLUGINS))
        key = ("plugin", pool, template)
        state = self.certain(key)
        if state is None:
            return
        base = f"/v2/{PROJECT}/pools/{pool}/plugins"
        versions = PLUGINS[template]
        if state == self.ABSENT:
            version = self.rng.choice(versions)
            self.change(client, key, state, (None, version), f"create {template} in {pool}", "POST", base, {
                "apiVersion": "v2", "kind": "Plugin", "spec": {"template": {"name": template, "version": version}}})
            return
        _, version = state
        roll = self.rng.random()
        if roll < 0.4:
            status, body = self.call(client, "GET", f"{base}/{template}")
            if status is not None:
                self.expect(status == 200 and body["spec"]["template"]["version"] == version
                            and body["status"]["phase"] == SETTLED_PLUGIN, f"show plug-in {template}: {status} {body}")
        elif roll < 0.7:
            target = self.rng.choice(versions)
            self.change(client, key, state, (None, target), f"patch {template}", "PATCH", f"{base}/{template}",
                        {"spec": {"template": {"version": target}}}, "application/merge-patch+json")
        elif roll < 0.8:
            status, body = self.call(client, "GET", f"/v2/{PROJECT}/plugintemplates")
            if status is not None:
                self.expect(status == 200 and body["items"], f"plug-in templates: {status} {body}")
        else:
            self.change(client, key, state, self.ABSENT, f"delete plug-in {template}", "DELETE", f"{base}/{template}")

    # --- verification --------------------------------------------------------------------------------------
    def observe(self, client):
        """What the server holds for every key this worker owns, read through lists and shows."""
        seen = {}
        for cluster in self.clusters:
            status, body = self.call(client, "GET", f"/api/v3/addons?cluster_id={cluster}")
            self.expect(status == 200, f"list {cluster} after restart: {status} {body}")
            for item in body["items"]:
                uid, version = item["metadata"]["uid"], item["spec"]["version"]
                phase = item["status"]["status"]
                self.expect(phase == SETTLED_ADDON, f"{uid} is {phase} after restart, not settled")
                self.expect(item["status"]["currentVersion"]["version"] == version, f"{uid}: spec and status disagree: {item}")
                status, shown = self.call(client, "GET", f"/api/v3/addons/{uid}")
                self.expect(status == 200 and shown == item, f"show {uid} disagrees with the list: {status} {shown} vs {item}")
                seen[("addon", cluster, item["metadata"]["name"])] = (uid, version)
        for pool in self.pools:
            status, body = self.call(client, "GET", f"/v2/{PROJECT}/pools/{pool}/plugins")
            self.expect(status == 200, f"list {pool} after restart: {status} {body}")
            for item in body["items"]:
                name = item["spec"]["template"]["name"]
                self.expect(item["status"]["phase"] == SETTLED_PLUGIN, f"plug-in {pool}/{name} not settled: {item}")
                seen[("plugin", pool, name)] = (None, item["spec"]["template"]["version"])
        return seen

    def verify(self, client):
        """Every acknowledged write is there, nothing unacknowledged appeared; the model adopts what is seen."""
        seen = self.observe(client)
        for key in set(self.model) | set(seen):
            actual = seen.get(key, self.ABSENT)
            acceptable = self.states(key)
            ok = actual in acceptable or (actual != self.ABSENT and any(
                s != self.ABSENT and s[0] in ("any-id", actual[0]) and s[1] in ("any-version", actual[1])
                for s in acceptable))
            self.expect(ok, f"{key}: the server holds {actual}, acknowledged writes allow only {acceptable}")
            self.model[key] = {actual}


def run_load(url, workers, seconds=None, stop=None, stats=None):
    """Runs every worker on its own thread until `seconds` pass or `stop` is set; re-raises a model failure."""
    host, port = url.split("//")[1].rsplit(":", 1)
    deadline = time.monotonic() + seconds if seconds else None
    errors = []

    def loop(worker):
        client = Client(host, int(port))
        before = (worker.requests, worker.unanswered, len(worker.server_errors))
        try:
            while not (stop and stop.is_set()) and not (deadline and time.monotonic() > deadline):
                worker.step(client)
        except Failure as e:
            errors.append(e)
            if stop:
                stop.set()
        finally:
            client.close()
            if stats:
                stats.add(worker.requests - before[0], worker.unanswered - before[1], worker.server_errors[before[2]:])

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
