"""The repo's JSON Schemas, loaded once, and a validator per message type.

``$ref``s such as ``common.json#/$defs/RequestId`` are resolved through a ``referencing``
Registry holding every file in ``schemas/`` under its ``$id``, so nothing is fetched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012, SchemaRegistry

from handwriting_ai.contracts import SCHEMA_FILES


class SchemaSetupError(RuntimeError):
    """The schemas folder is missing or unreadable: an installation problem, not bad input."""


def schemas_dir(module_file: str = __file__) -> Path:
    """The schemas, shipped in the package as ``handwriting_ai/schema_files``.

    In a checkout that is a link to the repo's ``schemas/`` (the one copy); a wheel carries the
    files themselves (pyproject's package-data), so an installed package needs no checkout.
    """
    path = (Path(module_file).parents[1] / "schema_files").resolve()
    if not (path / "common.json").is_file():
        raise SchemaSetupError(
            f"{path}/common.json not found: the package ships the schemas in "
            "handwriting_ai/schema_files (in a checkout, a link to schemas/); reinstall it "
            "(pip install -e . from the repo root, or pip install . for a wheel)"
        )
    return path


def _load(path: Path) -> dict[str, object]:
    try:
        value: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaSetupError(f"{path}: cannot read as JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SchemaSetupError(f"{path}: a schema must be a JSON object")
    return {str(key): item for key, item in value.items()}


def load_schemas(
    folder: Path, schema_files: Mapping[str, str]
) -> tuple[SchemaRegistry, dict[str, dict[str, object]]]:
    """Registry of every schema file in ``folder`` (by ``$id``) and each type's schema."""
    by_file = {
        path.name: _load(path)
        for path in sorted(folder.glob("*.json"))
        if path.name != "lock.json"  # the compatibility lock (codegen/compat.py), not a schema
    }
    registry: SchemaRegistry = Registry()
    for name, schema in by_file.items():
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        uri = resource.id()
        if uri is None:
            raise SchemaSetupError(f"{folder}/{name}: no $id; every schema needs one for $refs")
        registry = registry.with_resource(uri, resource)
    by_type: dict[str, dict[str, object]] = {}
    for type_name, file_name in schema_files.items():
        if file_name not in by_file:
            raise SchemaSetupError(
                f"{folder}/{file_name} (schema of {type_name!r}) is missing; run `make codegen` "
                "after adding or renaming a schema"
            )
        by_type[type_name] = by_file[file_name]
    return registry.crawl(), by_type


@cache
def _schemas() -> tuple[SchemaRegistry, dict[str, dict[str, object]]]:
    return load_schemas(schemas_dir(), SCHEMA_FILES)


def format_checker() -> FormatChecker:
    """A FormatChecker that really checks ``date-time`` (needs rfc3339-validator)."""
    checker = FormatChecker()
    if "date-time" not in checker.checkers:  # pragma: no cover - a broken install
        raise SchemaSetupError(
            "jsonschema cannot check date-time: install rfc3339-validator (pinned in pyproject)"
        )
    return checker


@cache
def validator_for(type_name: str) -> Draft202012Validator:
    """The validator of one message type (a key of ``SCHEMA_FILES``)."""
    registry, by_type = _schemas()
    if type_name not in by_type:
        raise ValueError(
            f"no schema for message type {type_name!r}; known: {', '.join(sorted(by_type))}"
        )
    return Draft202012Validator(
        by_type[type_name], registry=registry, format_checker=format_checker()
    )


@cache
def integer_fields(type_name: str) -> frozenset[str]:
    """A message's top-level properties of type ``integer`` (through ``$ref`` and ``allOf``)."""
    registry, by_type = _schemas()
    schema = by_type[type_name]
    resolver = registry.resolver(base_uri=str(schema["$id"]))

    def resolved(part: Mapping[str, object]) -> Mapping[str, object]:
        ref = part.get("$ref")
        if not isinstance(ref, str):
            return part
        contents = resolver.lookup(ref).contents
        return contents if isinstance(contents, Mapping) else {}

    parts: list[Mapping[str, object]] = [schema]
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        parts += [resolved(base) for base in all_of if isinstance(base, Mapping)]
    found: set[str] = set()
    for part in parts:
        properties = part.get("properties")
        items = properties.items() if isinstance(properties, Mapping) else ()
        found.update(
            str(name)
            for name, sub in items
            if isinstance(sub, Mapping) and resolved(sub).get("type") == "integer"
        )
    return frozenset(found)


@cache
def numeric_bounds(type_name: str) -> str:
    """A message's top-level numeric bounds in words, for help texts: ``epochs 1..100, ...``."""
    _, by_type = _schemas()
    properties = by_type[type_name].get("properties")
    words: list[str] = []
    for name, value in properties.items() if isinstance(properties, Mapping) else ():
        rule = value if isinstance(value, Mapping) else {}
        low, high, above = (rule.get(k) for k in ("minimum", "maximum", "exclusiveMinimum"))
        if high is not None and (low is not None or above is not None):
            words.append(
                f"{name} {low}..{high}" if low is not None else f"{above} < {name} <= {high}"
            )
    return ", ".join(words)
