"""Every CceClient add-on call, both route families, full lifecycles and every error, through the official SDK."""
import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcce.v3 import (
    AddonCheckRequest, AddonCheckSpec, AddonInfo, BatchCreateAddonPrecheckRequest, ListAddonPrecheckTasksRequest,
    AddonInstanceRollbackRequest, AddonMetadata, CreateAddonInstanceRequest, CreateAutopilotAddonInstanceRequest,
    DeleteAddonInstanceRequest, DeleteAutopilotAddonInstanceRequest, InstanceRequest, InstanceRequestSpec,
    ListAddonInstancesRequest, ListAddonTemplatesRequest, ListAutopilotAddonInstancesRequest,
    ListAutopilotAddonTemplatesRequest, RollbackAddonInstanceRequest, RollbackAutopilotAddonInstanceRequest,
    ShowAddonInstanceRequest, ShowAutopilotAddonInstanceRequest, UpdateAddonInstanceRequest,
    UpdateAutopilotAddonInstanceRequest,
)

from conftest import REQUEST_ID, assert_sdk_error

CLUSTER = "3f7c1a52-0000-4000-8000-000000000001"


def instance_body(template, version=None, values=None, upgrade=False):
    annotations = {"addon.upgrade/type": "upgrade"} if upgrade else {"addon.install/type": "install"}
    return InstanceRequest(kind="Addon", api_version="v3", metadata=AddonMetadata(annotations=annotations),
                           spec=InstanceRequestSpec(version=version, cluster_id=CLUSTER, values=values or {},
                                                    addon_template_name=template))


# Each route family: (create, list, show, update, delete, rollback, templates) request classes and client methods.
FAMILIES = {
    "cce": (CreateAddonInstanceRequest, ListAddonInstancesRequest, ShowAddonInstanceRequest, UpdateAddonInstanceRequest,
            DeleteAddonInstanceRequest, RollbackAddonInstanceRequest, ListAddonTemplatesRequest, ""),
    "autopilot": (CreateAutopilotAddonInstanceRequest, ListAutopilotAddonInstancesRequest, ShowAutopilotAddonInstanceRequest,
                  UpdateAutopilotAddonInstanceRequest, DeleteAutopilotAddonInstanceRequest,
                  RollbackAutopilotAddonInstanceRequest, ListAutopilotAddonTemplatesRequest, "autopilot_"),
}


def call(client, family, verb, request):
    noun = {"create": "addon_instance", "list": "addon_instances", "show": "addon_instance", "update": "addon_instance",
            "delete": "addon_instance", "rollback": "addon_instance", "templates": "addon_templates"}[verb]
    method = {"templates": "list"}.get(verb, verb)
    return getattr(client, f"{method}_{FAMILIES[family][7]}{noun}")(request)


@pytest.mark.parametrize("family", ["cce", "autopilot"])
def test_full_lifecycle_in_the_manual_profile(start, family):
    server = start("--profile", "manual")
    create_r, list_r, show_r, update_r, delete_r, rollback_r, _, _ = FAMILIES[family]
    cce = server.cce()

    created = call(cce, family, "create", create_r(body=instance_body("gpu-beta", "2.0.0",
                                                                      {"basic": {"swr_addr": "swr.example"}})))
    assert created.status.status == "installing"
    assert created.spec.values["basic"]["swr_addr"] == "swr.example"
    assert created.status.current_version.version == "2.0.0"
    uid = created.metadata.uid

    shown = call(cce, family, "show", show_r(id=uid, cluster_id=CLUSTER))
    assert shown.status.status == "installing", "manual: nothing moves by itself"
    server.advance("addons", uid)
    shown = call(cce, family, "show", show_r(id=uid, cluster_id=CLUSTER))
    assert shown.status.status == "running"
    assert shown.status.reason == ""            # the wire's "Reason" (capital R) reaches the SDK field
    assert shown.status.is_rollbackable is False

    listed = call(cce, family, "list", list_r(cluster_id=CLUSTER))
    assert listed.kind == "Addon" and [i.metadata.uid for i in listed.items] == [uid]

    updated = call(cce, family, "update", update_r(id=uid, body=instance_body("gpu-beta", "2.1.0", {}, upgrade=True)))
    assert updated.status.status == "upgrading"
    assert updated.status.previous_version == "2.0.0"
    server.advance("addons", uid)

    rolled = call(cce, family, "rollback", rollback_r(id=uid, body=AddonInstanceRollbackRequest(cluster_id=CLUSTER)))
    assert rolled.status.status == "rollbacking"
    server.advance("addons", uid)
    shown = call(cce, family, "show", show_r(id=uid, cluster_id=CLUSTER))
    assert (shown.status.status, shown.spec.version) == ("running", "2.0.0")

    deleted = call(cce, family, "delete", delete_r(id=uid, cluster_id=CLUSTER))
    assert deleted.body == "success"
    assert call(cce, family, "show", show_r(id=uid, cluster_id=CLUSTER)).status.status == "deleting"
    server.advance("addons", uid)
    with pytest.raises(ClientRequestException) as e:
        call(cce, family, "show", show_r(id=uid, cluster_id=CLUSTER))
    assert_sdk_error(e, server, 404, "CCE.03404001")


