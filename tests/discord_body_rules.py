"""The message bodies Discord refuses, for the Discord stand-in's strict mode.

Each refusal is what Discord answers: 400 / 50035 "Invalid Form Body" with an ``errors`` tree naming
the field (the shape of Discord's docs, "Opcodes and Status Codes" > "Example JSON Error
Response"). Limits from Discord's docs, "Message Resource" > "Embed Limits" (title 256, description
4096, 25 fields, field name 256, value 1024, footer 2048, author 256, 6000 characters in all) and
"Create Message" (content 2000; a nonce of at most 25 characters; ``allowed_mentions`` with
``parse: ["users"]`` together with ``users`` is refused, "Allowed Mentions Object"). The bot's own
stand-in (``typescript/test/support/discord_body_rules.ts``) refuses the same bodies.
"""

from __future__ import annotations

Path = tuple[str | int, ...]


def field_error(path: Path, code: str, message: str) -> dict[str, object]:
    """Discord's ``errors`` tree for one field."""
    tree: dict[str, object] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        tree = {str(part): tree}
    return tree


def _too_long(path: Path, limit: int) -> dict[str, object]:
    return field_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _embed_problem(embed: object, index: int) -> dict[str, object] | None:
    embed = embed if isinstance(embed, dict) else {}
    total = 0
    for name, limit in (("title", 256), ("description", 4096)):
        value = _text(embed.get(name))
        if len(value) > limit:
            return _too_long(("embeds", index, name), limit)
        total += len(value)
    footer = embed.get("footer")
    footer_text = _text(footer.get("text")) if isinstance(footer, dict) else ""
    if len(footer_text) > 2048:
        return _too_long(("embeds", index, "footer", "text"), 2048)
    total += len(footer_text)
    fields = embed.get("fields")
    fields = fields if isinstance(fields, list) else []
    if len(fields) > 25:
        return _too_long(("embeds", index, "fields"), 25)
    for i, raw in enumerate(fields):
        item = raw if isinstance(raw, dict) else {}
        for part, limit in (("name", 256), ("value", 1024)):
            value = _text(item.get(part))
            where: Path = ("embeds", index, "fields", i, part)
            if not value:
                return field_error(where, "BASE_TYPE_REQUIRED", "This field is required")
            if len(value) > limit:
                return _too_long(where, limit)
            total += len(value)
    if total > 6000:
        return field_error(
            ("embeds",), "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000"
        )
    return None


def body_problem(body: dict[str, object]) -> dict[str, object] | None:
    """The 50035 ``errors`` tree Discord answers for a create or edit body; None: taken."""
    if len(_text(body.get("content"))) > 2000:
        return _too_long(("content",), 2000)
    if len(_text(body.get("nonce"))) > 25:
        return _too_long(("nonce",), 25)
    mentions = body.get("allowed_mentions")
    if isinstance(mentions, dict):
        parse = mentions.get("parse")
        if isinstance(parse, list) and "users" in parse and isinstance(mentions.get("users"), list):
            return field_error(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                'parse:["users"] and users: [ids] are mutually exclusive.',
            )
    embeds = body.get("embeds")
    embeds = embeds if isinstance(embeds, list) else []
    if len(embeds) > 10:
        return _too_long(("embeds",), 10)
    for index, embed in enumerate(embeds):
        problem = _embed_problem(embed, index)
        if problem is not None:
            return problem
    return None
