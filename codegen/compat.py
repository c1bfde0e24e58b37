"""``make check-compat`` and ``make lock-schemas``: published schemas stay compatible.

    python -m codegen.compat check           # compare schemas/ with schemas/lock.json
    python -m codegen.compat lock [--force]  # record schemas/ as published

Redis Pub/Sub keeps no history, so compatibility is about a producer and a consumer of
different versions running side by side during a deploy: consumers reject unknown keys,
and either side may be the newer one. So any change to the set of messages a schema
accepts is breaking, in either direction (a relaxed bound lets a new producer send what
an old consumer rejects; a tightened one makes a new consumer reject what an old producer
sends). The same holds for the job request (``digits.train.v1``, the bot produces it and
the worker consumes it) and the legacy messages, so every message file is locked alike.
The way to evolve a message is a new ``.v2`` file beside the v1 one: a new message type
is an addition, which passes.

The lock holds, per message type, its ``$id``, file, the normalised schema (``$ref`` to
common.json inlined, so a change there is seen by every message using it; ``allOf`` bases
flattened; titles, descriptions, examples and ``$comment`` dropped) and its digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codegen.json_types import (
    JsonObject,
    JsonShapeError,
    JsonValue,
    as_list,
    as_object,
    as_str,
)
from codegen.schema_index import (
    COMMON_FILE,
    SCHEMAS_DIR,
    SchemaLayoutError,
    load_messages,
    load_schema,
)
from codegen.schema_index import (
    LOCK_FILE as LOCK_NAME,
)

LOCK_FILE = SCHEMAS_DIR / LOCK_NAME
LOCK_VERSION = 1

# Dropped from the normalised form: they never change what validates.
_STRIPPED = {"title", "description", "examples", "$comment", "$schema", "$id", "$defs"}
# Kept in the lock (so the digest sees them) but never breaking: annotations only.
_NON_BREAKING = {"default", "deprecated", "readOnly", "writeOnly"}
# Keywords whose value is one schema, a list of schemas, or a map of name -> schema.
_SUBSCHEMA = {
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
}
_SUBSCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SUBSCHEMA_MAP = {"properties", "patternProperties", "dependentSchemas"}
# A larger lower bound or a smaller upper bound accepts fewer values.
_LOWER_BOUNDS = {
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
    "minContains",
}
_UPPER_BOUNDS = {
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
    "maxContains",
}
# Any new or changed value restricts strings in ways we cannot order: call it tightening.
_STRING_RULES = {"pattern", "format"}
_CLOSURE = ("additionalProperties", "unevaluatedProperties")
_HANDLED = (
    {"type", "properties", "required", "enum", "const"}
    | _LOWER_BOUNDS
    | _UPPER_BOUNDS
    | _STRING_RULES
    | set(_CLOSURE)
    | _NON_BREAKING
)


class CompatError(Exception):
    """The schemas or the lock cannot be read or normalised; the message says where."""


@dataclass(frozen=True)
class Problem:
    """One breaking change: the message type, the field (if any), the rule and what changed."""

    message: str
    field: str | None
    rule: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.message}: field {self.field}" if self.field else self.message
        return f"{where}: {self.detail} (rule: {self.rule})"


@dataclass(frozen=True)
class LockEntry:
    """What the lock records for one message type."""

    schema_id: str
    file: str
    digest: str
    schema: JsonObject


@dataclass
class CheckResult:
    """Breaking problems (the check fails on any) and notes (informational)."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _canonical(value: JsonValue) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(schema: JsonObject) -> str:
    """The digest of a normalised schema: sha256 of its canonical JSON."""
    return "sha256:" + hashlib.sha256(_canonical(schema).encode()).hexdigest()


# --- normalisation -------------------------------------------------------------------


