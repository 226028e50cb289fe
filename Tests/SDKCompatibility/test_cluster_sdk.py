"""CCE clusters, node pools, nodes and jobs through the official Python SDK (huaweicloudsdkcce): the flow a user's
script runs, every cluster, node pool, node and job method it has that the emulator serves, and their errors."""
import re

import pytest
import requests
from huaweicloudsdkcce.v3 import (
    AddonMetadata, AwakeClusterRequest, Cluster, ClusterCertDuration,
    ClusterInformation, ClusterInformationSpec, ClusterMetadata, ClusterSpec, ContainerNetwork, CreateAddonInstanceRequest,
    CreateClusterRequest, CreateKubernetesClusterCertRequest, CreateNodePoolRequest, DeleteClusterRequest,
    DeleteNodePoolRequest, HibernateClusterRequest, HostNetwork, InstanceRequest, InstanceRequestSpec, ListAddonInstancesRequest, ListAddonTemplatesRequest,
    ListClustersRequest, ListNodePoolsRequest, ListNodesRequest, NodePool, NodePoolMetadata, NodePoolMetadataUpdate,
    NodePoolSpec, NodePoolSpecUpdate, NodePoolUpdate, NodeTemplate, ScaleNodePoolRequest, ScaleNodePoolRequestBody,
    ScaleNodePoolSpec, ShowAddonInstanceRequest, ShowClusterRequest, ShowJobRequest, ShowNodePoolRequest, ShowNodeRequest,
    UpdateClusterRequest, UpdateNodePoolRequest,
)
from huaweicloudsdkcce.v3 import (
    AutopilotCluster, AutopilotClusterMetadata, AutopilotClusterSpec, AutopilotHostNetwork, CreateAutopilotClusterRequest,
    DeleteAutopilotClusterRequest, ListAutopilotClustersRequest, ShowAutopilotClusterRequest, ShowAutopilotJobRequest,
)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import PROJECT, assert_sdk_error, gone, wait


def cluster_body(name, version="v1.29"):
    return Cluster(
        kind="Cluster", api_version="v3", metadata=ClusterMetadata(name=name),
        spec=ClusterSpec(flavor="cce.s1.small", version=version, host_network=HostNetwork(vpc="vpc-1", subnet="subnet-1"),
                         container_network=ContainerNetwork(mode="overlay_l2", cidr="172.16.0.0/16")))


def supports(version_entry, cluster_version):
    """Whether a template version's supportVersions covers the cluster (the provider filters client-side too)."""
    for entry in version_entry.support_versions or []:
        if entry.cluster_type == "VirtualMachine":
            for pattern in entry.cluster_version:
                if re.fullmatch(pattern, cluster_version + ".0"):
                    return True
    return False


