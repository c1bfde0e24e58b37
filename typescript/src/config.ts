import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { loadInteractionSettings, type InteractionSettings } from "./interactions/settings.ts";
import { BOT_KEY_PREFIX } from "./generated/names.ts";
import { readSettings, type Env } from "./settings_kinds.ts";
import { BOT_SETTINGS, DEFAULT_BOT_GROUP, environmentHelp } from "./settings_schema.ts";

// Every tunable fact of the bot lives here: channel and key names, Discord limits, throttle,
// and how the command line and environment turn into a BotConfig. The environment's settings,
// their defaults and bounds are settings_schema.ts's; the DEFAULT_* below are read from it.

const S = BOT_SETTINGS;

/** Redis Stream the trainer appends every event to; the bot reads it (DIGITS_EVENTS_STREAM overrides). */
export const DEFAULT_EVENTS_STREAM = S.DIGITS_EVENTS_STREAM.parse(undefined);
/** Pub/Sub channel the producers PUBLISH every event on; the bot bridges it into the log (DIGITS_EVENTS_CHANNEL overrides). */
export const DEFAULT_EVENTS_CHANNEL = S.DIGITS_EVENTS_CHANNEL.parse(undefined);
/**
 * The log's retention, as the Python publisher applies it (EVENTS__STREAM_MAXLEN,
 * EVENTS__STREAM_MAX_AGE_S, read from the same environment; defaults and the trim interval are
 * the Python settings', checked by test/channel_bridge.test.ts): the bridge trims as they do.
 */
export const DEFAULT_STREAM_MAXLEN = S.EVENTS__STREAM_MAXLEN.parse(undefined);
export const DEFAULT_STREAM_MAX_AGE_S = S.EVENTS__STREAM_MAX_AGE_S.parse(undefined);
export const STREAM_TRIM_EVERY_MS = 10_000;
/**
 * A channel message is appended to the log at most once in this many seconds, by whichever bot
 * claims its text first; producers that log an event themselves mark its text for as long
 * (SEEN_TTL_S in events/publishers.py, checked by the same test).
 */
export const CHANNEL_SEEN_TTL_S = 120;
/** Channel messages waiting to be appended at most; beyond it new ones are dropped (counted). */
export const MAX_BRIDGE_QUEUE = 10_000;
/** Appending one channel message is tried this often, with backoff, before it is dropped (logged). */
export const BRIDGE_ATTEMPTS = 5;
/** Consumer group of the bots that share the work (DIGITS_BOT_GROUP overrides). */
export { DEFAULT_BOT_GROUP };
/**
 * A bot owns a job (is the one that edits its message) while it holds the job's lease; the lease
 * lasts this long and is renewed at a third of it (DIGITS_BOT_LEASE_MS overrides). A job of a bot
 * that died is taken over by another bot within this time.
 */
export const DEFAULT_LEASE_MS = S.DIGITS_BOT_LEASE_MS.parse(undefined);
/** Log entries delivered to a bot that died are claimed by another after this idle time (DIGITS_BOT_CLAIM_MS). */
export const DEFAULT_CLAIM_IDLE_MS = S.DIGITS_BOT_CLAIM_MS.parse(undefined);
/** A running job with no event for this long says so in its message (DIGITS_SILENT_AFTER_S overrides). */
export const DEFAULT_SILENT_AFTER_S = S.DIGITS_SILENT_AFTER_S.parse(undefined);
/** Log entries read per XREADGROUP, and how long one read blocks (ms) so that a stop is noticed. */
export const READ_COUNT = 200;
export const READ_BLOCK_MS = 1000;
/** Owned jobs are checked for events other bots stored, and orphaned jobs adopted, this often. */
export const SYNC_INTERVAL_MS = 1000;
/** Batch events kept per job in Redis (the newest); lifecycle events are all kept. */
export const MAX_STORED_BATCH_EVENTS = 1000;
/** Open jobs looked at per adoption pass. */
export const MAX_ADOPT_SCAN = 1000;
/** Invalid log entries logged in full; after that, counts per reason at most every INVALID_SUMMARY_MS. */
export const INVALID_LOGGED_IN_FULL = 5;
export const INVALID_SUMMARY_MS = 60_000;
/** Waiting for Redis at start: first retry after this, doubling up to RETRY_CAP_MS. */
export const REDIS_WAIT_BASE_MS = 500;
export const DEFAULT_REDIS_URL = S.REDIS_URL.parse(undefined);
/** Discord's REST API; tests point DISCORD_API_URL at a local server. */
export const DEFAULT_DISCORD_API_URL = S.DISCORD_API_URL.parse(undefined);

