"""What a team's own test suite looks like with the addonmock pytest plugin: no harness, only fixtures.

`addonmock` is the session's server, reset before each test; `cce_client` and `modelarts_client` are the official
SDK clients pointed at it. The profile is `fast` (pyproject.toml): operations take 80-150 ms, and tests wait for
states, never for durations."""
import pytest
from huaweicloudsdkcce.v3 import (
    CreateAddonInstanceRequest, InstanceRequest, InstanceRequestSpec, ListAddonInstancesRequest,
    ShowAddonInstanceRequest,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import CreatePluginRequestBody, CreatePoolPluginRequest, PluginSpec, Template

PROJECT = "0123456789abcdef0123456789abcdef"


def install(cce, template, cluster="c1"):
    spec = InstanceRequestSpec(cluster_id=cluster, addon_template_name=template, values={})
    return cce.create_addon_instance(CreateAddonInstanceRequest(body=InstanceRequest(kind="Addon", api_version="v3", spec=spec)))


def test_an_addon_comes_up(addonmock, cce_client):
    uid = install(cce_client, "coredns").metadata.uid
    addonmock.wait(addon=uid, status="running")
    assert cce_client.show_addon_instance(ShowAddonInstanceRequest(id=uid)).status.status == "running"


def test_a_failed_install_is_reported(addonmock, cce_client):
    addonmock.add_fault(match={"template": "everest"}, outcome="installFailed", reason="ImagePullBackOff", times=1)
    uid = install(cce_client, "everest").metadata.uid
    reached = addonmock.wait(addon=uid, status="installFailed")
    assert reached["resource"]["reason"] == "ImagePullBackOff"


def test_each_test_starts_from_an_empty_world(cce_client):
    assert cce_client.list_addon_instances(ListAddonInstancesRequest(cluster_id="c1")).items == []


def test_a_second_install_is_a_conflict(addonmock, cce_client):
    install(cce_client, "coredns")
    with pytest.raises(ClientRequestException) as e:
        install(cce_client, "coredns")
    assert e.value.status_code == 409


def test_a_plugin_on_a_pool(addonmock, modelarts_client):
    body = CreatePluginRequestBody(api_version="v2", kind="Plugin", spec=PluginSpec(template=Template(name="gpu-driver")))
    created = modelarts_client.create_pool_plugin(CreatePoolPluginRequest(pool_name="gpu-pool", body=body))
    addonmock.wait(plugin={"project": PROJECT, "pool": "gpu-pool", "name": created.metadata.name}, phase="Running")
