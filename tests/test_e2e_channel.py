"""Producers that only PUBLISH on the events channel, end to end: the bot (`npm start`) bridges
what it hears into the event log and shows it as it shows logged events, against the Discord
stand-in. The producers here do what the old trainer did: redis-py PUBLISH only, JSON text (v1,
legacy, and both); beside them a producer that also logs every event, with and without the mark
that tells the bridge so (this release's publisher, and the one before it). Each job ends as one
message in its final state with every epoch line and note once; two bots append a message once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from handwriting_ai.events import builders
from handwriting_ai.events.codec import Event, encode_event
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.publishers import EventLog, RedisPublisher
from handwriting_ai.settings import Settings
from tests.conftest import RedisServer
from tests.discord_api import DiscordApi, embed_of_body, fields_of, serve_discord_api
from tests.e2e_support import CHANNEL, MODEL_ID, USER_ID, Process, md_escape, start_bot, wait_until

STREAM = Settings().digits_events_stream
COMPLETED = f"Training completed · {md_escape(MODEL_ID)}"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def discord() -> Iterator[DiscordApi]:
    with serve_discord_api(DiscordApi()) as api:
        yield api


@pytest.fixture
def bots() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def v1_job(request_id: str, *, legacy: bool = False) -> list[Event]:
    """A two-epoch job's events in the order a trainer sends them; with ``legacy``, each v1
    event that has a legacy twin is followed by it (EVENTS__LEGACY=true)."""
    ctx = builders.JobContext(request_id, USER_ID, MODEL_ID, f"20260101T000000Z-{request_id}")
    events: list[Event] = [builders.started(ctx, total_epochs=2)]
    if legacy:
        events.append(builders.legacy_started(ctx, total_epochs=2))
    for epoch in (1, 2):
        events.append(
            builders.batch(
                ctx,
                epoch=epoch,
                total_epochs=2,
                batch=4,
                total_batches=4,
                batch_loss=0.1,
                batch_acc=0.9,
                avg_loss=0.2,
                samples_per_sec=500.0,
            )
        )
        events.append(
            builders.epoch(
                ctx, epoch=epoch, total_epochs=2, train_loss=0.2, val_acc=0.9, time_s=2.5
            )
        )
        if legacy:
            events.append(builders.legacy_progress(ctx, epoch=epoch, total_epochs=2, val_acc=0.9))
        events.append(builders.best(ctx, epoch=epoch, val_acc=0.9))
    events += [
        builders.artifact(ctx, path=MODEL_ID),
        builders.upload(ctx, status=200, model_bytes=2048, manifest_bytes=300),
        builders.prune(ctx, deleted_count=1),
        builders.completed(ctx, val_acc=0.9),
    ]
    if legacy:
        events.append(builders.legacy_completed(ctx, val_acc=0.9))
    return events


def legacy_job(request_id: str) -> list[Event]:
    """What a legacy-only producer sends: started, progress per epoch, completed."""
    ctx = builders.JobContext(request_id, USER_ID, MODEL_ID, f"20260101T000000Z-{request_id}")
    return [
        builders.legacy_started(ctx, total_epochs=2),
        builders.legacy_progress(ctx, epoch=1, total_epochs=2, val_acc=0.8),
        builders.legacy_progress(ctx, epoch=2, total_epochs=2, val_acc=0.85),
        builders.legacy_completed(ctx, val_acc=0.85),
    ]


def publish_only(url: str, events: list[Event]) -> list[str]:
    """The old trainer's Publisher: one PUBLISH of the JSON text per event, nothing logged."""
    client = Redis.from_url(url)
    try:
        texts = [encode_event(event) for event in events]
        for text in texts:
            client.publish(CHANNEL, text)
        return texts
    finally:
        client.close()


def logged_texts(url: str) -> list[str]:
    client = Redis.from_url(url)
    try:
        return [text.decode() for _id, text in log_range(client, STREAM, count=100_000)]
    finally:
        client.close()


def message_of(discord: DiscordApi, request_id: str) -> list[dict[str, object]]:
    """The messages (as Discord holds them) whose embed names ``request_id``; end notifications
    (text only, a reply to the job's message) have no embed and are not counted."""
    found = []
    for held in discord.held():
        if not held.get("embeds"):
            continue
        embed = embed_of_body(held)
        if md_escape(request_id) in str(embed.get("description", "")):
            found.append(embed)
    return found


def final(discord: DiscordApi, request_id: str, bots: list[Process]) -> dict[str, object]:
    """Waits until the job's one message shows its final state (completed); its embed."""

    def done() -> dict[str, object] | None:
        shown = message_of(discord, request_id)
        return shown[0] if len(shown) == 1 and shown[0].get("title") == COMPLETED else None

    try:
        embed = wait_until(f"{request_id} to show {COMPLETED!r}", done, 60)
    except AssertionError as exc:
        logs = "\n".join(bot.tail() for bot in bots)
        raise AssertionError(f"{exc}; shown: {message_of(discord, request_id)}\n{logs}") from None
    assert len(message_of(discord, request_id)) == 1
    return embed


