"""/_mock/ui in a real headless Chromium: an add-on installed through the SDK appears and moves through its
lifecycle live, the page's buttons advance, force and delete it, move the clock and add a fault rule; it fits a
projector and a phone, and stays usable with 1,000 resources. Every wait is for a state on the page."""
import socket

import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from huaweicloudsdkcce.v3 import CreateAddonInstanceRequest, InstanceRequest, InstanceRequestSpec

from addonmock import AddonMockServer

WAIT_S = 30  # generous: two busy cores


def until(browser, condition, what):
    # The page draws lists again as things happen: an element read just as it is replaced is read again next poll.
    return WebDriverWait(browser, WAIT_S, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda b: condition(b), message=what)


def text_of(browser, selector):
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else None


def install(server, template, cluster="demo"):
    spec = InstanceRequestSpec(cluster_id=cluster, addon_template_name=template, values={})
    return server.cce().create_addon_instance(CreateAddonInstanceRequest(
        body=InstanceRequest(kind="Addon", api_version="v3", spec=spec))).metadata.uid


def card_status(browser, uid):
    return text_of(browser, f"#r-{uid} .status")


def test_the_console_follows_and_drives_lifecycles(server, browser, artifacts):
    browser.get(server.url + "/_mock/ui")
    until(browser, lambda b: text_of(b, "#live") == "live", "the event stream is connected")
    until(browser, lambda b: "Nothing here yet" in text_of(b, "#world"), "an empty world says so")

    uid = install(server, "coredns")
    until(browser, lambda b: card_status(b, uid) == "installing", "the new add-on shows up installing")
    assert "cluster demo" in text_of(browser, ".group h2")
    assert browser.find_element(By.CSS_SELECTOR, f"#r-{uid} .bar").is_displayed(), "in flight: a progress bar"

    browser.find_element(By.CSS_SELECTOR, f'#r-{uid} [data-do="advance"]').click()
    until(browser, lambda b: card_status(b, uid) == "running", "Advance completes the install")
    assert "ok" in browser.find_element(By.ID, f"r-{uid}").get_attribute("class")

    Select(browser.find_element(By.CSS_SELECTOR, f'#r-{uid} [data-do="force"]')).select_by_value("abnormal")
    until(browser, lambda b: card_status(b, uid) == "abnormal", "Force sets the state")
    until(browser, lambda b: "ForcedByControlAPI" in (text_of(b, f"#r-{uid} .reason") or ""), "the reason is shown")
    browser.find_element(By.CSS_SELECTOR, f'#r-{uid} button.name').click()
    until(browser, lambda b: "installing → running" in (text_of(b, "#d-history") or ""), "its history is in the drawer")
    browser.find_element(By.ID, "d-close").click()

    # A fault rule added from the page fails the next install.
    spec = browser.find_element(By.ID, "fault-spec")
    spec.clear()
    spec.send_keys('{"match": {"template": "everest"}, "outcome": "installFailed", "reason": "CSIDriverMissing", "times": 1}')
    browser.find_element(By.ID, "add-fault").click()
    until(browser, lambda b: "fault-1" in (text_of(b, "#faults") or ""), "the rule is listed")
    failing = install(server, "everest")
    until(browser, lambda b: card_status(b, failing) == "installing", "everest installing")
    browser.find_element(By.CSS_SELECTOR, f'#r-{failing} [data-do="advance"]').click()
    until(browser, lambda b: card_status(b, failing) == "installFailed", "the rule failed the install")
    until(browser, lambda b: "CSIDriverMissing" in (text_of(b, f"#r-{failing} .reason") or ""), "with the rule's reason")
    until(browser, lambda b: "fired 1" in (text_of(b, "#faults") or ""), "the rule's count moved")

    # Delete goes through the CCE API; the delete waits for an advance in the manual profile.
    browser.find_element(By.CSS_SELECTOR, f'#r-{failing} [data-do="delete"]').click()
    until(browser, lambda b: b.find_element(By.ID, "confirm").is_displayed(), "delete asks first")
    browser.find_element(By.ID, "confirm-yes").click()
    until(browser, lambda b: card_status(b, failing) == "deleting", "deleting")
    browser.find_element(By.CSS_SELECTOR, f'#r-{failing} [data-do="advance"]').click()
    until(browser, lambda b: not b.find_elements(By.ID, f"r-{failing}"), "gone from the page")

    before = text_of(browser, "#now")
    browser.find_element(By.ID, "pin").click()
    until(browser, lambda b: text_of(b, "#pinned") == "pinned", "the clock is pinned")
    browser.find_element(By.CSS_SELECTOR, '[data-advance="60000"]').click()
    until(browser, lambda b: text_of(b, "#now") != before, "the clock moved a minute")
    until(browser, lambda b: "POST /api/v3/addons" in (b.find_element(By.ID, "journal").text.replace("\n", " ")), "requests are listed live")
    assert "favicon" not in browser.find_element(By.ID, "journal").text, "the page asks for nothing it does not serve"

    browser.save_screenshot(str(artifacts / "console-1280x800.png"))
    browser.set_window_size(390, 844)
    until(browser, lambda b: b.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"),
          "no sideways scrolling at phone width")
    browser.save_screenshot(str(artifacts / "console-390x844.png"))


