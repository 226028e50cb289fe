"""huaweicloud_cce_cluster and huaweicloud_cce_node_pool as the provider drives them, then an add-on in that cluster
(huaweicloud/services/cce/resource_huaweicloud_cce_cluster.go and resource_huaweicloud_cce_node_pool.go,
vendor/github.com/chnsz/golangsdk/openstack/cce/v3/clusters and nodepools: Create OkCodes [201]; Get, Update, Delete
and Operation [200]; GetCert the POST defaults), against a server run with --clusters strict."""
import pytest

from golangsdk import ADDON, UnexpectedResponseCode, UnexpectedState, decoded, get_unless_gone, wait_for_state

PROJECT = "0123456789abcdef0123456789abcdef"
BASE = f"/api/v3/projects/{PROJECT}"

# The provider's structs, as encoding/json would fill them (clusters.Clusters, nodepools.NodePool, clusters.Job).
CLUSTER = {"kind": str, "apiVersion": str,
           "metadata": {"name": str, "uid": str, "alias": str, "annotations": "map[string]string", "labels": "map[string]string",
                        "creationTimestamp": str, "updateTimestamp": str, "timezone": str},
           "spec": {"category": str, "type": str, "flavor": str, "version": str, "description": str, "customSan": [str],
                    "ipv6enable": bool, "hostNetwork": {"vpc": str, "subnet": str}, "containerNetwork": {"mode": str, "cidr": str},
                    "authentication": {"mode": str}, "kubeProxyMode": str, "az": str},
           "status": {"phase": str, "jobID": str, "reason": str, "message": str, "endpoints": [{"url": str, "type": str}]}}
JOB = {"kind": str, "metadata": {"uid": str}, "spec": {"type": str, "clusterUID": str, "resourceID": str, "subJobs": [dict]},
       "status": {"phase": str, "reason": str}}
NODEPOOL = {"kind": str, "apiVersion": str, "metadata": {"name": str, "uid": str},
            "spec": {"type": str, "nodeTemplate": dict, "autoscaling": dict, "nodeManagement": dict},
            "status": {"phase": str, "jobId": str, "conditions": [dict]}}
CERT = {"kind": str, "apiVersion": str, "clusters": [{"name": str, "cluster": {"server": str, "certificate-authority-data": str}}],
        "users": [{"name": str, "user": {"client-certificate-data": str, "client-key-data": str}}],
        "contexts": [{"name": str, "context": {"cluster": str, "user": str}}], "current-context": str}


# The earlier name of --parents, kept working.
STRICT_ARGS = ("--clusters", "strict")


@pytest.fixture
def client(strict_client):
    return strict_client


def cluster_create_opts(name):
    """clusters.CreateOpts through BuildRequestBody (note golangsdk's `apiversion` key)."""
    return {"kind": "Cluster", "apiversion": "v3", "metadata": {"name": name},
            "spec": {"category": "CCE", "type": "VirtualMachine", "flavor": "cce.s1.small", "version": "v1.29",
                     "description": "created by terraform", "ipv6enable": False, "billingMode": 0,
                     "hostNetwork": {"vpc": "vpc-0001", "subnet": "subnet-0001"},
                     "containerNetwork": {"mode": "overlay_l2", "cidr": "172.16.0.0/16"},
                     "authentication": {"mode": "rbac"}, "kubeProxyMode": "iptables",
                     "extendParam": {"clusterAZ": "multi_az"}}}


def job_refresh(client, job_id):
    """waitForJobStatus: GET jobs/{id}; Initializing and Running pend, Success completes, Failed is an error."""
    def poll():
        _, job = client.request("GET", f"{BASE}/jobs/{job_id}")
        decoded(job, JOB)
        phase = job["status"]["phase"]
        if phase == "Failed":
            raise UnexpectedState(f"job {job_id} failed: {job['status']['reason']}")
        return job, phase
    return poll


