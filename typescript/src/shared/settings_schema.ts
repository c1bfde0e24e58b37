// Every environment variable the bot reads, once: name, default, bounds and a one-line description.
// app/config.ts, interactions/settings.ts and interactions/predict_settings.ts read them through these
// shapes (settings_kinds.ts), `--help` lists them and deploy/digits.env.example is written from
// them (`npm run env-example`; test/shared/settings_schema.test.ts fails when either differs).

import { EVENTS_CHANNEL, EVENTS_STREAM, REQUESTS_STREAM } from "../generated/names.ts";
import { describe, flag, helpText, ids, optionalText, origin, requiredText, SNOWFLAKE, text, whole, type Shape } from "./settings_kinds.ts";

/** Consumer group of the bots that share the work (DIGITS_BOT_GROUP overrides). */
export const DEFAULT_BOT_GROUP = "digits-bot";

/** The main loop's settings (app/config.ts), in the order they are checked. */
export const BOT_SETTINGS = {
  DISCORD_TOKEN: optionalText({ help: "bot token (required unless --dry-run)", secret: true }),
  REDIS_URL: text({ help: "where Redis is (may hold a password: never logged as is)", default: "redis://127.0.0.1:6379", shared: true }),
  DIGITS_EVENTS_STREAM: text({ help: "event log (Redis Stream) to read", default: EVENTS_STREAM, shared: true }),
  DIGITS_EVENTS_CHANNEL: text({
    help: "Pub/Sub channel whose messages not already in the log are appended to it (producers that only PUBLISH)",
    default: EVENTS_CHANNEL,
    shared: true,
  }),
  DIGITS_NOTIFY_CHANNEL_ID: optionalText(
    { help: "post in this channel instead of a DM to each job's user (and the fallback for users whose DMs are closed)" },
    SNOWFLAKE,
    "a Discord id (digits)",
  ),
  DIGITS_EDIT_INTERVAL_MS: whole({ help: "minimum time between edits of one message", default: "1500" }, 0),
  DIGITS_NOTIFY_AT_END: flag({ help: "true|false: reply mentioning the requester when a job ends", default: "true" }),
  DIGITS_DISCORD_MAX_RPS: whole({ help: "requests per second for the whole bot", default: "50" }, 1),
  DIGITS_SHUTDOWN_TIMEOUT_MS: whole({ help: "time to send pending states on SIGTERM/SIGINT", default: "10000" }, 0),
  DIGITS_BOT_LEASE_MS: whole({ help: "a dead bot's jobs are taken over after this long", default: "15000" }, 300),
  DIGITS_BOT_CLAIM_MS: whole({ help: "a dead bot's unacknowledged entries are claimed after this idle time", default: "30000" }, 100),
  DIGITS_SILENT_AFTER_S: whole({ help: "a running job silent this long says so", default: "120" }, 1),
  // The same bounds as the Python settings (settings.py, EventsSettings).
  EVENTS__STREAM_MAXLEN: whole(
    { help: "the log's length, trimmed approximately (as the workers do)", default: "100000", shared: true },
    1000,
  ),
  EVENTS__STREAM_MAX_AGE_S: whole({ help: "the log's age limit in seconds (as the workers do)", default: "604800", shared: true }, 60),
  DIGITS_BOT_GROUP: optionalText(
    {
      help: "consumer group shared by the bots that split the work (also namespaces the bot's keys: digits:bot:<group>:...); a --dry-run uses <group>-dry-run-<pid>, deleted at exit",
      default: DEFAULT_BOT_GROUP,
    },
    /^[A-Za-z0-9._-]{1,64}$/,
    "1-64 letters, digits, '.', '_' or '-'",
  ),
  DIGITS_BOT_CONSUMER: optionalText({ help: "this bot's name in the group, default <hostname>-<pid>-<random>; unique per bot process" }),
  DISCORD_API_URL: text({ help: "Discord's REST API", default: "https://discord.com/api" }),
} satisfies Shape;

