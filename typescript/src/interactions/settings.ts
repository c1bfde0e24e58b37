// Every name, limit and default of the interactions endpoint (/train and Cancel), once, and how the
// environment turns into InteractionSettings. The endpoint is off unless DISCORD_PUBLIC_KEY is set.
// The Redis names the worker side shares are generated from schemas/names.json.

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
  REQUESTS_STREAM,
} from "../generated/names.ts";

/** Where the endpoint listens; put a TLS reverse proxy in front (Discord calls https only). */
export const DEFAULT_INTERACTIONS_HOST = "127.0.0.1";
export const DEFAULT_INTERACTIONS_PORT = 8787;
export const INTERACTIONS_PATH = "/interactions";
/** A signed request older (or newer) than this is refused: a captured request cannot be replayed later. */
export const DEFAULT_MAX_AGE_S = 300;
/** Discord waits 3 s for an answer: work still going after this long gets a deferred answer first. */
export const DEFAULT_DEFER_AFTER_MS = 2000;
/** Largest request body read; Discord's interactions are a few KiB. */
export const MAX_BODY_BYTES = 64 * 1024;
/** A request that has not arrived in full after this long is dropped. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The stream the intake (`python -m handwriting_worker intake`) reads; DIGITS_REQUESTS_STREAM. */
export const DEFAULT_REQUESTS_STREAM = REQUESTS_STREAM;
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
export const DEFAULT_MAX_JOBS_PER_USER = 2;
export const DEFAULT_MAX_JOBS_TOTAL = 20;
/** A job counts as active at most this long, even if its end is never seen (a crashed worker). */
export const DEFAULT_ACTIVE_JOB_TTL_S = 6 * 60 * 60;
export { ACTIVE_ALL_KEY, ACTIVE_USER_KEY_PREFIX };

export const COMMAND_NAME = "train";
export const CANCEL_ID_PREFIX = "digits:cancel:";
/** Discord's limit on a component's custom_id. */
export const CUSTOM_ID_MAX = 100;
/**
 * /train's defaults: the request schema's `default`s (generated), which the CLI and the trainer
 * read too; test/interactions_train.test.ts checks that the Python side agrees.
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

export const INTERACTIONS_USAGE = `  DISCORD_PUBLIC_KEY        the application's public key (hex); turns on the interactions
                            endpoint (/train, Cancel); needs DISCORD_APPLICATION_ID
  DISCORD_APPLICATION_ID    the application's id (answers to deferred interactions)
  DIGITS_INTERACTIONS_HOST  default ${DEFAULT_INTERACTIONS_HOST}
  DIGITS_INTERACTIONS_PORT  default ${DEFAULT_INTERACTIONS_PORT}; Discord posts to ${INTERACTIONS_PATH}
  DIGITS_INTERACTION_MAX_AGE_S  signed requests older than this are refused, default ${DEFAULT_MAX_AGE_S}
  DIGITS_REQUESTS_STREAM    where /train and Cancel go for the intake, default ${DEFAULT_REQUESTS_STREAM}
  DIGITS_MAX_JOBS_PER_USER  jobs queued or running per user, default ${DEFAULT_MAX_JOBS_PER_USER}
  DIGITS_MAX_JOBS_TOTAL     jobs queued or running in all, default ${DEFAULT_MAX_JOBS_TOTAL}
  DIGITS_ACTIVE_JOB_TTL_S   a job stops counting after this long even if its end is lost, default ${DEFAULT_ACTIVE_JOB_TTL_S}
  DIGITS_ADMIN_USER_IDS     comma-separated user ids who may cancel anyone's job
  DIGITS_ALLOWED_GUILD_IDS  comma-separated guild ids where /train works (default: all)
  DIGITS_ALLOWED_CHANNEL_IDS  comma-separated channel ids where /train works (default: all)`;

type Env = Readonly<Record<string, string | undefined>>;
export type InteractionSettingsResult =
  | { readonly kind: "off" }
  | { readonly kind: "on"; readonly settings: InteractionSettings }
  | { readonly kind: "error"; readonly message: string };

const SNOWFLAKE = /^[0-9]{1,20}$/;

function text(env: Env, name: string): string | null {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? null : value;
}

/** Reads the settings; `off` when DISCORD_PUBLIC_KEY is unset. Errors name the variable and the fix. */
export function loadInteractionSettings(env: Env): InteractionSettingsResult {
  const publicKeyHex = text(env, "DISCORD_PUBLIC_KEY");
  if (publicKeyHex === null) return { kind: "off" };
  // Every setting is read; the first problem, in the order they are read, is the one reported.
  const problems: string[] = [];
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const value = text(env, name);
    const parsed = value === null ? fallback : Number(value);
    if (Number.isSafeInteger(parsed) && parsed >= min && parsed <= max) return parsed;
    problems.push(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}; unset it for ${fallback}`);
    return fallback;
  };
  const ids = (name: string): ReadonlySet<string> => {
    const parts = (text(env, name) ?? "")
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "");
    const bad = parts.find((part) => !SNOWFLAKE.test(part));
    if (bad !== undefined) problems.push(`${name} must be comma-separated Discord ids (digits), got ${JSON.stringify(bad)}`);
    return new Set(parts);
  };
  if (!/^[0-9a-fA-F]{64}$/.test(publicKeyHex)) {
    problems.push("DISCORD_PUBLIC_KEY must be the 64 hex digits of the application's public key (Developer Portal, General Information)");
  }
  const applicationId = text(env, "DISCORD_APPLICATION_ID");
  if (applicationId === null || !SNOWFLAKE.test(applicationId)) {
    problems.push(
      `DISCORD_APPLICATION_ID must be the application's id (digits) when DISCORD_PUBLIC_KEY is set, got ${JSON.stringify(applicationId)}`,
    );
  }
  const settings: InteractionSettings = {
    publicKeyHex,
    applicationId: applicationId ?? "",
    host: text(env, "DIGITS_INTERACTIONS_HOST") ?? DEFAULT_INTERACTIONS_HOST,
    port: whole("DIGITS_INTERACTIONS_PORT", DEFAULT_INTERACTIONS_PORT, 0, 65535),
    maxAgeS: whole("DIGITS_INTERACTION_MAX_AGE_S", DEFAULT_MAX_AGE_S, 1, 3600),
    deferAfterMs: DEFAULT_DEFER_AFTER_MS,
    requestsStream: text(env, "DIGITS_REQUESTS_STREAM") ?? DEFAULT_REQUESTS_STREAM,
    maxJobsPerUser: whole("DIGITS_MAX_JOBS_PER_USER", DEFAULT_MAX_JOBS_PER_USER, 1, 1000),
    maxJobsTotal: whole("DIGITS_MAX_JOBS_TOTAL", DEFAULT_MAX_JOBS_TOTAL, 1, 100_000),
    activeJobTtlS: whole("DIGITS_ACTIVE_JOB_TTL_S", DEFAULT_ACTIVE_JOB_TTL_S, 60, 30 * 24 * 3600),
    adminUserIds: ids("DIGITS_ADMIN_USER_IDS"),
    allowedGuildIds: ids("DIGITS_ALLOWED_GUILD_IDS"),
    allowedChannelIds: ids("DIGITS_ALLOWED_CHANNEL_IDS"),
  };
  const [first] = problems;
  return first === undefined ? { kind: "on", settings } : { kind: "error", message: first };
}
