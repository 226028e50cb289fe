"""huaweicloud_modelarts_resource_pool as the provider drives it (huaweicloud/services/modelarts/
resource_huaweicloud_modelarts_resource_pool.go): create (200) and its id from metadata.name, the order named by the
os.modelarts/order.name label polled through GET /v1/{project_id}/orders?limit=500&involvedName=&since=&offset= until
successed, the order's succeeded node names, the nodes until their driver is Running, the scope states until Enabled;
an update by merge patch that scales under a new order; destroy polled to 404 — then a plug-in in that pool, gone with
it, against a server run with --parents strict."""
import time

import pytest

from golangsdk import UnexpectedResponseCode, UnexpectedState, decoded, get_unless_gone, wait_for_state

PROJECT = "0123456789abcdef0123456789abcdef"
POOLS = f"/v2/{PROJECT}/pools"
GPU = "modelarts.vm.gpu.pnt004"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}

# What the provider reads, as utils.PathSearch would find it.
POOL = {"metadata": {"name": str, "labels": "map[string]string", "annotations": "map[string]string"},
        "spec": {"scope": [str], "resources": [dict], "network": dict},
        "status": {"phase": str, "scope": [{"scopeType": str, "state": str}]}}
NODE = {"metadata": {"name": str, "labels": "map[string]string", "annotations": "map[string]string"},
        "status": {"phase": str, "driver": {"phase": str}}}


@pytest.fixture
def client(strict_client):
    return strict_client


def create_body(name, count):
    """buildCreateResourcePoolBodyParams after utils.RemoveNil (userLogin and clusters left out)."""
    return {"apiVersion": "v2", "kind": "Pool",
            "metadata": {"labels": {"os.modelarts/name": name, "os.modelarts/workspace.id": "0"},
                         "annotations": {"os.modelarts/description": "created by terraform"}},
            "spec": {"type": "Dedicate", "scope": ["Train", "Infer"], "resources": [{"flavor": GPU, "count": count}],
                     "network": {"name": "net-0001"}}}


def orders(client, pool):
    """getResourcePoolOrdersByResourcePoolId: pages of 500 since an hour ago, newest first."""
    since = int(time.time() * 1000) - 3_600_000
    found, offset = [], 0
    while True:
        _, body = client.request("GET", f"/v1/{PROJECT}/orders?limit=500&involvedName={pool}&since={since}&offset={offset}")
        found += body["items"]
        if len(body["items"]) < 500:
            return found
        offset += len(body["items"])


def order_refresh(client, pool, order_name):
    """refreshResourcePoolOrderStatus: successed and partialSuccessed complete, failed is an error."""
    def poll():
        order = next((o for o in orders(client, pool) if o["orderName"] == order_name), None)
        if order is None:
            raise UnexpectedState(f"unable to find any orders under the resource pool ({pool})")
        if order["phase"] == "failed":
            raise UnexpectedState(f"the order ({order_name}) failed: {order['failReason']}")
        return order, "COMPLETED" if order["phase"] in ("successed", "partialSuccessed") else "PENDING"
    return poll


def order_node_names(client, order_name):
    """getResourcePoolNodeNamesByOrderName: the names of items whose status is succeed."""
    _, body = client.request("GET", f"/v1/{PROJECT}/orders/{order_name}")
    return [i["resourceName"] for i in body["items"] if i["status"] == "succeed"]


def list_nodes(client, pool):
    _, body = client.request("GET", f"{POOLS}/{pool}/nodes")
    return [decoded(n, NODE) for n in body["items"]]


def drivers_refresh(client, pool, names):
    """refreshNodesDriverStatus: pending while a named node's driver phase is neither Running nor Abnormal (the pool's
    own name, also in the order, matches no node and is skipped)."""
    def poll():
        nodes = list_nodes(client, pool)
        for name in names:
            phase = next((n["status"]["driver"]["phase"] for n in nodes if n["metadata"]["name"] == name), "")
            if phase and phase not in ("Running", "Abnormal"):
                return nodes, "PENDING"
        return nodes, "COMPLETED"
    return poll


def pool_refresh(client, pool):
    """refreshResourcePoolScopeStatuses, and deleteResourcePoolWaitingForStateCompleted's 404."""
    def poll():
        p = get_unless_gone(client, f"{POOLS}/{pool}")
        if p is None:
            return "", "DELETED"
        decoded(p, POOL)
        done = all(s["state"] in ("Enabled", "Disabled") for s in p["status"]["scope"])
        return p, "COMPLETED" if done else "PENDING"
    return poll


def server_ids(names, nodes):
    return [n["metadata"]["labels"]["os.modelarts.node/underlying.instance.id"] for name in names for n in nodes
            if n["metadata"]["name"] == name]


