"""The console's problems 3–6 of issue #29, each with the test that failed on the page before, and what a developer
uses it for: a resource's drawer, the install form, reset/import, journal filters, themes. Every wait is for a state
on the page; the one measured figure (frame rate with 1,000 resources) has its bound and slack written down."""
import json
import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from addonmock import AddonMockServer
from test_console import card_status, install, text_of, until

PROJECT = "0123456789abcdef0123456789abcdef"  # a 32-hex project id, as ModelArts has them: the longest group title


def open_console(browser, server, query=""):
    browser.get(server.url + "/_mock/ui" + query)
    until(browser, lambda b: text_of(b, "#live") == "live", "the event stream is connected")


KINDS = ("clusters", "nodepools", "addons", "addonchecks", "jobs", "pools", "plugins", "orders")


def stored(server):
    """How many resources the server holds, of every kind (a cluster's create also makes a job)."""
    return sum(len(server.control("GET", f"/_mock/resources/{kind}")["items"]) for kind in KINDS)


def visible(browser, selector):
    return browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].filter(e => e.offsetParent !== null).map(e => e.id || e.dataset.key)", selector)


def journal_rows(browser):
    """The journal's rows read at once (the list is drawn again as requests arrive)."""
    return browser.execute_script("""return [...document.querySelectorAll('#journal li')].map(li => {
        const path = li.querySelector('.path'), range = document.createRange(); range.selectNodeContents(path);
        return {text: li.innerText.replace(/\\s+/g, ' '), path: path.innerText, title: li.title,
                pathEndInView: range.getBoundingClientRect().right <= path.getBoundingClientRect().right + 1}; })""")


def test_the_filter_is_a_view_over_live_changes(server, browser):
    """Problem 3: a matching new card in a hidden group stayed hidden, a non-matching new group appeared, counts
    ignored the filter and no match left a blank pane. Now the filter is applied to every change, counts say
    "n of m", no match says so, and the filter is in the address bar."""
    first = install(server, "coredns", cluster="alpha")
    install(server, "everest", cluster="alpha")
    open_console(browser, server)
    browser.find_element(By.ID, "filter").send_keys("coredns")
    until(browser, lambda b: text_of(b, '.group[data-key="addons:alpha"] .count') == "1 of 2 resources", "the count follows the filter")
    assert "q=coredns" in browser.current_url

    matching = install(server, "coredns", cluster="beta")
    until(browser, lambda b: f"r-{matching}" in visible(b, ".card"), "a matching card in a new group shows")
    other = install(server, "npd", cluster="gamma")
    until(browser, lambda b: b.find_elements(By.ID, f"r-{other}"), "the non-matching card is on the page")
    assert f"r-{other}" not in visible(browser, ".card") and "addons:gamma" not in visible(browser, ".group"), "but hidden, group too"
    install(server, "npd", cluster="alpha")
    until(browser, lambda b: text_of(b, '.group[data-key="addons:alpha"] .count') == "1 of 3 resources", "counts follow live changes")

    search = browser.find_element(By.ID, "filter")
    search.send_keys(Keys.CONTROL, "a"); search.send_keys("nothing-like-this")
    until(browser, lambda b: "No resource matches “nothing-like-this”" in (text_of(b, "#empty") or ""), "no match says so")
    assert visible(browser, ".group") == []

    browser.get(server.url + "/_mock/ui?q=is:busy")
    until(browser, lambda b: b.find_element(By.ID, "filter").get_attribute("value") == "is:busy", "the filter comes back from the URL")
    until(browser, lambda b: len(visible(b, ".card")) == 5, "all five installs are in flight (manual profile)")
    server.control("POST", f"/_mock/resources/addons/{first}/status", {"advance": True})
    until(browser, lambda b: f"r-{first}" not in visible(b, ".card"), "a card that stops matching hides at once")
    until(browser, lambda b: text_of(b, "#sum-busy") == "4 in flight", "and the summary counts it out")


