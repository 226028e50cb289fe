"""Both ModelArtsClient plug-in calls and both plug-in template calls, through the official SDK."""
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import (
    CreatePluginRequestBody, CreatePoolPluginRequest, ListPluginTemplatesRequest, ListPoolPluginsRequest, PluginSpec,
    ShowPluginTemplateRequest, Template,
)

from conftest import assert_sdk_error


def create(client, pool, name, version=None, inputs=None, api_version="v2", kind="Plugin"):
    body = CreatePluginRequestBody(api_version=api_version, kind=kind,
                                   spec=PluginSpec(template=Template(name=name, version=version, inputs=inputs)))
    return client.create_pool_plugin(CreatePoolPluginRequest(pool_name=pool, body=body))


@pytest.mark.parametrize("profile", ["instant", "manual"])
def test_plugin_lifecycle(start, profile):
    server = start("--profile", profile)
    ma = server.modelarts()
    created = create(ma, "pool-abc", "gpu-driver", "2.7.5", {"driver_version": "535.54.03"})
    assert created.status.phase == "Pending"
    assert created.spec.template.inputs["driver_version"] == "535.54.03"
    assert '"driver_version":"535.54.03"' in created.status.values, "values is a JSON string"
    if profile == "manual":
        ident = server.control("GET", "/_mock/resources/plugins")["items"][0]["id"]
        assert ma.list_pool_plugins(ListPoolPluginsRequest(pool_name="pool-abc")).items[0].status.phase == "Pending"
        server.advance("plugins", ident)
    listed = ma.list_pool_plugins(ListPoolPluginsRequest(pool_name="pool-abc"))
    assert listed.kind == "PluginList"
    plugin = listed.items[0]
    assert (plugin.metadata.name, plugin.status.phase) == ("gpu-driver", "Running")
    assert plugin.status.resources[0].involved_object.kind == "DaemonSet"
    assert plugin.status.resources[0].replicas == 3

    upgraded = create(ma, "pool-abc", "gpu-driver", "2.6.4")
    assert upgraded.status.phase == "Updating"
    if profile == "manual":
        server.advance("plugins", ident)
    assert ma.list_pool_plugins(ListPoolPluginsRequest(pool_name="pool-abc")).items[0].status.version == "2.6.4"
    assert ma.list_pool_plugins(ListPoolPluginsRequest(pool_name="another-pool")).items == []


def test_projects_never_see_each_other(start):
    server = start("--profile", "instant")
    create(server.modelarts(project="aaaa"), "p", "volcano")
    assert [p.metadata.name for p in server.modelarts(project="aaaa").list_pool_plugins(ListPoolPluginsRequest(pool_name="p")).items] == ["volcano"]
    assert server.modelarts(project="bbbb").list_pool_plugins(ListPoolPluginsRequest(pool_name="p")).items == []


def test_documented_swap_of_api_version_and_kind(start):
    server = start()
    assert create(server.modelarts(), "p", "log-agent", api_version="Plugin", kind="v2").status.phase == "Pending"


def test_templates(start):
    server = start()
    ma = server.modelarts()
    listed = ma.list_plugin_templates(ListPluginTemplatesRequest())
    assert [t.metadata.name for t in listed.items] == ["gpu-driver", "npu-driver", "log-agent", "node-local-dns", "volcano"]
    assert listed.items[0].spec.versions[-1].inputs["driver_version"] == "535.54.03"
    filtered = ma.list_plugin_templates(ListPluginTemplatesRequest(template_name="volcano", pool_name="p"))
    assert [t.metadata.name for t in filtered.items] == ["volcano"]
    shown = ma.show_plugin_template(ShowPluginTemplateRequest(plugintemplate_name="npu-driver"))
    assert shown.kind == "PluginTemplate"
    assert shown.spec.versions["1.3.0"].inputs["npu_driver_version"] == "23.0.3"


def test_errors(start):
    server = start()
    ma = server.modelarts()
    with pytest.raises(ClientRequestException) as e:
        create(ma, "p", "nosuch")
    assert_sdk_error(e, server, 404, "ModelArts.50004040")
    with pytest.raises(ClientRequestException) as e:
        create(ma, "p", "gpu-driver", api_version="v1")
    assert_sdk_error(e, server, 400, "ModelArts.50004000")
    with pytest.raises(ClientRequestException) as e:
        ma.show_plugin_template(ShowPluginTemplateRequest(plugintemplate_name="nosuch"))
    assert_sdk_error(e, server, 404, "ModelArts.50004040")
    create(ma, "p", "volcano")
    with pytest.raises(ClientRequestException) as e:
        create(ma, "p", "volcano", "1.11.5")
    assert_sdk_error(e, server, 409, "ModelArts.50004090")
    # Credentials without a project: the SDK sends the literal {project_id}; the emulator says so.
    with pytest.raises(ClientRequestException) as e:
        server.modelarts(project=None).list_pool_plugins(ListPoolPluginsRequest(pool_name="p"))
    assert "the SDK sends the literal {project_id} when its credentials carry no project_id" in assert_sdk_error(e, server, 400, "ModelArts.50004000").error_msg