class _Normaliser:
    """Inlines ``$ref``s, flattens ``allOf`` bases and drops annotations."""

    def __init__(self, docs: dict[str, JsonObject]) -> None:
        self.docs = docs
        self.stack: list[str] = []

    def schema(self, value: JsonValue, doc: str, where: str) -> JsonValue:
        if not isinstance(value, dict):
            return value  # a boolean schema
        out: JsonObject = {}
        for key, item in value.items():
            if key in _STRIPPED or key == "$ref":
                continue
            if key in _SUBSCHEMA:
                out[key] = self.schema(item, doc, f"{where}.{key}")
            elif key in _SUBSCHEMA_LIST:
                items = as_list(item, f"{where}.{key}")
                out[key] = [self.schema(s, doc, f"{where}.{key}[{i}]") for i, s in enumerate(items)]
            elif key in _SUBSCHEMA_MAP:
                subs = as_object(item, f"{where}.{key}")
                out[key] = {n: self.schema(s, doc, f"{where}.{key}.{n}") for n, s in subs.items()}
            else:
                out[key] = item
        out = _canonical_keywords(out)  # so owner and parts compare alike when merged
        if "$ref" in value:
            target = self.ref(as_str(value["$ref"], f"{where}.$ref"), doc, where)
            out = _combine(out, [target])
        if "allOf" in out:
            parts = [as_object(p, f"{where}.allOf") for p in as_list(out["allOf"], where)]
            rest = {k: v for k, v in out.items() if k != "allOf"}
            out = _combine(rest, parts)
        return _canonical_keywords(out)

    def ref(self, ref: str, doc: str, where: str) -> JsonObject:
        file, _, pointer = ref.partition("#")
        target_doc = file or doc
        if target_doc not in self.docs:
            raise CompatError(f"{where}: unsupported $ref {ref!r}; only {COMMON_FILE} or local")
        key = f"{target_doc}#{pointer}"
        if key in self.stack:
            raise CompatError(f"{where}: recursive $ref {ref!r}")
        node: JsonValue = self.docs[target_doc]
        for part in [p for p in pointer.split("/") if p]:
            name = part.replace("~1", "/").replace("~0", "~")
            obj = as_object(node, f"{where}: $ref {ref!r}")
            if name not in obj:
                raise CompatError(f"{where}: $ref {ref!r} points at nothing")
            node = obj[name]
        self.stack.append(key)
        try:
            return as_object(self.schema(node, target_doc, ref), f"{where}: $ref {ref!r}")
        finally:
            self.stack.pop()


def _combine(owner: JsonObject, parts: list[JsonObject]) -> JsonObject:
    """``owner`` and ``parts`` (all must hold) as one schema, when that keeps the meaning.

    Merging is safe when no keyword conflicts and nothing closes the object by its own
    properties only: ``additionalProperties`` on the owner does not see the parts'
    properties, and a part's own closure does not see the owner's. Otherwise the parts
    stay in an ``allOf``, compared as a whole.
    """
    closes = any(k in part for part in parts for k in _CLOSURE) or "additionalProperties" in owner
    merged = None if closes else _merge([owner, *parts])
    if merged is not None:
        return merged
    return {**owner, "allOf": [*parts, *as_list(owner.get("allOf", []), "allOf")]}


def _merge(parts: list[JsonObject]) -> JsonObject | None:
    out: JsonObject = {}
    for part in parts:
        for key, value in part.items():
            if key == "allOf":
                return None  # an owner's own unmerged allOf stays as it is
            if key not in out:
                out[key] = value
            elif key == "properties":
                props = dict(as_object(out[key], key))
                for name, sub in as_object(value, key).items():
                    if name in props and props[name] != sub:
                        return None
                    props[name] = sub
                out[key] = props
            elif key == "required":
                out[key] = [*as_list(out[key], key), *as_list(value, key)]
            elif _canonical(out[key]) != _canonical(value):
                return None
    return out


def _canonical_keywords(schema: JsonObject) -> JsonObject:
    """Equivalent spellings made equal: ``type`` always a list, sets sorted and deduplicated."""
    out = dict(schema)
    if "type" in out:
        kind = out["type"]
        out["type"] = _sorted_set([kind] if isinstance(kind, str) else as_list(kind, "type"))
    for key in ("required", "enum"):
        if key in out:
            out[key] = _sorted_set(as_list(out[key], key))
    return out


def _sorted_set(values: list[JsonValue]) -> list[JsonValue]:
    unique = {_canonical(v): v for v in values}
    return [unique[k] for k in sorted(unique)]


# --- reading schemas and the lock ----------------------------------------------------