def test_a_thousand_resources_with_two_hundred_in_flight_stay_smooth(browser, artifacts):
    """Problem 4: 1,009 resources with ~200 in flight painted at 9.8 fps and a keystroke took 1.9–2.9 s, because
    every bar's width was rewritten with a CSS transition every 250 ms. Now one frame draws a burst of changes and
    the timer moves only the bars on screen, scaled on the compositor. The issue's targets are ≥ 30 fps and
    ≤ 100 ms a keystroke; on two busy cores the test holds the page to 20 fps and 250 ms and records the figures
    (docs/performance.md has a recorded run)."""
    server = AddonMockServer(profile="realistic").start()
    try:
        templates = ("coredns", "everest", "npd", "metrics-server", "autoscaler")
        world = {"addons": [
            {"cluster": f"team{i % 200:03d}", "template": templates[i // 200], "status": "running"} if i % 5 else
            {"cluster": f"team{i % 200:03d}", "template": templates[i // 200], "status": "installing",
             "pending": {"operation": "install", "remainingMs": 600_000}}
            for i in range(1000)]}
        assert server.import_world(world)["created"] == 1000
        open_console(browser, server)
        until(browser, lambda b: b.execute_script("return document.querySelectorAll('.card').length") == 1000, "1,000 cards")
        fps = browser.execute_async_script("""
            const done = arguments[arguments.length - 1]; let frames = 0, worst = 0, last = performance.now();
            const start = last;
            function frame(t) { frames++; worst = Math.max(worst, t - last); last = t;
              if (t - start < 3000) requestAnimationFrame(frame); else done([frames * 1000 / (t - start), worst]); }
            requestAnimationFrame(frame);""")
        keystrokes = []
        for text in ("everest", "team007", "is:busy", ""):
            keystrokes.append(browser.execute_async_script("""
                const done = arguments[arguments.length - 1], input = document.getElementById('filter');
                const t0 = performance.now(); input.value = arguments[0]; input.dispatchEvent(new Event('input'));
                requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));""", text))
        figures = {"fps": round(fps[0], 1), "worstFrameMs": round(fps[1], 1), "keystrokeMs": [round(k, 1) for k in keystrokes]}
        (artifacts / "console-1000-figures.json").write_text(json.dumps(figures))
        print("console with 1,000 resources, 200 in flight:", figures)
        assert fps[0] >= 20, figures
        assert max(keystrokes) <= 250, figures
        transition = browser.execute_script("return getComputedStyle(document.querySelector('.bar > div')).transitionDuration")
        assert transition == "0s", "bars are not animated with transitions"
        assert text_of(browser, "#sum-busy") == "200 in flight"
        assert len(visible(browser, ".card")) == 1000
    finally:
        assert server.stop() == 0, server.output


def test_it_fits_a_phone(server, browser, artifacts):
    """Problem 5: at 390 px a plug-in group's title (a 32-hex project id) clipped the page by 9 px and the header
    buttons wrapped."""
    requests.post(f"{server.url}/v2/{PROJECT}/pools/gpu-pool-with-a-long-name/plugins",
                  json={"apiVersion": "v2", "kind": "Plugin", "spec": {"template": {"name": "gpu-driver"}}}, timeout=10).raise_for_status()
    install(server, "coredns", cluster="a-cluster-with-a-long-name-0123456789")
    browser.set_window_size(390, 844)
    open_console(browser, server)
    until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".card")) == 2, "both cards")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= browser.execute_script("return innerWidth")
    wrapped = browser.execute_script("""
        return [...document.querySelectorAll('header button, .card button')].filter(b => {
          const line = parseFloat(getComputedStyle(b).lineHeight) || 20; return b.clientHeight > line * 1.6 + 12; }).map(b => b.textContent)""")
    assert wrapped == [], f"buttons whose text wraps: {wrapped}"
    browser.find_element(By.CSS_SELECTOR, ".card button.name").click()
    until(browser, lambda b: b.find_element(By.ID, "drawer").is_displayed(), "the drawer opens")
    assert browser.execute_script("return document.getElementById('drawer').getBoundingClientRect().width") <= 390
    browser.save_screenshot(str(artifacts / "console-390-drawer.png"))