def test_a_whole_cluster_flow_with_only_the_sdk(start):
    """Create a cluster, wait for Available, add a pool of 3, install coredns at a version the cluster supports,
    scale to 5, hibernate and wake, delete, and see everything gone."""
    server = start("--profile", "fast")
    cce = server.cce(project=PROJECT)
    created = cce.create_cluster(CreateClusterRequest(body=cluster_body("sdk-flow", version="v1.25")))
    cid, job = created.metadata.uid, created.status.job_id
    assert created.status.phase == "Creating" and job
    assert wait(lambda: cce.show_job(ShowJobRequest(job_id=job)).status.phase, lambda p: p == "Success") == "Success"
    wait(lambda: cce.show_cluster(ShowClusterRequest(cluster_id=cid)).status.phase, lambda p: p == "Available")
    assert [c.metadata.name for c in cce.list_clusters(ListClustersRequest(status="Available")).items] == ["sdk-flow"]

    pool = cce.create_node_pool(CreateNodePoolRequest(cluster_id=cid, body=NodePool(
        kind="NodePool", api_version="v3", metadata=NodePoolMetadata(name="pool-a"),
        spec=NodePoolSpec(initial_node_count=3, node_template=NodeTemplate(flavor="c7.large.2", az="cn-north-4a", os="EulerOS 2.9")))))
    pid = pool.metadata.uid
    shown = wait(lambda: cce.show_node_pool(ShowNodePoolRequest(cluster_id=cid, nodepool_id=pid)), lambda p: p.status.phase == "")
    assert shown.status.current_node == 3
    assert len(cce.list_nodes(ListNodesRequest(cluster_id=cid)).items) == 3

    templates = cce.list_addon_templates(ListAddonTemplatesRequest(addon_template_name="coredns")).items
    versions = [v.version for v in templates[0].spec.versions if supports(v, "v1.25")]
    assert versions == ["1.25.1", "1.28.4", "1.29.5"]
    # The server filters too, for a cluster the request names.
    filtered = requests.get(f"{server.url}/api/v3/addontemplates", params={"cluster_id": cid}, timeout=10).json()
    coredns = next(t for t in filtered["items"] if t["metadata"]["name"] == "coredns")
    assert [v["version"] for v in coredns["spec"]["versions"]] == versions
    addon = cce.create_addon_instance(CreateAddonInstanceRequest(body=InstanceRequest(
        kind="Addon", api_version="v3", metadata=AddonMetadata(annotations={"addon.install/type": "install"}),
        spec=InstanceRequestSpec(cluster_id=cid, version=versions[-1], addon_template_name="coredns", values={"basic": {}}))))
    wait(lambda: cce.show_addon_instance(ShowAddonInstanceRequest(id=addon.metadata.uid, cluster_id=cid)).status.status,
         lambda s: s == "running")

    cce.scale_node_pool(ScaleNodePoolRequest(cluster_id=cid, nodepool_id=pid, body=ScaleNodePoolRequestBody(
        kind="NodePool", api_version="v3", spec=ScaleNodePoolSpec(desired_node_count=5))))
    wait(lambda: cce.show_node_pool(ShowNodePoolRequest(cluster_id=cid, nodepool_id=pid)).status.current_node, lambda n: n == 5)
    nodes = cce.list_nodes(ListNodesRequest(cluster_id=cid)).items
    assert len(nodes) == 5 and all(n.status.phase == "Active" for n in nodes)
    assert cce.show_node(ShowNodeRequest(cluster_id=cid, node_id=nodes[0].metadata.uid)).status.private_ip == nodes[0].status.private_ip

    cce.hibernate_cluster(HibernateClusterRequest(cluster_id=cid))
    wait(lambda: cce.show_cluster(ShowClusterRequest(cluster_id=cid)).status.phase, lambda p: p == "Hibernation")
    cce.awake_cluster(AwakeClusterRequest(cluster_id=cid))
    wait(lambda: cce.show_cluster(ShowClusterRequest(cluster_id=cid)).status.phase, lambda p: p == "Available")

    deleting = cce.delete_cluster(DeleteClusterRequest(cluster_id=cid, delete_evs="true", delete_net="true"))
    assert deleting.status.phase == "Deleting"
    wait(lambda: gone(lambda: cce.show_cluster(ShowClusterRequest(cluster_id=cid))), bool)
    assert gone(lambda: cce.show_node_pool(ShowNodePoolRequest(cluster_id=cid, nodepool_id=pid)))
    assert gone(lambda: cce.show_addon_instance(ShowAddonInstanceRequest(id=addon.metadata.uid, cluster_id=cid)))
    assert cce.list_clusters(ListClustersRequest()).items == []
    deleted = server.control("GET", "/_mock/resources/nodepools")["items"] + server.control("GET", "/_mock/resources/addons")["items"]
    assert deleted == []


