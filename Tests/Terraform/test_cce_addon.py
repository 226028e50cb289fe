"""huaweicloud_cce_addon and the CCE add-on data sources, as the provider drives them
(huaweicloud/services/cce/resource_huaweicloud_cce_addon.go, data_source_huaweicloud_cce_addon_template.go,
vendor/github.com/chnsz/golangsdk/openstack/cce/v3/addons and templates)."""
import pytest

from golangsdk import (
    ADDON, ADDON_LIST, TEMPLATE_LIST, UnexpectedResponseCode, UnexpectedState, decoded, get_unless_gone, go_decode_errors, wait_for_state,
)

CLUSTER = "3f7c1a52-0000-4000-8000-000000000001"


def create_opts(template="coredns", version="", basic=None, custom=None, cluster=CLUSTER):
    """addons.CreateOpts through BuildRequestBody: `version` and empty custom/flavor maps left out (omitempty)."""
    values = {"basic": basic if basic is not None else {}}
    if custom:
        values["custom"] = custom
    spec = {"clusterID": cluster, "addonTemplateName": template, "values": values}
    if version:
        spec["version"] = version
    return {"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.install/type": "install"}}, "spec": spec}


def update_opts(template, version, basic, cluster=CLUSTER):
    return {"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.upgrade/type": "upgrade"}},
            "spec": {"clusterID": cluster, "addonTemplateName": template, "version": version, "values": {"basic": basic}}}


def refresh(client, addon_id, targets, cluster=CLUSTER):
    """addonStateRefreshFunc: GET …/{id}?cluster_id= (addons.Get, OkCodes [200]); a 404 means deleted (COMPLETED);
    installFailed, upgradeFailed, deleteFailed, rollbackFailed, unknown (any case) are errors."""
    def poll():
        body = get_unless_gone(client, f"/api/v3/addons/{addon_id}?cluster_id={cluster}", host_prefix=cluster)
        if body is None:
            return None, "COMPLETED"
        decoded(body, ADDON)
        status = body["status"]["status"]
        if status.lower() in {s.lower() for s in ("installFailed", "upgradeFailed", "deleteFailed", "rollbackFailed", "unknown")}:
            raise UnexpectedState(f"unexpect status ({status})")
        return body, "COMPLETED" if targets and status in targets else "PENDING"
    return poll


def apply_create(client, **opts):
    """resourceAddonCreate: addons.Create with OkCodes [201], then wait for running or available, then read."""
    _, created = client.request("POST", "/api/v3/addons", create_opts(**opts), ok_codes=[201], host_prefix=opts.get("cluster", CLUSTER))
    addon_id = created["metadata"]["uid"]
    wait_for_state(refresh(client, addon_id, ["running", "available"]), ["PENDING"], ["COMPLETED"])
    return addon_id


def test_create_read_update_import_and_destroy_like_terraform(client):
    addon_id = apply_create(client, template="coredns", version="1.28.4", basic={"cluster_ip": "10.247.3.10"})
    # Read: the fields the resource sets.
    _, read = client.request("GET", f"/api/v3/addons/{addon_id}?cluster_id={CLUSTER}", host_prefix=CLUSTER)
    assert (read["spec"]["clusterID"], read["spec"]["version"], read["spec"]["addonTemplateName"], read["status"]["status"]) == \
        (CLUSTER, "1.28.4", "coredns", "running")
    assert isinstance(read["spec"]["description"], str)
    # Update: PUT …/{id} (no query; OkCodes [200]) with the upgrade annotation, then the same wait.
    client.request("PUT", f"/api/v3/addons/{addon_id}", update_opts("coredns", "1.30.6", {"cluster_ip": "10.247.3.10"}),
                   ok_codes=[200], host_prefix=CLUSTER)
    upgraded = wait_for_state(refresh(client, addon_id, ["running", "available"]), ["PENDING"], ["COMPLETED"])
    assert upgraded["spec"]["version"] == "1.30.6"
    # Import `<cluster_id>/<id>`: the read alone.
    _, imported = client.request("GET", f"/api/v3/addons/{addon_id}?cluster_id={CLUSTER}", host_prefix=CLUSTER)
    assert imported["metadata"]["uid"] == addon_id
    # Destroy: DELETE …/{id}?cluster_id= (OkCodes [200]; the plain-text body is not read), then poll until 404.
    status, text = client.request("DELETE", f"/api/v3/addons/{addon_id}?cluster_id={CLUSTER}", ok_codes=[200], host_prefix=CLUSTER)
    assert (status, text) == (200, "success")
    assert wait_for_state(refresh(client, addon_id, None), ["PENDING"], ["COMPLETED"]) is None
    # Every request went out as Go sends it: one kept-alive connection for the cluster's host.
    assert {lines[0] for _, _, lines, _ in client.sent} == {("Host", f"{CLUSTER}.localhost:{client.port}")}
    assert client.opened == 1 and not client.lost


