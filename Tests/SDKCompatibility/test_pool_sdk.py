"""ModelArts resource pools, their nodes and orders through the official Python SDK (huaweicloudsdkmodelarts): the
flow a user's script runs, every pool and pool-node method the emulator serves, and their errors."""

import pytest
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkmodelarts.v1 import (
    BatchDeletePoolNodesRequest, BatchResizePoolNodesRequest, BatchResizeRequestBody, CreatePluginRequestBody, CreatePoolPluginRequest, CreatePoolRequest, CreatePoolRequestBody, DeletePoolRequest,
    ListPoolNodesRequest, ListPoolPluginsRequest, ListPoolsRequest, NodeResizeParams, NodesDeletionRequest, PatchPoolRequest,
    PluginSpec, PoolDriver, PoolLabelsCreation, PoolMetadataCreation, PoolMetadataUpdate, PoolMetadataUpdateAnnotations,
    PoolResourceFlavor, PoolSpecCreation, PoolSpecCreationNetwork, PoolSpecUpdate, PoolSpecUpdateResources, PoolUpdateRequest,
    ResizeNodeInfo, ShowOrderRequest, ShowPoolNodeRequest, ShowPoolRequest, Template,
)

from conftest import assert_sdk_error, gone, wait

GPU = "modelarts.vm.gpu.pnt004"


def pool_body(name, count=1, flavor=GPU):
    return CreatePoolRequestBody(
        api_version="v2", kind="Pool",
        metadata=PoolMetadataCreation(labels=PoolLabelsCreation(os_modelarts_name=name, os_modelarts_workspace_id="0")),
        spec=PoolSpecCreation(type="Dedicate", scope=["Train", "Infer"], resources=[PoolResourceFlavor(flavor=flavor, count=count)],
                              network=PoolSpecCreationNetwork(name="net-1"), driver=PoolDriver(gpu_version="535.54.03")))


def scale(modelarts, pool, count, flavor=GPU):
    return modelarts.patch_pool(PatchPoolRequest(pool_name=pool, body=PoolUpdateRequest(
        spec=PoolSpecUpdate(resources=[PoolSpecUpdateResources(flavor=flavor, count=count)]))))


def test_a_whole_pool_flow_with_only_the_sdk(start):
    """Create a pool, wait for Running, install gpu-driver into it, scale it, delete it and see the plug-in gone."""
    server = start("--profile", "fast")
    modelarts = server.modelarts()
    created = modelarts.create_pool(CreatePoolRequest(body=pool_body("sdk-flow")))
    pool = created.metadata.name
    assert created.status.phase == "Creating" and created.metadata.labels.os_modelarts_order_name
    wait(lambda: modelarts.show_pool(ShowPoolRequest(pool_name=pool)).status.phase, lambda p: p == "Running")

    plugin = modelarts.create_pool_plugin(CreatePoolPluginRequest(pool_name=pool, body=CreatePluginRequestBody(
        api_version="v2", kind="Plugin", spec=PluginSpec(template=Template(name="gpu-driver")))))
    assert plugin.metadata.name == "gpu-driver"
    wait(lambda: modelarts.list_pool_plugins(ListPoolPluginsRequest(pool_name=pool)).items[0].status.phase, lambda p: p == "Running")

    scaled = scale(modelarts, pool, 3)
    assert scaled.status.resources.creating.count == 2 and scaled.spec.resources[0].count == 3
    order = scaled.metadata.labels.os_modelarts_order_name
    wait(lambda: len([n for n in modelarts.list_pool_nodes(ListPoolNodesRequest(pool_name=pool)).items if n.status.phase == "Available"]),
         lambda n: n == 3)
    shown = modelarts.show_order(ShowOrderRequest(order_name=order))
    assert shown.count == 2 and all(i.status == "succeed" and i.action == "create" for i in shown.items)
    assert modelarts.show_pool(ShowPoolRequest(pool_name=pool)).status.resources.available.count == 3

    deleted = modelarts.delete_pool(DeletePoolRequest(pool_name=pool))
    assert deleted.status.phase == "Deleting" and deleted.metadata.deletion_timestamp
    wait(lambda: gone(lambda: modelarts.show_pool(ShowPoolRequest(pool_name=pool))), bool)
    assert modelarts.list_pool_plugins(ListPoolPluginsRequest(pool_name=pool)).items == []
    assert server.control("GET", "/_mock/resources/plugins")["items"] == []
    assert modelarts.list_pools(ListPoolsRequest()).items == []


