"""Signed interactions posted to the bots' endpoints, as Discord posts them: /train and the
Cancel button, each delivered once or twice (Discord's retry, or a proxy's), to either bot.

Bodies follow Discord's interaction object (https://discord.com/developers/docs/interactions/
receiving-and-responding#interaction-object), as
typescript/test/support/interactions_support.ts builds them; the signature is Ed25519 over
timestamp + body, in ``X-Signature-Ed25519``.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from tests.chaos.ed25519 import sign
from tests.chaos.schedule import APPLICATION_ID, OWNER

_REQUEST_ID = re.compile(r"`([0-9a-f]{32})`")


@dataclass(frozen=True)
class Delivery:
    interaction_id: str
    kind: str
    content: str | None
    """The ephemeral answer's text; None when no answer came (bot down) or it was deferred."""


@dataclass
class Interactions:
    secret: bytes
    ports: tuple[int, int]
    rng: random.Random
    deliveries: list[Delivery] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900_000_001))

    def _post(self, text: str, kind: str, interaction_id: str, port: int) -> None:
        """One delivery; the other bot when this one does not answer."""
        stamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-signature-ed25519": sign(self.secret, (stamp + text).encode()).hex(),
            "x-signature-timestamp": stamp,
        }
        content: str | None = None
        for target in (port, *[p for p in self.ports if p != port]):
            url = f"http://127.0.0.1:{target}/interactions"
            request = urllib.request.Request(url, text.encode(), headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=8) as answer:
                    data = json.loads(answer.read()).get("data") or {}
                    content = data.get("content") if isinstance(data, dict) else None
                break
            except (OSError, ValueError):
                continue
        self.deliveries.append(Delivery(interaction_id, kind, content))

    def _deliver(self, body: dict[str, object], kind: str, twice: bool) -> str:
        interaction_id = str(next(self._ids))
        text = json.dumps({**body, "id": interaction_id, "token": f"token-{interaction_id}"})
        ports = list(self.ports)
        self.rng.shuffle(ports)
        threads = [
            threading.Thread(target=self._post, args=(text, kind, interaction_id, port))
            for port in ports[: 2 if twice else 1]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return interaction_id

    def train(self, epochs: int, twice: bool) -> str:
        user = {"user": {"id": str(OWNER), "username": "owner"}, "roles": []}
        options = [{"name": "epochs", "value": epochs, "type": 4}]
        data = {"id": "5", "name": "train", "type": 1, "options": options}
        body = {"type": 2, "application_id": APPLICATION_ID, "channel_id": "901"}
        return self._deliver(
            {**body, "guild_id": "900", "member": user, "data": data}, "train", twice
        )

    def cancel(self, by: int, request_id: str) -> None:
        data = {"custom_id": f"digits:cancel:{OWNER}:{request_id}", "component_type": 2}
        user = {"id": str(by), "username": "someone"}
        body = {"type": 3, "application_id": APPLICATION_ID, "channel_id": "901", "user": user}
        self._deliver({**body, "data": data}, "cancel", twice=False)

    @staticmethod
    def named(delivery: Delivery) -> list[str]:
        """The request id a /train answer named, if it named one."""
        found = _REQUEST_ID.search(delivery.content or "")
        return [] if found is None else [found.group(1)]

    def request_ids(self) -> list[str]:
        """Request ids the /train answers named, in order, each once."""
        named = [self.named(d) for d in list(self.deliveries) if d.kind == "train"]
        return list(dict.fromkeys(r for found in named for r in found))