/** At most one edit per message per this many milliseconds (DIGITS_EDIT_INTERVAL_MS overrides). */
export const DEFAULT_EDIT_INTERVAL_MS = S.DIGITS_EDIT_INTERVAL_MS.parse(undefined);

/**
 * Largest event accepted, in UTF-8 bytes, checked before parsing. The biggest valid event
 * (a failed event with a 2000-character message of 4-byte characters plus 128-character ids)
 * stays well under 16 KiB; anything past 64 KiB is garbage or an attack.
 */
export const MAX_EVENT_BYTES = 64 * 1024;
/** Deepest JSON nesting accepted; valid events are flat objects. */
export const MAX_JSON_DEPTH = 16;

/** Every Redis key the bot writes starts with BOT_KEY_PREFIX, then the consumer group: `digits:bot:<group>:`. */
export { BOT_KEY_PREFIX };
/** A job's stored events, message id and flags are forgotten this long after its last event (seconds). */
export const JOB_KEY_TTL_S = 7 * 24 * 60 * 60;

/** Jobs kept in memory; the least recently updated are forgotten first. */
export const MAX_TRACKED_JOBS = 10_000;
/** Finished-epoch lines kept per job (the message shows fewer; this only bounds memory). */
export const MAX_EPOCH_LINES = 200;
/**
 * Delivery to Discord. A failed send is retried after RETRY_BASE_MS, doubling on each failure in a
 * row up to RETRY_CAP_MS, forever for a transient error (the newest state replaces the one retried).
 * A 429 waits what Discord asked, at least RATE_LIMIT_FLOOR_MS, doubling on repeated 429s.
 */
export const RETRY_BASE_MS = 1000;
export const RETRY_CAP_MS = 60_000;
export const RATE_LIMIT_FLOOR_MS = 1000;
/** Discord's global limit for a bot (DIGITS_DISCORD_MAX_RPS overrides). */
export const DEFAULT_DISCORD_MAX_RPS = S.DIGITS_DISCORD_MAX_RPS.parse(undefined);
/** Discord's per-channel message limit: this many requests per window, per channel. */
export const DISCORD_CHANNEL_BURST = 5;
export const DISCORD_CHANNEL_WINDOW_MS = 5000;
/** Added to every rate window, as the REST client's own offset, to absorb clock and network jitter. */
export const RATE_SAFETY_MS = 50;
/** On SIGTERM/SIGINT, newest pending states are sent for at most this long (DIGITS_SHUTDOWN_TIMEOUT_MS). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = S.DIGITS_SHUTDOWN_TIMEOUT_MS.parse(undefined);

/** Discord's documented embed limits (characters). */
export const DISCORD_LIMITS = {
  embedTotal: 6000,
  title: 256,
  description: 4096,
  fieldName: 256,
  fieldValue: 1024,
  fields: 25,
  footer: 2048,
} as const;

/** Discord JSON error codes the delivery reacts to. */
export const DISCORD_UNKNOWN_MESSAGE = 10008;
export const DISCORD_UNKNOWN_CHANNEL = 10003;
/** "Message is too old to edit" (edits of messages older than an hour, in DMs and some channels). */
export const DISCORD_MESSAGE_TOO_OLD = 30046;
/** "Cannot send messages to this user": the user's DMs are closed to the bot. */
export const DISCORD_DMS_CLOSED = 50007;

/** Invalid input is logged shortened to this many characters. */
export const LOG_SNIPPET_CHARS = 200;

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
