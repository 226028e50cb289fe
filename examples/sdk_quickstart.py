"""Point the official Huawei Cloud Python SDKs at a local addonmock.

    pip install huaweicloudsdkcce huaweicloudsdkmodelarts
    scripts/run --profile fast          # in another terminal
    python examples/sdk_quickstart.py   # ADDONMOCK_URL=http://127.0.0.1:8080 by default

With --auth aksk, start the server with --credentials MYAK:MYSECRET[:PROJECT] and export the same AK/SK here.
"""
import os
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcce.v3 import (
    AddonMetadata, CceClient, CreateAddonInstanceRequest, InstanceRequest, InstanceRequestSpec, ShowAddonInstanceRequest,
)
from huaweicloudsdkmodelarts.v1 import (
    CreatePluginRequestBody, CreatePoolPluginRequest, ListPoolPluginsRequest, ModelArtsClient, PluginSpec, Template,
)

URL = os.environ.get("ADDONMOCK_URL", "http://127.0.0.1:8080")
AK = os.environ.get("HUAWEICLOUD_SDK_AK", "LOCALAK")
SK = os.environ.get("HUAWEICLOUD_SDK_SK", "LOCALSK")
PROJECT = os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID", "0123456789abcdef0123456789abcdef")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")   # the SDK uses requests, which honours proxy variables

config = HttpConfig.get_default_config()
config.timeout = (5, 10)

# with_endpoints (not with_region): a plain http:// endpoint is used as is, and no IAM lookup happens.
cce = CceClient.new_builder().with_http_config(config).with_credentials(BasicCredentials(AK, SK)) \
    .with_endpoints([URL]).build()
# ModelArts puts the project id in the path: the credentials must carry it.
modelarts = ModelArtsClient.new_builder().with_http_config(config) \
    .with_credentials(BasicCredentials(AK, SK, PROJECT)).with_endpoint(URL).build()

addon = cce.create_addon_instance(CreateAddonInstanceRequest(body=InstanceRequest(
    kind="Addon", api_version="v3", metadata=AddonMetadata(annotations={"addon.install/type": "install"}),
    spec=InstanceRequestSpec(cluster_id="quickstart", addon_template_name="coredns", values={}))))
print("addon", addon.metadata.uid, addon.spec.version, addon.status.status)
for _ in range(100):   # poll like a Terraform provider would
    addon = cce.show_addon_instance(ShowAddonInstanceRequest(id=addon.metadata.uid))
    if addon.status.status != "installing":
        break
    time.sleep(0.1)
print("addon", addon.metadata.uid, addon.status.status)

plugin = modelarts.create_pool_plugin(CreatePoolPluginRequest(pool_name="quickstart-pool", body=CreatePluginRequestBody(
    api_version="v2", kind="Plugin", spec=PluginSpec(template=Template(name="gpu-driver")))))
print("plugin", plugin.metadata.name, plugin.spec.template.version, plugin.status.phase)
listed = modelarts.list_pool_plugins(ListPoolPluginsRequest(pool_name="quickstart-pool"))
print("plugins in quickstart-pool:", [(p.metadata.name, p.status.phase) for p in listed.items])
