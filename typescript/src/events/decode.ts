// Turns JSON text from the events channel into a checked event, without losing a digit of a
// 64-bit id and without ever throwing: every failure is a short reason naming the field.

import { parse } from "lossless-json";
import type { z } from "zod";
import { BIGINT_KEYS_BY_TYPE, DigitsEventV1, DigitsTrainV1, LegacyEvent } from "../generated/contracts.ts";
import { MAX_EVENT_BYTES, MAX_JSON_DEPTH } from "../shared/limits.ts";

export type DecodedEvent =
  { readonly kind: "v1"; readonly event: DigitsEventV1 } | { readonly kind: "legacy"; readonly event: LegacyEvent };

export type DecodeResult = DecodedEvent | { readonly kind: "invalid"; readonly reason: string };

export type RequestDecodeResult =
  { readonly kind: "ok"; readonly request: DigitsTrainV1 } | { readonly kind: "invalid"; readonly reason: string };

type ParseResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/** Holds a JSON number's exact text until we know which key it belongs to. */
class NumberText {
  constructor(readonly text: string) {}
}

class DecodeFailure extends Error {}

/** The path to a value, built only when a reason needs it (the common case never does). */
interface PathNode {
  readonly key: PropertyKey;
  readonly parent: PathNode | null;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(root)" : path.map(String).join(".");
}

function nodeText(node: PathNode | null): string {
  const keys: PropertyKey[] = [];
  for (let at = node; at !== null; at = at.parent) keys.unshift(at.key);
  return pathText(keys);
}

/**
 * A 64-bit id written as a plain integer keeps every digit. Any other number (42.0, 1e3) is the
 * double it parses to, as in Python, and counts when that double is whole (JSON Schema counts
 * 42.0 as an integer); a fractional id is refused here with a clear reason.
 */
function toBigInt(text: string, path: PathNode): bigint {
  if (PLAIN_INTEGER.test(text)) return BigInt(text);
  const value = toNumber(text, path);
  if (Number.isInteger(value)) return BigInt(value);
  throw new DecodeFailure(`${nodeText(path)}: expected an integer, got ${text.slice(0, 40)}`);
}

/** A number written without a fraction or an exponent. */
const PLAIN_INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

function pathOf(key: PropertyKey | null, parent: PathNode | null): PathNode | null {
  return key === null ? parent : { key, parent };
}

/**
 * Any number is the double it rounds to (0.10000000000000001 is 0.1, as every JSON reader
 * makes it); one beyond a double's range (1e400) is refused, as Python refuses it.
 */
function toNumber(text: string, path: PathNode | null): number {
  const value = Number(text);
  if (!Number.isFinite(value)) {
    throw new DecodeFailure(`${nodeText(path)}: ${text.slice(0, 40)} is not a finite number; JSON numbers must fit in a 64-bit float`);
  }
  return value;
}

const NO_BIGINTS: ReadonlySet<string> = new Set<string>();

/** The 64-bit integer properties of the message type `raw` names (none for an unknown type). */
function bigintKeysOf(raw: unknown): ReadonlySet<string> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || !("type" in raw)) return NO_BIGINTS;
  return typeof raw.type === "string" ? (BIGINT_KEYS_BY_TYPE.get(raw.type) ?? NO_BIGINTS) : NO_BIGINTS;
}

/**
 * `key` is this value's key in its parent (null at the root); `parent` is the parent's path.
 * `bigints` are the root object's properties (depth 1) whose digits become a bigint.
 */