def test_a_thousand_resources_stay_usable(server, browser, artifacts):
    templates = ("coredns", "everest", "npd", "metrics-server", "autoscaler")
    # Cluster names hold letters that are not hex digits: a filter like "c007" also matched a card whose uuid
    # happened to contain those four characters (about one run in three with 1,000 uuids).
    world = {"addons": [{"cluster": f"team{i % 200:03d}", "template": templates[i // 200], "status": "running"} for i in range(1000)]}
    assert server.import_world(world)["created"] == 1000
    browser.get(server.url + "/_mock/ui")
    until(browser, lambda b: text_of(b, "#live") == "live", "the event stream is connected")
    until(browser, lambda b: b.execute_script("return document.querySelectorAll('.card').length") == 1000, "1,000 cards")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".group")) == 200
    browser.find_element(By.ID, "filter").send_keys("everest")
    until(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('.card')].filter(c => c.style.display !== 'none').length") == 200, "200 everest cards")
    browser.find_element(By.ID, "filter").send_keys(" team007")  # no card matches both words as one string
    until(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('.group')].filter(g => g.style.display !== 'none').length") == 0, "groups without matches hide")
    browser.find_element(By.ID, "filter").clear()
    browser.find_element(By.ID, "filter").send_keys("team007")
    until(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('.group')].filter(g => g.style.display !== 'none').length") == 1, "one cluster")
    browser.save_screenshot(str(artifacts / "console-1000-resources.png"))


def test_a_cluster_group_shows_its_clusters_phase_and_nodes(server, browser, artifacts):
    browser.get(server.url + "/_mock/ui")
    until(browser, lambda b: text_of(b, "#live") == "live", "the event stream is connected")
    project = f"{server.url}/api/v3/projects/p1"
    cluster = requests.post(f"{project}/clusters", json={
        "metadata": {"name": "ui-cluster"}, "spec": {"flavor": "cce.s1.small", "hostNetwork": {"vpc": "v", "subnet": "s"},
                                                    "containerNetwork": {"mode": "overlay_l2"}}}, timeout=10).json()["metadata"]["uid"]
    server.control("POST", f"/_mock/resources/clusters/{cluster}/status", {"advance": True})
    pool = requests.post(f"{project}/clusters/{cluster}/nodepools", json={
        "metadata": {"name": "pool-a"}, "spec": {"initialNodeCount": 3, "nodeTemplate": {"flavor": "c7.large.2", "az": "az1"}}},
        timeout=10).json()["metadata"]["uid"]
    server.control("POST", f"/_mock/resources/nodepools/{pool}/status", {"advance": True})
    install(server, "coredns", cluster=cluster)
    header = f'.group[data-key="addons:{cluster}"] h2 .parent'
    until(browser, lambda b: text_of(b, header) == "ui-cluster: Available · 3 nodes", "the add-ons' group names their cluster")
    server.control("POST", f"/_mock/resources/clusters/{cluster}/status", {"status": "Hibernation"})
    until(browser, lambda b: text_of(b, header) == "ui-cluster: Hibernation · 3 nodes", "and follows its phase")
    browser.save_screenshot(str(artifacts / "console-clusters.png"))


def test_a_plugin_group_shows_its_pools_phase_and_nodes(server, browser, artifacts):
    browser.get(server.url + "/_mock/ui")
    until(browser, lambda b: text_of(b, "#live") == "live", "the event stream is connected")
    v2 = f"{server.url}/v2/p1"
    created = requests.post(f"{v2}/pools", json={
        "apiVersion": "v2", "kind": "Pool", "metadata": {"labels": {"os.modelarts/name": "ui-pool"}},
        "spec": {"resources": [{"flavor": "modelarts.vm.gpu.pnt004", "count": 2}]}}, timeout=10).json()
    pool, pool_id = created["metadata"]["name"], created["metadata"]["labels"]["os.modelarts/resource.id"]
    server.control("POST", f"/_mock/resources/pools/{pool_id}/status", {"advance": True})
    requests.post(f"{v2}/pools/{pool}/plugins", json={"apiVersion": "v2", "kind": "Plugin", "spec": {"template": {"name": "gpu-driver"}}},
                  timeout=10).raise_for_status()
    header = f'.group[data-key="plugins:p1/{pool}"] h2 .parent'
    until(browser, lambda b: text_of(b, header) == "ui-pool: Running · 2 nodes", "the plug-ins' group names their pool")
    requests.patch(f"{v2}/pools/{pool}", json={"spec": {"resources": [{"flavor": "modelarts.vm.gpu.pnt004", "count": 3}]}},
                   headers={"Content-Type": "application/merge-patch+json"}, timeout=10).raise_for_status()
    until(browser, lambda b: text_of(b, header) == "ui-pool: Running · 3 nodes", "and follows its size")
    server.control("POST", f"/_mock/resources/pools/{pool_id}/status", {"status": "Abnormal"})
    until(browser, lambda b: text_of(b, header) == "ui-pool: Abnormal · 3 nodes", "and its phase")
    browser.save_screenshot(str(artifacts / "console-pools.png"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_on(port):
    """A server on a port of the test's choosing, so that one stopped and another started are the same origin to
    the page (the session's servers take a free port each); the last --port given wins."""
    return AddonMockServer(profile="fast", args=("--port", str(port))).start()


def test_the_badge_says_when_the_stream_is_lost(browser):
    """Problem 1: with the server down the page said "live" and kept firing requests. Now the badge says since when
    it is lost, and comes back once a server answers. (Problem 6: a button pressed meanwhile said "Failed to fetch";
    now the failure says the server did not answer.)"""
    port = free_port()
    first = server_on(port)
    browser.get(first.url + "/_mock/ui")
    until(browser, lambda b: text_of(b, "#live") == "live", "the event stream is connected")
    assert first.stop() == 0
    until(browser, lambda b: (text_of(b, "#live") or "").startswith("lost since "), "the badge says the stream is lost")
    assert "on" not in browser.find_element(By.ID, "dot").get_attribute("class").split()
    browser.find_element(By.CSS_SELECTOR, '[data-advance="10000"]').click()
    until(browser, lambda b: "did not answer. Is it still running?" in (text_of(b, "#toast") or ""), "the failure is explained")
    assert "Failed to fetch" not in text_of(browser, "#toast")
    second = server_on(port)
    try:
        until(browser, lambda b: text_of(b, "#live") == "live", "live again once a server answers")
    finally:
        assert second.stop() == 0


def test_a_restarted_server_is_followed_not_frozen(browser):
    """Problem 2: after a restart the page kept the old server's cursors and cards, so nothing new appeared. Now
    a new instance (the stream's hello, /_mock/config's instance) makes it read its world again."""
    port = free_port()
    first = server_on(port)
    old = install(first, "coredns")
    browser.get(first.url + "/_mock/ui")
    until(browser, lambda b: b.find_elements(By.ID, f"r-{old}"), "the first server's add-on is shown")
    assert first.stop() == 0
    second = server_on(port)
    try:
        new = install(second, "everest")
        until(browser, lambda b: b.find_elements(By.ID, f"r-{new}"), "the new server's add-on appears")
        until(browser, lambda b: not b.find_elements(By.ID, f"r-{old}"), "the old server's card is gone")
        until(browser, lambda b: text_of(b, "#live") == "live", "and the stream is live")
        until(browser, lambda b: "/api/v3/addons" in (text_of(b, "#journal") or ""), "the new server's journal is read")
        install(second, "npd")
        until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".card")) == 2, "and followed live")
    finally:
        assert second.stop() == 0