def test_resource_pool_create_update_plugin_and_destroy_like_terraform(client):
    _, created = client.request("POST", POOLS, create_body("tf-pool", 2), ok_codes=[200])
    pool = created["metadata"]["name"]
    order = created["metadata"]["labels"]["os.modelarts/order.name"]
    wait_for_state(order_refresh(client, pool, order), ["PENDING"], ["COMPLETED"])
    names = order_node_names(client, order)
    assert names[0] == pool and len(names) == 3, "the pool itself, then its nodes"
    nodes = wait_for_state(drivers_refresh(client, pool, names), ["PENDING"], ["COMPLETED"])
    assert len(server_ids(names, nodes)) == 2
    read = wait_for_state(pool_refresh(client, pool), ["PENDING"], ["COMPLETED"])
    assert read["status"]["phase"] == "Running" and read["metadata"]["labels"]["os.modelarts/name"] == "tf-pool"
    assert read["metadata"]["annotations"]["os.modelarts/description"] == "created by terraform"
    assert read["metadata"]["labels"]["os.modelarts/resource.id"]

    # Update: count 2 -> 3 by merge patch; a scale waits for its order and the new node's driver.
    patch = {"metadata": {"annotations": {"os.modelarts/description": "scaled"}},
             "spec": {"scope": ["Train", "Infer"], "resources": [{"flavor": GPU, "count": 3}]}}
    _, updated = client.request("PATCH", f"{POOLS}/{pool}", patch, ok_codes=[200], more_headers=MERGE_PATCH)
    scale_order = updated["metadata"]["labels"]["os.modelarts/order.name"]
    assert scale_order != order
    wait_for_state(order_refresh(client, pool, scale_order), ["PENDING"], ["COMPLETED"])
    added = order_node_names(client, scale_order)
    assert len(added) == 1
    nodes = wait_for_state(drivers_refresh(client, pool, added), ["PENDING"], ["COMPLETED"])
    assert len(nodes) == 3 and len(server_ids(added, nodes)) == 1

    # A plug-in in that pool (strict parents: the pool exists and is Running).
    plugin = {"apiVersion": "v2", "kind": "Plugin", "spec": {"template": {"name": "gpu-driver"}}}
    client.request("POST", f"{POOLS}/{pool}/plugins", plugin, ok_codes=[200])

    # Destroy: the nodes (none pre-paid), the pool, the delete, polled to 404; the plug-in went with it.
    assert not [n for n in list_nodes(client, pool) if n["metadata"]["annotations"].get("os.modelarts/billing.mode") == "1"]
    client.request("GET", f"{POOLS}/{pool}", ok_codes=[200])
    client.request("DELETE", f"{POOLS}/{pool}", more_headers={"Content-Type": "application/json"})
    wait_for_state(pool_refresh(client, pool), ["PENDING", "COMPLETED"], ["DELETED"])
    with pytest.raises(UnexpectedResponseCode) as e:
        client.request("GET", f"{POOLS}/{pool}/plugins")
    assert e.value.actual == 404 and "ModelArts.50015001" in e.value.body


def test_a_failed_pool_order_ends_the_apply(client, strict_server):
    strict_server.control("POST", "/_mock/faults", {"match": {"service": "pool"}, "outcome": "Error", "reason": "ResourceSoldOut", "times": 1})
    _, created = client.request("POST", POOLS, create_body("tf-broken", 1), ok_codes=[200])
    order = created["metadata"]["labels"]["os.modelarts/order.name"]
    with pytest.raises(UnexpectedState, match="ResourceSoldOut"):
        wait_for_state(order_refresh(client, created["metadata"]["name"], order), ["PENDING"], ["COMPLETED"])


def test_batch_resize_answers_the_order_it_waits_on(client):
    """huaweicloud_modelarts_resource_pool_node_batch_resize: orderName from the answer, then the order and drivers."""
    _, created = client.request("POST", POOLS, create_body("tf-resize", 1), ok_codes=[200])
    pool = created["metadata"]["name"]
    wait_for_state(order_refresh(client, pool, created["metadata"]["labels"]["os.modelarts/order.name"]), ["PENDING"], ["COMPLETED"])
    node = list_nodes(client, pool)[0]["metadata"]["name"]
    body = {"nodes": [{"batchUID": "b-1", "deleteNodeNames": [node]}],
            "source": {"nodePool": "default", "flavor": GPU, "creatingStep": {}},
            "target": {"nodePool": "default", "flavor": "modelarts.vm.gpu.pnt008", "creatingStep": {}}}
    _, answer = client.request("POST", f"{POOLS}/{pool}/nodes/batch-resize", body)
    wait_for_state(order_refresh(client, pool, answer["orderName"]), ["PENDING"], ["COMPLETED"])
    names = order_node_names(client, answer["orderName"])
    assert names == [node]
    nodes = wait_for_state(drivers_refresh(client, pool, names), ["PENDING"], ["COMPLETED"])
    assert nodes[0]["spec"]["flavor"] == "modelarts.vm.gpu.pnt008"
