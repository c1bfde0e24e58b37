// The kinds of setting the bot reads from its environment (a whole number in bounds, true|false,
// text, Discord ids, an origin), each a zod schema of one variable's raw text with its description
// and default in DOCS, and the two things made of a shape of them: reading it (the first problem,
// naming the variable, the bad value unless it is secret, and the fix) and describing it (--help
// lines, deploy/digits.env.example lines). settings_schema.ts lists the settings themselves.

import { z } from "zod";

export type Env = Readonly<Record<string, string | undefined>>;

export interface SettingDoc {
  /** What it does, one line; `default <default>` is appended where there is one. */
  readonly help: string;
  /** The value used when unset, as written in the environment; absent when computed or none. */
  readonly default?: string;
  /** Its value is never repeated: not in an error, not in the example file. */
  readonly secret?: boolean;
  /** The Python side reads it too: the example file lists it there, once. */
  readonly shared?: boolean;
}

/** Every setting's description, keyed by its schema (zod's own metadata registry). */
export const DOCS = z.registry<SettingDoc>();

class Problem {
  constructor(readonly message: string) {}
}

type Setting<T> = z.ZodType<T, string | undefined>;

/** A setting whose blank or unset value is `null` to `parse`; `parse` returns the value or a Problem. */
function setting<T>(doc: SettingDoc, parse: (text: string | null) => T | Problem): Setting<T> {
  const schema = z
    .string()
    .optional()
    .transform((value, ctx) => {
      const trimmed = value?.trim() ?? "";
      const out = parse(trimmed === "" ? null : trimmed);
      if (!(out instanceof Problem)) return out;
      ctx.addIssue({ code: "custom", message: out.message });
      return z.NEVER;
    });
  DOCS.add(schema, doc);
  return schema;
}

const got = (doc: SettingDoc, text: string | null): string => (doc.secret === true ? "" : `, got ${JSON.stringify(text)}`);

/** Text, the default when unset or blank. */
export const text = (doc: SettingDoc & { readonly default: string }): Setting<string> => setting(doc, (value) => value ?? doc.default);

/** Text or null when unset; with `pattern`, refused unless it matches (`expected` says what does). */
export function optionalText(doc: SettingDoc, pattern?: RegExp, expected = ""): Setting<string | null> {
  return setting(doc, (value) =>
    value === null || pattern === undefined || pattern.test(value) ? value : new Problem(`must be ${expected}${got(doc, value)}`),
  );
}

/** Text that must be set and match `pattern`. */
export function requiredText(doc: SettingDoc, pattern: RegExp, expected: string): Setting<string> {
  return setting(doc, (value) => (value !== null && pattern.test(value) ? value : new Problem(`must be ${expected}${got(doc, value)}`)));
}

/** A whole number from `min` (to `max`), the default when unset or blank. */
export function whole(doc: SettingDoc & { readonly default: string }, min: number, max?: number): Setting<number> {
  return setting(doc, (value) => {
    const parsed = Number(value ?? doc.default);
    if (Number.isSafeInteger(parsed) && parsed >= min && (max === undefined || parsed <= max)) return parsed;
    if (max === undefined) return new Problem(`must be a whole number >= ${min}${got(doc, value)}`);
    return new Problem(`must be a whole number from ${min} to ${max}${got(doc, value)}; unset it for ${doc.default}`);
  });
}

/** true or false, in any case. */
export const flag = (doc: SettingDoc & { readonly default: "true" | "false" }): Setting<boolean> =>
  setting(doc, (value) => {
    const word = value?.toLowerCase() ?? doc.default;
    return word === "true" || word === "false" ? word === "true" : new Problem(`must be true or false${got(doc, word)}`);
  });

export const SNOWFLAKE = /^[0-9]{1,20}$/;

/** Comma-separated Discord ids; unset or blank is the empty set. */
export const ids = (doc: SettingDoc): Setting<ReadonlySet<string>> =>
  setting(doc, (value) => {
    const parts = (value ?? "")
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "");
    const bad = parts.find((part) => !SNOWFLAKE.test(part));
    return bad === undefined ? new Set(parts) : new Problem(`must be comma-separated Discord ids (digits)${got(doc, bad)}`);
  });

/** A URL origin (scheme, host and port, no path). */
export const origin = (doc: SettingDoc & { readonly default: string }): Setting<string> =>
  setting(doc, (value) => {
    const url = value ?? doc.default;
    if (URL.canParse(url) && new URL(url).origin === url) return url;
    return new Problem(`must be an origin such as ${doc.default} (no path)${got(doc, url)}`);
  });

export type Shape = Readonly<Record<string, Setting<unknown>>>;
export type Values<S extends Shape> = z.output<z.ZodObject<S>>;
export type Read<S extends Shape> = { readonly ok: true; readonly values: Values<S> } | { readonly ok: false; readonly message: string };

/** The shape's values from `env`, or the first problem (in the shape's order) as `NAME must be …`. */
export function readSettings<S extends Shape>(shape: S, env: Env): Read<S> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return { ok: true, values: result.data };
  // zod reports at least one issue; the first names the variable (its path) and the problem.
  const message = result.error.issues
    .slice(0, 1)
    .map((issue) => `${String(issue.path[0])} ${issue.message}`)
    .join("");
  return { ok: false, message };
}

/** [name, description] of each setting of `shape`, in order. */
export function describe(shape: Shape): readonly (readonly [string, SettingDoc])[] {
  return Object.entries(shape).map(([name, schema]) => {
    const doc = DOCS.get(schema);
    if (doc === undefined) throw new Error(`${name} has no description: build it with a kind of settings_kinds.ts`);
    return [name, doc];
  });
}

/** The help text of a setting, with its default. */
export const helpText = (doc: SettingDoc): string =>
  doc.default === undefined || doc.default === "" ? doc.help : `${doc.help}, default ${doc.default}`;
