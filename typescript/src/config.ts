import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { INTERACTIONS_USAGE, loadInteractionSettings, type InteractionSettings } from "./interactions/settings.ts";
import { PREDICT_USAGE } from "./interactions/predict_settings.ts";
import { BOT_KEY_PREFIX, EVENTS_CHANNEL, EVENTS_STREAM } from "./generated/names.ts";

// Every tunable fact of the bot lives here: channel and key names, Discord limits, throttle,
// and how the command line and environment turn into a BotConfig.

/** Redis Stream the trainer appends every event to; the bot reads it (DIGITS_EVENTS_STREAM overrides). */
export const DEFAULT_EVENTS_STREAM = EVENTS_STREAM;
/** Pub/Sub channel the producers PUBLISH every event on; the bot bridges it into the log (DIGITS_EVENTS_CHANNEL overrides). */
export const DEFAULT_EVENTS_CHANNEL = EVENTS_CHANNEL;
/**
 * The log's retention, as the Python publisher applies it (EVENTS__STREAM_MAXLEN,
 * EVENTS__STREAM_MAX_AGE_S, read from the same environment; defaults and the trim interval are
 * the Python settings', checked by test/channel_bridge.test.ts): the bridge trims as they do.
 */
export const DEFAULT_STREAM_MAXLEN = 100_000;
export const DEFAULT_STREAM_MAX_AGE_S = 7 * 24 * 60 * 60;
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
export const DEFAULT_BOT_GROUP = "digits-bot";
/**
 * A bot owns a job (is the one that edits its message) while it holds the job's lease; the lease
 * lasts this long and is renewed at a third of it (DIGITS_BOT_LEASE_MS overrides). A job of a bot
 * that died is taken over by another bot within this time.
 */
export const DEFAULT_LEASE_MS = 15_000;
/** Log entries delivered to a bot that died are claimed by another after this idle time (DIGITS_BOT_CLAIM_MS). */
export const DEFAULT_CLAIM_IDLE_MS = 30_000;
/** A running job with no event for this long says so in its message (DIGITS_SILENT_AFTER_S overrides). */
export const DEFAULT_SILENT_AFTER_S = 120;
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
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** Discord's REST API; tests point DISCORD_API_URL at a local server. */
export const DEFAULT_DISCORD_API_URL = "https://discord.com/api";

