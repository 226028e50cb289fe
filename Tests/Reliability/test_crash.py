"""Crash safety: under mixed load, SIGKILL the server at random moments; after each restart every acknowledged
write is there, nothing else is, and every instance is in a consistent settled state.

CRASH_KILLS (default 5) sets how many times; each round runs the load for a random 0.3-1.5 s first."""
import os
import random
import threading
import time

from workload import Client, Worker, run_load

KILLS = int(os.environ.get("CRASH_KILLS", "5"))
WORKERS = 6


def verify(server, workers):
    host, port = server.url.split("//")[1].rsplit(":", 1)
    client = Client(host, int(port))
    try:
        for w in workers:
            w.verify(client)
    finally:
        client.close()


def test_acknowledged_writes_survive_sigkill(server):
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261123")))
    workers = [Worker("crash", n, seed=rng.randrange(1 << 30)) for n in range(WORKERS)]
    for round_ in range(KILLS):
        stop = threading.Event()
        failure = []
        load = threading.Thread(target=_capture, args=(failure, run_load, server.url, workers), kwargs={"stop": stop})
        load.start()
        time.sleep(rng.uniform(0.3, 1.5))
        server.kill()            # mid-request for some workers: their answer never arrives
        stop.set()
        load.join()
        assert not failure, f"round {round_}: {failure[0]}"
        server.start()
        verify(server, workers)
    requests, unanswered = sum(w.requests for w in workers), sum(w.unanswered for w in workers)
    print(f"crash: {KILLS} kills, {requests} requests, {unanswered} left unanswered by a kill")
    assert requests > 100 * KILLS, "the load did not run"
    assert unanswered > 0, "no request went unanswered: the kills did not happen under load"
    assert not [e for w in workers for e in w.server_errors], [e for w in workers for e in w.server_errors][:5]
    server.stop()
    # And once more after a clean stop, on the checkpointed file.
    server.start()
    verify(server, workers)


def _capture(failures, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except AssertionError as e:
        failures.append(e)
