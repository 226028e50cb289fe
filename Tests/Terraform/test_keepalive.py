"""terraform polls every 10 s (the first poll 10 s after the create): with the default idle limit every poll arrives
on the connection the last one used, and none is lost. Real time, as terraform spends it: about 50 s."""
import threading

from golangsdk import ServiceClient

GAPS = [10.0, 9.99, 10.01, 10.0, 10.0]  # the boundary the old 10 s limit lost requests at, from both sides


def poll_like_terraform(url, cluster, failures, clients):
    import time
    client = ServiceClient(url)
    clients.append(client)
    try:
        body = {"kind": "Addon", "apiVersion": "v3", "metadata": {"annotations": {"addon.install/type": "install"}},
                "spec": {"clusterID": cluster, "addonTemplateName": "coredns", "values": {"basic": {}}}}
        _, created = client.request("POST", "/api/v3/addons", body, ok_codes=[201], host_prefix=cluster)
        addon_id = created["metadata"]["uid"]
        for i, gap in enumerate(GAPS):
            time.sleep(gap)
            if i % 2:
                # A write on the kept-alive connection: Go would not send it again if it were lost (EOF).
                upgrade = {**body, "metadata": {"annotations": {"addon.upgrade/type": "upgrade"}},
                           "spec": {**body["spec"], "version": "1.30.6" if i % 4 == 1 else "1.28.4"}}
                client.request("PUT", f"/api/v3/addons/{addon_id}", upgrade, ok_codes=[200], host_prefix=cluster)
            else:
                client.request("GET", f"/api/v3/addons/{addon_id}?cluster_id={cluster}", host_prefix=cluster)
    except Exception as e:  # noqa: BLE001 - reported by the test
        failures.append(f"{cluster}: {e!r}")


def test_polls_ten_seconds_apart_keep_their_connection(server):
    server.reset()
    failures, clients = [], []
    threads = [threading.Thread(target=poll_like_terraform, args=(server.url, f"keepalive-{n}", failures, clients)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert [c.lost for c in clients] == [[]] * 4, "no request met a connection closed under it"
    assert [c.opened for c in clients] == [1] * 4, "every poll went out on the connection the create opened"
    for c in clients:
        c.close()
