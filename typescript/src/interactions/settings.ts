// Every name, limit and default of the interactions endpoint (/train and Cancel), once, and how the
// environment turns into InteractionSettings. The endpoint is off unless DISCORD_PUBLIC_KEY is set.
// The Redis names the worker side shares are generated from schemas/names.json; the environment's
// settings, defaults and bounds are shared/settings_schema.ts's (INTERACTION_SETTINGS).

import {
  ACTIVE_ALL_KEY,
  ACTIVE_USER_KEY_PREFIX,
  CANCEL_KEY,
  REQUEST_V1_DEFAULT_AUGMENT,
  REQUEST_V1_DEFAULT_BATCH_SIZE,
  REQUEST_V1_DEFAULT_EPOCHS,
  REQUEST_V1_DEFAULT_LR,
  REQUEST_V1_DEFAULT_MODEL_ID,
  REQUEST_V1_DEFAULT_SEED,
} from "../generated/names.ts";
import { readSettings, type Env } from "../shared/settings_kinds.ts";
import { INTERACTION_SETTINGS as S } from "../shared/settings_schema.ts";

/** Where the endpoint listens; put a TLS reverse proxy in front (Discord calls https only). */
export const DEFAULT_INTERACTIONS_HOST = S.DIGITS_INTERACTIONS_HOST.parse(undefined);
export const DEFAULT_INTERACTIONS_PORT = S.DIGITS_INTERACTIONS_PORT.parse(undefined);
export const INTERACTIONS_PATH = "/interactions";
/** A signed request older (or newer) than this is refused: a captured request cannot be replayed later. */
export const DEFAULT_MAX_AGE_S = S.DIGITS_INTERACTION_MAX_AGE_S.parse(undefined);
/** Discord waits 3 s for an answer: work still going after this long gets a deferred answer first. */
export const DEFAULT_DEFER_AFTER_MS = 2000;
/** Largest request body read; Discord's interactions are a few KiB. */
export const MAX_BODY_BYTES = 64 * 1024;
/** A request that has not arrived in full after this long is dropped. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The stream the intake (`python -m handwriting_worker intake`) reads; DIGITS_REQUESTS_STREAM. */
export const DEFAULT_REQUESTS_STREAM = S.DIGITS_REQUESTS_STREAM.parse(undefined);
/** Entries the stream keeps at most (trimmed approximately; the intake acknowledges within seconds). */
export const REQUESTS_STREAM_MAXLEN = 10_000;
/** Stream fields: `request` holds the digits.train.v1 JSON, `cancel` {"request_id","user_id","by"}. */
export const REQUEST_FIELD = "request";
export const CANCEL_FIELD = "cancel";
/** Who cancelled a request (SET NX, value: their user id); the worker side reads it too (requests_keys.py). */
export function cancelKey(userId: bigint, requestId: string): string {
  return CANCEL_KEY.replace("{user_id}", userId.toString()).replace("{request_id}", () => requestId);
}

/** Jobs queued or running at once per user (DIGITS_MAX_JOBS_PER_USER) and in all (DIGITS_MAX_JOBS_TOTAL). */
export const DEFAULT_MAX_JOBS_PER_USER = S.DIGITS_MAX_JOBS_PER_USER.parse(undefined);
export const DEFAULT_MAX_JOBS_TOTAL = S.DIGITS_MAX_JOBS_TOTAL.parse(undefined);
/** A job counts as active at most this long, even if its end is never seen (a crashed worker). */
export const DEFAULT_ACTIVE_JOB_TTL_S = S.DIGITS_ACTIVE_JOB_TTL_S.parse(undefined);
export { ACTIVE_ALL_KEY, ACTIVE_USER_KEY_PREFIX };

export const COMMAND_NAME = "train";
/**
 * /train's defaults: the request schema's `default`s (generated), which the CLI and the trainer
 * read too; test/interactions/train.test.ts checks that the Python side agrees.
 */
export const TRAIN_DEFAULTS = {
  epochs: REQUEST_V1_DEFAULT_EPOCHS,
  batch_size: REQUEST_V1_DEFAULT_BATCH_SIZE,
  lr: REQUEST_V1_DEFAULT_LR,
  seed: REQUEST_V1_DEFAULT_SEED,
  model_id: REQUEST_V1_DEFAULT_MODEL_ID,
  augment: REQUEST_V1_DEFAULT_AUGMENT,
} as const;

export interface InteractionSettings {
  readonly publicKeyHex: string;
  readonly applicationId: string;
  readonly host: string;
  readonly port: number;
  readonly maxAgeS: number;
  readonly deferAfterMs: number;
  readonly requestsStream: string;
  readonly maxJobsPerUser: number;
  readonly maxJobsTotal: number;
  readonly activeJobTtlS: number;
  readonly adminUserIds: ReadonlySet<string>;
  /** Empty: every guild (and DMs). */
  readonly allowedGuildIds: ReadonlySet<string>;
  /** Empty: every channel. */
  readonly allowedChannelIds: ReadonlySet<string>;
}

export type InteractionSettingsResult =
  | { readonly kind: "off" }
  | { readonly kind: "on"; readonly settings: InteractionSettings }
  | { readonly kind: "error"; readonly message: string };

/** Reads the settings; `off` when DISCORD_PUBLIC_KEY is unset. Errors name the variable and the fix. */
export function loadInteractionSettings(env: Env): InteractionSettingsResult {
  if (env.DISCORD_PUBLIC_KEY === undefined || env.DISCORD_PUBLIC_KEY.trim() === "") return { kind: "off" };
  // Every setting is read; the first problem, in the schema's order, is the one reported.
  const read = readSettings(S, env);
  if (!read.ok) return { kind: "error", message: read.message };
  const v = read.values;
  const settings: InteractionSettings = {
    publicKeyHex: v.DISCORD_PUBLIC_KEY,
    applicationId: v.DISCORD_APPLICATION_ID,
    host: v.DIGITS_INTERACTIONS_HOST,
    port: v.DIGITS_INTERACTIONS_PORT,
    maxAgeS: v.DIGITS_INTERACTION_MAX_AGE_S,
    deferAfterMs: DEFAULT_DEFER_AFTER_MS,
    requestsStream: v.DIGITS_REQUESTS_STREAM,
    maxJobsPerUser: v.DIGITS_MAX_JOBS_PER_USER,
    maxJobsTotal: v.DIGITS_MAX_JOBS_TOTAL,
    activeJobTtlS: v.DIGITS_ACTIVE_JOB_TTL_S,
    adminUserIds: v.DIGITS_ADMIN_USER_IDS,
    allowedGuildIds: v.DIGITS_ALLOWED_GUILD_IDS,
    allowedChannelIds: v.DIGITS_ALLOWED_CHANNEL_IDS,
  };
  return { kind: "on", settings };
}
