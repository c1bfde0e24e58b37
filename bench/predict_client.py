"""Discord's side of ``bench/predict.py``: signed ``/predict`` interactions as Discord sends them.

Discord signs each interaction with Ed25519 over ``timestamp + body``; the bot checks it with
DISCORD_PUBLIC_KEY. The Python standard library has no Ed25519, so the key pair and the
signatures come from the ``openssl`` command (OpenSSL 3), before the clock of a request starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

APPLICATION_ID = "424242"
# Above 2^53: a JS number would lose its last digits.
USER_ID = 2**62 + 4242
_DER_PREFIX = 12  # SubjectPublicKeyInfo of an Ed25519 key: 12 bytes of header, then 32 of key


class Signer:
    """An Ed25519 key pair in ``folder``; signs as Discord does."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("the openssl command is not on PATH: install OpenSSL 3")
        self.key = folder / "interactions-key.pem"
        self._openssl("genpkey", "-algorithm", "ed25519", "-out", str(self.key))
        der = self._openssl("pkey", "-in", str(self.key), "-pubout", "-outform", "DER")
        self.public_key_hex = der[_DER_PREFIX:].hex()

    def _openssl(self, *args: str, data: bytes = b"") -> bytes:
        done = subprocess.run(
            ["openssl", *args], input=data, capture_output=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.decode().strip()}")
        return done.stdout

    def headers(self, body: str) -> dict[str, str]:
        """The headers of a signed interaction whose body is ``body``."""
        timestamp = str(int(time.time()))
        message = (timestamp + body).encode()
        signed = self.key.with_name("signed.bin")  # Ed25519 signs in one shot: from a file
        signed.write_bytes(message)
        args = ("-sign", "-inkey", str(self.key), "-rawin", "-in", str(signed))
        signature = self._openssl("pkeyutl", *args)
        return {
            "content-type": "application/json",
            "x-signature-ed25519": signature.hex(),
            "x-signature-timestamp": timestamp,
        }


def predict_interaction(token: str, url: str, size: int, model_id: str) -> str:
    """A ``/predict image:<attachment> model_id:<model_id>`` in a guild, its attachment
    resolved (id 77)."""
    user = {"id": str(USER_ID), "username": "bench"}
    attachment = {
        "id": "77",
        "filename": "digit.png",
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": "image/png",
    }
    body = {
        "type": 2,
        "id": token,
        "application_id": APPLICATION_ID,
        "token": token,
        "channel_id": "901",
        "guild_id": "900",
        "member": {"user": user, "roles": []},
        "data": {
            "id": "6",
            "name": "predict",
            "type": 1,
            "options": [
                {"name": "image", "type": 11, "value": "77"},
                {"name": "model_id", "type": 3, "value": model_id},
            ],
            "resolved": {"attachments": {"77": attachment}},
        },
    }
    return json.dumps(body)