def test_addon_precheck_tasks_through_the_sdk(start):
    """BatchCreateAddonPrecheck and ListAddonPrecheckTasks: one task per add-on, Running until advanced, risks
    derived from the stored add-on and the catalog, every list filter."""
    server = start("--profile", "manual")
    cce = server.cce(project="p1")
    uid = cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns", "1.28.4"))).metadata.uid
    server.advance("addons", uid)

    batch = cce.batch_create_addon_precheck(BatchCreateAddonPrecheckRequest(cluster_id=CLUSTER, body=AddonCheckRequest(
        kind="AddonCheck", api_version="v3", spec=AddonCheckSpec(cluster_id=CLUSTER, addon_list=[
            AddonInfo(addon_template_name="coredns", addon_instance_id=uid, type="addonUpgrade", target_version="1.30.6"),
            AddonInfo(addon_template_name="coredns", addon_instance_id=uid, type="addonUpgrade", target_version="9.0.0"),
            AddonInfo(addon_instance_id="not-installed", type="addonStatic")]))))
    assert (batch.kind, batch.api_version, batch.spec.cluster_id) == ("AddonCheck", "v3", CLUSTER)
    assert batch.status.phase == "Running"
    task_ids = [item.name for item in batch.status.items_status]
    assert len(task_ids) == 3 and all(i.phase == "Running" for i in batch.status.items_status)

    def tasks(**filters):
        listed = cce.list_addon_precheck_tasks(ListAddonPrecheckTasksRequest(cluster_id=CLUSTER, **filters))
        assert listed.page_info.current_count == len(listed.items)
        return listed.items

    assert [t.status.status for t in tasks()] == ["Running"] * 3, "manual: a check waits for an advance"
    for task_id in task_ids:
        server.advance("addonchecks", task_id)
    clean, missing_version, missing_addon = (tasks(task_id=i)[0] for i in task_ids)
    assert clean.status.status == "Success" and clean.spec.addon_target_version == "1.30.6"
    assert clean.metadata.addon_instance_name == "coredns" and clean.metadata.expire_time_stamp
    assert all(r.status == "Success" for r in clean.status.risk_list)
    assert missing_version.status.status == "Failed"
    assert [(r.risk_name, r.level) for r in missing_version.status.risk_list if r.status == "Failed"] == \
        [("TargetVersionExists", "Fatal")]
    assert missing_addon.status.message == f"1 risk found: addon instance not-installed not found in cluster {CLUSTER}"

    assert len(tasks(type="addonUpgrade")) == 2
    assert len(tasks(addon_instance_id=uid)) == 2
    assert tasks(type="addonStatic", addon_instance_id=uid) == []
    with pytest.raises(ClientRequestException) as e:
        tasks(type="weekly")
    assert_sdk_error(e, server, 400, "CCE.03400001")


def test_instant_profile_next_read_is_settled(start):
    server = start("--profile", "instant")
    cce = server.cce()
    created = cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns")))
    assert created.status.status == "installing"
    assert created.spec.version == "1.30.6", "newest stable version when none is given"
    uid = created.metadata.uid
    assert cce.show_addon_instance(ShowAddonInstanceRequest(id=uid)).status.status == "running"
    assert cce.update_addon_instance(UpdateAddonInstanceRequest(
        id=uid, body=instance_body("coredns", "1.29.5", upgrade=True))).status.status == "upgrading"
    assert cce.show_addon_instance(ShowAddonInstanceRequest(id=uid)).status.status == "running"
    assert cce.rollback_addon_instance(RollbackAddonInstanceRequest(
        id=uid, body=AddonInstanceRollbackRequest(cluster_id=CLUSTER))).status.status == "rollbacking"
    shown = cce.show_addon_instance(ShowAddonInstanceRequest(id=uid, cluster_id=CLUSTER))
    assert (shown.status.status, shown.spec.version) == ("running", "1.30.6")
    assert cce.delete_addon_instance(DeleteAddonInstanceRequest(id=uid, cluster_id=CLUSTER)).body == "success"
    assert cce.list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER)).items == []


