"""What an event's text may say about the server: no URLs, no absolute paths.

Event text reaches Discord, where the person who asked for the training reads it. Text built
from exceptions (an upload's error, a data error) can carry the model API's URL, credentials
included, and server paths. ``redacted_event_text`` is the one function every such text goes
through: URLs become ``<url>``; paths under the artifacts root are shown relative to it, and any
other absolute path by its last part. The logs keep the details for the operator. A path the
job itself names (the artifact event's folder) is given by ``root_relative``, whether the root
is absolute or relative (the default ``artifacts``).
"""

from __future__ import annotations

import re
from pathlib import Path

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>:.,;)]")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s'\"/:;,]+/)*([^\s'\"/:;,]+)/?")
URL_PLACEHOLDER = "<url>"


def _relative(match: re.Match[str], root: str) -> str:
    path = match.group(0)
    if root and (path == root or path.startswith(root + "/")):
        rest = path[len(root) :].strip("/")
        return rest or "."
    return f".../{match.group(1)}"


def redacted_event_text(text: str, artifacts_root: Path | None = None) -> str:
    """``text`` without URLs or server paths (see the module's docstring)."""
    text = _URL.sub(URL_PLACEHOLDER, text)
    root = str(artifacts_root.resolve()).rstrip("/") if artifacts_root is not None else ""
    return _ABSOLUTE_PATH.sub(lambda match: _relative(match, root), text)


def root_relative(path: Path, artifacts_root: Path) -> str:
    """``path`` (a folder under the artifacts root) relative to it: ``digits``."""
    return str(path.resolve().relative_to(artifacts_root.resolve()))