def test_a_resource_drawer_has_its_history_views_and_confirmed_actions(server, browser):
    """Problem 6 (history from the server, delete confirmed, short ids apart) and the drawer: the service's JSON,
    the control view, copy id and curl, force with reason and message."""
    uid = install(server, "coredns")
    server.control("POST", f"/_mock/resources/addons/{uid}/status", {"advance": True})
    other = install(server, "everest")
    open_console(browser, server)   # after both happened: the page never saw them happen
    until(browser, lambda b: card_status(b, uid) == "running", "the card")
    short = [text_of(browser, f"#r-{i} .meta").split("· ")[-1] for i in (uid, other)]
    assert short[0] != short[1], f"short ids tell resources apart: {short}"
    assert short[0][1:] in uid.replace("-", "")

    browser.find_element(By.CSS_SELECTOR, f"#r-{uid} button.name").click()
    until(browser, lambda b: "installing → running" in (text_of(b, "#d-history") or ""), "history read from the server")
    assert "created installing" in text_of(browser, "#d-history")
    until(browser, lambda b: '"addonTemplateName": "coredns"' in (text_of(b, "#d-service") or ""), "the service's own JSON")
    assert f"GET /api/v3/addons/{uid}?cluster_id=demo" == text_of(browser, "#d-service-path")
    until(browser, lambda b: '"kind": "addons"' in (text_of(b, "#d-control") or ""), "the control view")

    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.find_element(By.ID, "d-copy-curl").click()
    until(browser, lambda b: "Copied a curl command" in (text_of(b, "#toast") or ""), "copied")
    copied = browser.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error ' + e))")
    assert copied == f"curl -s '{server.url}/api/v3/addons/{uid}?cluster_id=demo'"
    assert requests.get(server.url + copied.split("'")[1][len(server.url):], timeout=10).json()["metadata"]["uid"] == uid

    browser.find_element(By.ID, "d-force-reason").send_keys("NodeNotReady")
    browser.find_element(By.ID, "d-force-message").send_keys("kubelet stopped posting")
    Select(browser.find_element(By.ID, "d-force-status")).select_by_value("abnormal")
    browser.find_element(By.ID, "d-force").click()
    until(browser, lambda b: text_of(b, "#d-reason") == "NodeNotReady: kubelet stopped posting", "forced with reason and message")
    until(browser, lambda b: "running → abnormal · NodeNotReady" in (text_of(b, "#d-history") or ""), "the history follows live")

    browser.find_element(By.ID, "d-delete").click()
    until(browser, lambda b: b.find_element(By.ID, "confirm").is_displayed(), "delete asks first")
    assert f"DELETE /api/v3/addons/{uid}?cluster_id=demo" in text_of(browser, "#confirm-text")
    browser.find_element(By.ID, "confirm-no").click()
    assert server.control("GET", f"/_mock/resources/addons/{uid}")["status"] == "abnormal", "cancel deletes nothing"
    browser.find_element(By.ID, "d-delete").click()
    until(browser, lambda b: b.find_element(By.ID, "confirm").is_displayed(), "asked again")
    browser.find_element(By.ID, "confirm-yes").click()
    until(browser, lambda b: text_of(b, "#d-status") == "deleting", "deleting")
    server.control("POST", f"/_mock/resources/addons/{uid}/status", {"advance": True})
    until(browser, lambda b: text_of(b, "#d-status") == "deleted", "the drawer says it is gone")
    assert "deleting → gone" in text_of(browser, "#d-history"), "and keeps its history"


def test_controls_say_what_they_do(server, browser):
    """Problem 6: a disabled Advance looked enabled, fault rules were raw truncated JSON, requests had no time and
    lost the end of long paths, and a failure said "Failed to fetch"."""
    uid = install(server, "coredns")
    server.control("POST", f"/_mock/resources/addons/{uid}/status", {"advance": True})
    server.control("POST", "/_mock/faults", {"match": {"template": "coredns"}, "outcome": "installFailed", "reason": "ImagePullBackOff", "times": 1})
    server.control("POST", "/_mock/faults", {"match": {"service": "modelarts"}, "latencyMs": {"min": 100, "max": 400}, "probability": 0.25})
    long_path = f"/v2/{PROJECT}/pools/pool-with-a-long-name/plugins/gpu-driver"
    requests.get(server.url + long_path, timeout=10)
    open_console(browser, server)
    until(browser, lambda b: card_status(b, uid) == "running", "the card")
    style = browser.execute_script("""const b = document.querySelector('#r-' + arguments[0] + ' [data-do=advance]');
        return [b.disabled, getComputedStyle(b).opacity, getComputedStyle(b).cursor]""", uid)
    assert style[0] and float(style[1]) <= 0.6 and style[2] == "not-allowed", style

    rules = text_of(browser, "#faults")
    assert "installFailed (ImagePullBackOff) · when template coredns, operation install · fired 0, 1 left" in rules, rules
    assert re.search(r"delay 100–400 ms · when service modelarts · 25% of the time · fired \d+, no limit", rules), rules
    assert "{" not in rules

    until(browser, lambda b: "gpu-driver" in (text_of(b, "#journal") or ""), "the long request is listed")
    row = next(row for row in journal_rows(browser) if "gpu-driver" in row["text"])
    assert re.match(r"\d\d:\d\d:\d\d GET ", row["text"]), row
    assert row["path"].endswith("/plugins/gpu-driver"), "the end of the path stays"
    assert row["pathEndInView"], "and is in view"
    assert "request " in row["title"] and long_path in row["title"]
    browser.execute_script("[...document.querySelectorAll('#journal li')].find(li => li.innerText.includes('gpu-driver')).click()")
    until(browser, lambda b: re.search(r"request [0-9a-f-]{8,}", text_of(b, "#journal li.open .more") or ""), "a click shows the request id")
    assert long_path in text_of(browser, "#journal li.open .more")

    # A refused request says what was sent and the service's own code and message.
    browser.find_element(By.ID, "open-install").click()
    cluster = browser.find_element(By.ID, "i-cluster")
    cluster.send_keys(Keys.CONTROL, "a"); cluster.send_keys("not a cluster id!")
    browser.find_element(By.CSS_SELECTOR, "#install-form button[type=submit]").click()
    until(browser, lambda b: re.search(r"POST /api/v3/addons answered 400 CCE\.\w+: ", text_of(b, "#toast") or ""),
          "an error says what answered and why")
    assert browser.find_element(By.ID, "install").is_displayed(), "the form stays open to be corrected"


