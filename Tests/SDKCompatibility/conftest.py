"""Runs the real addonmock executable and points the official Huawei Cloud SDKs at it."""
import pathlib
import re
import time
import sys

import pytest
from huaweicloudsdkcore.exceptions import exceptions
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcce.v3 import CceClient
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

from addonmock import AddonMockServer

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from response_schemas import ResponseRecorder  # noqa: E402
PROJECT = "0123456789abcdef0123456789abcdef"
AK, SK = "TESTAK0000000000", "TESTSK0000000000000000000000000000000000"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


class Server(AddonMockServer):
    """The pytest plugin's server (clients/python), with flags as given, SDK clients that take an http handler,
    and every response it sends checked against the OpenAPI document."""

    def __init__(self, *args):
        super().__init__(profile=None, log_level="warning", args=args)
        self.start()
        RECORDER.watch(self.url)

    def stop(self):
        code = super().stop(timeout=10)
        assert code == 0, self.output

    # Control calls go through requests, whose responses the recorder checks.
    def control(self, method, path, body=None, timeout=10):
        r = requests.request(method, self.url + path, json=body, timeout=timeout)
        assert r.status_code < 300, r.text
        return r.json()

    # SDK clients pointed at this server.
    def config(self):
        cfg = HttpConfig.get_default_config()
        cfg.timeout = (5, 10)
        return cfg

    def cce(self, ak=AK, sk=SK, project=None, http_handler=None):
        builder = CceClient.new_builder().with_http_config(self.config()) \
            .with_credentials(BasicCredentials(ak, sk, project)).with_endpoints([self.url])
        if http_handler is not None:
            builder = builder.with_http_handler(http_handler)
        return builder.build()

    def modelarts(self, ak=AK, sk=SK, project=PROJECT, http_handler=None):
        builder = ModelArtsClient.new_builder().with_http_config(self.config()) \
            .with_credentials(BasicCredentials(ak, sk, project)).with_endpoint(self.url)
        if http_handler is not None:
            builder = builder.with_http_handler(http_handler)
        return builder.build()


RECORDER = ResponseRecorder()
RECORDER.install()


@pytest.fixture(autouse=True)
def responses_match_the_openapi_document():
    """Every response a test saw (SDK calls, control calls, raw requests) is documented and matches its schema."""
    RECORDER.take()
    yield
    checked, problems = RECORDER.violations()
    assert not problems, f"{len(problems)} of {checked} responses do not match /_mock/openapi.json:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def start():
    """Starts servers with the given flags; all are stopped (and must exit 0) at the end of the module."""
    started = []

    def _start(*args):
        server = Server(*args)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


def assert_sdk_error(excinfo, server, status, code):
    """The SDK raised its own exception with the right status, code and the server's request id."""
    e = excinfo.value
    assert e.status_code == status
    assert e.error_code == code
    assert e.error_msg
    assert REQUEST_ID.match(e.request_id), e.request_id
    logged = [r for r in server.journal(limit=1000) if r["requestId"] == e.request_id]
    assert [r["status"] for r in logged] == [status]
    return e


def wait(read, done, timeout=30):
    """Polls `read()` until `done(value)` (a state, not a duration), as terraform's StateChangeConf does."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value}"
        time.sleep(0.05)


def gone(call):
    """Whether `call()` raises the SDK's 404."""
    try:
        call()
    except exceptions.ClientRequestException as e:
        return e.status_code == 404
    return False
