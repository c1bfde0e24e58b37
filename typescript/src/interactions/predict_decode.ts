// The prediction messages read on the bot's side, as events/decode.ts reads events: JSON text ->
// lossless numbers (user_id exact as a bigint) -> the generated zod schema. Never throws; a
// failure is a short reason naming the field. The bot reads results; requests are decoded only
// by the shared vectors' test (the bot builds them, checked by the same zod schema).

import type { z } from "zod";
import { parseJson } from "../events/decode.ts";
import { DigitsPredictResultV1, DigitsPredictV1 } from "../generated/contracts.ts";

export type Decoded<T> = { readonly kind: "ok"; readonly message: T } | { readonly kind: "invalid"; readonly reason: string };

function decodeWith<T>(schema: z.ZodType<T>, text: string): Decoded<T> {
  const parsed = parseJson(text);
  if (!parsed.ok) return { kind: "invalid", reason: parsed.reason };
  const result = schema.safeParse(parsed.value);
  if (result.success) return { kind: "ok", message: result.data };
  // zod reports a failure with at least one issue.
  const first = result.error.issues.slice(0, 1).map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  const more = result.error.issues.length > 1 ? ` (+${result.error.issues.length - 1} more)` : "";
  return { kind: "invalid", reason: `${first.join("")}${more}` };
}

/** A digits.predict.result.v1 from a prediction worker. */
export function decodePredictResult(text: string): Decoded<DigitsPredictResultV1> {
  return decodeWith(DigitsPredictResultV1, text);
}

/** A digits.predict.v1 (small ones only: parseJson's MAX_EVENT_BYTES applies). */
export function decodePredictRequest(text: string): Decoded<DigitsPredictV1> {
  return decodeWith(DigitsPredictV1, text);
}