def ended(discord: DiscordApi, jobs: int) -> None:
    """Each job's end was notified once (its final state was reached once)."""
    wait_until("the end notifications", lambda: len(discord.notifications()) >= jobs or None, 30)
    time.sleep(0.5)
    assert len(discord.notifications()) == jobs


def epoch_lines(embed: dict[str, object]) -> list[str]:
    return [line for line in fields_of(embed)["Epochs"].splitlines() if line.startswith("Epoch")]


def test_channel_only_jobs_v1_legacy_and_both_each_end_as_one_final_message(
    redis_server: RedisServer, discord: DiscordApi, bots: list[Process], tmp_path: Path
) -> None:
    bots.append(start_bot(redis_server.url, discord.url, tmp_path))
    v1 = publish_only(redis_server.url, v1_job("chan-v1"))
    legacy = publish_only(redis_server.url, legacy_job("chan-legacy"))
    both = publish_only(redis_server.url, v1_job("chan-both", legacy=True))

    shown = final(discord, "chan-v1", bots)
    assert epoch_lines(shown) == [
        "Epoch 1: val_acc 90.00% · 2.5 s",
        "Epoch 2: val_acc 90.00% · 2.5 s ★ best",
    ], fields_of(shown)
    notes = fields_of(shown)["Notes"].splitlines()
    assert len(notes) == 3 and notes[2] == "Pruned 1 old snapshot file", notes

    # Legacy only: folded from the compact events (no epoch times), to its final state.
    shown = final(discord, "chan-legacy", bots)
    assert epoch_lines(shown) == [
        "Epoch 1: val_acc 80.00%",
        "Epoch 2: val_acc 85.00% ★ best",
    ], fields_of(shown)

    # Both: the v1 view (epoch times, notes); the legacy twins change nothing, double nothing.
    shown = final(discord, "chan-both", bots)
    assert epoch_lines(shown) == [
        "Epoch 1: val_acc 90.00% · 2.5 s",
        "Epoch 2: val_acc 90.00% · 2.5 s ★ best",
    ], fields_of(shown)
    assert len(fields_of(shown)["Notes"].splitlines()) == 3

    # Every channel message reached the log once, as published.
    assert sorted(logged_texts(redis_server.url)) == sorted(v1 + legacy + both)
    ended(discord, 3)


def test_a_producer_writing_both_ways_is_shown_once(
    redis_server: RedisServer, discord: DiscordApi, bots: list[Process], tmp_path: Path
) -> None:
    bots.append(start_bot(redis_server.url, discord.url, tmp_path))
    # This release's publisher marks each text before its PUBLISH: the bot appends nothing.
    publisher = RedisPublisher(redis_server.url, CHANNEL, log=EventLog(STREAM, 100_000, 3600))
    marked = [encode_event(event) for event in v1_job("both-marked")]
    for text in marked:
        publisher.publish_text(text)
    publisher.close()
    # The release before: PUBLISH and XADD in one round trip, no mark; the bot appends a second
    # copy of each event, and stores and shows each text once.
    client = Redis.from_url(redis_server.url)
    unmarked = [encode_event(event) for event in v1_job("both-unmarked")]
    for text in unmarked:
        pipe = client.pipeline(transaction=False)
        pipe.publish(CHANNEL, text)
        pipe.xadd(STREAM, {"event": text})
        pipe.execute()
    client.close()

    for request_id in ("both-marked", "both-unmarked"):
        shown = final(discord, request_id, bots)
        assert epoch_lines(shown) == [
            "Epoch 1: val_acc 90.00% · 2.5 s",
            "Epoch 2: val_acc 90.00% · 2.5 s ★ best",
        ], fields_of(shown)
        assert len(fields_of(shown)["Notes"].splitlines()) == 3, fields_of(shown)
    wait_until(
        "the bridge to append the unmarked copies",
        lambda: len(logged_texts(redis_server.url)) == len(marked) + 2 * len(unmarked) or None,
        30,
    )
    logged = logged_texts(redis_server.url)
    assert all(logged.count(text) == 1 for text in marked)
    assert all(logged.count(text) == 2 for text in unmarked)
    ended(discord, 2)


def test_two_bots_append_a_channel_message_once(
    redis_server: RedisServer, discord: DiscordApi, bots: list[Process], tmp_path: Path
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        bots.append(
            start_bot(redis_server.url, discord.url, tmp_path / name, DIGITS_BOT_CONSUMER=name)
        )
    texts = publish_only(redis_server.url, v1_job("two-bots"))
    final(discord, "two-bots", bots)
    assert logged_texts(redis_server.url) == texts
    creates = [r for r in discord.messages() if r.is_create]
    assert len(creates) == 1, [(r.method, r.path) for r in discord.messages()]
