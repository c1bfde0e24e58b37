// A logger that keeps what it is told, as "info …" and "warn …" lines, for tests that check what
// the bot logs.

import type { Logger } from "../../src/shared/log.ts";

export function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: { info: (line) => lines.push(`info ${line}`), warn: (line) => lines.push(`warn ${line}`) } };
}
