"""The Discord stand-in enforces the limits it models, so bot tests against it mean something."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

from tests.discord_api import DiscordApi, serve_discord_api


def call(
    api: DiscordApi,
    method: str,
    path: str,
    body: object,
    token: str = "t",
    multipart: bytes | None = None,
) -> tuple[int, dict[str, object], dict[str, str]]:
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bot {token}", "Content-Type": "application/json"}
    if multipart is not None:
        boundary = uuid.uuid4().hex
        data = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="payload_json"\r\n'
                f"Content-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"
                f'--{boundary}\r\nContent-Disposition: form-data; name="files[0]"; '
                f'filename="chart.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + multipart
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    request = urllib.request.Request(
        f"{api.url}/v10{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def at(value: object, *path: str | int) -> object:
    """The value under ``path`` (dict keys, list indexes) of a JSON answer."""
    for part in path:
        if isinstance(part, int):
            assert isinstance(value, list)
            value = value[part]
        else:
            assert isinstance(value, dict)
            value = value[part]
    return value


def attachment_ids(answer: object) -> list[object]:
    attachments = at(answer, "attachments")
    assert isinstance(attachments, list)
    return [at(a, "id") for a in attachments]


EMBED = {"embeds": [{"title": "t"}], "allowed_mentions": {"parse": []}}


def test_global_limit_answers_429_with_retry_after_and_headers() -> None:
    with serve_discord_api(DiscordApi(global_per_second=5)) as api:
        statuses = [call(api, "POST", "/channels/1/messages", EMBED) for _ in range(6)]
    assert [s for s, _, _ in statuses] == [200] * 5 + [429]
    _, body, headers = statuses[-1]
    assert body["global"] is True and isinstance(body["retry_after"], float)
    assert 0 < body["retry_after"] <= 1
    assert headers["Retry-After"] == str(body["retry_after"])
    assert headers["X-RateLimit-Global"] == "true"
    assert api.limit_hits == 1 and api.too_many() == 1


def test_scripted_429_can_leave_out_the_header() -> None:
    with serve_discord_api(DiscordApi(rate_limit_count=1, retry_after_header=False)) as api:
        status, body, headers = call(api, "POST", "/channels/1/messages", EMBED)
    assert status == 429 and "Retry-After" not in headers and body["retry_after"] == 0.5


def test_old_messages_refuse_edits_with_30046_as_a_429_carrying_the_code() -> None:
    with serve_discord_api(DiscordApi(max_edit_age_s=0.0)) as api:
        _, created, _ = call(api, "POST", "/channels/1/messages", EMBED)
        status, body, headers = call(api, "PATCH", f"/channels/1/messages/{created['id']}", EMBED)
    assert (status, body["code"], body["global"]) == (429, 30046, False)
    assert isinstance(body["retry_after"], float) and headers["Retry-After"] == "3"
    assert headers["X-RateLimit-Scope"] == "user" and "X-RateLimit-Global" not in headers
    assert api.limit_hits == 0  # not the global limit


def test_every_answer_is_the_whole_message_object() -> None:
    reply = {**EMBED, "message_reference": {"message_id": "1000"}, "nonce": "n"}
    with serve_discord_api(DiscordApi()) as api:
        _, created, _ = call(api, "POST", "/channels/1/messages", EMBED)
        _, edited, _ = call(api, "PATCH", f"/channels/1/messages/{created['id']}", {"content": "c"})
        _, replied, _ = call(api, "POST", "/channels/1/messages", reply)
    for answer in (created, edited, replied):
        assert {"id", "channel_id", "author", "content", "timestamp", "edited_timestamp"} <= set(
            answer
        )
        assert {"embeds", "components", "attachments", "mentions", "type", "flags"} <= set(answer)
    assert created["edited_timestamp"] is None and isinstance(edited["edited_timestamp"], str)
    assert edited["embeds"] == [{"title": "t"}] and edited["content"] == "c"  # embeds kept
    assert replied["type"] == 19 and replied["message_reference"] == {
        "channel_id": "1",
        "message_id": "1000",
    }
    assert replied["nonce"] == "n"


def test_a_read_answers_the_message_as_held_or_discords_codes() -> None:
    api = DiscordApi(forbidden_channels={"9"}, deleted_channels={"8"})
    with serve_discord_api(api):
        _, created, _ = call(api, "POST", "/channels/1/messages", EMBED)
        call(api, "PATCH", f"/channels/1/messages/{created['id']}", {"components": []})
        status, read, _ = call(api, "GET", f"/channels/1/messages/{created['id']}", None)
        api.deleted.add(str(created["id"]))
        deleted = call(api, "GET", f"/channels/1/messages/{created['id']}", None)
        unknown = call(api, "GET", "/channels/1/messages/999", None)
        forbidden = call(api, "GET", "/channels/9/messages/1", None)
        gone = call(api, "GET", "/channels/8/messages/1", None)
        writes = [r for r in api.messages() if r.method == "GET"]
    assert status == 200 and read["embeds"] == [{"title": "t"}] and read["components"] == []
    assert (deleted[0], deleted[1]["code"]) == (unknown[0], unknown[1]["code"]) == (404, 10008)
    assert (forbidden[0], forbidden[1]["code"]) == (403, 50001)
    assert (gone[0], gone[1]["code"]) == (404, 10003)
    assert writes == [], "a read is no create or edit"


def test_edits_keep_attachments_unless_attachments_lists_which_stay() -> None:
    png = b"\x89PNG one"
    with serve_discord_api(DiscordApi()) as api:
        _, created, _ = call(api, "POST", "/channels/1/messages", EMBED, multipart=png)
        path = f"/channels/1/messages/{created['id']}"
        first = at(created, "attachments", 0)
        assert at(first, "filename") == "chart.png" and at(first, "size") == len(png)
        assert str(at(first, "url")).endswith(f"/{at(first, 'id')}/chart.png")
        _, json_only, _ = call(api, "PATCH", path, {"embeds": [{"title": "u"}]})
        _, replaced, _ = call(api, "PATCH", path, {**EMBED, "attachments": []}, multipart=png)
        _, cleared, _ = call(api, "PATCH", path, {"attachments": []})
        held = api.held()
    assert attachment_ids(json_only) == [at(first, "id")]
    assert len(attachment_ids(replaced)) == 1 and attachment_ids(replaced) != [at(first, "id")]
    assert attachment_ids(cleared) == [] and held[0]["attachments"] == []
    assert held[0]["embeds"] == [{"title": "t"}]


def test_unknown_channels_users_and_bad_ids_answer_discord_codes() -> None:
    api = DiscordApi(deleted_channels={"5"}, unknown_users={"13"})
    with serve_discord_api(api):
        channel = call(api, "POST", "/channels/5/messages", EMBED)
        user = call(api, "POST", "/users/@me/channels", {"recipient_id": "13"})
        bad = call(api, "POST", "/users/@me/channels", {"recipient_id": "x"})
        empty = call(api, "POST", "/channels/1/messages", {"content": ""})
        missing = call(api, "PATCH", "/channels/1/messages/999", EMBED)
    assert (channel[0], channel[1]["code"]) == (404, 10003)
    assert (user[0], user[1]["code"]) == (404, 10013)
    assert (bad[0], bad[1]["code"]) == (400, 50035)
    assert bad[1]["errors"] == {
        "recipient_id": {
            "_errors": [{"code": "NUMBER_TYPE_COERCE", "message": 'Value "x" is not snowflake.'}]
        }
    }
    assert (empty[0], empty[1]["code"]) == (400, 50006)
    assert (missing[0], missing[1]["code"]) == (404, 10008)


def test_strict_refuses_what_discord_refuses_naming_the_field() -> None:
    field = {"name": "n", "value": ""}
    refused = {
        "embeds.0.fields.0.value": {"embeds": [{"title": "t", "fields": [field]}]},
        "nonce": {**EMBED, "nonce": "n" * 26},
        "allowed_mentions": {**EMBED, "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
        "embeds.0.title": {"embeds": [{"title": "t" * 257}]},
        "embeds": {"embeds": [{"description": "d" * 4096, "footer": {"text": "f" * 2000}}]},
        "content": {"content": "c" * 2001},
    }
    with serve_discord_api(DiscordApi()) as api:
        answers = {k: call(api, "POST", "/channels/1/messages", b) for k, b in refused.items()}
    with serve_discord_api(DiscordApi(strict=False)) as lenient:
        taken = [call(lenient, "POST", "/channels/1/messages", b)[0] for b in refused.values()]
    for where, (status, body, _) in answers.items():
        assert (status, body["code"]) == (400, 50035), where
        assert at(body, "errors", *where.split("."), "_errors", 0, "code"), where
    assert taken == [200] * len(refused)


def test_closed_dms_wrong_token_and_forbidden_channels() -> None:
    api = DiscordApi(dms_closed={"42"}, forbidden_channels={"9"}, token="good")
    with serve_discord_api(api):
        _, dm, _ = call(api, "POST", "/users/@me/channels", {"recipient_id": "42"}, "good")
        closed = call(api, "POST", f"/channels/{dm['id']}/messages", EMBED, "good")
        forbidden = call(api, "POST", "/channels/9/messages", EMBED, "good")
        unauthorized = call(api, "POST", "/channels/1/messages", EMBED, "bad")
    assert (closed[0], closed[1]["code"]) == (403, 50007)
    assert (forbidden[0], forbidden[1]["code"]) == (403, 50001)
    assert unauthorized[0] == 401


def test_enforced_nonce_returns_the_first_message() -> None:
    body = {**EMBED, "nonce": "n1", "enforce_nonce": True}
    with serve_discord_api(DiscordApi()) as api:
        first = call(api, "POST", "/channels/1/messages", body)
        second = call(api, "POST", "/channels/1/messages", body)
        other = call(api, "POST", "/channels/1/messages", {**EMBED, "nonce": "n1"})
    assert first[1]["id"] == second[1]["id"] != other[1]["id"]


def test_a_reused_nonce_answers_the_earlier_message_as_held_and_changes_nothing() -> None:
    first = {"embeds": [{"title": "started"}], "nonce": "n1", "enforce_nonce": True}
    again = {"embeds": [{"title": "completed"}], "nonce": "n1", "enforce_nonce": True}
    with serve_discord_api(DiscordApi()) as api:
        created = call(api, "POST", "/channels/1/messages", first)[1]
        call(api, "PATCH", f"/channels/1/messages/{created['id']}", {"content": "note"})
        status, answer, _ = call(api, "POST", "/channels/1/messages", again)
        shown = api.latest_embed()
    assert status == 200 and answer["id"] == created["id"]
    assert answer["embeds"] == [{"title": "started"}] and answer["content"] == "note"
    assert answer["nonce"] == "n1"
    assert shown == {"title": "started"}  # what Discord shows, not what the last request asked


def test_multipart_upload_and_end_notifications_apart_from_the_live_message() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00binary"
    note = {
        "content": "<@42> done",
        "allowed_mentions": {"parse": [], "users": ["42"]},
        "message_reference": {"message_id": "1000"},
    }
    with serve_discord_api(DiscordApi()) as api:
        status, _, _ = call(api, "POST", "/channels/1/messages", EMBED, multipart=png)
        call(api, "POST", "/channels/1/messages", note)
    assert status == 200
    assert [r.files for r in api.messages()] == [(("files[0]", "chart.png", png),)]
    assert api.latest_embed() == {"title": "t"}
    assert [r.body for r in api.notifications()] == [note]


def test_attachments_are_served_as_the_cdn_serves_them() -> None:
    png = b"\x89PNG\r\n\x1a\nbytes"
    with serve_discord_api(DiscordApi()) as api:
        url = api.attach("901/77/digit.png", png)
        with urllib.request.urlopen(url, timeout=10) as response:
            served = (response.status, response.headers["Content-Type"], response.read())
        missing_url = url.replace("digit.png", "other.png")
        try:
            urllib.request.urlopen(missing_url, timeout=10)
            raise AssertionError("an unknown attachment was served")
        except urllib.error.HTTPError as error:
            missing = error.code
    assert url.endswith("/attachments/901/77/digit.png") and "/api" not in url
    assert served == (200, "image/png", png)
    assert missing == 404


def test_edits_of_an_interaction_answer_are_recorded_by_token_without_a_bot_token() -> None:
    api = DiscordApi(token="good", global_per_second=1)
    path = "/webhooks/424242/tok-1/messages/@original"
    with serve_discord_api(api):
        first = call(api, "PATCH", path, {"content": "Reads 7"}, token="none", multipart=b"png")
        second = call(api, "PATCH", path.replace("@", "%40"), {"content": "again"}, token="none")
        bad = call(api, "PATCH", path, {"embeds": [{"title": "x" * 300}]}, token="none")
        other = call(api, "PATCH", "/webhooks/424242/tok-2/messages/@original", [1])
    assert (first[0], second[0], bad[0], other[0]) == (200, 200, 400, 400)
    edits = api.interaction_edits("tok-1")
    assert [r.body for r in edits] == [{"content": "Reads 7"}, {"content": "again"}]
    assert edits[0].files == (("files[0]", "chart.png", b"png"),)
    assert api.interaction_edits("tok-2") == []