def cluster_refresh(client, cluster_id):
    """waitForClusterAvailable/Delete: GET clusters/{id}; a 404 is Deleted; Error, Shelved, Unknow are failures."""
    def poll():
        c = get_unless_gone(client, f"{BASE}/clusters/{cluster_id}")
        if c is None:
            return "", "Deleted"
        decoded(c, CLUSTER)
        if c["status"]["phase"] in ("Error", "Shelved", "Unknow"):
            raise UnexpectedState(f"cluster is {c['status']['phase']}")
        return c, c["status"]["phase"]
    return poll


def nodepool_refresh(client, cluster_id, pool_id):
    """waitForNodePoolActive: ready is an empty status.phase ("" -> Active); a 404 is Deleted."""
    def poll():
        p = get_unless_gone(client, f"{BASE}/clusters/{cluster_id}/nodepools/{pool_id}")
        if p is None:
            return "", "Deleted"
        decoded(p, NODEPOOL)
        phase = p["status"]["phase"]
        if phase in ("Error", "Shelved", "Unknow"):
            raise UnexpectedState(f"node pool is {phase}")
        return p, phase or "Active"
    return poll


def read_cluster(client, cluster_id):
    """resourceClusterRead: the cluster, then its kubeconfig (GetCert with duration -1)."""
    _, c = client.request("GET", f"{BASE}/clusters/{cluster_id}")
    _, cert = client.request("POST", f"{BASE}/clusters/{cluster_id}/clustercert", {"duration": -1})
    return decoded(c, CLUSTER), decoded(cert, CERT)


def test_cluster_node_pool_and_addon_then_destroy_like_terraform(client):
    # huaweicloud_cce_cluster: create (201), the job, then Available.
    _, created = client.request("POST", f"{BASE}/clusters", cluster_create_opts("tf-cluster"), ok_codes=[201])
    cluster_id, job_id = created["metadata"]["uid"], created["status"]["jobID"]
    job = wait_for_state(job_refresh(client, job_id), ["Initializing", "Running"], ["Success"])
    assert job["spec"]["clusterUID"] == cluster_id
    wait_for_state(cluster_refresh(client, cluster_id), ["Creating"], ["Available"])
    cluster, cert = read_cluster(client, cluster_id)
    assert cluster["spec"]["description"] == "created by terraform"
    assert cert["clusters"][0]["cluster"]["server"] == cluster["status"]["endpoints"][0]["url"]

    # huaweicloud_cce_node_pool: the cluster must be Available first, then create (201) and wait for "".
    pool_body = {"kind": "NodePool", "apiversion": "v3", "metadata": {"name": "tf-pool"},
                 "spec": {"type": "vm", "initialNodeCount": 2,
                          "nodeTemplate": {"flavor": "c7.large.2", "az": "cn-north-4a", "os": "EulerOS 2.9",
                                           "login": {"sshKey": "tf-key"}, "rootVolume": {"size": 40, "volumetype": "SSD"},
                                           "dataVolumes": [{"size": 100, "volumetype": "SSD"}], "billingMode": 0},
                          "autoscaling": {"enable": False}, "nodeManagement": {}}}
    _, pool = client.request("POST", f"{BASE}/clusters/{cluster_id}/nodepools", pool_body, ok_codes=[201])
    pool_id = pool["metadata"]["uid"]
    ready = wait_for_state(nodepool_refresh(client, cluster_id, pool_id), ["Synchronizing", "Synchronized"], ["Active"])
    assert ready["status"]["currentNode"] == 2
    # Update with golangsdk's UpdateOpts: initialNodeCount 3, ignoreInitialNodeCount false, nodeTemplate updates.
    update = {"metadata": {"name": "tf-pool"}, "spec": {"initialNodeCount": 3, "ignoreInitialNodeCount": False,
                                                        "nodeTemplate": {"k8sTags": {"team": "a"}}, "autoscaling": {"enable": False}}}
    client.request("PUT", f"{BASE}/clusters/{cluster_id}/nodepools/{pool_id}", update, ok_codes=[200])
    ready = wait_for_state(nodepool_refresh(client, cluster_id, pool_id), ["Synchronizing"], ["Active"])
    assert ready["status"]["currentNode"] == 3

    # huaweicloud_cce_addon in that cluster (the {cluster_id}. host prefix, as addons.CCEServiceURL builds it).
    addon_body = {"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.install/type": "install"}},
                  "spec": {"clusterID": cluster_id, "addonTemplateName": "coredns", "values": {"basic": {}}}}
    _, addon = client.request("POST", "/api/v3/addons", addon_body, ok_codes=[201], host_prefix=cluster_id)
    decoded(addon, ADDON)

    def addon_refresh():
        _, a = client.request("GET", f"/api/v3/addons/{addon['metadata']['uid']}?cluster_id={cluster_id}", host_prefix=cluster_id)
        return decoded(a, ADDON), a["status"]["status"]
    assert wait_for_state(addon_refresh, ["installing"], ["running", "available"])["spec"]["version"] == "1.30.6"

    # terraform destroy: add-on, node pool, cluster, each polled to 404.
    client.request("DELETE", f"/api/v3/addons/{addon['metadata']['uid']}?cluster_id={cluster_id}", ok_codes=[200], host_prefix=cluster_id)
    client.request("DELETE", f"{BASE}/clusters/{cluster_id}/nodepools/{pool_id}", ok_codes=[200])
    wait_for_state(nodepool_refresh(client, cluster_id, pool_id), ["Deleting", "Active"], ["Deleted"])
    client.request("DELETE", f"{BASE}/clusters/{cluster_id}?delete_efs=false&delete_eni=true&delete_evs=false"
                   "&delete_net=true&delete_obs=false&delete_sfs=false&delete_sfs30=false", ok_codes=[200])
    wait_for_state(cluster_refresh(client, cluster_id), ["Deleting", "Available"], ["Deleted"])
    # Strict: the cluster is gone, so its add-ons can no longer be listed.
    with pytest.raises(UnexpectedResponseCode) as e:
        client.request("GET", f"/api/v3/addons?cluster_id={cluster_id}", host_prefix=cluster_id)
    assert e.value.actual == 404


