// One gate for every request the bot makes to Discord: keeps the whole bot under the global limit
// and each channel under its own, and hands out turns fairly (a terminal state first, then an end
// notification, then whoever has waited longest), so that many jobs share the budget instead of
// racing for it; Discord's own 429s hold it (holdUntil: global; holdChannel: a route's).

import { DEFAULT_DISCORD_MAX_RPS, DISCORD_CHANNEL_BURST, DISCORD_CHANNEL_WINDOW_MS, RATE_SAFETY_MS } from "../shared/limits.ts";

export interface SchedulerOptions {
  /** Requests per second for the whole bot. */
  readonly maxRps?: number;
  /** Per channel: at most `channelBurst` requests per `channelWindowMs`. */
  readonly channelBurst?: number;
  readonly channelWindowMs?: number;
  readonly safetyMs?: number;
}

/** Turn order, highest first: a job's final state (and /train's Queued message), its end notification, progress. */
export const PRIORITY = { final: 2, notification: 1, progress: 0 } as const;

interface Waiter {
  readonly channel: string;
  readonly urgent: () => number | boolean;
  readonly seq: number;
  readonly resolve: () => void;
}

/** Channel entries older than this are dropped (they no longer hold anyone back). */
const MAX_CHANNELS = 10_000;

export class RequestScheduler {
  /** Time between two requests of the whole bot. */
  readonly spacingMs: number;
  private readonly channelSpacingMs: number;
  private nextAt = Number.NEGATIVE_INFINITY;
  private readonly channelNextAt = new Map<string, number>();
  private waiters: Waiter[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Requests granted so far (bench and tests). */
  granted = 0;

  constructor(options: SchedulerOptions = {}) {
    const safety = options.safetyMs ?? RATE_SAFETY_MS;
    this.spacingMs = (1000 + safety) / (options.maxRps ?? DEFAULT_DISCORD_MAX_RPS);
    this.channelSpacingMs =
      ((options.channelWindowMs ?? DISCORD_CHANNEL_WINDOW_MS) + safety) / (options.channelBurst ?? DISCORD_CHANNEL_BURST);
  }

  /** Waiting for a turn. */
  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Resolves when a request to `channel` may start. `urgent` (a PRIORITY; true counts as 1) is
   * asked at each turn, so a waiter whose job turned terminal meanwhile moves ahead of the others.
   */
  acquire(channel: string, urgent: () => number | boolean): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ channel, urgent, seq: this.seq++, resolve });
      this.pump();
    });
  }

  /** Nobody is let through before `at` (a global 429). */
  holdUntil(at: number): void {
    this.nextAt = Math.max(this.nextAt, at);
    this.pump();
  }

  /** Nothing goes to `channel` before `at` (a 429 of its route, per user or shared); other channels go on. */
  holdChannel(channel: string, at: number): void {
    this.channelNextAt.set(channel, Math.max(this.channelNextAt.get(channel) ?? Number.NEGATIVE_INFINITY, at));
    this.pump();
  }

  private pump(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    for (;;) {
      const now = Date.now();
      if (this.waiters.length === 0) return;
      let wake = this.nextAt;
      let best: Waiter | null = null;
      let bestUrgent = -1;
      let earliestChannel = Number.POSITIVE_INFINITY;
      for (const waiter of this.waiters) {
        const channelAt = this.channelNextAt.get(waiter.channel) ?? Number.NEGATIVE_INFINITY;
        if (channelAt >= now + 1) {
          earliestChannel = Math.min(earliestChannel, channelAt);
          continue;
        }
        const urgent = Number(waiter.urgent());
        if (best === null || urgent > bestUrgent || (urgent === bestUrgent && waiter.seq < best.seq)) {
          best = waiter;
          bestUrgent = urgent;
        }
      }
      if (best === null) wake = Math.max(wake, earliestChannel);
      // Turns are spaced evenly; a remainder under a millisecond (timers' resolution) is let through.
      if (best === null || this.nextAt >= now + 1) {
        this.timer = setTimeout(
          () => {
            this.timer = null;
            this.pump();
          },
          Math.max(1, Math.ceil(wake - now)),
        );
        return;
      }
      this.waiters = this.waiters.filter((waiter) => waiter !== best);
      this.nextAt = Math.max(this.nextAt, now) + this.spacingMs;
      if (this.channelNextAt.size >= MAX_CHANNELS) this.forgetPast(now);
      const channelAt = this.channelNextAt.get(best.channel) ?? Number.NEGATIVE_INFINITY;
      this.channelNextAt.set(best.channel, Math.max(channelAt, now) + this.channelSpacingMs);
      this.granted += 1;
      best.resolve();
    }
  }

  private forgetPast(now: number): void {
    for (const [channel, at] of this.channelNextAt) if (at <= now) this.channelNextAt.delete(channel);
  }
}