def current_entries(schemas_dir: Path) -> dict[str, LockEntry]:
    """Every message in ``schemas_dir`` as a lock entry, by message type."""
    try:
        common = load_schema(schemas_dir / COMMON_FILE)
        messages = load_messages(schemas_dir)
        entries: dict[str, LockEntry] = {}
        for m in messages:
            if m.type_const in entries:
                other = entries[m.type_const].file
                raise CompatError(f"{m.file}: type {m.type_const!r} is also used by {other}")
            norm = _Normaliser({COMMON_FILE: common, m.file: m.schema})
            schema = as_object(norm.schema(m.schema, m.file, m.file), m.file)
            entries[m.type_const] = LockEntry(
                schema_id=as_str(m.schema.get("$id"), f"{m.file}: $id"),
                file=m.file,
                digest=digest(schema),
                schema=schema,
            )
    except (SchemaLayoutError, JsonShapeError) as exc:
        raise CompatError(str(exc)) from exc
    return entries


def read_lock(lock_path: Path) -> dict[str, LockEntry]:
    """The locked entries, checked to be well formed and to match their digests."""
    if not lock_path.exists():
        raise CompatError(f"{lock_path}: no lock; run `make lock-schemas` to create it")
    try:
        data = load_schema(lock_path)
        if data.get("lock_version") != LOCK_VERSION:
            raise CompatError(f"{lock_path}: lock_version must be {LOCK_VERSION}")
        entries: dict[str, LockEntry] = {}
        for type_const, raw in as_object(data.get("messages"), "messages").items():
            where = f"{lock_path}: messages.{type_const}"
            obj = as_object(raw, where)
            entry = LockEntry(
                schema_id=as_str(obj.get("$id"), f"{where}.$id"),
                file=as_str(obj.get("file"), f"{where}.file"),
                digest=as_str(obj.get("digest"), f"{where}.digest"),
                schema=as_object(obj.get("schema"), f"{where}.schema"),
            )
            if digest(entry.schema) != entry.digest:
                raise CompatError(f"{where}: digest does not match the locked schema")
            entries[type_const] = entry
    except (SchemaLayoutError, JsonShapeError) as exc:
        raise CompatError(str(exc)) from exc
    return entries


