"""huaweicloud_cce_autopilot_addon (huaweicloud/services/cceautopilot/resource_huaweicloud_cce_autopilot_addon.go) and
the ModelArts plug-in data sources (huaweicloud/services/modelarts/data_source_huaweicloud_modelartsv2_plugins.go,
data_source_huaweicloud_modelartsv2_plugin_templates.go), as the provider sends them."""
import pytest

from conftest import PROJECT
from golangsdk import ADDON, decoded, get_unless_gone, wait_for_state

CLUSTER = "6b0b8c1e-0000-4000-8000-00000000ap01"


def body(annotation, version=None, name=None):
    """buildCreateAddonBodyParams / buildUpdateAddonBodyParams through utils.RemoveNil: name, alias and version only
    when set; every value of the `values` map is a JSON document the user wrote."""
    metadata = {"annotations": {annotation: annotation.split("/")[0].split(".")[1]}}
    if name:
        metadata["name"] = name
    spec = {"clusterID": CLUSTER, "addonTemplateName": "coredns", "values": {"basic": {"cluster_ip": "10.247.3.10"}}}
    if version:
        spec["version"] = version
    return {"kind": "Addon", "apiVersion": "v3", "metadata": metadata, "spec": spec}


def waiting(client, addon_id):
    """addonWaitingForStateCompleted: running is the target; 404 is COMPLETED; the four *Failed statuses are
    returned as the state itself (so the wait ends with that unexpected state)."""
    def poll():
        got = get_unless_gone(client, f"/autopilot/v3/addons/{addon_id}")
        if got is None:
            return None, "COMPLETED"
        decoded(got, ADDON)
        status = got["status"]["status"]
        if status == "running":
            return got, "COMPLETED"
        return got, status if status in ("installFailed", "upgradeFailed", "deleteFailed", "rollbackFailed") else "PENDING"
    return poll


def test_autopilot_addon_create_update_and_destroy(client):
    # POST with golangsdk's default OkCodes for POST (200, 201, 202); plain host, no cluster_id anywhere but the body.
    status, created = client.request("POST", "/autopilot/v3/addons", body("addon.install/type", name="coredns"))
    assert status in (200, 201, 202)
    addon_id = created["metadata"]["uid"]
    got = wait_for_state(waiting(client, addon_id), ["PENDING"], ["COMPLETED"])
    assert (got["spec"]["clusterID"], got["metadata"]["name"], got["status"]["status"]) == (CLUSTER, "coredns", "running")
    assert got["metadata"]["creationTimestamp"] and got["metadata"]["updateTimestamp"]
    # Update: PUT, then the read (the resource does not wait here).
    client.request("PUT", f"/autopilot/v3/addons/{addon_id}", body("addon.upgrade/type", version="1.30.6"))
    assert wait_for_state(waiting(client, addon_id), ["PENDING"], ["COMPLETED"])["spec"]["version"] == "1.30.6"
    # Delete (200, 202 or 204), then wait until 404.
    status, _ = client.request("DELETE", f"/autopilot/v3/addons/{addon_id}")
    assert status in (200, 202, 204)
    assert wait_for_state(waiting(client, addon_id), ["PENDING"], ["COMPLETED"]) is None
    assert {lines[0] for _, _, lines, _ in client.sent} == {("Host", f"localhost:{client.port}")}


def test_an_autopilot_upgrade_failure_is_the_state_the_wait_ends_in(client, server):
    _, created = client.request("POST", "/autopilot/v3/addons", body("addon.install/type"))
    addon_id = created["metadata"]["uid"]
    wait_for_state(waiting(client, addon_id), ["PENDING"], ["COMPLETED"])
    server.control("POST", "/_mock/faults", {"match": {"service": "autopilot"}, "outcome": "upgradeFailed"})
    client.request("PUT", f"/autopilot/v3/addons/{addon_id}", body("addon.upgrade/type", version="1.30.6"))
    with pytest.raises(Exception, match="unexpected state 'upgradeFailed'"):
        wait_for_state(waiting(client, addon_id), ["PENDING"], ["COMPLETED"])


def install_plugin(server, pool):
    server.control("POST", "/_mock/reset", {"project": PROJECT, "keepJournal": True})
    import urllib.request
    request = urllib.request.Request(
        f"{server.url}/v2/{PROJECT}/pools/{pool}/plugins", method="POST", headers={"Content-Type": "application/json"},
        data=b'{"apiVersion":"v2","kind":"Plugin","spec":{"template":{"name":"gpu-driver"}}}')
    urllib.request.urlopen(request, timeout=10).read()


def test_plugins_data_source(client, server):
    """listV2Plugins: GET /v2/{project_id}/pools/{pool_name}/plugins with MoreHeaders Content-Type: application/json."""
    install_plugin(server, "pool-a")
    status, listed = client.request("GET", f"/v2/{PROJECT}/pools/pool-a/plugins", more_headers={"Content-Type": "application/json"})
    assert status == 200
    assert [p["metadata"]["name"] for p in listed["items"]] == ["gpu-driver"]
    assert dict(client.sent[-1][2])["Content-Type"] == "application/json"


def test_plugin_templates_data_source_with_its_literal_query(client):
    """buildV2PluginTemplatesQueryParams writes `?&templateName=X&poolName=Y` (the leading `&` is literal)."""
    status, found = client.request("GET", f"/v2/{PROJECT}/plugintemplates?&templateName=gpu-driver&poolName=pool-a",
                                   more_headers={"Content-Type": "application/json"})
    assert status == 200
    assert client.sent[-1][1].endswith("?&templateName=gpu-driver&poolName=pool-a"), "sent as written (no signing)"
    assert [t["metadata"]["name"] for t in found["items"]] == ["gpu-driver"]
    _, everything = client.request("GET", f"/v2/{PROJECT}/plugintemplates", more_headers={"Content-Type": "application/json"})
    assert len(everything["items"]) > 1


def test_plugin_templates_signed(signed_client):
    """Signed, golangsdk rewrites the query into its canonical form before sending: `?poolName=…&templateName=…`."""
    status, found = signed_client.request("GET", f"/v2/{PROJECT}/plugintemplates?&templateName=gpu-driver&poolName=pool-a",
                                          more_headers={"Content-Type": "application/json"})
    assert status == 200
    assert signed_client.sent[-1][1].endswith("?poolName=pool-a&templateName=gpu-driver")
    assert [t["metadata"]["name"] for t in found["items"]] == ["gpu-driver"]
