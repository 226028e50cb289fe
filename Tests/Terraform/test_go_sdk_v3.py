"""The same calls as the Go SDK v3 (github.com/huaweicloud/huaweicloud-sdk-go-v3, services/cce/v3/cce_meta.go and
services/modelarts) shapes them: Content-Type application/json on every call (the request definitions declare it,
GETs included), the body in the model struct's field order with omitempty fields left out, X-Project-Id signed
with the rest, and the extra query parameters its list calls define. The SDK takes any status below 300."""
import json

from conftest import PROJECT
from golangsdk import ServiceClient

CLUSTER = "c2a3f9e0-0000-4000-8000-0000000000g0"


class GoSDKv3(ServiceClient):
    """ServiceClient with the Go SDK v3's differences: json.Marshal of the models (struct order, no trailing newline),
    its User-Agent, and every header it sets before signing signed (content-type, user-agent, x-project-id,
    x-sdk-date), the query kept as given."""

    def request(self, method, path_and_query, body=None):
        path, _, query = path_and_query.partition("?")
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-go/3.0", "X-Project-Id": PROJECT}
        self.sign(method, path, query, headers, data or b"")
        status, _, text = self.send(method, path_and_query, self.host(), headers, data)
        assert status < 300, f"{method} {path_and_query}: {status} {text}"
        return status, json.loads(text) if text and text[0] in "{[" else text


def test_addon_calls_as_the_go_sdk_v3_shapes_them(signed_server):
    from conftest import AK, SK
    signed_server.reset()
    sdk = GoSDKv3(signed_server.url, ak=AK, sk=SK)
    # CreateAddonInstanceRequest{Body: InstanceRequest{Kind, ApiVersion, Metadata, Spec{Version, ClusterID, Values,
    # AddonTemplateName}}}: struct order, not sorted.
    status, created = sdk.request("POST", "/api/v3/addons", {
        "kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.install/type": "install"}},
        "spec": {"version": "1.28.4", "clusterID": CLUSTER, "values": {"basic": {"cluster_ip": "10.247.3.10"}},
                 "addonTemplateName": "coredns"}})
    assert status == 201
    addon_id = created["metadata"]["uid"]
    signed_server.wait(addon=addon_id, status="running")
    # ListAddonTemplates with the query parameters the SDK defines beside the name.
    _, templates = sdk.request("GET", f"/api/v3/addontemplates?addon_template_name=coredns&cluster_id={CLUSTER}&newest=true")
    assert templates["items"][0]["metadata"]["name"] == "coredns"
    _, listed = sdk.request("GET", f"/api/v3/addons?addon_template_name=coredns&cluster_id={CLUSTER}")
    assert [a["metadata"]["uid"] for a in listed["items"]] == [addon_id]
    _, shown = sdk.request("GET", f"/api/v3/addons/{addon_id}?cluster_id={CLUSTER}")
    assert shown["status"]["status"] == "running"
    _, upgraded = sdk.request("PUT", f"/api/v3/addons/{addon_id}", {
        "kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.upgrade/type": "upgrade"}},
        "spec": {"version": "1.30.6", "clusterID": CLUSTER, "values": {"basic": {"cluster_ip": "10.247.3.10"}},
                 "addonTemplateName": "coredns"}})
    assert upgraded["status"]["status"] == "upgrading"
    signed_server.wait(addon=addon_id, status="running")
    _, rolled = sdk.request("POST", f"/api/v3/addons/{addon_id}/operation/rollback", {"clusterID": CLUSTER})
    assert rolled["status"]["status"] == "rollbacking"
    signed_server.wait(addon=addon_id, status="running")
    assert sdk.request("DELETE", f"/api/v3/addons/{addon_id}?cluster_id={CLUSTER}") == (200, "success")
    signed_server.wait(addon=addon_id, gone=True)
    # Plug-ins: CreatePoolPlugin and ListPoolPlugins.
    _, plugin = sdk.request("POST", f"/v2/{PROJECT}/pools/pool-go/plugins",
                            {"apiVersion": "v2", "kind": "Plugin", "spec": {"template": {"name": "gpu-driver"}}})
    assert plugin["status"]["phase"] == "Pending"
    _, plugins = sdk.request("GET", f"/v2/{PROJECT}/pools/pool-go/plugins")
    assert [p["metadata"]["name"] for p in plugins["items"]] == ["gpu-driver"]
    sdk.close()
