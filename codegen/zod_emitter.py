"""Emits one TypeScript module of zod schemas from our JSON Schemas.

No off-the-shelf generator produced ``Base.extend({...}).strict()`` plus
``z.discriminatedUnion`` (zod rejects intersections inside a discriminated union),
so this small emitter covers exactly the subset of JSON Schema we use and fails
loudly, naming the file and keyword, on anything outside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from codegen.json_types import JsonObject, JsonValue, as_list, as_object, as_str
from codegen.patterns import PatternError, check_pattern
from codegen.schema_index import COMMON_FILE, Message, is_event, on_the_wire

# Integers above this cannot be held exactly by a JS number: they become bigint.
MAX_SAFE_INTEGER = 2**53 - 1

# ``default`` is an annotation in JSON Schema (validation never fills it in); the request's
# defaults become constants in both languages (codegen/names.py), not zod ``.default()``s.
_ANNOTATIONS = {"$schema", "$id", "title", "description", "examples", "$comment", "default"}
# Beside $ref, const or enum, zod gets the referenced/literal schema and nothing else: any other
# keyword there would be enforced in Python only, so it is refused (``type`` beside const/enum
# is checked to hold for every value, which makes it redundant, not dropped).
_BESIDE_REF = _ANNOTATIONS
_BESIDE_VALUES = _ANNOTATIONS | {"type"}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_SUPPORTED = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "unevaluatedProperties",
    "allOf",
    "$ref",
    "$defs",
    "const",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "minItems",
    "maxItems",
}


class UnsupportedSchemaError(Exception):
    """The schema uses JSON Schema outside the subset this emitter understands."""


def _js(value: JsonValue) -> str:
    """A JSON value as a JS literal (JSON is valid JS for the values we emit)."""
    return json.dumps(value, ensure_ascii=False)


def _num(value: JsonValue, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnsupportedSchemaError(f"{where}: expected a number, got {_js(value)}")
    return repr(value)


class ZodEmitter:
    """Turns schemas into zod expressions; ``object_bigint_keys`` maps each object (by name) to
    its properties holding 64-bit integers, base properties included."""

    def __init__(self) -> None:
        self.bigint_keys: set[str] = set()  # of the object being emitted; see object_expr
        self.bigint_defs: set[str] = set()
        self.object_bigint_keys: dict[str, frozenset[str]] = {}

    def check_keywords(self, schema: JsonObject, where: str) -> None:
        """Rejects any keyword outside the supported subset."""
        unknown = sorted(set(schema) - _SUPPORTED)
        if unknown:
            raise UnsupportedSchemaError(
                f"{where}: unsupported JSON Schema keyword(s) {', '.join(unknown)}; "
                "extend codegen/zod_emitter.py before using them"
            )

    def ref_name(self, ref: str, where: str) -> str:
        """The TS name a ``$ref`` points at (only ``common.json#/$defs/<Name>``)."""
        prefix = f"{COMMON_FILE}#/$defs/"
        if not ref.startswith(prefix):
            raise UnsupportedSchemaError(f"{where}: unsupported $ref {ref!r}; use {prefix}<Name>")
        return ref.removeprefix(prefix)

    def expr(self, schema: JsonObject, where: str, key: str | None) -> str:
        """A zod expression for a non-object schema (or a $ref to one).

        ``key`` is the property name, or None for a shared definition.
        """
        self.check_keywords(schema, where)
        if "$ref" in schema:
            self._only_beside(schema, "$ref", _BESIDE_REF, where)
            name = self.ref_name(as_str(schema["$ref"], f"{where}.$ref"), where)
            if name in self.bigint_defs and key is not None:
                self.bigint_keys.add(key)
            return self._described(name, schema)
        if "const" in schema:
            self._only_beside(schema, "const", _BESIDE_VALUES, where)
            self._values_of_type(schema, [schema["const"]], where)
            return self._described(f"z.literal({_js(schema['const'])})", schema)
        if "enum" in schema:
            self._only_beside(schema, "enum", _BESIDE_VALUES, where)
            values = as_list(schema["enum"], f"{where}.enum")
            self._values_of_type(schema, values, where)
            return self._described(f"z.enum([{', '.join(_js(v) for v in values)}])", schema)
        types = schema.get("type")
        nullable = False
        if isinstance(types, list):
            names = [as_str(t, f"{where}.type") for t in types]
            nullable = "null" in names
            names = [t for t in names if t != "null"]
            if len(names) != 1:
                raise UnsupportedSchemaError(f"{where}: type must be one type, or it and null")
            base_type = names[0]
        else:
            base_type = as_str(types, f"{where}.type")
        base = self._typed(base_type, schema, where, key)
        if nullable:
            base += ".nullable()"
        return self._described(base, schema)

    def _only_beside(self, schema: JsonObject, keyword: str, allowed: set[str], where: str) -> None:
        """Refuses keywords beside ``keyword`` that zod would not enforce."""
        extra = sorted(set(schema) - allowed - {keyword})
        if extra:
            raise UnsupportedSchemaError(
                f"{where}: {', '.join(extra)} beside {keyword} would be enforced in Python only; "
                f"put {'them' if len(extra) > 1 else 'it'} in the schema {keyword} "
                "stands for, or define a new one"
            )

    def _values_of_type(self, schema: JsonObject, values: list[JsonValue], where: str) -> None:
        """A ``type`` beside const/enum must hold for every value (then it adds nothing)."""
        if "type" not in schema:
            return
        type_name = as_str(schema["type"], f"{where}.type")
        kinds = _JSON_TYPES.get(type_name)
        for value in values:
            if (
                kinds is None
                or isinstance(value, bool) != (type_name == "boolean")
                or not (isinstance(value, kinds))
            ):
                raise UnsupportedSchemaError(
                    f"{where}: value {_js(value)} is not of type {type_name!r}; "
                    "fix the value or the type"
                )

    def _typed(self, type_name: str, schema: JsonObject, where: str, key: str | None) -> str:
        if type_name == "string":
            return self._string(schema, where)
        if type_name == "integer":
            return self._integer(schema, where, key)
        if type_name == "number":
            return "z.number()" + self._bounds(schema, where, "")
        if type_name == "boolean":
            return "z.boolean()"
        if type_name == "array":
            return self._array(schema, where)
        raise UnsupportedSchemaError(f"{where}: unsupported type {type_name!r} here")

    def _string(self, schema: JsonObject, where: str) -> str:
        fmt = schema.get("format")
        if fmt is None:
            out = "z.string()"
        elif fmt == "date-time":
            # ISO 8601 date-time, UTC only (Z): what the Python side writes.
            out = "z.iso.datetime({ offset: false })"
        else:
            raise UnsupportedSchemaError(f"{where}: unsupported format {_js(fmt)}")
        if "minLength" in schema:
            out += f".min({_num(schema['minLength'], where)})"
        if "maxLength" in schema:
            out += f".max({_num(schema['maxLength'], where)})"
        if "pattern" in schema:
            pattern = as_str(schema["pattern"], f"{where}.pattern")
            try:
                check_pattern(pattern)
            except PatternError as exc:
                raise UnsupportedSchemaError(
                    f"{where}.pattern {_js(pattern)}: {exc} (see codegen/patterns.py)"
                ) from exc
            out += f'.regex(new RegExp({_js(pattern)}, "u"))'
        return out

    def _array(self, schema: JsonObject, where: str) -> str:
        """``z.array(items)`` with its length bounds; items of any non-object, non-bigint schema."""
        if "items" not in schema:
            raise UnsupportedSchemaError(f"{where}: an array needs items (the schema of each item)")
        item = as_object(schema["items"], f"{where}.items")
        ref = item.get("$ref")
        big_ref = isinstance(ref, str) and self.ref_name(ref, where) in self.bigint_defs
        items = self.expr(item, f"{where}.items", None)
        if big_ref or items.startswith("z.bigint()"):
            raise UnsupportedSchemaError(
                f"{where}.items: 64-bit integers in an array are not supported"
            )
        out = f"z.array({items})"
        if "minItems" in schema:
            out += f".min({_num(schema['minItems'], where)})"
        if "maxItems" in schema:
            out += f".max({_num(schema['maxItems'], where)})"
        return out

    def _integer(self, schema: JsonObject, where: str, key: str | None) -> str:
        maximum = schema.get("maximum")
        if not isinstance(maximum, int) or isinstance(maximum, bool):
            # Python takes any integer; a JS number only up to 2^53-1: say where it ends.
            raise UnsupportedSchemaError(
                f"{where}: an integer needs an integer maximum (at most {MAX_SAFE_INTEGER} "
                "for a JS number; above it the field becomes bigint)"
            )
        if maximum > MAX_SAFE_INTEGER:
            # Held as bigint on the TS side; the decoder parses these keys without floats.
            if key is None:
                self.bigint_defs.add(where.rpartition("/")[2])
            else:
                self.bigint_keys.add(key)
            return "z.bigint()" + self._bounds(schema, where, "n")
        return "z.number().int()" + self._bounds(schema, where, "")

    def _bounds(self, schema: JsonObject, where: str, suffix: str) -> str:
        out = ""
        for keyword, method in (
            ("minimum", "gte"),
            ("maximum", "lte"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
        ):
            if keyword in schema:
                out += f".{method}({_num(schema[keyword], where)}{suffix})"
        return out

    def _described(self, expr: str, schema: JsonObject) -> str:
        desc = schema.get("description")
        if isinstance(desc, str):
            return f"{expr}.describe({_js(desc)})"
        return expr

    def shape(self, schema: JsonObject, where: str) -> str:
        """The ``{ key: expr, ... }`` shape of an object schema's own properties."""
        props = as_object(schema.get("properties", {}), f"{where}.properties")
        required = {as_str(r, where) for r in as_list(schema.get("required", []), where)}
        missing = sorted(required - set(props))
        if missing:
            raise UnsupportedSchemaError(f"{where}: required names unknown properties {missing}")
        lines = []
        for name, sub in props.items():
            expr = self.expr(as_object(sub, f"{where}.properties.{name}"), f"{where}.{name}", name)
            if name not in required:
                expr += ".optional()"
            lines.append(f"  {name}: {expr},")
        return "{\n" + "\n".join(lines) + "\n}"

    def object_expr(self, schema: JsonObject, where: str, name: str) -> str:
        """A zod object: a base object, or a strict message that may extend one base.

        Records in ``object_bigint_keys[name]`` the properties holding 64-bit integers.
        """
        self.check_keywords(schema, where)
        if as_str(schema.get("type"), f"{where}.type") != "object":
            raise UnsupportedSchemaError(f"{where}: a message must be an object")
        self.bigint_keys = set()
        shape = self.shape(schema, where)
        own = frozenset(self.bigint_keys)
        self.object_bigint_keys[name] = own
        all_of = schema.get("allOf")
        if all_of is None:
            closed = schema.get("additionalProperties") is False
            return f"z.{'strictObject' if closed else 'object'}({shape})"
        bases = as_list(all_of, f"{where}.allOf")
        if len(bases) != 1:
            raise UnsupportedSchemaError(f"{where}: allOf must hold exactly one $ref")
        base = as_object(bases[0], f"{where}.allOf[0]")
        if set(base) != {"$ref"}:
            raise UnsupportedSchemaError(f"{where}: allOf must hold exactly one $ref")
        if schema.get("unevaluatedProperties") is not False:
            raise UnsupportedSchemaError(
                f"{where}: a message extending a base must set unevaluatedProperties: false"
            )
        base_name = self.ref_name(as_str(base["$ref"], where), where)
        self.object_bigint_keys[name] = own | self.object_bigint_keys.get(base_name, frozenset())
        return f"{base_name}.extend({shape}).strict()"


HEADER = """\
// Code generated by codegen/zod_emitter.py from schemas/*.json. DO NOT EDIT.
// Change the schemas and run `make codegen`. Sources: {sources}.
"""


def _doc(schema: JsonObject) -> str:
    desc = schema.get("description")
    return f"/** {desc} */\n" if isinstance(desc, str) else ""


def _union_name(group: str) -> str:
    return "LegacyEvent" if group == "legacy" else f"DigitsEvent{group.upper()}"


def emit_typescript(common: JsonObject, messages: Iterable[Message]) -> str:
    """The whole generated TypeScript module (of the messages the bot sees or sends)."""
    messages = on_the_wire(messages)
    emitter = ZodEmitter()
    sources = ", ".join(["schemas/" + COMMON_FILE] + [f"schemas/{m.file}" for m in messages])
    out = [HEADER.format(sources=sources), 'import { z } from "zod";\n']
    defs = as_object(common.get("$defs"), f"{COMMON_FILE}: $defs")
    for name, sub in defs.items():
        sub_obj = as_object(sub, f"{COMMON_FILE}#/$defs/{name}")
        where = f"{COMMON_FILE}#/$defs/{name}"
        if sub_obj.get("type") == "object":
            expr = emitter.object_expr(sub_obj, where, name)
        else:
            expr = emitter.expr(sub_obj, where, None)
        out.append(f"{_doc(sub_obj)}export const {name} = {expr};\n")
    groups: dict[str, list[Message]] = {}
    for message in messages:
        expr = emitter.object_expr(message.schema, f"schemas/{message.file}", message.title)
        out.append(f"{_doc(message.schema)}export const {message.title} = {expr};")
        out.append(f"export type {message.title} = z.infer<typeof {message.title}>;\n")
        groups.setdefault(message.group, []).append(message)
    for group, members in sorted(groups.items()):
        if not is_event(group):
            continue
        name = _union_name(group)
        titles = ", ".join(m.title for m in members)
        out.append(f'export const {name} = z.discriminatedUnion("type", [{titles}]);')
        out.append(f"export type {name} = z.infer<typeof {name}>;\n")
    entries = "".join(
        f"  [{_js(m.type_const)}, new Set<string>([{', '.join(_js(k) for k in keys)}])],\n"
        for m in messages
        for keys in [sorted(emitter.object_bigint_keys[m.title])]
    )
    out.append(
        "/** Per message type, its top-level properties holding 64-bit integers: parse their JSON\n"
        " * digits as bigint (no other property, whatever its name). */\n"
        "export const BIGINT_KEYS_BY_TYPE: ReadonlyMap<string, ReadonlySet<string>> = "
        f"new Map<string, ReadonlySet<string>>([\n{entries}]);\n"
    )
    return "\n".join(out)
