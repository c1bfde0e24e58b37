"""End to end, with real parts only: redis-server, `python -m handwriting_worker enqueue`, a
worker process and its forked work horse training on the offline digits, the bot (`npm start`)
and a local HTTP stand-in for Discord's REST API; then the same under faults (Redis restarted,
the bot restarted, the work horse SIGKILLed, the model API failing once, a flood of invalid
messages on the channel). Each test checks the Discord message the job ends with."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis

from handwriting_ai.events import builders
from handwriting_ai.events.codec import decode_event, encode_event
from handwriting_ai.events.eventlog import log_range
from handwriting_ai.events.publishers import EventLog, RedisPublisher
from handwriting_ai.settings import Settings
from tests.conftest import RedisServer, free_port
from tests.discord_api import DiscordApi, Request, embed_of, fields_of, serve_discord_api
from tests.e2e_support import (
    CHANNEL,
    MODEL_ID,
    TERMINAL,
    USER_ID,
    Process,
    Subscriber,
    enqueue,
    md_escape,
    percent,
    read_manifest,
    size,
    start_bot,
    start_worker,
    wait_until,
    worker_env,
)
from tests.model_api import ModelApi, serve_model_api

STREAM = Settings().digits_events_stream

pytestmark = pytest.mark.timeout(240)

EDIT_INTERVAL_S = 1.5  # the bot's default DIGITS_EDIT_INTERVAL_MS, which these tests keep
SYSTEM_HINT = "Nothing to fix in the request; try again later."


@pytest.fixture
def discord() -> Iterator[DiscordApi]:
    with serve_discord_api(DiscordApi()) as api:
        yield api


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every process a test starts goes here and is stopped afterwards, even on failure."""
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def logs(processes: list[Process]) -> str:
    return "\n".join(p.tail() for p in processes)


def final_message(
    discord: DiscordApi, title: str, processes: list[Process], timeout_s: float = 120
) -> dict[str, object]:
    """Waits until the newest message shows ``title`` (a terminal state); its embed."""

    def done() -> dict[str, object] | None:
        embed = discord.latest_embed()
        return embed if embed is not None and embed.get("title") == title else None

    try:
        return wait_until(f"the Discord message titled {title!r}", done, timeout_s)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; latest: {discord.latest_embed()}\n{logs(processes)}"
        ) from None


def one_message(discord: DiscordApi) -> tuple[Request, list[Request]]:
    """Checks one DM opened for USER_ID, one message created in it and only edited after;
    returns the create and the edits."""
    answered = discord.answered()
    dms = [r for r in answered if r.is_dm]
    assert len(dms) == 1, [r.path for r in answered]
    # The snowflake arrives with every digit (it is above 2^53).
    assert dms[0].body == {"recipient_id": str(USER_ID)}
    channel = f"7{USER_ID}"
    sent = discord.messages()
    creates = [r for r in sent if r.is_create]
    assert len(creates) == 1, [(r.method, r.path) for r in sent]
    assert sent[0] is creates[0] and creates[0].path == f"/channels/{channel}/messages"
    assert creates[0].at >= dms[0].at
    edits = sent[1:]
    assert {(r.method, r.path) for r in edits} <= {("PATCH", f"/channels/{channel}/messages/1000")}
    for request in [*dms, *sent]:
        assert request.authorization == "Bot test"
    for request in sent:
        body = request.body
        assert isinstance(body, dict)
        # Nothing the bot sends may ping anyone.
        assert body["allowed_mentions"] == {"parse": []}, request.raw
    return creates[0], edits


def completed_in_log(url: str) -> dict[str, object] | None:
    """The first completed event in the event log (kept even when Pub/Sub drops a subscriber)."""
    client = Redis.from_url(url)
    try:
        for _, data in log_range(client, STREAM, count=100_000):
            try:
                event = dict(decode_event(data))
            except ValueError:  # junk a test wrote into the log
                continue
            if event["type"] == "digits.train.completed.v1":
                return event
        return None
    finally:
        client.close()


