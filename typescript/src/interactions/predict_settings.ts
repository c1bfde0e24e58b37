// /predict's settings, read from the environment beside the endpoint's (settings.ts): where
// attachments may be fetched from, how long the bot waits for a prediction worker, and the
// per-user rate limit. The size limit is the request schema's: its image_base64 maxLength.

import { z } from "zod";
import { DigitsPredictV1 } from "../generated/contracts.ts";
import { PREDICT_QUEUE, PREDICT_RATE_KEY, PREDICT_RESULT_KEY } from "../generated/names.ts";

/** Discord serves attachments from its CDN; tests point this at the stand-in. */
export const DEFAULT_ATTACHMENT_ORIGIN = "https://cdn.discordapp.com";
export const DEFAULT_PREDICT_TIMEOUT_S = 15;
export const DEFAULT_PREDICTS_PER_MINUTE = 6;
/** Fetching one attachment, headers and body, takes at most this long. */
export const FETCH_TIMEOUT_MS = 5000;

const Base64Field = z.object({ properties: z.object({ image_base64: z.object({ maxLength: z.number().int() }) }) });
/** The largest picture a request can carry: 4 base64 characters hold 3 bytes. */
export const MAX_ATTACHMENT_BYTES =
  (Base64Field.parse(z.toJSONSchema(DigitsPredictV1.omit({ user_id: true }))).properties.image_base64.maxLength / 4) * 3;

export interface PredictSettings {
  /** Only URLs of this origin (scheme, host and port) are fetched. */
  readonly attachmentOrigin: string;
  readonly timeoutS: number;
  readonly perMinute: number;
  readonly queue: string;
}

export const PREDICT_USAGE = `  DIGITS_ATTACHMENT_ORIGIN  where /predict may fetch pictures from, default ${DEFAULT_ATTACHMENT_ORIGIN}
  DIGITS_PREDICT_TIMEOUT_S  how long /predict waits for a prediction worker, default ${DEFAULT_PREDICT_TIMEOUT_S}
  DIGITS_PREDICTS_PER_MINUTE  /predict requests per user per minute, default ${DEFAULT_PREDICTS_PER_MINUTE}`;

type Env = Readonly<Record<string, string | undefined>>;

function whole(env: Env, name: string, fallback: number, max: number): number {
  const value = env[name]?.trim() ?? "";
  const parsed = value === "" ? fallback : Number(value);
  if (Number.isSafeInteger(parsed) && parsed >= 1 && parsed <= max) return parsed;
  throw new Error(`${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}; unset it for ${fallback}`);
}

/** The settings, or an Error naming the variable and the fix. */
export function loadPredictSettings(env: Env): PredictSettings {
  const origin = env["DIGITS_ATTACHMENT_ORIGIN"]?.trim() || DEFAULT_ATTACHMENT_ORIGIN;
  if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
    throw new Error(
      `DIGITS_ATTACHMENT_ORIGIN must be an origin such as ${DEFAULT_ATTACHMENT_ORIGIN} (no path), got ${JSON.stringify(origin)}`,
    );
  }
  return {
    attachmentOrigin: origin,
    timeoutS: whole(env, "DIGITS_PREDICT_TIMEOUT_S", DEFAULT_PREDICT_TIMEOUT_S, 600),
    perMinute: whole(env, "DIGITS_PREDICTS_PER_MINUTE", DEFAULT_PREDICTS_PER_MINUTE, 100_000),
    queue: PREDICT_QUEUE,
  };
}

/** Where a worker pushes the result of one request (predict_worker.py's result_key). */
export function predictResultKey(userId: bigint, requestId: string): string {
  return PREDICT_RESULT_KEY.replace("{user_id}", userId.toString()).replace("{request_id}", () => requestId);
}

export function predictRateKey(userId: bigint): string {
  return PREDICT_RATE_KEY.replace("{user_id}", userId.toString());
}
