// Logs invalid log entries without letting a flood fill the disk: the first few in full, then
// counts per fixed category (never per reason: a reason quotes the entry, so junk would make one
// key per entry and one huge line), each with one shortened example, at most once per interval.

import { INVALID_LOGGED_IN_FULL, INVALID_SUMMARY_MS } from "../shared/limits.ts";
import { snippet, type Logger } from "../shared/log.ts";

/** What is wrong with an entry, from a fixed list: the keys of the summary. */
export type InvalidCategory = "no event field" | "too large" | "not UTF-8" | "not JSON" | "unknown or missing type" | "fails its schema";

/** The category of a decode failure's reason (events/decode.ts writes these prefixes). */
export function categoryOf(reason: string): InvalidCategory {
  if (reason.startsWith("message larger than")) return "too large";
  if (reason === "not UTF-8") return "not UTF-8";
  if (reason.startsWith("not JSON")) return "not JSON";
  if (reason.startsWith("type: ")) return "unknown or missing type";
  return "fails its schema";
}

/** Characters of a summary's example: with at most six categories the line stays short. */
const EXAMPLE_CHARS = 80;

export class InvalidLog {
  private seen = 0;
  private readonly unreported = new Map<InvalidCategory, { count: number; example: string }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly inFull: number = INVALID_LOGGED_IN_FULL,
    private readonly intervalMs: number = INVALID_SUMMARY_MS,
  ) {}

  record(category: InvalidCategory, reason: string, text: string): void {
    this.seen += 1;
    if (this.seen <= this.inFull) {
      const more = this.seen === this.inFull ? " (further invalid entries are counted, not shown)" : "";
      this.logger.warn(`invalid event #${this.seen} (${snippet(reason)}): ${snippet(text)}${more}`);
      return;
    }
    const counted = this.unreported.get(category);
    if (counted === undefined) this.unreported.set(category, { count: 1, example: reason });
    else counted.count += 1;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Logs the counts not yet reported (also called at shutdown). */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.unreported.size === 0) return;
    const counts = [...this.unreported]
      .map(([category, { count, example }]) => `${count} × ${category} (e.g. ${snippet(example, EXAMPLE_CHARS)})`)
      .join("; ");
    this.unreported.clear();
    this.logger.warn(`invalid events since the last report: ${counts} (${this.seen} in all)`);
  }
}