def test_the_create_status_is_what_golangsdk_requires(client):
    """OkCodes [201]: a 200 would stop `terraform apply`; the client refuses anything else, as golangsdk does."""
    status, created = client.request("POST", "/api/v3/addons", create_opts(template="everest"), ok_codes=[201], host_prefix=CLUSTER)
    assert status == 201 and not go_decode_errors(created, ADDON)
    with pytest.raises(UnexpectedResponseCode) as conflict:
        client.request("POST", "/api/v3/addons", create_opts(template="everest"), ok_codes=[201], host_prefix=CLUSTER)
    assert conflict.value.actual == 409 and '"CCE.03409001"' in conflict.value.body


def test_an_install_failure_ends_the_apply_with_the_status(client, server):
    server.control("POST", "/_mock/faults", {"match": {"template": "npd"}, "outcome": "installFailed", "reason": "ImagePullBackOff"})
    _, created = client.request("POST", "/api/v3/addons", create_opts(template="npd"), ok_codes=[201], host_prefix=CLUSTER)
    with pytest.raises(UnexpectedState, match=r"unexpect status \(installFailed\)"):
        wait_for_state(refresh(client, created["metadata"]["uid"], ["running", "available"]), ["PENDING"], ["COMPLETED"])


def test_data_sources_list_templates_and_addons_of_the_cluster(client):
    addon_id = apply_create(client, template="coredns")
    # huaweicloud_cce_addon_template: templates.List (no query), filtered by name and version in the provider.
    _, templates = client.request("GET", "/api/v3/addontemplates", host_prefix=CLUSTER)
    assert not go_decode_errors(templates, TEMPLATE_LIST), go_decode_errors(templates, TEMPLATE_LIST)
    coredns = [t for t in templates["items"] if t["metadata"]["name"] == "coredns"]
    assert coredns and any(v["version"] == "1.28.4" for v in coredns[0]["spec"]["versions"])
    # addons.List: GET addons?cluster_id= on the cluster's host.
    _, listed = client.request("GET", f"/api/v3/addons?cluster_id={CLUSTER}", host_prefix=CLUSTER)
    assert not go_decode_errors(listed, ADDON_LIST)
    assert [a["metadata"]["uid"] for a in listed["items"]] == [addon_id]


def test_every_template_and_addon_decodes_into_the_providers_structs(client):
    """All of the catalog, installed with its defaults: no value the provider's structs could not hold."""
    _, templates = client.request("GET", "/api/v3/addontemplates", host_prefix=CLUSTER)
    for template in templates["items"]:
        _, created = client.request("POST", "/api/v3/addons", create_opts(template=template["metadata"]["name"]),
                                    ok_codes=[201], host_prefix=CLUSTER)
        assert not go_decode_errors(created, ADDON), (template["metadata"]["name"], go_decode_errors(created, ADDON))


def test_signed_like_golangsdk(signed_client, signed_server):
    """--auth aksk: golangsdk signs accept, content-type, user-agent and x-sdk-date (not host, which Go sets later),
    and X-Project-Id goes unsigned; the whole flow verifies."""
    addon_id = apply_create(signed_client, template="coredns")
    status, _ = signed_client.request("DELETE", f"/api/v3/addons/{addon_id}?cluster_id={CLUSTER}", ok_codes=[200], host_prefix=CLUSTER)
    assert status == 200
    authorization = dict(signed_client.sent[0][2])["Authorization"]
    assert "SignedHeaders=accept;content-type;user-agent;x-sdk-date," in authorization
    journal = signed_server.control("GET", "/_mock/requests?limit=1000")["requests"]
    assert journal and all(r["status"] < 400 for r in journal)
