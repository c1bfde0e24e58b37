// Logs invalid log entries without letting a flood fill the disk: the first few in full, then
// only counts per reason, at most once per interval.

import { INVALID_LOGGED_IN_FULL, INVALID_SUMMARY_MS } from "./config.ts";
import { snippet, type Logger } from "./log.ts";

export class InvalidLog {
  private seen = 0;
  private readonly unreported = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly inFull: number = INVALID_LOGGED_IN_FULL,
    private readonly intervalMs: number = INVALID_SUMMARY_MS,
  ) {}

  record(reason: string, text: string): void {
    this.seen += 1;
    if (this.seen <= this.inFull) {
      const more = this.seen === this.inFull ? " (further invalid entries are counted, not shown)" : "";
      this.logger.warn(`invalid event #${this.seen} (${reason}): ${snippet(text)}${more}`);
      return;
    }
    this.unreported.set(reason, (this.unreported.get(reason) ?? 0) + 1);
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
    const counts = [...this.unreported].map(([reason, count]) => `${count} × ${reason}`).join("; ");
    this.unreported.clear();
    this.logger.warn(`invalid events since the last report: ${counts} (${this.seen} in all)`);
  }
}
