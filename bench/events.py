"""Hand-over cost of the background publisher vs. a synchronous PUBLISH, on loopback; and
what the event log adds.

Run: ``python -m bench.events`` (``make bench-events``); the hand-over part needs Redis at
REDIS_URL (default redis://127.0.0.1:6379/0). The event-log part starts a private
redis-server (so a million log entries never land in a shared Redis) and measures: one
event's PUBLISH alone vs PUBLISH+XADD pipelined in one round trip (p50, p99), the events/s one
background publisher sustains with the log, and Redis memory per 1,000,000 log entries
(MEMORY USAGE of the stream after XADDing them, and INFO used_memory before/after).
Writes bench/results/events.json.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path

from redis import Redis

from bench.overhead import redis_server
from handwriting_ai.events import builders
from handwriting_ai.events.background import BackgroundPublisher
from handwriting_ai.events.codec import Event, encode_event
from handwriting_ai.events.publishers import EventLog, RedisPublisher
from handwriting_ai.settings import EventsSettings, load_settings, redact_url

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


LOG_EVENTS = 2_000
MEMORY_ENTRIES = 1_000_000


def _drain(publisher: BackgroundPublisher, timeout_s: float = 300.0) -> None:
    """Waits until the publisher's queue is empty."""
    deadline = time.monotonic() + timeout_s
    while publisher.pending and time.monotonic() < deadline:
        time.sleep(0.005)


def _timed(call: list[str], send: RedisPublisher) -> list[float]:
    clock = time.perf_counter
    costs: list[float] = []
    for text in call:
        started = clock()
        send.publish_text(text)
        costs.append(clock() - started)
    return costs


def measure_log(events: list[Event]) -> dict[str, object]:
    """PUBLISH alone vs PUBLISH+XADD, sustained events/s, and memory per 1M log entries."""
    defaults = EventsSettings()
    texts = [encode_event(e) for e in events[:LOG_EVENTS]]
    with redis_server() as url:
        log = EventLog("bench:log", defaults.stream_maxlen, defaults.stream_max_age_s)
        alone = RedisPublisher(url, CHANNEL)
        logged = RedisPublisher(url, CHANNEL, log=log)
        _timed(texts[:WARMUP], alone)
        _timed(texts[:WARMUP], logged)
        alone_costs: list[float] = []
        logged_costs: list[float] = []
        for chunk in range(0, len(texts), 200):  # alternate, so drift hits both alike
            alone_costs += _timed(texts[chunk : chunk + 200], alone)
            logged_costs += _timed(texts[chunk : chunk + 200], logged)
        alone.close()
        logged.close()

        # Sustained: hand over as fast as possible; the publisher thread's rate is the limit.
        sustained = BackgroundPublisher(
            RedisPublisher(url, CHANNEL, log=log), name="bench-log", capacity=2 * HANDOVERS
        )
        started = time.perf_counter()
        for event in events:
            sustained.publish(event)
        _drain(sustained)  # not close(): it would evict the queued batch events
        sustained_s = time.perf_counter() - started
        published = sustained.stats.published
        sustained.close(5.0)

        # Memory: a million typical entries (batch events, the most common kind).
        client = Redis.from_url(url)
        client.delete("bench:log")
        before = int(client.info("memory")["used_memory"])
        text = texts[len(texts) // 2]
        pipe = client.pipeline(transaction=False)
        for n in range(MEMORY_ENTRIES):
            pipe.xadd("bench:mem", {"event": text})
            if n % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        after = int(client.info("memory")["used_memory"])
        usage = client.memory_usage("bench:mem", samples=0)
        length = client.xlen("bench:mem")
        client.close()
    return {
        "log_publish_alone_p50_us": _us(statistics.median(alone_costs)),
        "log_publish_alone_p99_us": _us(_percentile(alone_costs, 0.99)),
        "log_publish_xadd_p50_us": _us(statistics.median(logged_costs)),
        "log_publish_xadd_p99_us": _us(_percentile(logged_costs, 0.99)),
        "log_sustained_events_per_s": round(published / sustained_s),
        "log_sustained_published": published,
        "log_memory_entries": length,
        "log_memory_event_bytes": len(text.encode()),
        "log_memory_usage_mb_per_1m": round((usage or 0) / length * 1e6 / 2**20, 1),
        "log_used_memory_delta_mb_per_1m": round((after - before) / length * 1e6 / 2**20, 1),
        "log_stream_maxlen_default": defaults.stream_maxlen,
    }


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
    _drain(publisher)  # not close(): it would evict the queued batch events
    drain_s = clock() - close_started
    publisher.close(5.0)
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

    log_result = measure_log(events)
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
        **log_result,
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