def test_hibernate_and_awake_wait_for_their_phases(client):
    """The cluster resource's hibernate flag: POST operation/hibernate (no body, [200]) waits for Hibernation;
    operation/awake waits for Available."""
    _, created = client.request("POST", f"{BASE}/clusters", cluster_create_opts("tf-sleepy"), ok_codes=[201])
    cluster_id = created["metadata"]["uid"]
    wait_for_state(cluster_refresh(client, cluster_id), ["Creating"], ["Available"])
    client.request("POST", f"{BASE}/clusters/{cluster_id}/operation/hibernate", ok_codes=[200])
    wait_for_state(cluster_refresh(client, cluster_id), ["Available", "Hibernating"], ["Hibernation"])
    client.request("POST", f"{BASE}/clusters/{cluster_id}/operation/awake", ok_codes=[200])
    wait_for_state(cluster_refresh(client, cluster_id), ["Hibernation", "Awaking"], ["Available"])


def test_strict_clusters_refuse_an_addon_for_a_cluster_that_does_not_exist(client):
    body = {"kind": "Addon", "apiVersion": "v3", "spec": {"clusterID": "no-such-cluster", "addonTemplateName": "coredns", "values": {}}}
    with pytest.raises(UnexpectedResponseCode) as e:
        client.request("POST", "/api/v3/addons", body, ok_codes=[201], host_prefix="no-such-cluster")
    assert e.value.actual == 404


def test_a_failed_cluster_create_ends_the_apply_at_the_job(client, strict_server):
    strict_server.control("POST", "/_mock/faults", {"match": {"service": "cluster"}, "outcome": "Error", "reason": "QuotaExceeded", "times": 1})
    _, created = client.request("POST", f"{BASE}/clusters", cluster_create_opts("tf-broken"), ok_codes=[201])
    with pytest.raises(UnexpectedState, match="QuotaExceeded"):
        wait_for_state(job_refresh(client, created["status"]["jobID"]), ["Initializing", "Running"], ["Success"])