function convertNumbers(
  value: unknown,
  key: PropertyKey | null,
  parent: PathNode | null,
  depth: number,
  bigints: ReadonlySet<string>,
): unknown {
  if (depth > MAX_JSON_DEPTH) throw new DecodeFailure(`${nodeText(pathOf(key, parent))}: nested deeper than ${MAX_JSON_DEPTH}`);
  if (value instanceof NumberText) {
    if (depth === 1 && typeof key === "string" && bigints.has(key)) return toBigInt(value.text, { key, parent });
    return toNumber(value.text, pathOf(key, parent));
  }
  if (Array.isArray(value)) {
    const path = pathOf(key, parent);
    return value.map((item: unknown, index) => convertNumbers(item, index, path, depth + 1, bigints));
  }
  if (typeof value === "object" && value !== null) {
    const path = pathOf(key, parent);
    const out: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) {
      const converted = convertNumbers(item, name, path, depth + 1, bigints);
      // Plain assignment to "__proto__" would set the prototype; define it as data instead (zod then rejects it).
      if (name === "__proto__")
        Object.defineProperty(out, name, { value: converted, enumerable: true, writable: true, configurable: true });
      else out[name] = converted;
    }
    return out;
  }
  return value;
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Parses JSON text with numbers converted as described in the module comment. */
export function parseJson(text: string): ParseResult {
  // UTF-16 length never exceeds UTF-8 length, so the cheap test rejects most huge input first.
  if (text.length > MAX_EVENT_BYTES || utf8Length(text) > MAX_EVENT_BYTES) {
    return { ok: false, reason: `message larger than ${MAX_EVENT_BYTES} bytes` };
  }
  let raw: unknown;
  try {
    raw = parse(text, null, (numberText: string) => new NumberText(numberText));
  } catch (error) {
    // lossless-json throws SyntaxError for bad JSON and duplicate keys; deep nesting may
    // exhaust the stack (RangeError). Both mean "not an event".
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `not JSON: ${message.slice(0, 120)}` };
  }
  try {
    return { ok: true, value: convertNumbers(raw, null, null, 0, bigintKeysOf(raw)) };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, reason: error.message };
    if (error instanceof RangeError) return { ok: false, reason: "not JSON: nested too deep" };
    throw error;
  }
}

/** The first issue of a failed parse (zod reports a failure with at least one issue), and how many more. */
function firstIssue(error: z.ZodError): string {
  const first = error.issues.slice(0, 1).map((issue) => `${pathText(issue.path)}: ${issue.message}`);
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : "";
  return `${first.join("")}${more}`;
}

function isUnknownDiscriminator(error: z.ZodError): boolean {
  return error.issues.some((issue) => issue.code === "invalid_union" && issue.path.length === 1 && issue.path[0] === "type");
}

/** Checks a parsed value against the v1 union first and the legacy union second. */
export function checkEvent(value: unknown): DecodeResult {
  const v1 = DigitsEventV1.safeParse(value);
  if (v1.success) return { kind: "v1", event: v1.data };
  const legacy = LegacyEvent.safeParse(value);
  if (legacy.success) return { kind: "legacy", event: legacy.data };
  // Report against the union that knows this type, so the reason names the broken field.
  if (!isUnknownDiscriminator(v1.error)) return { kind: "invalid", reason: firstIssue(v1.error) };
  if (!isUnknownDiscriminator(legacy.error)) return { kind: "invalid", reason: firstIssue(legacy.error) };
  const type = typeof value === "object" && value !== null && "type" in value ? value.type : undefined;
  return {
    kind: "invalid",
    reason: type === undefined ? "type: missing" : `type: unknown event type ${JSON.stringify(type).slice(0, 60)}`,
  };
}

// fatal: invalid UTF-8 is refused rather than silently turned into U+FFFD.
// ignoreBOM: a BOM stays in the text, so it is refused as JSON, as the Python side does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes raw bytes from Redis: size first, then strict UTF-8, then JSON and schema. Never throws. */
export function decodeEventBytes(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength > MAX_EVENT_BYTES) return { kind: "invalid", reason: `message larger than ${MAX_EVENT_BYTES} bytes` };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: "invalid", reason: "not UTF-8" };
  }
  return decodeEvent(text);
}

/** Decodes one event's JSON text. Never throws. */
export function decodeEvent(text: string): DecodeResult {
  const parsed = parseJson(text);
  return parsed.ok ? checkEvent(parsed.value) : { kind: "invalid", reason: parsed.reason };
}

/** Decodes a job request (REQUEST_V1, validated by DigitsTrainV1). Never throws. */
export function decodeTrainRequest(text: string): RequestDecodeResult {
  const parsed = parseJson(text);
  if (!parsed.ok) return { kind: "invalid", reason: parsed.reason };
  const result = DigitsTrainV1.safeParse(parsed.value);
  return result.success ? { kind: "ok", request: result.data } : { kind: "invalid", reason: firstIssue(result.error) };
}
