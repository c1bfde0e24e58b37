// Refused requests to the interactions endpoint (bad signature, stale timestamp) are counted, not
// logged one by one: anyone can post junk to a public endpoint, and behind a proxy every request
// comes from 127.0.0.1, so the address says nothing and cannot be a key. The first refusal of a
// quiet spell is logged at once; the rest are summed up at most once per interval.

import type { Logger } from "../shared/log.ts";
import type { Verdict } from "./verify.ts";

export type Refusal = Exclude<Verdict, "ok">;

/** At most one summary of refusals per this many milliseconds. */
export const REFUSAL_SUMMARY_MS = 60_000;

export class RefusalLog {
  private readonly counts = new Map<Refusal, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number = REFUSAL_SUMMARY_MS,
  ) {}

  record(refusal: Refusal): void {
    if (this.timer === null) {
      const seconds = Math.round(this.intervalMs / 1000);
      this.logger.warn(`interactions: refused a request (${refusal}); more refusals are counted and reported at most every ${seconds} s`);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.intervalMs);
      this.timer.unref();
      return;
    }
    this.counts.set(refusal, (this.counts.get(refusal) ?? 0) + 1);
  }

  /** Logs the refusals not yet reported (also called when the endpoint stops). */
  flush(): void {
    if (this.counts.size === 0) return;
    const total = [...this.counts.values()].reduce((sum, count) => sum + count, 0);
    const parts = [...this.counts].map(([refusal, count]) => `${count} × ${refusal}`).join("; ");
    this.counts.clear();
    this.logger.warn(`interactions: refused ${total} more request(s): ${parts}`);
  }

  /** Reports what is counted and stops the timer. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
  }
}