/** At most one edit per message per this many milliseconds (DIGITS_EDIT_INTERVAL_MS overrides). */
export const DEFAULT_EDIT_INTERVAL_MS = 1500;

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
export const DEFAULT_DISCORD_MAX_RPS = 50;
/** Discord's per-channel message limit: this many requests per window, per channel. */
export const DISCORD_CHANNEL_BURST = 5;
export const DISCORD_CHANNEL_WINDOW_MS = 5000;
/** Added to every rate window, as the REST client's own offset, to absorb clock and network jitter. */
export const RATE_SAFETY_MS = 50;
/** On SIGTERM/SIGINT, newest pending states are sent for at most this long (DIGITS_SHUTDOWN_TIMEOUT_MS). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

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
  DISCORD_TOKEN             bot token (required unless --dry-run)
  REDIS_URL                 default ${DEFAULT_REDIS_URL}
  DIGITS_EVENTS_STREAM      event log (Redis Stream) to read, default ${DEFAULT_EVENTS_STREAM}
  DIGITS_EVENTS_CHANNEL     Pub/Sub channel whose messages not already in the log are appended
                            to it (producers that only PUBLISH), default ${DEFAULT_EVENTS_CHANNEL}
  EVENTS__STREAM_MAXLEN     the log's length, trimmed approximately (as the workers do), default ${DEFAULT_STREAM_MAXLEN}
  EVENTS__STREAM_MAX_AGE_S  the log's age limit in seconds (as the workers do), default ${DEFAULT_STREAM_MAX_AGE_S}
  DIGITS_BOT_GROUP          consumer group shared by the bots that split the work, default ${DEFAULT_BOT_GROUP}
                            (also namespaces the bot's keys: digits:bot:<group>:...); a --dry-run
                            uses <group>-dry-run-<pid>, deleted at exit
  DIGITS_BOT_CONSUMER       this bot's name in the group, default <hostname>-<pid>-<random>; unique per bot
  DIGITS_BOT_LEASE_MS       a dead bot's jobs are taken over after this long, default ${DEFAULT_LEASE_MS}
  DIGITS_BOT_CLAIM_MS       a dead bot's unacknowledged entries are claimed after this idle time, default ${DEFAULT_CLAIM_IDLE_MS}
  DIGITS_SILENT_AFTER_S     a running job silent this long says so, default ${DEFAULT_SILENT_AFTER_S}
  DIGITS_NOTIFY_CHANNEL_ID  post in this channel instead of a DM to each job's user
                            (and the fallback for users whose DMs are closed)
  DIGITS_EDIT_INTERVAL_MS   minimum time between edits of one message, default ${DEFAULT_EDIT_INTERVAL_MS}
  DIGITS_NOTIFY_AT_END      true|false: reply mentioning the requester when a job ends, default true
  DIGITS_DISCORD_MAX_RPS    requests per second for the whole bot, default ${DEFAULT_DISCORD_MAX_RPS}
  DIGITS_SHUTDOWN_TIMEOUT_MS  time to send pending states on SIGTERM/SIGINT, default ${DEFAULT_SHUTDOWN_TIMEOUT_MS}
  DISCORD_API_URL           default ${DEFAULT_DISCORD_API_URL}
${INTERACTIONS_USAGE}
${PREDICT_USAGE}`;

export type ConfigResult =
  { readonly kind: "run"; readonly config: BotConfig } | { readonly kind: "help" } | { readonly kind: "error"; readonly message: string };

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value.trim() === "" ? null : value.trim();
}

/** A whole number setting at least `min`, or the error text naming the variable and the fix. */
function wholeNumber(env: Env, name: string, fallback: number, min: number): number | string {
  const text = nonEmpty(env[name]);
  const value = text === null ? fallback : Number(text);
  if (!Number.isSafeInteger(value) || value < min) return `${name} must be a whole number >= ${min}, got ${JSON.stringify(text)}`;
  return value;
}

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
  const discordToken = nonEmpty(env.DISCORD_TOKEN);
  if (!dryRun && discordToken === null) {
    return { kind: "error", message: "DISCORD_TOKEN is not set (use --dry-run to print updates instead)" };
  }
  const notifyChannelId = nonEmpty(env.DIGITS_NOTIFY_CHANNEL_ID);
  if (notifyChannelId !== null && !/^[0-9]{1,20}$/.test(notifyChannelId)) {
    return { kind: "error", message: `DIGITS_NOTIFY_CHANNEL_ID must be a Discord id (digits), got ${JSON.stringify(notifyChannelId)}` };
  }
  const intervalText = nonEmpty(env.DIGITS_EDIT_INTERVAL_MS);
  const editIntervalMs = intervalText === null ? DEFAULT_EDIT_INTERVAL_MS : Number(intervalText);
  if (!Number.isSafeInteger(editIntervalMs) || editIntervalMs < 0) {
    return {
      kind: "error",
      message: `DIGITS_EDIT_INTERVAL_MS must be a whole number of milliseconds, got ${JSON.stringify(intervalText)}`,
    };
  }
  const notifyText = nonEmpty(env.DIGITS_NOTIFY_AT_END)?.toLowerCase() ?? "true";
  if (notifyText !== "true" && notifyText !== "false") {
    return { kind: "error", message: `DIGITS_NOTIFY_AT_END must be true or false, got ${JSON.stringify(notifyText)}` };
  }
  const rps = wholeNumber(env, "DIGITS_DISCORD_MAX_RPS", DEFAULT_DISCORD_MAX_RPS, 1);
  if (typeof rps === "string") return { kind: "error", message: rps };
  const shutdownTimeoutMs = wholeNumber(env, "DIGITS_SHUTDOWN_TIMEOUT_MS", DEFAULT_SHUTDOWN_TIMEOUT_MS, 0);
  if (typeof shutdownTimeoutMs === "string") return { kind: "error", message: shutdownTimeoutMs };
  const leaseMs = wholeNumber(env, "DIGITS_BOT_LEASE_MS", DEFAULT_LEASE_MS, 300);
  if (typeof leaseMs === "string") return { kind: "error", message: leaseMs };
  const claimIdleMs = wholeNumber(env, "DIGITS_BOT_CLAIM_MS", DEFAULT_CLAIM_IDLE_MS, 100);
  if (typeof claimIdleMs === "string") return { kind: "error", message: claimIdleMs };
  const silentAfterS = wholeNumber(env, "DIGITS_SILENT_AFTER_S", DEFAULT_SILENT_AFTER_S, 1);
  if (typeof silentAfterS === "string") return { kind: "error", message: silentAfterS };
  // The same bounds as the Python settings (settings.py, EventsSettings).
  const streamMaxlen = wholeNumber(env, "EVENTS__STREAM_MAXLEN", DEFAULT_STREAM_MAXLEN, 1000);
  if (typeof streamMaxlen === "string") return { kind: "error", message: streamMaxlen };
  const streamMaxAgeS = wholeNumber(env, "EVENTS__STREAM_MAX_AGE_S", DEFAULT_STREAM_MAX_AGE_S, 60);
  if (typeof streamMaxAgeS === "string") return { kind: "error", message: streamMaxAgeS };
  const groupText = nonEmpty(env.DIGITS_BOT_GROUP);
  if (groupText !== null && !/^[A-Za-z0-9._-]{1,64}$/.test(groupText)) {
    return { kind: "error", message: `DIGITS_BOT_GROUP must be 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(groupText)}` };
  }
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
      discordToken,
      discordApiUrl: nonEmpty(env.DISCORD_API_URL) ?? DEFAULT_DISCORD_API_URL,
      redisUrl: nonEmpty(env.REDIS_URL) ?? DEFAULT_REDIS_URL,
      eventsStream: nonEmpty(env.DIGITS_EVENTS_STREAM) ?? DEFAULT_EVENTS_STREAM,
      eventsChannel: nonEmpty(env.DIGITS_EVENTS_CHANNEL) ?? DEFAULT_EVENTS_CHANNEL,
      streamMaxlen,
      streamMaxAgeS,
      group,
      throwawayGroup: dryRun,
      consumer: nonEmpty(env.DIGITS_BOT_CONSUMER) ?? defaultConsumer(),
      leaseMs,
      claimIdleMs,
      silentAfterS,
      notifyChannelId,
      editIntervalMs,
      notifyAtEnd: notifyText === "true",
      discordMaxRps: rps,
      shutdownTimeoutMs,
      interactions: interactions.kind === "on" && !dryRun ? interactions.settings : null,
    },
  };
}