def test_updates_certs_and_pool_changes(start):
    server = start("--profile", "instant")
    cce = server.cce(project=PROJECT)
    cid = cce.create_cluster(CreateClusterRequest(body=cluster_body("sdk-more"))).metadata.uid
    updated = cce.update_cluster(UpdateClusterRequest(cluster_id=cid, body=ClusterInformation(
        spec=ClusterInformationSpec(description="from the SDK", custom_san=["api.example"]))))
    assert updated.spec.description == "from the SDK" and updated.spec.custom_san == ["api.example"]
    cert = cce.create_kubernetes_cluster_cert(CreateKubernetesClusterCertRequest(cluster_id=cid, body=ClusterCertDuration(duration=30)))
    assert cert.clusters[0].cluster.server.startswith("https://") and cert.current_context == "internal"
    pool = cce.create_node_pool(CreateNodePoolRequest(cluster_id=cid, body=NodePool(
        metadata=NodePoolMetadata(name="pool-b"),
        spec=NodePoolSpec(initial_node_count=1, node_template=NodeTemplate(flavor="c7.large.2", az="az1")))))
    changed = cce.update_node_pool(UpdateNodePoolRequest(cluster_id=cid, nodepool_id=pool.metadata.uid, body=NodePoolUpdate(
        metadata=NodePoolMetadataUpdate(name="pool-b"), spec=NodePoolSpecUpdate(initial_node_count=2))))
    assert changed.spec.initial_node_count == 2
    assert [p.metadata.name for p in cce.list_node_pools(ListNodePoolsRequest(cluster_id=cid)).items] == ["pool-b"]
    cce.delete_node_pool(DeleteNodePoolRequest(cluster_id=cid, nodepool_id=pool.metadata.uid))
    assert cce.list_node_pools(ListNodePoolsRequest(cluster_id=cid)).items == []


def test_cluster_errors_reach_the_sdk_as_its_exceptions(start):
    server = start("--profile", "manual")
    cce = server.cce(project=PROJECT)
    with pytest.raises(exceptions.ClientRequestException) as e:
        cce.show_cluster(ShowClusterRequest(cluster_id="nope"))
    assert_sdk_error(e, server, 404, "CCE.03404001")
    cid = cce.create_cluster(CreateClusterRequest(body=cluster_body("sdk-errors"))).metadata.uid
    with pytest.raises(exceptions.ClientRequestException) as e:
        cce.create_cluster(CreateClusterRequest(body=cluster_body("sdk-errors")))
    assert_sdk_error(e, server, 409, "CCE.03409001")
    with pytest.raises(exceptions.ClientRequestException) as e:
        cce.hibernate_cluster(HibernateClusterRequest(cluster_id=cid))   # still Creating
    assert_sdk_error(e, server, 409, "CCE.03409001")
    with pytest.raises(exceptions.ClientRequestException) as e:
        cce.create_node_pool(CreateNodePoolRequest(cluster_id=cid, body=NodePool(
            metadata=NodePoolMetadata(name="early"), spec=NodePoolSpec(node_template=NodeTemplate(flavor="f", az="a")))))
    assert_sdk_error(e, server, 400, "CCE.03400001")
    server.control("POST", f"/_mock/resources/clusters/{cid}/status", {"advance": True})
    assert cce.show_cluster(ShowClusterRequest(cluster_id=cid)).status.phase == "Available"
    assert cce.list_addon_instances(ListAddonInstancesRequest(cluster_id=cid)).items == []


def test_autopilot_clusters_through_the_sdk(start):
    server = start("--profile", "instant")
    cce = server.cce(project=PROJECT)
    created = cce.create_autopilot_cluster(CreateAutopilotClusterRequest(body=AutopilotCluster(
        kind="Cluster", api_version="v3", metadata=AutopilotClusterMetadata(name="sdk-autopilot"),
        spec=AutopilotClusterSpec(version="v1.30", host_network=AutopilotHostNetwork(vpc="vpc-1", subnet="subnet-1")))))
    cid = created.metadata.uid
    assert created.spec.flavor == "cce.autopilot.cluster"
    assert cce.show_autopilot_job(ShowAutopilotJobRequest(job_id=created.status.job_id)).status.phase == "Success"
    assert cce.show_autopilot_cluster(ShowAutopilotClusterRequest(cluster_id=cid)).status.phase == "Available"
    assert [c.metadata.uid for c in cce.list_autopilot_clusters(ListAutopilotClustersRequest()).items] == [cid]
    cce.delete_autopilot_cluster(DeleteAutopilotClusterRequest(cluster_id=cid))
    assert cce.list_autopilot_clusters(ListAutopilotClustersRequest()).items == []
