// The bot's fixed numbers, once: Discord's limits and error codes, retry and rate timing, Redis
// key lifetimes, read sizes, and the defaults that the parts below app/ fall back to (those an
// operator can change are read from the settings schema, settings_schema.ts, which app/config.ts
// parses the environment with).

import { BOT_SETTINGS as S } from "./settings_schema.ts";

/** The bridge trims the log (to EVENTS__STREAM_MAXLEN and EVENTS__STREAM_MAX_AGE_S) at most this often, as the Python publisher does. */
export const STREAM_TRIM_EVERY_MS = 10_000;
/**
 * A channel message is appended to the log at most once in this many seconds, by whichever bot
 * claims its text first; producers that log an event themselves mark its text for as long
 * (SEEN_TTL_S in events/publishers.py; test/events/channel_bridge.test.ts checks both).
 */
export const CHANNEL_SEEN_TTL_S = 120;
/** Channel messages waiting to be appended at most; beyond it new ones are dropped (counted). */
export const MAX_BRIDGE_QUEUE = 10_000;
/** Appending one channel message is tried this often, with backoff, before it is dropped (logged). */
export const BRIDGE_ATTEMPTS = 5;
/**
 * A bot owns a job (is the one that edits its message) while it holds the job's lease; the lease
 * lasts this long and is renewed at a third of it (DIGITS_BOT_LEASE_MS overrides). A job of a bot
 * that died is taken over by another bot within this time.
 */
export const DEFAULT_LEASE_MS = S.DIGITS_BOT_LEASE_MS.parse(undefined);
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
