// How the command line and environment turn into a BotConfig. The environment's settings, their
// defaults and bounds are shared/settings_schema.ts's; the DEFAULT_* below are read from it, and
// the bot's fixed numbers are in shared/limits.ts.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { loadInteractionSettings, type InteractionSettings } from "../interactions/settings.ts";
import { BOT_KEY_PREFIX } from "../generated/names.ts";
import { readSettings, type Env } from "../shared/settings_kinds.ts";
import { BOT_SETTINGS, DEFAULT_BOT_GROUP, environmentHelp } from "../shared/settings_schema.ts";

const S = BOT_SETTINGS;

/** Redis Stream the trainer appends every event to; the bot reads it (DIGITS_EVENTS_STREAM overrides). */
export const DEFAULT_EVENTS_STREAM = S.DIGITS_EVENTS_STREAM.parse(undefined);
/** Pub/Sub channel the producers PUBLISH every event on; the bot bridges it into the log (DIGITS_EVENTS_CHANNEL overrides). */
export const DEFAULT_EVENTS_CHANNEL = S.DIGITS_EVENTS_CHANNEL.parse(undefined);
/**
 * The log's retention, as the Python publisher applies it (EVENTS__STREAM_MAXLEN,
 * EVENTS__STREAM_MAX_AGE_S, read from the same environment; defaults and the trim interval are
 * the Python settings', checked by test/events/channel_bridge.test.ts): the bridge trims as they do.
 */
export const DEFAULT_STREAM_MAXLEN = S.EVENTS__STREAM_MAXLEN.parse(undefined);
export const DEFAULT_STREAM_MAX_AGE_S = S.EVENTS__STREAM_MAX_AGE_S.parse(undefined);
/** Consumer group of the bots that share the work (DIGITS_BOT_GROUP overrides). */
export { DEFAULT_BOT_GROUP };
/** Log entries delivered to a bot that died are claimed by another after this idle time (DIGITS_BOT_CLAIM_MS). */
export const DEFAULT_CLAIM_IDLE_MS = S.DIGITS_BOT_CLAIM_MS.parse(undefined);
export const DEFAULT_REDIS_URL = S.REDIS_URL.parse(undefined);
/** Discord's REST API; tests point DISCORD_API_URL at a local server. */
export const DEFAULT_DISCORD_API_URL = S.DISCORD_API_URL.parse(undefined);
/** Every Redis key the bot writes starts with BOT_KEY_PREFIX, then the consumer group: `digits:bot:<group>:`. */
export { BOT_KEY_PREFIX };
/** On SIGTERM/SIGINT, newest pending states are sent for at most this long (DIGITS_SHUTDOWN_TIMEOUT_MS). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = S.DIGITS_SHUTDOWN_TIMEOUT_MS.parse(undefined);

export interface BotConfig {
  readonly dryRun: boolean;
  readonly discordToken: string | null;
  readonly discordApiUrl: string;
  readonly redisUrl: string;
  readonly eventsStream: string;
  /** The channel bridged into the log, and the log's retention (applied to what the bridge appends). */
  readonly eventsChannel: string;
  readonly streamMaxlen: number;
  readonly streamMaxAgeS: number;
  readonly group: string;
  /** The dry run's own group, deleted at exit. */
  readonly throwawayGroup: boolean;
  /** This bot's name in the consumer group (and as the holder of job leases). */
  readonly consumer: string;
  readonly leaseMs: number;
  readonly claimIdleMs: number;
  readonly silentAfterS: number;
  /** Post every job in this channel instead of a DM to the job's user. */
  readonly notifyChannelId: string | null;
  readonly editIntervalMs: number;
  /** Reply to the live message with a mention of the requester on completed or failed. */
  readonly notifyAtEnd: boolean;
  /** Requests per second for the whole bot. */
  readonly discordMaxRps: number;
  readonly shutdownTimeoutMs: number;
  /** The interactions endpoint (/train, Cancel); null when DISCORD_PUBLIC_KEY is unset. */
  readonly interactions: InteractionSettings | null;
}

export const USAGE = `Usage: npm start [-- --dry-run] [-- --help]

Shows digits training events from Redis as one Discord message per job, edited in place.

Options:
  --dry-run   print each rendered update instead of sending it (no DISCORD_TOKEN needed); it
              reads through a throwaway group of its own (DIGITS_BOT_GROUP only prefixes it),
              never serves /train (DISCORD_PUBLIC_KEY is ignored) and writes no job keys
  --help      show this help

Environment:
${environmentHelp()}`;

export type ConfigResult =
  { readonly kind: "run"; readonly config: BotConfig } | { readonly kind: "help" } | { readonly kind: "error"; readonly message: string };

/**
 * This bot's default name in the consumer group: the host and pid say where it runs, and a random
 * part keeps two bots apart even when both are pid 1 in containers of the same hostname.
 */
export function defaultConsumer(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

export function loadConfig(argv: readonly string[], env: Env): ConfigResult {
  let dryRun = false;
  for (const arg of argv) {
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    if (arg === "--dry-run") dryRun = true;
    else return { kind: "error", message: `unknown argument ${JSON.stringify(arg)} (try --help)` };
  }
  const read = readSettings(BOT_SETTINGS, env);
  if (!read.ok) return { kind: "error", message: read.message };
  const settings = read.values;
  if (!dryRun && settings.DISCORD_TOKEN === null) {
    return { kind: "error", message: "DISCORD_TOKEN is not set (use --dry-run to print updates instead)" };
  }
  const groupText = settings.DIGITS_BOT_GROUP;
  const interactions = loadInteractionSettings(env);
  if (interactions.kind === "error") return { kind: "error", message: interactions.message };
  // A dry run never touches what production reads, whatever the environment says (an operator's
  // env file may be loaded): a throwaway group of its own, removed when it stops, so it never
  // acknowledges the real bots' entries; and no interactions endpoint, so it never queues a job.
  const group = dryRun ? `${groupText ?? "digits"}-dry-run-${process.pid}` : (groupText ?? DEFAULT_BOT_GROUP);
  return {
    kind: "run",
    config: {
      dryRun,
      discordToken: settings.DISCORD_TOKEN,
      discordApiUrl: settings.DISCORD_API_URL,
      redisUrl: settings.REDIS_URL,
      eventsStream: settings.DIGITS_EVENTS_STREAM,
      eventsChannel: settings.DIGITS_EVENTS_CHANNEL,
      streamMaxlen: settings.EVENTS__STREAM_MAXLEN,
      streamMaxAgeS: settings.EVENTS__STREAM_MAX_AGE_S,
      group,
      throwawayGroup: dryRun,
      consumer: settings.DIGITS_BOT_CONSUMER ?? defaultConsumer(),
      leaseMs: settings.DIGITS_BOT_LEASE_MS,
      claimIdleMs: settings.DIGITS_BOT_CLAIM_MS,
      silentAfterS: settings.DIGITS_SILENT_AFTER_S,
      notifyChannelId: settings.DIGITS_NOTIFY_CHANNEL_ID,
      editIntervalMs: settings.DIGITS_EDIT_INTERVAL_MS,
      notifyAtEnd: settings.DIGITS_NOTIFY_AT_END,
      discordMaxRps: settings.DIGITS_DISCORD_MAX_RPS,
      shutdownTimeoutMs: settings.DIGITS_SHUTDOWN_TIMEOUT_MS,
      interactions: interactions.kind === "on" && !dryRun ? interactions.settings : null,
    },
  };
}
