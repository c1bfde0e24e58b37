"""What the schemas folder holds: which file is which kind of message.

The kind of a schema follows from its file name, so adding a message is adding a file:
- ``common.json``: shared definitions, referenced by the others;
- ``digits.train.<name>.v<N>.json``: an event of version N (one union per version);
- ``legacy.<name>.json``: a legacy compact event;
- ``digits.train.v<N>.json``: a job request;
- ``digits.predict.v<N>.json``: a prediction request (bot -> prediction worker);
- ``digits.predict.result.v<N>.json``: a prediction's result (prediction worker -> bot);
- ``digits.manifest.v<N>.json``: the manifest written beside a trained model (a document with
  no ``type``: its key in the lock and ``SCHEMA_FILES`` is its file name without ``.json``);
- ``names.json``: not a message; the Redis names both sides share (constants, see
  codegen/names.py);
- ``lock.json``: not a schema; the lock of published schemas (see codegen/compat.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from codegen.json_types import JsonObject, as_object, as_str

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = REPO_ROOT / "schemas"
COMMON_FILE = "common.json"
LOCK_FILE = "lock.json"  # the published-schema lock (codegen/compat.py), not a schema
NAMES_FILE = "names.json"  # shared Redis names (codegen/names.py), not a message
NOT_EVENTS = ("request", "manifest", "predict", "predict_result")
"""Groups of messages that are not events: requests, results and documents (no union)."""

_EVENT = re.compile(r"^digits\.train\.[a-z_]+\.v(?P<version>[0-9]+)\.json$")
_LEGACY = re.compile(r"^legacy\.[a-z_]+\.json$")
_REQUEST = re.compile(r"^digits\.train\.v[0-9]+\.json$")
_MANIFEST = re.compile(r"^digits\.manifest\.v[0-9]+\.json$")
_PREDICT = re.compile(r"^digits\.predict\.v[0-9]+\.json$")
_PREDICT_RESULT = re.compile(r"^digits\.predict\.result\.v[0-9]+\.json$")


class SchemaLayoutError(Exception):
    """A schema file that does not fit the layout above."""


@dataclass(frozen=True)
class Message:
    """One message schema: its file, the TypedDict/zod name and the discriminator value."""

    file: str
    title: str
    type_const: str
    group: str  # "v1", "v2", ... for events; "legacy"; "request"; "manifest"; "predict"; ...
    schema: JsonObject

    @property
    def module(self) -> str:
        """Python module name datamodel-code-generator gives this file."""
        return self.file.removesuffix(".json").replace(".", "_")


def load_schema(path: Path) -> JsonObject:
    """Reads one schema file as a JSON object, naming the file when it is not one."""
    try:
        value: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaLayoutError(f"{path}: cannot read as JSON: {exc}") from exc
    return as_object(value, str(path))


def group_of(file: str) -> str:
    """The group a schema file belongs to, from its name."""
    if match := _EVENT.match(file):
        return "v" + match.group("version")
    if _LEGACY.match(file):
        return "legacy"
    if _REQUEST.match(file):
        return "request"
    if _MANIFEST.match(file):
        return "manifest"
    if _PREDICT.match(file):
        return "predict"
    if _PREDICT_RESULT.match(file):
        return "predict_result"
    raise SchemaLayoutError(
        f"schemas/{file}: unknown kind of schema; name it digits.train.<name>.v<N>.json, "
        "legacy.<name>.json, digits.train.v<N>.json, digits.manifest.v<N>.json, "
        "digits.predict.v<N>.json or digits.predict.result.v<N>.json"
    )


def is_event(group: str) -> bool:
    """Whether messages of ``group`` are events (on the channel), not a request or a document."""
    return group not in NOT_EVENTS


def on_the_wire(messages: Iterable[Message]) -> list[Message]:
    """The messages the bot sees or sends (events, requests): all but the manifest."""
    return [m for m in messages if m.group != "manifest"]


def load_messages(schemas_dir: Path = SCHEMAS_DIR) -> list[Message]:
    """Every message schema, sorted by file name (so output order is stable)."""
    messages: list[Message] = []
    for path in sorted(schemas_dir.glob("*.json")):
        if path.name in (COMMON_FILE, LOCK_FILE, NAMES_FILE):
            continue
        schema = load_schema(path)
        group = group_of(path.name)
        if group == "manifest":
            type_const = path.name.removesuffix(".json")
        else:
            props = as_object(schema.get("properties"), f"{path.name}: properties")
            type_schema = as_object(props.get("type"), f"{path.name}: properties.type")
            type_const = as_str(type_schema.get("const"), f"{path.name}: properties.type.const")
        messages.append(
            Message(
                file=path.name,
                title=as_str(schema.get("title"), f"{path.name}: title"),
                type_const=type_const,
                group=group,
                schema=schema,
            )
        )
    return messages
