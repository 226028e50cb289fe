"""--auth aksk verifies the SDK's SDK-HMAC-SHA256 signatures; --auth token requires X-Auth-Token."""
import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcce.v3 import CreateAddonInstanceRequest, ListAddonInstancesRequest, ListAddonTemplatesRequest
from huaweicloudsdkmodelarts.v1 import ListPoolPluginsRequest

from conftest import AK, PROJECT, SK, assert_sdk_error
from test_cce_sdk import CLUSTER, instance_body


@pytest.fixture(scope="module")
def signed(start):
    return start("--auth", "aksk", "--credentials", f"{AK}:{SK}", "--credentials", f"SCOPEDAK:scopedsecret:{PROJECT}")


def test_signed_sdk_requests_are_accepted(signed):
    cce = signed.cce(project=PROJECT)
    created = cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns")))
    assert created.status.status == "installing"
    assert cce.list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER)).items[0].metadata.uid == created.metadata.uid
    # A query with characters the canonical form must encode.
    with pytest.raises(ClientRequestException) as e:
        cce.list_addon_templates(ListAddonTemplatesRequest(addon_template_name="a b/c~d+e*é"))
    assert_sdk_error(e, signed, 400, "CCE.03400001")   # signature fine, name invalid
    assert signed.modelarts().list_pool_plugins(ListPoolPluginsRequest(pool_name="pool-abc")).kind == "PluginList"
    assert signed.modelarts(ak="SCOPEDAK", sk="scopedsecret").list_pool_plugins(ListPoolPluginsRequest(pool_name="x")).items == []


def test_one_changed_body_byte_is_rejected(signed):
    def tamper(request=None, **_):
        body = bytearray(request.body)
        i = body.index(b"coredns")
        body[i] = ord("C")           # "coredns" -> "Coredns", after signing
        request.body = bytes(body)

    cce = signed.cce(http_handler=HttpHandler().add_request_handler(tamper))
    with pytest.raises(ClientRequestException) as e:
        cce.create_addon_instance(CreateAddonInstanceRequest(body=instance_body("coredns", values={"k": "v"})))
    e = assert_sdk_error(e, signed, 401, "CCE.03401001")
    assert "signature does not match" in e.error_msg


def test_a_body_swapped_after_signing_behind_an_unsigned_hash_claim_is_rejected(signed):
    """Sign an install for one cluster, send one for another, and claim the first body's hash in an
    X-Sdk-Content-Sha256 header that is not among the signed headers: the server hashes the body itself."""
    def swap(request=None, **_):
        original = request.body
        request.body = original.replace(b'"victim-a"', b'"victim-b"')
        assert request.body != original
        request.header_params["X-Sdk-Content-Sha256"] = hashlib.sha256(original).hexdigest()

    cce = signed.cce(http_handler=HttpHandler().add_request_handler(swap))
    with pytest.raises(ClientRequestException) as e:
        body = instance_body("coredns")
        body.spec.cluster_id = "victim-a"
        cce.create_addon_instance(CreateAddonInstanceRequest(body=body))
    assert "signature does not match" in assert_sdk_error(e, signed, 401, "CCE.03401001").error_msg
    for cluster in ("victim-a", "victim-b"):
        assert signed.cce().list_addon_instances(ListAddonInstancesRequest(cluster_id=cluster)).items == []


def test_a_project_scoped_credential_is_refused_for_another_project_on_every_service(signed):
    other = "ffffffffffffffffffffffffffffffff"
    scoped = dict(ak="SCOPEDAK", sk="scopedsecret")
    assert signed.cce(project=PROJECT, **scoped).list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER)).kind == "Addon"
    with pytest.raises(ClientRequestException) as e:
        signed.cce(project=other, **scoped).list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER))
    assert f"cannot act on project {other}" in assert_sdk_error(e, signed, 403, "CCE.03403001").error_msg
    with pytest.raises(ClientRequestException) as e:
        signed.modelarts(project=other, **scoped).list_pool_plugins(ListPoolPluginsRequest(pool_name="x"))
    assert_sdk_error(e, signed, 403, "ModelArts.50004030")


def test_wrong_secret_unknown_key_and_other_project(signed):
    with pytest.raises(ClientRequestException) as e:
        signed.cce(sk="not-the-secret").list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER))
    assert "signature does not match" in assert_sdk_error(e, signed, 401, "CCE.03401001").error_msg
    with pytest.raises(ClientRequestException) as e:
        signed.cce(ak="NOSUCHAK").list_addon_instances(ListAddonInstancesRequest(cluster_id=CLUSTER))
    assert "unknown access key NOSUCHAK" in assert_sdk_error(e, signed, 401, "CCE.03401001").error_msg
    with pytest.raises(ClientRequestException) as e:
        signed.modelarts(ak="SCOPEDAK", sk="scopedsecret", project="ffffffffffffffffffffffffffffffff") \
            .list_pool_plugins(ListPoolPluginsRequest(pool_name="x"))
    assert_sdk_error(e, signed, 403, "ModelArts.50004030")
    with pytest.raises(ClientRequestException) as e:
        signed.modelarts(sk="bad").list_pool_plugins(ListPoolPluginsRequest(pool_name="x"))
    assert_sdk_error(e, signed, 401, "ModelArts.50004010")