def check_completed(
    embed: dict[str, object],
    tmp_path: Path,
    subscriber: Subscriber,
    log_url: str | None = None,
) -> dict[str, object]:
    """The final embed shows completed, the manifest's val_acc and run_id; the manifest.

    With ``log_url`` the completed event is read from the event log instead of the channel.
    """
    manifest = read_manifest(tmp_path)
    run_id, val_acc = manifest["run_id"], manifest["val_acc"]
    assert isinstance(run_id, str) and isinstance(val_acc, float)
    if log_url is None:
        completed = subscriber.first("digits.train.completed.v1")
    else:
        completed = completed_in_log(log_url)
    assert completed is not None
    assert completed["run_id"] == run_id and completed["val_acc"] == val_acc
    assert embed["title"] == f"Training completed · {md_escape(MODEL_ID)}"
    fields = fields_of(embed)
    assert fields["Result"] == f"val_acc {percent(val_acc)}\nRun {md_escape(run_id)}"
    description = embed["description"]
    assert isinstance(description, str) and "100%" in description
    return manifest


def start_all(
    redis_server: RedisServer,
    discord: DiscordApi,
    tmp_path: Path,
    processes: list[Process],
    **extra: str,
) -> dict[str, str]:
    """The bot (subscribed) and one worker; the environment for enqueue."""
    processes.append(start_bot(redis_server.url, discord.url, tmp_path))
    env = worker_env(redis_server.url, tmp_path, **extra)
    processes.append(start_worker(env, tmp_path))
    return env