def test_every_pool_and_node_method(start):
    server = start("--profile", "fast")
    modelarts = server.modelarts()
    pool = modelarts.create_pool(CreatePoolRequest(body=pool_body("sdk-nodes", count=3))).metadata.name
    other = modelarts.create_pool(CreatePoolRequest(body=pool_body("sdk-cpu", flavor="modelarts.vm.cpu.8ud"))).metadata.name
    wait(lambda: {p.status.phase for p in modelarts.list_pools(ListPoolsRequest()).items}, lambda s: s == {"Running"})
    assert {p.metadata.name for p in modelarts.list_pools(ListPoolsRequest(workspace_id="0", status="Running")).items} == {pool, other}
    assert [p.metadata.name for p in modelarts.list_pools(ListPoolsRequest(label_selector="os.modelarts/name=sdk-cpu")).items] == [other]

    nodes = modelarts.list_pool_nodes(ListPoolNodesRequest(pool_name=pool, limit=2))
    assert len(nodes.items) == 2 and nodes.metadata.remaining_item_count == 1
    rest = modelarts.list_pool_nodes(ListPoolNodesRequest(pool_name=pool, _continue=nodes.metadata._continue))
    names = [n.metadata.name for n in nodes.items + rest.items]
    assert len(set(names)) == 3
    node = modelarts.show_pool_node(ShowPoolNodeRequest(pool_name=pool, node_name=names[0]))
    assert node.spec.flavor == GPU and node.status.phase == "Available" and node.metadata.labels.os_modelarts_node_underlying_instance_id

    modelarts.batch_delete_pool_nodes(BatchDeletePoolNodesRequest(pool_name=pool, body=NodesDeletionRequest(delete_node_names=[names[2]])))
    wait(lambda: [n.metadata.name for n in modelarts.list_pool_nodes(ListPoolNodesRequest(pool_name=pool)).items], lambda n: n == names[:2])
    modelarts.batch_resize_pool_nodes(BatchResizePoolNodesRequest(pool_name=pool, body=BatchResizeRequestBody(
        nodes=[ResizeNodeInfo(batch_uid="b1", delete_node_names=[names[1]])], source=NodeResizeParams(flavor=GPU),
        target=NodeResizeParams(flavor="modelarts.vm.gpu.pnt008"))))
    wait(lambda: modelarts.show_pool_node(ShowPoolNodeRequest(pool_name=pool, node_name=names[1])).spec.flavor,
         lambda f: f == "modelarts.vm.gpu.pnt008")

    patched = modelarts.patch_pool(PatchPoolRequest(pool_name=other, body=PoolUpdateRequest(
        metadata=PoolMetadataUpdate(annotations=PoolMetadataUpdateAnnotations(os_modelarts_description="cpu pool")))))
    assert patched.metadata.annotations.os_modelarts_description == "cpu pool"
    modelarts.delete_pool(DeletePoolRequest(pool_name=other))
    wait(lambda: [p.metadata.name for p in modelarts.list_pools(ListPoolsRequest()).items], lambda n: n == [pool])


def test_pool_errors_reach_the_sdk_as_its_exceptions(start):
    server = start("--profile", "manual", "--parents", "strict")
    modelarts = server.modelarts()
    with pytest.raises(exceptions.ClientRequestException) as e:
        modelarts.show_pool(ShowPoolRequest(pool_name="pool-missing"))
    assert_sdk_error(e, server, 404, "ModelArts.50015001")
    with pytest.raises(exceptions.ClientRequestException) as e:
        modelarts.list_pool_plugins(ListPoolPluginsRequest(pool_name="pool-missing"))
    assert_sdk_error(e, server, 404, "ModelArts.50015001")
    with pytest.raises(exceptions.ClientRequestException) as e:
        modelarts.create_pool(CreatePoolRequest(body=pool_body("Bad Name")))
    assert_sdk_error(e, server, 400, "ModelArts.50004000")
    pool = modelarts.create_pool(CreatePoolRequest(body=pool_body("sdk-busy"))).metadata.name
    with pytest.raises(exceptions.ClientRequestException) as e:
        scale(modelarts, pool, 2)
    assert_sdk_error(e, server, 409, "ModelArts.50004090")
    with pytest.raises(exceptions.ClientRequestException) as e:
        modelarts.create_pool_plugin(CreatePoolPluginRequest(pool_name=pool, body=CreatePluginRequestBody(
            api_version="v2", kind="Plugin", spec=PluginSpec(template=Template(name="gpu-driver")))))
    assert_sdk_error(e, server, 400, "ModelArts.50004000")
