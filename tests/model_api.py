"""A real HTTP server on 127.0.0.1 standing in for the model API's upload endpoint.

As the real one (handwriting-ai's admin router, ``POST /v1/admin/models/upload``): every
accepted upload writes the model's ``manifest.json`` and ``model.pt`` under its model_id,
replacing the ones there, whether ``activate`` is true or not (its reloader then serves the
new files); ``activate=true`` also loads them into the serving engine at once. ``stored``
and ``served`` record those two effects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from tests.http_stub import QuietHandler, serve


@dataclass
class Upload:
    """One request the server received, parsed."""

    path: str
    api_key: str | None
    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]


@dataclass
class ModelApi:
    """Behaviour: answer ``statuses`` in turn (then 200); ``delay_s`` before answering.

    A 429 carries ``retry_after`` as its Retry-After header, when set (as the real API's
    rate limiter does).
    """

    key: str = "test-key"
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    retry_after: str | None = None
    received: list[Upload] = field(default_factory=list)
    url: str = ""
    stored: dict[str, Upload] = field(default_factory=dict)
    """model_id -> the upload whose files the API now holds for it (any accepted upload)."""
    served: dict[str, Upload] = field(default_factory=dict)
    """model_id -> the upload last activated (loaded for predictions at once)."""


def _parse(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in msg.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        if filename is None:
            fields[name] = payload.decode()
        else:
            files[name] = (filename, payload)
    return fields, files


@contextmanager
def serve_model_api(api: ModelApi) -> Iterator[ModelApi]:
    """Runs the stand-in on a free port for the duration of the block."""

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            fields, files = _parse(self.headers.get("Content-Type", ""), body)
            key = self.headers.get("X-Api-Key")
            api.received.append(Upload(self.path, key, fields, files))
            if api.delay_s:
                time.sleep(api.delay_s)
            if key != api.key:
                status = 401
            elif self.path != "/v1/admin/models/upload":
                status = 404
            else:
                status = api.statuses.pop(0) if api.statuses else 200
            upload = api.received[-1]
            if 200 <= status < 300:
                model_id = upload.fields.get("model_id", "")
                api.stored[model_id] = upload
                if upload.fields.get("activate") == "true":
                    api.served[model_id] = upload
            headers = {}
            if status == 429 and api.retry_after is not None:
                headers["Retry-After"] = api.retry_after
            self.reply(status, b"{}", headers)

    with serve(Handler) as base:
        api.url = base
        yield api
