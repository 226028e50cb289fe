"""Soak: mixed load for SOAK_SECONDS (default 40 for CI; the full run is SOAK_SECONDS=600): zero 5xx, every
answer what the model predicts, and no upward trend in the server's resident memory."""
import os
import threading

from workload import Stats, Worker, run_load

SECONDS = int(os.environ.get("SOAK_SECONDS", "40"))
WORKERS = 6


def test_mixed_load_without_errors_or_memory_growth(server):
    workers = [Worker("soak", n) for n in range(WORKERS)]
    stats = Stats()
    samples = []
    done = threading.Event()

    def sample():
        while not done.wait(0.5):
            samples.append(server.rss_kib())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run_load(server.url, workers, seconds=SECONDS, stats=stats)
    finally:
        done.set()
        sampler.join()
    assert stats.unanswered == 0, f"{stats.unanswered} requests got no answer"
    assert not stats.server_errors, stats.server_errors[:5]
    assert stats.requests > 50 * SECONDS, f"only {stats.requests} requests in {SECONDS} s"
    # Warm-up (caches, journal ring, SQLite page cache) fills the first quarter; after that the peak of the last
    # quarter may not exceed the peak of the second quarter by more than 10 % (and 2 MiB of noise).
    q = len(samples) // 4
    assert q >= 2, f"too few RSS samples: {samples}"
    second, last = max(samples[q:2 * q]), max(samples[3 * q:])
    print(f"soak: {stats.requests} requests in {SECONDS} s ({stats.requests / SECONDS:.0f}/s); "
          f"RSS KiB first {samples[0]}, second-quarter peak {second}, last-quarter peak {last}")
    assert last <= max(second * 1.10, second + 2048), f"RSS grew from {second} to {last} KiB: {samples}"
    server.stop()
