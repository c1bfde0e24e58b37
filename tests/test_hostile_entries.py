"""Hostile entries stop nothing, and print nothing a terminal acts on (issue 23, items 3 and 4).

Deeply nested JSON (Python's parser raises RecursionError, not ValueError), bytes that are not
UTF-8, and text carrying ESC / OSC 52 / CR / C1 controls: in the requests stream they must be
refused, counted and acknowledged by the intake, which goes on; on the channel and in the
event log, ``tail`` and ``tail --replay`` print them as escaped INVALID lines and go on.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time

import pytest
from redis import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from handwriting_ai.events import builders as b
from handwriting_ai.events import json_numbers
from handwriting_ai.events.codec import (
    EventDecodeError,
    RequestValidationError,
    decode_event,
    decode_request,
    encode_event,
)
from handwriting_ai.printable import SafeFormatter, printable
from handwriting_worker.commands.replay import run_replay
from handwriting_worker.commands.tail import run_tail
from handwriting_worker.requests.intake import Intake
from handwriting_worker.rq.requests_keys import cancel_key, job_id_for
from handwriting_worker.rq.rq_worker import setup_logging
from tests.conftest import RedisServer, Running, free_port
from tests.e2e_support import USER_ID, wait_until
from tests.test_worker_intake import QUEUE_KEY, STREAM, queued_ids, request, settings_for, settled

DEEP = "[" * 100_000 + "]" * 100_000
ESC = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\r\x9b31m\u202e"
"""OSC 52 (set the clipboard), clear the screen, CR, C1 CSI, a bidi override."""
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")
LOG = "digits:events:log"
CHANNEL = "digits:events"


def _no_controls(text: str) -> None:
    for line in text.splitlines():
        assert not any(c in line for c in RAW_CONTROLS), repr(line)


def test_printable_escapes_every_control_and_keeps_the_rest() -> None:
    assert printable("req-1 ünïcode ✓") == "req-1 ünïcode ✓"
    assert printable(ESC) == "\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\r\\x9b31m\\u202e"
    assert printable("a\nb\tc\x00\x7f\u2028") == "a\\nb\\tc\\x00\\x7f\\u2028"
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_safe_formatter_writes_one_line_per_record_and_escaped_tracebacks() -> None:
    formatter = SafeFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "entry %s: %s", ("1-0", ESC), None)
    assert formatter.format(record) == "INFO entry 1-0: " + printable(ESC)
    try:
        raise ValueError(f"bad {ESC}\nforged line")
    except ValueError:
        failed = logging.LogRecord("t", logging.ERROR, __file__, 1, "x", (), sys.exc_info())
    failed.stack_info = f"Stack {ESC}"
    text = formatter.format(failed)
    _no_controls(text)
    assert "ValueError: bad \\x1b]52;c;" in text
    assert "Traceback (most recent call last):\n" in text


def test_setup_logging_escapes_our_logs_and_rqs() -> None:
    setup_logging()
    for name in ("handwriting_ai", "handwriting_worker", "rq.worker"):
        handlers = logging.getLogger(name).handlers
        assert handlers, name
        assert all(isinstance(h.formatter, SafeFormatter) for h in handlers), name


@pytest.mark.parametrize("text", [DEEP, '{"a":' * 40 + "1" + "}" * 40, "[" * 33])
def test_json_nested_too_deep_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(json_numbers.TooDeep, match=r"nested deeper than 32 levels"):
        json_numbers.loads(text)
    with pytest.raises(EventDecodeError, match=r"^\$: nested deeper than 32 levels"):
        decode_event(text)
    with pytest.raises(RequestValidationError, match=r"request: \$: nested deeper than 32"):
        decode_request(text)
    with pytest.raises(EventDecodeError, match=r"nested deeper"):
        decode_event(text.encode())


def test_brackets_in_strings_and_32_levels_still_parse() -> None:
    text = '{"a": "[[[{{{\\\\", "b": "\\"[[[[", "c": ' + "[" * 31 + "]" * 31 + "}"
    value = json_numbers.loads(text)
    assert isinstance(value, dict)
    assert (value["a"], value["b"]) == ("[[[{{{\\", '"[[[[')
    assert json_numbers.loads("[" * 32 + "]" * 32) == json.loads("[" * 32 + "]" * 32)


@pytest.mark.timeout(60)
def test_the_intake_refuses_undecodable_entries_acknowledges_them_and_goes_on(
    redis_server: RedisServer, client: Redis, running: list[Running]
) -> None:
    client.set(cancel_key(USER_ID, "r-cancel-bytes"), b"\xff\xfe")  # a record not UTF-8
    hostile: list[dict[FieldT, EncodableT]] = [
        {"request": DEEP},
        {"request": b'{"type": "digits.train.v1", "notes": "\xff\xfe"}'},
        {b"\xffrequest": b"{}"},
        {"cancel": DEEP},
        {"request": request("r-cancel-bytes")},  # the cancel record cannot be read
        {"request": request(f"r-{ESC}")},  # valid: queued, and logged escaped
        {"request": request("r-ok")},
    ]
    for fields in hostile:
        client.xadd(STREAM, fields)
    intake = Intake(settings_for(redis_server.url), Redis.from_url(redis_server.url), "h")
    running.append(Running(intake))
    wait_until("every entry handled", lambda: settled(client, len(hostile)), 30)
    assert intake.refused == 5
    assert running[0].thread.is_alive()
    assert queued_ids(client) == [job_id_for(USER_ID, f"r-{ESC}"), job_id_for(USER_ID, "r-ok")]
    assert client.llen(QUEUE_KEY) == 2


def test_intake_outcomes_name_the_refusal(redis_server: RedisServer) -> None:
    intake = Intake(settings_for(redis_server.url), Redis.from_url(redis_server.url), "h")
    assert intake.handle("1-0", {b"request": b"\xff"}) == (
        "refused: not UTF-8 text (invalid start byte at byte 0) (1 refused so far)"
    )
    assert intake.handle("2-0", {b"cancel": DEEP.encode()}) == (
        "refused: a cancel that is not a JSON object (2 refused so far)"
    )
    assert intake.handle("3-0", {"cancel": "{}"}) == "ignored: a cancel without a valid request_id"
    assert intake.refused == 2


def test_a_redis_failure_while_handling_is_raised_to_retry_not_refused() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    intake = Intake(settings_for(url), Redis.from_url(url, socket_connect_timeout=1), "h")
    with pytest.raises(RedisError):
        intake.handle("1-0", {b"request": request("r-1").encode()})
    assert intake.refused == 0


def _event_with_controls() -> str:
    return encode_event(
        b.failed(b.JobContext(f"req{ESC}", 5, "m", "run"), error_kind="user", message=f"m{ESC}")
    )


@pytest.mark.timeout(60)
def test_tail_prints_hostile_messages_escaped_and_goes_on(
    redis_server: RedisServer, client: Redis
) -> None:
    out, err = io.StringIO(), io.StringIO()
    stop = threading.Event()
    messages: list[str | bytes] = [DEEP, b"\xff\xfe{", _event_with_controls(), f"x{ESC}"]
    for raw in (False, True):
        out.seek(0)
        out.truncate()
        thread = threading.Thread(
            target=run_tail,
            args=(redis_server.url, CHANNEL, out, err),
            kwargs={"raw": raw, "count": len(messages), "stop": stop, "poll_s": 0.05},
        )
        thread.start()
        wait_until("the tail", lambda: "listening on" in err.getvalue(), 10)
        while thread.is_alive() and len(out.getvalue().splitlines()) < len(messages):
            for message in messages:
                client.publish(CHANNEL, message)
            time.sleep(0.2)
        thread.join(10)
        assert not thread.is_alive()
        lines = out.getvalue().splitlines()
        _no_controls(out.getvalue())
        assert lines[0].startswith("INVALID $: nested deeper than 32 levels")
        assert lines[1].startswith("INVALID $: not UTF-8 text")
        assert ("req\\u001b]52;c;" if raw else "req\\x1b]52;c;") in lines[2]
        assert "\\x9b31m" in lines[2]  # JSON keeps C1 controls raw: escaped here
        assert lines[3].startswith("INVALID $: not valid JSON") and "x\\x1b]52" in lines[3]
    stop.set()


@pytest.mark.timeout(60)
def test_replay_prints_hostile_log_entries_escaped_and_goes_on(
    redis_server: RedisServer, client: Redis
) -> None:
    for text in (DEEP, b"\xff\xfe", _event_with_controls(), json.dumps({"type": ESC})):
        client.xadd(LOG, {"event": text})
    out, err = io.StringIO(), io.StringIO()
    status = run_replay(redis_server.url, LOG, out, err, count=4, poll_s=0.05)
    assert status == 0
    lines = out.getvalue().splitlines()
    _no_controls(out.getvalue() + err.getvalue())
    assert [line.split(" ")[0] for line in lines] == [
        "INVALID",
        "INVALID",
        lines[2][:27],
        "INVALID",
    ]
    assert "digits.train.failed.v1 request=req\\x1b]52" in lines[2]
    assert "$.type: '\\x1b]52" in lines[3]