def sdk_signed(server, method, path, query=(), body=b"", date=None, ak=AK, sk=SK):
    """Signs like the SDK does (its own Signer, on its own SdkRequest) and sends with requests."""
    headers = {"Content-Type": "application/json"}
    if date:
        headers["X-Sdk-Date"] = date         # the signer signs a date it finds instead of now
    request = SdkRequest(method=method, schema="http", host=server.url[len("http://"):], resource_path=path,
                         query_params=list(query), header_params=headers, body=body)
    Signer(BasicCredentials(ak, sk)).sign(request)
    return requests.request(method, server.url + request.uri, headers=request.header_params, data=request.body, timeout=5)


def test_signature_date_must_be_within_15_minutes(signed):
    now = datetime.now(timezone.utc)
    fresh = sdk_signed(signed, "GET", "/api/v3/addons", [("cluster_id", CLUSTER)], date=(now - timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ"))
    assert fresh.status_code == 200, fresh.text
    stale = sdk_signed(signed, "GET", "/api/v3/addons", [("cluster_id", CLUSTER)], date=(now - timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ"))
    assert stale.status_code == 401
    assert "minutes away from the server's clock" in stale.json()["error_msg"]
    assert stale.headers["X-Request-Id"]


def test_bodies_and_escaped_paths_sign_the_same_way(signed):
    body = b'{"kind": "Addon", "apiVersion": "v3", "spec": {"clusterID": "c9", "values": {}, "addonTemplateName": "npd"}}'
    ok = sdk_signed(signed, "POST", "/api/v3/addons", body=body)
    assert ok.status_code == 201, ok.text
    uid = ok.json()["metadata"]["uid"]
    # The SDK path-encodes parameters; an id with reserved characters still verifies (and is simply not found).
    missing = sdk_signed(signed, "GET", "/api/v3/addons/" + quote("a b/é", safe=""), [("cluster_id", "c 9")])
    assert missing.status_code == 400, missing.text                    # verified, then refused: not an id
    assert missing.json()["error_code"] == "CCE.03400001"
    assert sdk_signed(signed, "DELETE", "/api/v3/addons/" + uid).status_code == 409   # still installing: verified, then refused
    again = sdk_signed(signed, "POST", "/api/v3/addons", body=body)
    assert again.status_code == 409                    # same body again: verified, then a duplicate install


def test_missing_or_foreign_authorization(signed):
    r = requests.get(signed.url + "/api/v3/addons?cluster_id=x", timeout=5)
    assert r.status_code == 401 and r.json()["error_code"] == "CCE.03401001"
    assert "Authorization header is missing" in r.json()["error_msg"]
    r = requests.get(signed.url + "/api/v3/addons?cluster_id=x", headers={"Authorization": "AWS4-HMAC-SHA256 x"}, timeout=5)
    assert "unsupported signing algorithm" in r.json()["error_msg"]
    # The control API needs no signature.
    assert requests.get(signed.url + "/_mock/health", timeout=5).status_code == 200


def test_token_mode(start):
    server = start("--auth", "token")
    r = requests.get(server.url + "/api/v3/addontemplates", timeout=5)
    assert r.status_code == 401 and r.json()["errorCode"] == "CCE.03401001" and r.headers["X-Request-Id"]
    r = requests.get(server.url + "/api/v3/addontemplates", headers={"X-Auth-Token": "any-token"}, timeout=5)
    assert r.status_code == 200
    # The SDK signs instead of sending a token: refused, and parsed as its own exception.
    with pytest.raises(ClientRequestException) as e:
        server.cce().list_addon_templates(ListAddonTemplatesRequest())
    assert_sdk_error(e, server, 401, "CCE.03401001")


def test_a_16384_character_token_with_the_sdks_headers_is_served(start):
    """The docs allow an X-Auth-Token of 16,384 characters; with the SDK's own headers beside it, the request head
    is over 16 KiB. It must be served, not refused with an HTML page the SDK cannot parse."""
    server = start("--auth", "token")

    def long_token(request=None, **_):
        request.header_params["X-Auth-Token"] = "t" * 16384

    cce = server.cce(project=PROJECT, http_handler=HttpHandler().add_request_handler(long_token))
    assert cce.list_addon_templates(ListAddonTemplatesRequest()).kind == "Addon"
    # Past the documented limit (20 KiB of headers) the answer is still the service's JSON error.
    def huge_token(request=None, **_):
        request.header_params["X-Auth-Token"] = "t" * 21000

    with pytest.raises(ClientRequestException) as e:
        server.cce(http_handler=HttpHandler().add_request_handler(huge_token)).list_addon_templates(ListAddonTemplatesRequest())
    assert e.value.status_code == 431 and e.value.error_code == "CCE.03431001"