def render_lock(entries: dict[str, LockEntry]) -> str:
    """The lock file's text: sorted keys, two-space indent, trailing newline."""
    messages: JsonObject = {
        t: {"$id": e.schema_id, "file": e.file, "digest": e.digest, "schema": e.schema}
        for t, e in entries.items()
    }
    data: JsonObject = {
        "generated_by": "python -m codegen.compat lock (make lock-schemas); do not edit",
        "lock_version": LOCK_VERSION,
        "messages": messages,
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- comparison ----------------------------------------------------------------------

_Finding = tuple[str | None, str, str]  # field, rule, detail


def _show(value: JsonValue) -> str:
    return _canonical(value)


def _types(schema: JsonObject) -> set[str]:
    return {as_str(t, "type") for t in as_list(schema.get("type", []), "type")}


def _type_name(types: set[str]) -> str:
    return "|".join(sorted(types)) or "any"


def _join(parent: str | None, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def diff_schema(old: JsonValue, new: JsonValue, at: str | None) -> Iterator[_Finding]:
    """Breaking differences between two normalised schemas; ``at`` is the field path."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        if _canonical(old) != _canonical(new):
            yield at, "keyword-changed", f"schema changed from {_show(old)} to {_show(new)}"
        return
    yield from _diff_types(old, new, at)
    yield from _diff_properties(old, new, at)
    yield from _diff_enum(old, new, at)
    if _canonical(old.get("const")) != _canonical(new.get("const")):
        detail = f"const changed from {_show(old.get('const'))} to {_show(new.get('const'))}"
        yield at, "const-changed", detail
    for key in sorted(_LOWER_BOUNDS | _UPPER_BOUNDS | _STRING_RULES):
        yield from _diff_bound(key, old, new, at)
    for key in _CLOSURE:
        yield from _diff_closure(key, old, new, at)
    for key in sorted((set(old) | set(new)) - _HANDLED):
        if _canonical(old.get(key)) != _canonical(new.get(key)):
            detail = f"{key} changed from {_show(old.get(key))} to {_show(new.get(key))}"
            yield at, "keyword-changed", detail


def _diff_types(old: JsonObject, new: JsonObject, at: str | None) -> Iterator[_Finding]:
    old_types, new_types = _types(old), _types(new)
    if "null" in old_types and "null" not in new_types:
        yield at, "nullability-removed", "no longer nullable"
    if "null" in new_types and "null" not in old_types:
        yield at, "nullability-added", "became nullable"
    old_types.discard("null")
    new_types.discard("null")
    if old_types != new_types:
        detail = f"type changed from {_type_name(old_types)} to {_type_name(new_types)}"
        yield at, "type-changed", detail


def _diff_properties(old: JsonObject, new: JsonObject, at: str | None) -> Iterator[_Finding]:
    old_props = as_object(old.get("properties", {}), "properties")
    new_props = as_object(new.get("properties", {}), "properties")
    old_req = {as_str(n, "required") for n in as_list(old.get("required", []), "required")}
    new_req = {as_str(n, "required") for n in as_list(new.get("required", []), "required")}
    removed = [n for n in old_props if n not in new_props]
    added = [n for n in new_props if n not in old_props]
    for name in removed:
        # Same schema under a new name: say renamed, and do not report the new name again.
        twin = next(
            (n for n in added if _canonical(new_props[n]) == _canonical(old_props[name])), None
        )
        if twin is not None:
            added.remove(twin)
            yield _join(at, name), "property-renamed", f"renamed to {twin}"
        else:
            yield _join(at, name), "property-removed", "property removed"
    for name in added:
        if name in new_req:
            yield _join(at, name), "new-required-property", "new required property"
        else:
            yield _join(at, name), "property-added", "new optional property"
    for name in old_props:
        if name in new_props:
            yield from diff_schema(old_props[name], new_props[name], _join(at, name))
            if name in new_req and name not in old_req:
                yield _join(at, name), "required-added", "became required"
            if name in old_req and name not in new_req:
                yield _join(at, name), "required-removed", "no longer required"
    # Required names without a property of that name (allowed by JSON Schema).
    for name in sorted(n for n in old_req ^ new_req if n not in old_props and n not in new_props):
        rule = "required-added" if name in new_req else "required-removed"
        yield _join(at, name), rule, "required changed"


def _diff_enum(old: JsonObject, new: JsonObject, at: str | None) -> Iterator[_Finding]:
    if "enum" not in old or "enum" not in new:
        if ("enum" in old) != ("enum" in new):
            was = "added" if "enum" in new else "removed"
            yield at, "keyword-changed", f"enum {was}"
        return
    old_values = {_canonical(v) for v in as_list(old["enum"], "enum")}
    new_values = {_canonical(v) for v in as_list(new["enum"], "enum")}
    for value in sorted(new_values - old_values):
        yield at, "enum-value-added", f"enum value {value} added"
    for value in sorted(old_values - new_values):
        yield at, "enum-value-removed", f"enum value {value} removed"


def _diff_bound(key: str, old: JsonObject, new: JsonObject, at: str | None) -> Iterator[_Finding]:
    if key not in old and key not in new:
        return
    if key not in old:
        yield at, "bound-tightened", f"{key} {_show(new[key])} added"
        return
    if key not in new:
        yield at, "bound-relaxed", f"{key} {_show(old[key])} removed"
        return
    was, now = old[key], new[key]
    if _canonical(was) == _canonical(now):
        return
    if key in _STRING_RULES:
        yield at, "bound-tightened", f"{key} changed from {_show(was)} to {_show(now)}"
        return
    if isinstance(was, int | float) and isinstance(now, int | float):
        higher_is_tighter = key in _LOWER_BOUNDS
        tighter = (now > was) == higher_is_tighter
        rule = "bound-tightened" if tighter else "bound-relaxed"
        word = "tightened" if tighter else "relaxed"
        yield at, rule, f"{key} {word} from {_show(was)} to {_show(now)}"
        return
    yield at, "keyword-changed", f"{key} changed from {_show(was)} to {_show(now)}"


def _closure_rank(value: JsonValue) -> int:
    # Absent and true allow any extra key; a schema some; false none.
    if value is True:
        return 0
    return 2 if value is False else 1


def _diff_closure(key: str, old: JsonObject, new: JsonObject, at: str | None) -> Iterator[_Finding]:
    was, now = old.get(key, True), new.get(key, True)
    if _canonical(was) == _canonical(now):
        return
    rank_was, rank_now = _closure_rank(was), _closure_rank(now)
    word = "tightened" if rank_now > rank_was else "relaxed" if rank_now < rank_was else "changed"
    yield at, "additional-properties-changed", f"{key} {word} from {_show(was)} to {_show(now)}"


def compare(locked: dict[str, LockEntry], current: dict[str, LockEntry]) -> CheckResult:
    """Every breaking change from ``locked`` to ``current``, and notes on what else differs."""
    result = CheckResult()
    claimed: set[str] = set()
    by_file = {e.file: t for t, e in current.items()}
    for type_const, old in sorted(locked.items()):
        new = current.get(type_const)
        if new is None:
            renamed = by_file.get(old.file)
            if renamed is not None and renamed not in locked:
                claimed.add(renamed)
                detail = f"type const changed from {type_const!r} to {renamed!r} in {old.file}"
                result.problems.append(Problem(type_const, None, "type-const-changed", detail))
            else:
                detail = f"message removed (was {old.file})"
                result.problems.append(Problem(type_const, None, "message-removed", detail))
            continue
        found: list[Problem] = []
        if old.schema_id != new.schema_id:
            detail = f"$id changed from {old.schema_id} to {new.schema_id}"
            found.append(Problem(type_const, None, "id-changed", detail))
        if old.file != new.file:
            detail = f"file renamed from {old.file} to {new.file}"
            found.append(Problem(type_const, None, "file-renamed", detail))
        for at, rule, detail in diff_schema(old.schema, new.schema, None):
            found.append(Problem(type_const, at, rule, detail))
        result.problems.extend(found)
        if not found and old.digest != new.digest:
            result.notes.append(
                f"{type_const}: changed without breaking it; "
                "the lock can be refreshed with `make lock-schemas`"
            )
    for type_const in sorted(set(current) - set(locked) - claimed):
        result.notes.append(
            f"{type_const}: new message ({current[type_const].file}), not yet locked; "
            "run `make lock-schemas` to publish it"
        )
    return result


def check(schemas_dir: Path = SCHEMAS_DIR, lock_path: Path = LOCK_FILE) -> CheckResult:
    """Compares the schemas in ``schemas_dir`` with the lock at ``lock_path``."""
    return compare(read_lock(lock_path), current_entries(schemas_dir))


def write_lock(
    schemas_dir: Path = SCHEMAS_DIR, lock_path: Path = LOCK_FILE, *, force: bool = False
) -> CheckResult:
    """Writes the lock from ``schemas_dir`` unless that hides breaking changes (see ``force``).

    Returns the check against the previous lock (empty when there was none); the lock is
    written when it has no problems or ``force`` is set.
    """
    current = current_entries(schemas_dir)
    result = compare(read_lock(lock_path), current) if lock_path.exists() else CheckResult()
    if not result.problems or force:
        lock_path.write_text(render_lock(current), encoding="utf-8")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codegen.compat",
        description="Check published message schemas for breaking changes, or lock them.",
    )
    parser.add_argument("--schemas-dir", type=Path, default=SCHEMAS_DIR)
    parser.add_argument("--lock", type=Path, default=None, help="default: <schemas-dir>/lock.json")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="fail (exit 1) on any breaking change from the lock")
    lock_cmd = sub.add_parser("lock", help="record the current schemas as published")
    lock_cmd.add_argument(
        "--force", action="store_true", help="write the lock even over breaking changes"
    )
    args = parser.parse_args(argv)
    schemas_dir: Path = args.schemas_dir
    lock_path: Path = args.lock or schemas_dir / LOCK_NAME
    command: str = args.command
    force: bool = command == "lock" and bool(args.force)
    try:
        if command == "check":
            result = check(schemas_dir, lock_path)
        else:
            result = write_lock(schemas_dir, lock_path, force=force)
    except CompatError as exc:
        print(f"compat: {exc}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(problem, file=sys.stderr)
    for note in result.notes:
        print(note)
    if command == "check":
        if result.problems:
            print(
                f"check-compat: {len(result.problems)} breaking change(s); publish a new "
                ".v2 message instead of changing a locked one",
                file=sys.stderr,
            )
            return 1
        print("check-compat: no breaking change from the locked schemas")
        return 0
    if result.problems and not force:
        print(
            f"lock-schemas: refusing to overwrite {lock_path}: the schemas break it "
            f"({len(result.problems)} problem(s) above); pass --force "
            "(python -m codegen.compat lock --force) to record them anyway",
            file=sys.stderr,
        )
        return 1
    print(f"lock-schemas: wrote {lock_path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
