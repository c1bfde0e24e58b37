// /predict's settings, read from the environment beside the endpoint's (settings.ts): where
// attachments may be fetched from, how long the bot waits for a prediction worker, and the
// per-user rate limit. The size limit is the request schema's: its image_base64 maxLength. The
// environment's settings, defaults and bounds are shared/settings_schema.ts's (PREDICT_SETTINGS).

import { z } from "zod";
import { DigitsPredictV1 } from "../generated/contracts.ts";
import { PREDICT_QUEUE, PREDICT_RATE_KEY, PREDICT_RESULT_KEY } from "../generated/names.ts";
import { readSettings, type Env } from "../shared/settings_kinds.ts";
import { PREDICT_SETTINGS as S } from "../shared/settings_schema.ts";

/** Discord serves attachments from its CDN; tests point this at the stand-in. */
export const DEFAULT_ATTACHMENT_ORIGIN = S.DIGITS_ATTACHMENT_ORIGIN.parse(undefined);
export const DEFAULT_PREDICT_TIMEOUT_S = S.DIGITS_PREDICT_TIMEOUT_S.parse(undefined);
export const DEFAULT_PREDICTS_PER_MINUTE = S.DIGITS_PREDICTS_PER_MINUTE.parse(undefined);
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

/** The settings, or an Error naming the variable and the fix. */
export function loadPredictSettings(env: Env): PredictSettings {
  const read = readSettings(S, env);
  if (!read.ok) throw new Error(read.message);
  const v = read.values;
  return {
    attachmentOrigin: v.DIGITS_ATTACHMENT_ORIGIN,
    timeoutS: v.DIGITS_PREDICT_TIMEOUT_S,
    perMinute: v.DIGITS_PREDICTS_PER_MINUTE,
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