def contrast_report(browser):
    return browser.execute_script("""
      function rgb(c) { const m = c.match(/[\\d.]+/g).map(Number); return m.slice(0, 3); }
      function lum(c) { return rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                          .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0); }
      function ratio(a, b) { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); }
      const cs = (sel) => getComputedStyle(document.querySelector(sel));
      const card = cs('.card').backgroundColor, panel = cs('header').backgroundColor, page = getComputedStyle(document.body).backgroundColor;
      return {
        text: ratio(getComputedStyle(document.body).color, page),
        dim: ratio(cs('.card .meta').color, card),
        headerDim: ratio(cs('#version').color, panel),
        okPill: ratio(cs('.card.ok .status').color, cs('.card.ok .status').backgroundColor),
        busyPill: ratio(cs('.card.busy .status').color, cs('.card.busy .status').backgroundColor),
        badPill: ratio(cs('.card.bad .status').color, cs('.card.bad .status').backgroundColor),
        barTrack: ratio(cs('.card.busy .bar').borderTopColor, card),
        // the busy colour: a bar's fill, a waiting bar's stripes, a busy card's edge
        barFill: ratio(cs('.card.busy').borderLeftColor, card),
        buttonEdge: ratio(cs('.card button').borderTopColor, card),
        theme: document.documentElement.dataset.theme, page };""")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_both_themes_meet_wcag_aa(server, browser, artifacts, scheme):
    """Problem 6: only a dark theme with 12 px grey text, and a bar track of 1.24:1. Both themes follow
    prefers-color-scheme (and a toggle), text ≥ 4.5:1, control boundaries and bars ≥ 3:1, no text under 12.5 px."""
    ok, busy, bad = install(server, "coredns"), install(server, "everest"), install(server, "npd")
    server.control("POST", f"/_mock/resources/addons/{ok}/status", {"advance": True})
    server.control("POST", f"/_mock/resources/addons/{bad}/status", {"status": "abnormal"})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    open_console(browser, server)
    until(browser, lambda b: card_status(b, bad) == "abnormal" and card_status(b, busy) == "installing", "the cards")
    report = contrast_report(browser)
    assert report["theme"] == scheme, report
    for name in ("text", "dim", "headerDim", "okPill", "busyPill", "badPill"):
        assert report[name] >= 4.5, (name, report)
    for name in ("barTrack", "barFill", "buttonEdge"):
        assert report[name] >= 3, (name, report)
    smallest = browser.execute_script("""return Math.min(...[...document.querySelectorAll('body *')].filter(e => e.offsetParent !== null
        && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())).map(e => parseFloat(getComputedStyle(e).fontSize)))""")
    assert smallest >= 12.5, smallest
    browser.save_screenshot(str(artifacts / f"console-{scheme}.png"))
    other = "light" if scheme == "dark" else "dark"
    until(browser, lambda b: b.find_element(By.ID, "theme").click() or b.execute_script("return document.documentElement.dataset.theme") == other,
          "the toggle switches the theme")


