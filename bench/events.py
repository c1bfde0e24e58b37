"""Hand-over cost of the background publisher vs. a synchronous PUBLISH, on loopback.

Run: ``python -m bench.events`` (``make bench-events``); needs Redis at REDIS_URL (default
redis://127.0.0.1:6379/0). Writes bench/results/events.json.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path

from handwriting_ai.events import builders
from handwriting_ai.events.background import BackgroundPublisher
from handwriting_ai.events.codec import Event, encode_event
from handwriting_ai.events.publishers import RedisPublisher
from handwriting_ai.settings import load_settings, redact_url

RESULTS = Path(__file__).parent / "results" / "events.json"
CHANNEL = "bench:events"  # not the real channel: no bot sees benchmark traffic
HANDOVERS = 20_000
SYNC_PUBLISHES = 2_000
WARMUP = 200


def _events(count: int) -> list[Event]:
    ctx = builders.JobContext("bench-req", 1, "bench-model", "bench-run")
    out: list[Event] = []
    for n in range(1, count + 1):
        out.append(
            builders.batch(
                ctx,
                epoch=1,
                total_epochs=1,
                batch=n,
                total_batches=count,
                batch_loss=0.5,
                batch_acc=0.5,
                avg_loss=0.5,
                samples_per_sec=1000.0,
            )
        )
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 2)


def main() -> None:
    """Measures and writes the results."""
    settings = load_settings()
    url = settings.redis_url_value()
    events = _events(HANDOVERS)

    # Hand-over: what the training thread pays per event. The queue is as large as the run so
    # every event is taken (none dropped), and the publisher thread publishes meanwhile.
    publisher = BackgroundPublisher(
        RedisPublisher(url, CHANNEL), name="bench", capacity=2 * HANDOVERS
    )
    for event in events[:WARMUP]:
        publisher.publish(event)
    gc.disable()  # a collection inside one timed call is the collector's cost, not ours
    costs: list[float] = []
    clock = time.perf_counter
    for event in events:
        started = clock()
        publisher.publish(event)
        costs.append(clock() - started)
    gc.enable()
    close_started = clock()
    publisher.close(30.0)
    drain_s = clock() - close_started
    stats = publisher.stats

    # Synchronous PUBLISH of the same (already encoded) text, as a caller without the queue.
    sync = RedisPublisher(url, CHANNEL)
    texts = [encode_event(e) for e in events[:SYNC_PUBLISHES]]
    for text in texts[:WARMUP]:
        sync.publish_text(text)
    sync_costs: list[float] = []
    for text in texts:
        started = clock()
        sync.publish_text(text)
        sync_costs.append(clock() - started)
    encode_costs: list[float] = []
    for event in events[:SYNC_PUBLISHES]:
        started = clock()
        encode_event(event)
        encode_costs.append(clock() - started)
    sync.close()

    result = {
        "handover_p50_us": _us(statistics.median(costs)),
        "handover_p99_us": _us(_percentile(costs, 0.99)),
        "handover_max_us": _us(max(costs)),
        "sync_publish_p50_us": _us(statistics.median(sync_costs)),
        "sync_publish_p99_us": _us(_percentile(sync_costs, 0.99)),
        "encode_p50_us": _us(statistics.median(encode_costs)),
        "handovers": HANDOVERS,
        "sync_publishes": SYNC_PUBLISHES,
        "published": stats.published,
        "dropped": stats.dropped,
        "failed": stats.failed,
        "drain_after_handover_s": round(drain_s, 3),
        "redis": redact_url(url),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
