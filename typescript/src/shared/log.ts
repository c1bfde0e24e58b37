// A tiny logger interface so tests can capture what the bot says.

import { LOG_SNIPPET_CHARS } from "./limits.ts";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** One line per message on `stream`: the time, the level and the message. */
export function streamLogger(stream: { write(text: string): unknown }): Logger {
  return {
    info: (message) => {
      stream.write(`${new Date().toISOString()} info ${message}\n`);
    },
    warn: (message) => {
      stream.write(`${new Date().toISOString()} warn ${message}\n`);
    },
  };
}

export const stderrLogger: Logger = streamLogger(process.stderr);

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };

/** Shortens untrusted text for a log line; JSON quoting makes control characters visible. */
export function snippet(text: string, max: number = LOG_SNIPPET_CHARS): string {
  const cut = text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
  return JSON.stringify(cut);
}

/** A Redis URL fit for a log line: the password (in the user info or `?password=`) replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    for (const name of [...parsed.searchParams.keys()]) {
      if (name.toLowerCase() === "password") parsed.searchParams.set(name, "***");
    }
    return parsed.toString();
  } catch {
    return "<unparsable REDIS_URL>";
  }
}
