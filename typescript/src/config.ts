// Every tunable fact of the bot lives here: channel and key names, Discord limits, throttle,
// and how the command line and environment turn into a BotConfig.

/** Redis pub/sub channel the trainer publishes events on (DIGITS_EVENTS_CHANNEL overrides). */
export const DEFAULT_EVENTS_CHANNEL = "digits:events";
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

/** Redis key of the Discord message that shows one job: prefix + request_id. */
export const MESSAGE_KEY_PREFIX = "digits:bot:message:";
/** A job's message id is forgotten this long after its last update (seconds). */
export const MESSAGE_KEY_TTL_S = 7 * 24 * 60 * 60;

/** Jobs kept in memory; the least recently updated are forgotten first. */
export const MAX_TRACKED_JOBS = 10_000;
/** Finished-epoch lines kept per job (the message shows fewer; this only bounds memory). */
export const MAX_EPOCH_LINES = 200;
/** Attempts for one update that fails for a reason other than a rate limit or a lost message. */
export const MAX_SEND_ATTEMPTS = 3;

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

/** Invalid input is logged shortened to this many characters. */
export const LOG_SNIPPET_CHARS = 200;

export interface BotConfig {
  readonly dryRun: boolean;
  readonly discordToken: string | null;
  readonly discordApiUrl: string;
  readonly redisUrl: string;
  readonly eventsChannel: string;
  /** Post every job in this channel instead of a DM to the job's user. */
  readonly notifyChannelId: string | null;
  readonly editIntervalMs: number;
}

export const USAGE = `Usage: npm start [-- --dry-run] [-- --help]

Shows digits training events from Redis as one Discord message per job, edited in place.

Options:
  --dry-run   print each rendered update instead of sending it (no DISCORD_TOKEN needed)
  --help      show this help

Environment:
  DISCORD_TOKEN             bot token (required unless --dry-run)
  REDIS_URL                 default ${DEFAULT_REDIS_URL}
  DIGITS_EVENTS_CHANNEL     default ${DEFAULT_EVENTS_CHANNEL}
  DIGITS_NOTIFY_CHANNEL_ID  post in this channel instead of a DM to each job's user
  DIGITS_EDIT_INTERVAL_MS   minimum time between edits of one message, default ${DEFAULT_EDIT_INTERVAL_MS}
  DISCORD_API_URL           default ${DEFAULT_DISCORD_API_URL}`;

export type ConfigResult =
  | { readonly kind: "run"; readonly config: BotConfig }
  | { readonly kind: "help" }
  | { readonly kind: "error"; readonly message: string };

type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value.trim() === "" ? null : value.trim();
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
    return { kind: "error", message: `DIGITS_EDIT_INTERVAL_MS must be a whole number of milliseconds, got ${JSON.stringify(intervalText)}` };
  }
  return {
    kind: "run",
    config: {
      dryRun,
      discordToken,
      discordApiUrl: nonEmpty(env.DISCORD_API_URL) ?? DEFAULT_DISCORD_API_URL,
      redisUrl: nonEmpty(env.REDIS_URL) ?? DEFAULT_REDIS_URL,
      eventsChannel: nonEmpty(env.DIGITS_EVENTS_CHANNEL) ?? DEFAULT_EVENTS_CHANNEL,
      notifyChannelId,
      editIntervalMs,
    },
  };
}