def test_a_job_ends_as_one_message_edited_in_place(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    env = start_all(redis_server, discord, tmp_path, processes)
    enqueue(env, "e2e-1", epochs=4)
    embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
    check_completed(embed, tmp_path, subscriber)
    time.sleep(0.5)  # nothing may follow the terminal state
    create, edits = one_message(discord)
    assert len(discord.snapshot()) == 2 + len(edits)  # DM, create, edits: nothing else, no 429
    # Throttle: at most one edit per 1.5 s, the terminal one may come sooner. Measured from
    # the first Discord request (opening the DM) to the last (the final edit).
    requests = discord.snapshot()
    duration = requests[-1].at - requests[0].at
    assert len(edits) <= duration / EDIT_INTERVAL_S + 2, (len(edits), duration)
    assert edits, "a job of several seconds is shown while it runs, not only at its end"
    gaps = [b.at - a.at for a, b in zip([create, *edits], edits[:-1], strict=False)]
    assert all(gap >= EDIT_INTERVAL_S - 0.05 for gap in gaps), gaps
    # Every message on the channel was a valid event of this job, in order, one terminal.
    assert subscriber.invalid() == []
    events = subscriber.events()
    assert {(e["request_id"], e["user_id"]) for e in events} == {("e2e-1", USER_ID)}
    types = subscriber.types()
    assert types[0] == "digits.train.started.v1" and types[-1] == "digits.train.completed.v1"
    assert types.count("digits.train.completed.v1") == 1
    assert "digits.train.failed.v1" not in types
    assert types.count("digits.train.epoch.v1") == 4


def test_redis_restarted_mid_job(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    env = start_all(redis_server, discord, tmp_path, processes)
    enqueue(env, "e2e-redis", epochs=8)
    subscriber.wait_for("digits.train.batch.v1", 90)
    wait_until("the job's message", lambda: discord.messages() or None, 30)
    # This Redis has no persistence: the queue, the job's RQ data, the event log and the bot's
    # stored state are gone, and events sent during the outage are lost (the spool keeps only
    # lifecycle events the worker could not send). What runs on survives: the work horse goes
    # on training and publishing, the RQ worker reconnects, the bot keeps the job's state and
    # message id in memory and makes its consumer group again.
    redis_server.stop()
    time.sleep(0.3)
    redis_server.start()
    # Back: once the bot has made its consumer group again on the new, empty Redis.
    bot = processes[0]
    wait_until("the bot to read the log again", lambda: "creating them again" in bot.output(), 30)
    back_ts = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    terminal = wait_until("the job's terminal event", subscriber.terminal, 120)
    assert terminal["type"] == "digits.train.completed.v1", terminal
    embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
    check_completed(embed, tmp_path, subscriber)
    one_message(discord)
    worker = processes[1]
    # Events published after the bot was back reach it: each epoch finished since then (by the
    # event's own timestamp, set before it is published) is on the final message.
    epochs = [
        e
        for e in subscriber.events()
        if e["type"] == "digits.train.epoch.v1" and str(e["ts"]) > back_ts
    ]
    assert epochs, f"no epoch ended after the restart: {subscriber.types()}"
    for event in epochs:
        val_acc = event["val_acc"]
        assert isinstance(val_acc, float)
        line = f"Epoch {event['epoch']}: val_acc {percent(val_acc)}"
        assert line in fields_of(embed)["Epochs"], f"{line} not in {embed}\n{bot.tail()}"
    assert subscriber.invalid() == []
    # Exactly one terminal event: the worker did not take the lost job data for a dead horse.
    assert [t for t in subscriber.types() if t in TERMINAL] == ["digits.train.completed.v1"]
    # The worker is still at work: it runs a job enqueued on the restarted Redis.
    assert worker.alive(), worker.tail()
    enqueue(env, "e2e-redis-2", epochs=1)
    second = wait_until(
        "the second job's end",
        lambda: next(
            (
                e
                for e in subscriber.events()
                if e["request_id"] == "e2e-redis-2" and e["type"] in TERMINAL
            ),
            None,
        ),
        120,
    )
    assert second["type"] == "digits.train.completed.v1", second


def test_bot_restarted_mid_job_keeps_editing_the_same_message(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    env = start_all(redis_server, discord, tmp_path, processes)
    enqueue(env, "e2e-bot", epochs=4)
    wait_until("an edit of the job's message", lambda: len(discord.messages()) >= 2, 90)
    # The work horse waits (SIGSTOP) while the bot restarts, so the job is surely still
    # running, with events to come, when the new bot is back.
    [horse] = processes[1].children()
    os.kill(horse, signal.SIGSTOP)
    try:
        first_bot = processes[0]
        first_bot.stop()
        assert "SIGTERM: stopping" in first_bot.output(), first_bot.tail()
        restarted = time.monotonic()
        processes.append(start_bot(redis_server.url, discord.url, tmp_path))
    finally:
        os.kill(horse, signal.SIGCONT)
    embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
    check_completed(embed, tmp_path, subscriber)
    # One DM, one message: the new bot found the message id in Redis and edited it.
    _, edits = one_message(discord)
    assert len([r for r in edits if r.at > restarted]) >= 2


def test_a_killed_work_horse_ends_the_message_as_failed_with_the_cause(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    env = start_all(redis_server, discord, tmp_path, processes)
    enqueue(env, "e2e-kill", epochs=10)
    subscriber.wait_for("digits.train.batch.v1", 90)
    worker = processes[1]
    [horse] = worker.children()
    os.kill(horse, signal.SIGKILL)
    embed = final_message(discord, f"Training failed · {md_escape(MODEL_ID)}", processes)
    cause = "worker process killed by signal 9, probably out of memory"
    assert fields_of(embed)["System error"] == f"{md_escape(cause)}\n{SYSTEM_HINT}"
    one_message(discord)
    assert subscriber.types().count("digits.train.failed.v1") == 1
    assert "digits.train.completed.v1" not in subscriber.types()


def test_an_upload_answered_500_then_200_is_retried_and_shown(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    with serve_model_api(ModelApi(statuses=[500])) as api:
        env = start_all(
            redis_server,
            discord,
            tmp_path,
            processes,
            HANDWRITING_API_URL=api.url,
            HANDWRITING_API_KEY=api.key,
            UPLOAD__BACKOFF_S="0.2",
        )
        enqueue(env, "e2e-upload", epochs=2)
        # Discord rate-limits the first edit too: the bot waits retry_after, then goes on.
        wait_until("the job's message", lambda: discord.messages() or None, 90)
        discord.retry_after_s = 1.0
        discord.rate_limit_count = 1
        embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
    check_completed(embed, tmp_path, subscriber)
    assert [(u.fields["model_id"], u.api_key) for u in api.received] == [(MODEL_ID, api.key)] * 2
    requests = discord.snapshot()
    [limited] = [i for i, r in enumerate(requests) if r.status == 429]
    assert requests[limited + 1].at - requests[limited].at >= discord.retry_after_s - 0.05
    upload = subscriber.first("digits.train.upload.v1")
    assert upload is not None and upload["status"] == 200
    folder = tmp_path / "artifacts" / MODEL_ID
    model, manifest = (
        (folder / f"model-{upload['run_id']}.pt").stat().st_size,
        (folder / "manifest.json").stat().st_size,
    )
    notes = fields_of(embed)["Notes"]
    assert f"Upload: HTTP 200 (ok) · model {size(model)} · manifest {size(manifest)}" in notes
    one_message(discord)


def _garbage(request_id: str) -> list[bytes]:
    """Invalid messages, some of them dangerously close to this job's real events."""
    ctx = builders.JobContext(request_id, USER_ID, MODEL_ID, "20260101T000000Z-abcdef")
    done = dict(builders.completed(ctx, val_acc=0.5))
    failed = dict(builders.failed(ctx, error_kind="system", message="@everyone poisoned"))
    return [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b"{}",
        b"{" * 1000 + b"}" * 1000,
        b"x" * 70_000,
        json.dumps({**done, "val_acc": 1.5}).encode(),
        json.dumps({**done, "extra": True}).encode(),
        json.dumps({**failed, "user_id": 2**64}).encode(),
        json.dumps({**failed, "error_kind": "cosmic"}).encode(),
        json.dumps({**done, "type": "digits.train.done.v1"}).encode(),
        encode_event(builders.completed(ctx, val_acc=0.5)).replace('"ts"', '"ts", "ts"').encode(),
    ]


def test_a_flood_of_invalid_messages_does_not_change_the_job_message(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    env = start_all(redis_server, discord, tmp_path, processes)
    garbage = _garbage("e2e-flood")
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        client = Redis.from_url(redis_server.url)
        try:
            while not stop.is_set():
                pipe = client.pipeline(transaction=False)
                for payload in garbage:
                    pipe.publish(CHANNEL, payload)
                    pipe.xadd(STREAM, {"event": payload})
                pipe.execute()
                sent[0] += 2 * len(garbage)
                time.sleep(0.02)
        finally:
            client.close()

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        enqueue(env, "e2e-flood", epochs=3)
        embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
    finally:
        stop.set()
        flooder.join(5)
    # Redis may cut this test's own subscriber off under the flood (its output buffer limit):
    # the completed event is read from the event log, which keeps it.
    check_completed(embed, tmp_path, subscriber, log_url=redis_server.url)
    one_message(discord)
    assert sent[0] >= 1000, sent[0]
    assert subscriber.invalid(), "the flood reached the channel"
    assert all(e["run_id"] != "20260101T000000Z-abcdef" for e in subscriber.events())
    bot = processes[0]
    assert bot.alive(), bot.tail()
    # Every real event reached the bot: each epoch is on the final message.
    epochs = fields_of(embed)["Epochs"]
    for epoch in (1, 2, 3):
        assert f"Epoch {epoch}: val_acc" in epochs, epochs
    # The junk in the log is counted; only the first few entries are logged in full.
    output = bot.output()
    assert "invalid event #5 " in output and "invalid event #6 " not in output, bot.tail()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis with an append-only file fsynced every second, as deploy/ runs it."""
    server = RedisServer(free_port(), aof_dir=tmp_path / "aof")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def epoch_lines(embed: dict[str, object]) -> list[str]:
    return [
        line for line in fields_of(embed).get("Epochs", "").splitlines() if line.startswith("Epoch")
    ]


@pytest.mark.timing
def test_a_bot_stopped_before_the_last_epoch_shows_the_final_state_soon_after_it_starts(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    env = start_all(redis_server, discord, tmp_path, processes)
    enqueue(env, "e2e-away", epochs=3)
    subscriber.wait_for("digits.train.epoch.v1", 90)
    wait_until("the job's message", lambda: discord.messages() or None, 30)
    processes[0].stop()  # before the last epoch: the job runs on without any bot
    terminal = wait_until("the job's terminal event", subscriber.terminal, 120)
    assert terminal["type"] == "digits.train.completed.v1"
    started_at = time.monotonic()
    processes.append(start_bot(redis_server.url, discord.url, tmp_path))
    embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes, 30)
    shown = next(r.at for r in discord.messages() if r.at > started_at)
    assert shown - started_at <= 5, shown - started_at
    check_completed(embed, tmp_path, subscriber)
    assert len(epoch_lines(embed)) == 3, embed
    one_message(discord)


QUICK_TAKEOVER = {"DIGITS_BOT_LEASE_MS": "1500", "DIGITS_BOT_CLAIM_MS": "1000"}
"""A dead bot's jobs are taken over within seconds."""


def start_small_job(
    redis_server: RedisServer,
    discord: DiscordApi,
    tmp_path: Path,
    processes: list[Process],
    request_id: str,
    answer_delay_s: float = 0.0,
) -> None:
    """A bot quick to take over (processes[0]), a worker, and a 3-epoch job on 2,048 digits;
    Discord answers message requests ``answer_delay_s`` late from the start."""
    processes.append(start_bot(redis_server.url, discord.url, tmp_path, **QUICK_TAKEOVER))
    env = worker_env(redis_server.url, tmp_path, TRAIN__MAX_TRAIN_SAMPLES="2048")
    processes.append(start_worker(env, tmp_path))
    discord.answer_delay_s = answer_delay_s
    enqueue(env, request_id, epochs=3)


def kill_bot_and_finish(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
    after_terminal: bool,
) -> dict[str, object]:
    """SIGKILLs the first bot (a request of it in flight), starts another (once the job has
    ended when ``after_terminal``) and checks the completed message it shows; its embed."""
    processes[0].stop(signal.SIGKILL)
    discord.answer_delay_s = 0.0
    if after_terminal:
        wait_until("the job's terminal event", subscriber.terminal, 120)
    processes.append(start_bot(redis_server.url, discord.url, tmp_path, **QUICK_TAKEOVER))
    embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
    check_completed(embed, tmp_path, subscriber)
    assert len(epoch_lines(embed)) == 3, embed
    return embed


def test_a_bot_killed_in_the_middle_of_an_edit_leaves_one_message_with_the_final_state(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    start_small_job(redis_server, discord, tmp_path, processes, "e2e-sigkill")
    wait_until("the job's message", lambda: discord.messages() or None, 90)
    discord.answer_delay_s = 5.0  # Discord applies the edit, the bot never hears the answer
    seen = len(discord.messages())
    wait_until("an edit in flight", lambda: len(discord.messages()) > seen or None, 60)
    kill_bot_and_finish(redis_server, discord, subscriber, processes, tmp_path, False)
    one_message(discord)


def test_a_bot_killed_in_the_middle_of_a_create_leaves_one_message_with_the_final_state(
    redis_server: RedisServer,
    discord: DiscordApi,
    subscriber: Subscriber,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    # Discord creates the message, the bot never hears the answer.
    start_small_job(redis_server, discord, tmp_path, processes, "e2e-sigkill-create", 5.0)

    def in_flight() -> list[Request] | None:
        return [r for r in discord.snapshot() if r.is_create] or None

    wait_until("a create in flight", in_flight, 90)
    # The next bot's create carries the final state and the same nonce: Discord answers with
    # the message the dead bot created, which still shows the first state.
    kill_bot_and_finish(redis_server, discord, subscriber, processes, tmp_path, True)
    held = discord.held()
    assert [message["id"] for message in held] == ["1000"], held
    creates = [r for r in discord.messages() if r.is_create]
    assert len(creates) == 2, [(r.method, r.path) for r in discord.messages()]
    nonces = {r.body.get("nonce") for r in creates if isinstance(r.body, dict)}
    assert len(nonces) == 1, nonces


def test_redis_with_aof_restarted_mid_job_loses_nothing_and_the_message_completes(
    aof_redis: RedisServer,
    discord: DiscordApi,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    sub = Subscriber(aof_redis.url)
    try:
        env = start_all(aof_redis, discord, tmp_path, processes)
        enqueue(env, "e2e-aof", epochs=5)
        sub.wait_for("digits.train.epoch.v1", 90)
        time.sleep(1.2)  # everysec: what was written is on disk
        before = _log_texts(aof_redis.url)
        aof_redis.stop()
        time.sleep(0.3)
        aof_redis.start()
        after = _log_texts(aof_redis.url)
        assert after[: len(before)] == before, "every entry written before the restart is kept"
        embed = final_message(discord, f"Training completed · {md_escape(MODEL_ID)}", processes)
        assert len(epoch_lines(embed)) == 5, embed
        one_message(discord)
    finally:
        sub.close()


def _log_texts(url: str) -> list[bytes]:
    client = Redis.from_url(url)
    try:
        return [data for _, data in log_range(client, STREAM, count=100_000)]
    finally:
        client.close()


def test_two_bots_three_jobs_one_bot_killed_each_message_final_none_doubled(
    redis_server: RedisServer,
    discord: DiscordApi,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    quick = {"DIGITS_BOT_LEASE_MS": "1500", "DIGITS_BOT_CLAIM_MS": "1000"}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        processes.append(
            start_bot(
                redis_server.url,
                discord.url,
                tmp_path / name,
                DIGITS_BOT_CONSUMER=f"bot-{name}",
                **quick,
            )
        )
    jobs = [
        builders.JobContext(f"e2e-three-{n}", USER_ID, MODEL_ID, f"20260101T00000{n}Z-abcdef")
        for n in range(3)
    ]
    publisher = RedisPublisher(redis_server.url, CHANNEL, log=EventLog(STREAM, 100_000, 3600))
    try:
        for ctx in jobs:
            publisher.publish(builders.started(ctx, total_epochs=4))
        for epoch in (1, 2):
            for ctx in jobs:
                publisher.publish(
                    builders.epoch(
                        ctx, epoch=epoch, total_epochs=4, train_loss=0.1, val_acc=0.9, time_s=1.0
                    )
                )
            time.sleep(EDIT_INTERVAL_S)
        wait_until(
            "three messages",
            lambda: len([r for r in discord.messages() if r.is_create]) == 3 or None,
            30,
        )
        processes[0].stop(signal.SIGKILL)
        for epoch in (3, 4):
            for ctx in jobs:
                publisher.publish(
                    builders.epoch(
                        ctx, epoch=epoch, total_epochs=4, train_loss=0.1, val_acc=0.95, time_s=1.0
                    )
                )
        for ctx in jobs:
            publisher.publish(builders.completed(ctx, val_acc=0.95))
    finally:
        publisher.close()

    def all_final() -> bool | None:
        finals = [r for r in discord.messages() if r.is_edit and "Training completed" in r.raw]
        return len({r.path for r in finals}) == 3 or None

    wait_until("three final messages", all_final, 30)
    time.sleep(1.0)
    sent = discord.messages()
    creates = [r for r in sent if r.is_create]
    assert len(creates) == 3, [(r.method, r.path) for r in sent]
    by_message: dict[str, list[float]] = {}
    for request in sent:
        if request.is_edit:
            by_message.setdefault(request.path, []).append(request.at)
    assert len(by_message) == 3
    for times in by_message.values():
        gaps = [b - a for a, b in itertools.pairwise(times[:-1])]
        assert all(gap >= EDIT_INTERVAL_S - 0.05 for gap in gaps), gaps


def test_redis_down_when_a_job_ends_its_spooled_events_complete_the_message_later(
    aof_redis: RedisServer,
    discord: DiscordApi,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    sub = Subscriber(aof_redis.url)
    try:
        env = start_all(aof_redis, discord, tmp_path, processes, TRAIN__MAX_TRAIN_SAMPLES="2048")
        enqueue(env, "e2e-spool", epochs=3)
        sub.wait_for("digits.train.epoch.v1", 90)
        wait_until("the job's message", lambda: discord.messages() or None, 30)
    finally:
        sub.close()
    aof_redis.stop()  # the job ends while Redis is away: its last events go to the spool
    spool = tmp_path / "spool"
    wait_until("the spooled events", lambda: any(spool.glob("*")) or None, 120)
    aof_redis.start()
    # RQ may have quit on the outage (a Redis error in its main loop); either way a worker
    # started now, as its supervisor would, delivers the spool before taking any job.
    processes[1].stop()
    processes.append(start_worker(env, tmp_path))

    def first_final() -> dict[str, object] | None:
        edits = [r for r in discord.messages() if r.path.endswith("/messages/1000")]
        embed = embed_of(edits[-1]) if edits else None
        title = "" if embed is None else str(embed.get("title", ""))
        return embed if title.startswith("Training completed") else None

    embed = wait_until("the first job's message to complete", first_final, 120)
    assert len(epoch_lines(embed)) == 3, embed
    assert not any(spool.glob("*")), "the spool was delivered"
    creates = [r for r in discord.messages() if r.is_create]
    assert len(creates) == 1, [(r.method, r.path) for r in discord.messages()]
