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


def test_old_messages_refuse_edits_with_30046() -> None:
    with serve_discord_api(DiscordApi(max_edit_age_s=0.0)) as api:
        _, created, _ = call(api, "POST", "/channels/1/messages", EMBED)
        status, body, _ = call(api, "PATCH", f"/channels/1/messages/{created['id']}", EMBED)
    assert (status, body["code"]) == (400, 30046)


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