@pytest.mark.parametrize("family", ["cce", "autopilot"])
def test_templates(start, family):
    server = start()
    cce = server.cce()
    request = FAMILIES[family][6]
    everything = call(cce, family, "templates", request())
    assert len(everything.items) == 9   # storage-driver is there for the UpdateAddonInstance example
    gpu = call(cce, family, "templates", request(addon_template_name="gpu-device-plugin")).items[0]
    assert gpu.metadata.name == "gpu-beta"
    assert gpu.spec.versions[0].support_versions[0].cluster_type == "VirtualMachine"
    assert gpu.spec.versions[-1].input["custom"]["is_driver_from_nvidia"] is True


def test_errors_reach_the_sdk_as_its_exceptions(start):
    server = start("--profile", "manual")
    cce = server.cce()
    with pytest.raises(ClientRequestException) as e:
        cce.show_addon_instance(ShowAddonInstanceRequest(id="missing"))
    assert assert_sdk_error(e, server, 404, "CCE.03404001").error_msg == "addon instance missing not found"

    with pytest.raises(ClientRequestException) as e:
        cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("nosuch")))
    assert_sdk_error(e, server, 404, "CCE.03404001")

    with pytest.raises(ClientRequestException) as e:
        cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns", "0.0.1")))
    assert "available versions" in assert_sdk_error(e, server, 400, "CCE.03400001").error_msg

    uid = cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns"))).metadata.uid
    with pytest.raises(ClientRequestException) as e:
        cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns")))
    assert assert_sdk_error(e, server, 409, "CCE.03409001").error_msg.startswith("Addon instance has installed")

    with pytest.raises(ClientRequestException) as e:
        cce.update_addon_instance(UpdateAddonInstanceRequest(id=uid, body=instance_body("coredns", "1.29.5", upgrade=True)))
    assert "is installing" in assert_sdk_error(e, server, 409, "CCE.03409001").error_msg

    server.advance("addons", uid)
    with pytest.raises(ClientRequestException) as e:
        cce.rollback_addon_instance(RollbackAddonInstanceRequest(id=uid, body=AddonInstanceRollbackRequest(cluster_id=CLUSTER)))
    assert "no previous version" in assert_sdk_error(e, server, 409, "CCE.03409001").error_msg

    with pytest.raises(ClientRequestException) as e:
        cce.list_addon_instances(ListAddonInstancesRequest(cluster_id=None))
    assert_sdk_error(e, server, 400, "CCE.03400001")

    with pytest.raises(ClientRequestException) as e:
        cce.list_addon_templates(ListAddonTemplatesRequest(addon_template_name="-bad-"))
    assert_sdk_error(e, server, 400, "CCE.03400001")

    # Injected throttling and server errors, still parsed by the SDK (no JSONDecodeError on any error path).
    # A 429 never reaches the SDK's error handler: its urllib3 retry policy (status_forcelist [429]) gives up first
    # and the SDK reports ClientRequestException(429, error_code "429"). The body is still the CCE envelope.
    server.control("POST", "/_mock/faults", {"match": {"route": "/api/v3/addons"}, "status": 429, "times": 2})
    with pytest.raises(ClientRequestException) as e:
        cce.list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER))
    assert (e.value.status_code, e.value.error_code) == (429, "429")
    raw = requests.get(server.url + "/api/v3/addons", params={"cluster_id": CLUSTER}, timeout=5)
    assert (raw.status_code, raw.json()["error_code"], raw.headers["Retry-After"]) == (429, "CCE.02429001", "1")
    server.control("POST", "/_mock/faults", {"match": {"route": "/api/v3/addons/{id}"}, "status": 503, "times": 1})
    with pytest.raises(ServerResponseException) as e:
        cce.show_addon_instance(ShowAddonInstanceRequest(id=uid))
    assert_sdk_error(e, server, 503, "CCE.03503001")


def test_forced_failure_is_visible_through_the_sdk(start):
    server = start("--profile", "manual")
    cce = server.cce()
    server.control("POST", "/_mock/faults", {"match": {"template": "npd"}, "outcome": "installFailed",
                                             "reason": "ImagePullBackOff", "message": "pull access denied"})
    uid = cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("npd"))).metadata.uid
    server.advance("addons", uid)
    shown = cce.show_addon_instance(ShowAddonInstanceRequest(id=uid))
    assert (shown.status.status, shown.status.reason, shown.status.message) == \
        ("installFailed", "ImagePullBackOff", "pull access denied")
    assert REQUEST_ID.match(server.journal(limit=1)[0]["requestId"])