/** The interactions endpoint's (/train, /predict, /jobs, Cancel), read when DISCORD_PUBLIC_KEY is set. */
export const INTERACTION_SETTINGS = {
  DISCORD_PUBLIC_KEY: requiredText(
    { help: "the application's public key (64 hex digits; Developer Portal, General Information); turns the endpoint on", secret: true },
    /^[0-9a-fA-F]{64}$/,
    "the 64 hex digits of the application's public key (Developer Portal, General Information)",
  ),
  DISCORD_APPLICATION_ID: requiredText(
    { help: "the application's id (digits); required with the public key" },
    SNOWFLAKE,
    "the application's id (digits) when DISCORD_PUBLIC_KEY is set",
  ),
  DIGITS_INTERACTIONS_HOST: text({ help: "where the endpoint listens", default: "127.0.0.1" }),
  DIGITS_INTERACTIONS_PORT: whole({ help: "its port; Discord posts to /interactions", default: "8787" }, 0, 65535),
  DIGITS_INTERACTION_MAX_AGE_S: whole({ help: "signed requests further than this from now are refused", default: "300" }, 1, 3600),
  DIGITS_REQUESTS_STREAM: text({ help: "where /train and Cancel go for the intake", default: REQUESTS_STREAM, shared: true }),
  DIGITS_MAX_JOBS_PER_USER: whole({ help: "jobs queued or running per user", default: "2" }, 1, 1000),
  DIGITS_MAX_JOBS_TOTAL: whole({ help: "jobs queued or running in all", default: "20" }, 1, 100_000),
  DIGITS_ACTIVE_JOB_TTL_S: whole(
    { help: "a job stops counting after this long even if its end is never seen", default: String(6 * 60 * 60) },
    60,
    30 * 24 * 3600,
  ),
  DIGITS_ADMIN_USER_IDS: ids({ help: "comma-separated user ids who may cancel anyone's job" }),
  DIGITS_ALLOWED_GUILD_IDS: ids({ help: "comma-separated guild ids where /train works (default: all)" }),
  DIGITS_ALLOWED_CHANNEL_IDS: ids({ help: "comma-separated channel ids where /train works (default: all)" }),
} satisfies Shape;

/** /predict's, read when the endpoint starts. */
export const PREDICT_SETTINGS = {
  DIGITS_ATTACHMENT_ORIGIN: origin({
    help: "/predict: the only origin pictures are fetched from (Discord's CDN)",
    default: "https://cdn.discordapp.com",
  }),
  DIGITS_PREDICT_TIMEOUT_S: whole({ help: "/predict: seconds the bot waits for a prediction worker's answer", default: "15" }, 1, 600),
  DIGITS_PREDICTS_PER_MINUTE: whole({ help: "/predict: requests per user per minute", default: "6" }, 1, 100_000),
} satisfies Shape;

/** `npm run register-commands`'s (scripts/register_commands.ts): a tool an operator runs, not a service setting. */
export const REGISTER_SETTINGS = {
  DISCORD_TOKEN: requiredText({ help: "bot token (required)", secret: true }, /./, "set to the bot token"),
  DISCORD_APPLICATION_ID: requiredText({ help: "the application's id (required)" }, SNOWFLAKE, "the application's id (digits)"),
  DISCORD_GUILD_ID: optionalText(
    { help: "register in this guild only (applies at once; without it: every guild)" },
    SNOWFLAKE,
    "a guild id (digits)",
  ),
  DISCORD_API_URL: BOT_SETTINGS.DISCORD_API_URL,
} satisfies Shape;

/** Each group of settings with the lines the example file puts above it. */
const GROUPS: readonly (readonly [Shape, readonly string[]])[] = [
  [BOT_SETTINGS, []],
  [
    INTERACTION_SETTINGS,
    [
      "Interactions endpoint (/train, /predict, /jobs and the Cancel button); off unless DISCORD_PUBLIC_KEY is set.",
      "Put a TLS reverse proxy in front: Discord posts to https://<your host>/interactions.",
    ],
  ],
  [PREDICT_SETTINGS, []],
];

const NAME_WIDTH = 26;

/** The Environment section of --help: one line per setting (two where the name is long). */
export function environmentHelp(shapes: readonly Shape[] = GROUPS.map(([shape]) => shape)): string {
  return shapes
    .flatMap((shape) => describe(shape))
    .map(([name, doc]) => `  ${name.padEnd(NAME_WIDTH)}${name.length >= NAME_WIDTH ? `\n  ${" ".repeat(NAME_WIDTH)}` : ""}${helpText(doc)}`)
    .join("\n");
}

/** The title of the bot's part of deploy/digits.env.example; everything from it on is `exampleSection()`. */
export const EXAMPLE_TITLE = "## Discord bot (TypeScript)";

const WIDTH = 100;

/** `text` as comment lines of at most WIDTH characters (a longer word stands alone). */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = "#";
  for (const word of text.split(" ")) {
    if (line !== "#" && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = "#";
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/** The bot's part of deploy/digits.env.example. */
export function exampleSection(): string {
  const lines = [EXAMPLE_TITLE];
  for (const [shape, notes] of GROUPS) {
    lines.push(...notes.flatMap(comment));
    for (const [name, doc] of describe(shape)) {
      if (doc.shared === true) lines.push(...comment(`${name} (above) is read by the bot too: ${helpText(doc)}`));
      else lines.push(...comment(doc.help), `#${name}=${doc.secret === true ? "" : (doc.default ?? "")}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
