// The message bodies Discord refuses, for the stand-in's strict mode: each refusal is the 400 /
// 50035 "Invalid Form Body" Discord answers, with its `errors` tree naming the field (the shape of
// Discord's docs, "Opcodes and Status Codes" > "Example JSON Error Response"). Limits from Discord's
// docs, "Message Resource" > "Embed Limits" (title 256, description 4096, 25 fields, field name 256,
// value 1024, footer 2048, author 256, 6000 characters in all) and "Create Message" (content 2000;
// nonce at most 25 characters; allowed_mentions: `parse: ["users"]` together with `users` is
// refused, "Allowed Mentions Object").

import { z } from "zod";

type ErrorTree = Record<string, unknown>;
const Obj = z.record(z.string(), z.unknown());
const List = z.array(z.unknown());

function fieldError(path: readonly (string | number)[], code: string, message: string): ErrorTree {
  let tree: ErrorTree = { _errors: [{ code, message }] };
  for (const part of [...path].reverse()) tree = { [String(part)]: tree };
  return tree;
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function record(value: unknown): Record<string, unknown> | null {
  const parsed = Obj.safeParse(value);
  return parsed.success ? parsed.data : null;
}

function list(value: unknown): unknown[] {
  const parsed = List.safeParse(value);
  return parsed.success ? parsed.data : [];
}

function tooLong(path: readonly (string | number)[], max: number): ErrorTree {
  return fieldError(path, "BASE_TYPE_MAX_LENGTH", `Must be ${max} or fewer in length.`);
}

/** The first problem of one embed, or null. */
function embedProblem(embed: Record<string, unknown>, index: number): ErrorTree | null {
  const at = (...path: (string | number)[]): (string | number)[] => ["embeds", index, ...path];
  let total = 0;
  const limited: [string, number][] = [
    ["title", 256],
    ["description", 4096],
  ];
  for (const [name, max] of limited) {
    const value = text(embed[name]) ?? "";
    if (value.length > max) return tooLong(at(name), max);
    total += value.length;
  }
  const footer = text(record(embed.footer)?.text) ?? "";
  if (footer.length > 2048) return tooLong(at("footer", "text"), 2048);
  const author = text(record(embed.author)?.name) ?? "";
  if (author.length > 256) return tooLong(at("author", "name"), 256);
  total += footer.length + author.length;
  const fields = list(embed.fields);
  if (fields.length > 25) return fieldError(at("fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
  for (const [i, raw] of fields.entries()) {
    const field = record(raw) ?? {};
    const name = text(field.name) ?? "";
    const value = text(field.value) ?? "";
    if (name.length === 0) return fieldError(at("fields", i, "name"), "BASE_TYPE_REQUIRED", "This field is required");
    if (value.length === 0) return fieldError(at("fields", i, "value"), "BASE_TYPE_REQUIRED", "This field is required");
    if (name.length > 256) return tooLong(at("fields", i, "name"), 256);
    if (value.length > 1024) return tooLong(at("fields", i, "value"), 1024);
    total += name.length + value.length;
  }
  if (total > 6000) return fieldError(["embeds"], "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000");
  return null;
}

/** The 50035 errors tree Discord answers for a create or edit body, or null when it takes it. */
export function bodyProblem(body: Record<string, unknown>): ErrorTree | null {
  const content = text(body.content);
  if (content !== null && content.length > 2000) return tooLong(["content"], 2000);
  const nonce = text(body.nonce);
  if (nonce !== null && nonce.length > 25) return tooLong(["nonce"], 25);
  const mentions = record(body.allowed_mentions);
  if (mentions !== null && list(mentions.parse).includes("users") && Array.isArray(mentions.users)) {
    return fieldError(
      ["allowed_mentions"],
      "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
      'parse:["users"] and users: [ids] are mutually exclusive.',
    );
  }
  const embeds = list(body.embeds);
  if (embeds.length > 10) return fieldError(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.");
  for (const [index, embed] of embeds.entries()) {
    const problem = embedProblem(record(embed) ?? {}, index);
    if (problem !== null) return problem;
  }
  return null;
}