def test_the_header_summarises_and_the_world_is_reset_imported_and_installed(server, browser, tmp_path):
    """The header's counts (and filters behind them), the install form fed by the catalog and the known clusters,
    import and reset buttons, the table view, collapse, and journal filters."""
    project = f"{server.url}/api/v3/projects/p1"
    cluster = requests.post(f"{project}/clusters", json={
        "metadata": {"name": "form-cluster"}, "spec": {"flavor": "cce.s1.small", "hostNetwork": {"vpc": "v", "subnet": "s"},
                                                      "containerNetwork": {"mode": "overlay_l2"}}}, timeout=10).json()["metadata"]["uid"]
    server.control("POST", f"/_mock/resources/clusters/{cluster}/status", {"advance": True})
    open_console(browser, server)
    until(browser, lambda b: text_of(b, "#sum-total") == f"{stored(server)} resources", "the summary counts the cluster and its job")

    browser.find_element(By.ID, "open-install").click()
    until(browser, lambda b: b.find_element(By.ID, "install").is_displayed(), "the install form opens")
    Select(browser.find_element(By.ID, "i-template")).select_by_value("everest")
    versions = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "i-version")).options]
    assert len(versions) > 1 and versions == sorted(versions, key=lambda v: [int(x) for x in v.split(".")], reverse=True), versions
    Select(browser.find_element(By.ID, "i-version")).select_by_value(versions[0])  # the oldest does not run on a v1.31 cluster
    assert browser.find_element(By.ID, "i-cluster").get_attribute("value") == cluster, "the known cluster is offered first"
    browser.find_element(By.CSS_SELECTOR, "#install-form button[type=submit]").click()
    until(browser, lambda b: "Installing everest " + versions[0] in (text_of(b, "#toast") or ""), "installed through the CCE API")
    addons = server.control("GET", "/_mock/resources/addons")["items"]
    assert [(a["name"], a["version"], a["cluster"]) for a in addons] == [("everest", versions[0], cluster)]
    until(browser, lambda b: text_of(b, "#sum-busy") == "1 in flight", "the summary counts it in flight")
    until(browser, lambda b: "POST /api/v3/addons" in (text_of(b, "#journal") or "").replace("\n", " ").replace("  ", " "), "journal")

    server.control("POST", f"/_mock/resources/addons/{addons[0]['id']}/status", {"status": "installFailed"})
    until(browser, lambda b: text_of(b, "#sum-bad") == "1 failed", "and failed")
    browser.find_element(By.ID, "sum-bad").click()
    until(browser, lambda b: visible(b, ".card") == [f"r-{addons[0]['id']}"], "the failed count filters to the failed")
    assert browser.find_element(By.ID, "filter").get_attribute("value") == "is:failed"

    requests.get(f"{server.url}/api/v3/addons/no-such-addon?cluster_id={cluster}", timeout=10)
    Select(browser.find_element(By.ID, "j-status")).select_by_value("4")
    until(browser, lambda b: [row["text"].split()[1:4] for row in journal_rows(b)] == [["GET", "/api/v3/addons/no-such-addon", "404"]],
          "the journal filtered to 4xx")

    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.find_element(By.ID, "export").click()
    until(browser, lambda b: [p for p in tmp_path.glob("addonmock-world-*.json")], "Export downloads the world")
    exported = next(tmp_path.glob("addonmock-world-*.json"))
    until(browser, lambda b: exported.stat().st_size > 0 and json.loads(exported.read_text()).get("addons"), "whole")
    assert [a["template"] for a in json.loads(exported.read_text())["addons"]] == ["everest"]

    world = tmp_path / "world.json"
    world.write_text(json.dumps({"addons": [{"cluster": "imported", "template": "npd", "status": "running"}]}))
    browser.find_element(By.ID, "import-file").send_keys(str(world))
    until(browser, lambda b: "Imported world.json: 1 created, 0 skipped" in (text_of(b, "#toast") or ""), "imported")
    browser.find_element(By.ID, "filter").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    until(browser, lambda b: text_of(b, "#sum-total") == f"{stored(server)} resources", "the imported add-on is counted")

    browser.find_element(By.ID, "view").click()
    assert "table" in browser.find_element(By.ID, "groups").get_attribute("class").split()
    rows = browser.execute_script("""return [...document.querySelectorAll('.card')].map(c => [c.getBoundingClientRect().height,
        c.querySelector('.actions').getBoundingClientRect().top - c.querySelector('.name').getBoundingClientRect().top])""")
    assert all(height < 80 and abs(offset) < 12 for height, offset in rows), f"one line a resource (and its reason): {rows}"
    browser.find_element(By.ID, "collapse-all").click()
    assert visible(browser, ".card") == [], "every group collapsed"
    browser.find_element(By.ID, "collapse-all").click()

    browser.find_element(By.ID, "reset").click()
    until(browser, lambda b: b.find_element(By.ID, "confirm").is_displayed(), "reset asks first")
    browser.find_element(By.ID, "confirm-yes").click()
    until(browser, lambda b: "Nothing here yet" in (text_of(b, "#empty") or ""), "the world is empty")
    assert server.control("GET", "/_mock/resources/clusters")["items"] == []
