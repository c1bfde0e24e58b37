// Sends one Discord message per job and edits it in place: throttled per message, coalescing
// to the newest state, resilient to rate limits and deleted messages.

import { DEFAULT_EDIT_INTERVAL_MS, MAX_SEND_ATTEMPTS, MAX_TRACKED_JOBS } from "./config.ts";
import { DeliveryError, type DiscordPort, type MessageRef } from "./discord_port.ts";
import type { Logger } from "./log.ts";
import type { MessageStore } from "./message_store.ts";
import type { RenderedMessage } from "./render.ts";

/** Where a job's message goes: a DM to its user, or one configured channel. */
export type Target = { readonly kind: "dm"; readonly userId: bigint } | { readonly kind: "channel"; readonly channelId: string };

export interface DeliveryOptions {
  readonly port: DiscordPort;
  readonly store: MessageStore;
  readonly logger: Logger;
  readonly editIntervalMs?: number;
  readonly maxJobs?: number;
}

interface Update {
  readonly message: RenderedMessage;
  readonly terminal: boolean;
  readonly attempts: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The message of one job. At most one request to Discord is in flight for it at a time. */
class JobMessage {
  private pending: Update | null = null;
  private ref: MessageRef | null = null;
  private refLoaded = false;
  private inFlight = false;
  private timer: NodeJS.Timeout | null = null;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private blockedUntil = Number.NEGATIVE_INFINITY;
  /** The terminal state has been delivered; nothing more will be sent. */
  finished = false;

  constructor(
    private readonly requestId: string,
    private readonly target: Target,
    private readonly owner: Delivery,
  ) {}

  get idle(): boolean {
    return !this.inFlight && this.pending === null && this.timer === null;
  }

  update(message: RenderedMessage, terminal: boolean): void {
    if (this.finished) return;
    // Replacing, not queueing: states in between are never sent.
    this.pending = { message, terminal, attempts: 0 };
    this.pump();
  }

  private pump(): void {
    if (this.inFlight) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const update = this.pending;
    if (update === null) {
      this.owner.jobIdle(this.requestId, this);
      return;
    }
    // A terminal state skips the edit interval but still honours a rate limit.
    const throttledUntil = update.terminal ? this.blockedUntil : Math.max(this.lastSentAt + this.owner.editIntervalMs, this.blockedUntil);
    const wait = throttledUntil - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    this.pending = null;
    this.inFlight = true;
    void this.send(update).finally(() => {
      this.inFlight = false;
      this.pump();
    });
  }

  private async send(update: Update): Promise<void> {
    try {
      await this.deliver(update.message);
      this.lastSentAt = Date.now();
      if (update.terminal) this.finished = true;
    } catch (error) {
      const now = Date.now();
      if (error instanceof DeliveryError && error.kind === "rate_limited") {
        this.blockedUntil = now + error.retryAfterMs;
        this.owner.logger.warn(`rate limited on request ${this.requestId}; retrying in ${error.retryAfterMs} ms`);
        // Retry with the newest state: this one unless a newer one arrived meanwhile.
        this.pending ??= update;
        return;
      }
      this.lastSentAt = now; // wait one interval before the next attempt
      const retry = this.pending === null && update.attempts + 1 < MAX_SEND_ATTEMPTS;
      this.owner.logger.warn(`sending update for request ${this.requestId} failed: ${describe(error)}${retry ? "; will retry" : ""}`);
      if (retry) this.pending = { ...update, attempts: update.attempts + 1 };
    }
  }

  private async deliver(message: RenderedMessage): Promise<void> {
    if (!this.refLoaded) {
      this.refLoaded = true;
      this.ref = await this.owner.loadRef(this.requestId);
    }
    if (this.ref !== null) {
      try {
        await this.owner.port.editMessage(this.ref, message);
        return;
      } catch (error) {
        const gone = error instanceof DeliveryError && (error.kind === "unknown_message" || error.kind === "unknown_channel");
        if (!gone) throw error;
        this.owner.logger.info(`message for request ${this.requestId} is gone; sending a new one`);
        this.ref = null;
        if (error.kind === "unknown_channel") this.owner.forgetDm(this.target);
      }
    }
    const channelId = await this.owner.channelFor(this.target);
    let messageId: string;
    try {
      messageId = await this.owner.port.createMessage(channelId, message);
    } catch (error) {
      // A DM channel we cached may have gone; open it again next time.
      if (error instanceof DeliveryError && error.kind === "unknown_channel") this.owner.forgetDm(this.target);
      throw error;
    }
    this.ref = { channelId, messageId };
    await this.owner.saveRef(this.requestId, this.ref);
  }
}

export class Delivery {
  readonly port: DiscordPort;
  readonly logger: Logger;
  readonly editIntervalMs: number;
  private readonly store: MessageStore;
  private readonly maxJobs: number;
  private readonly jobs = new Map<string, JobMessage>();
  private readonly dmChannels = new Map<bigint, string>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: DeliveryOptions) {
    this.port = options.port;
    this.store = options.store;
    this.logger = options.logger;
    this.editIntervalMs = options.editIntervalMs ?? DEFAULT_EDIT_INTERVAL_MS;
    this.maxJobs = options.maxJobs ?? MAX_TRACKED_JOBS;
  }

  /** Shows `message` as the newest state of the job; returns at once. */
  publish(requestId: string, target: Target, message: RenderedMessage, terminal: boolean): void {
    let job = this.jobs.get(requestId);
    if (job === undefined) {
      job = new JobMessage(requestId, target, this);
      this.jobs.set(requestId, job);
      this.evictIdle();
    }
    job.update(message, terminal);
  }

  /** Jobs with a message still being sent or waiting for its next edit. */
  get busyJobs(): number {
    let busy = 0;
    for (const job of this.jobs.values()) if (!job.idle) busy += 1;
    return busy;
  }

  /** Resolves once nothing is in flight or waiting (tests, shutdown). */
  whenIdle(): Promise<void> {
    if (this.busyJobs === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** @internal called by a JobMessage that has nothing left to do. */
  jobIdle(requestId: string, job: JobMessage): void {
    if (job.finished && this.jobs.get(requestId) === job) this.jobs.delete(requestId);
    if (this.idleWaiters.length > 0 && this.busyJobs === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** @internal */
  async loadRef(requestId: string): Promise<MessageRef | null> {
    try {
      return await this.store.get(requestId);
    } catch (error) {
      this.logger.warn(`could not read the message id of request ${requestId}: ${describe(error)}`);
      return null;
    }
  }

  /** @internal */
  async saveRef(requestId: string, ref: MessageRef): Promise<void> {
    try {
      await this.store.set(requestId, ref);
    } catch (error) {
      this.logger.warn(`could not store the message id of request ${requestId}: ${describe(error)}`);
    }
  }

  /** @internal */
  async channelFor(target: Target): Promise<string> {
    if (target.kind === "channel") return target.channelId;
    const cached = this.dmChannels.get(target.userId);
    if (cached !== undefined) return cached;
    const channelId = await this.port.openDm(target.userId);
    if (this.dmChannels.size >= this.maxJobs) this.dmChannels.clear();
    this.dmChannels.set(target.userId, channelId);
    return channelId;
  }

  /** @internal */
  forgetDm(target: Target): void {
    if (target.kind === "dm") this.dmChannels.delete(target.userId);
  }

  /** Forgets idle jobs beyond the cap; their message ids stay in the store. */
  private evictIdle(): void {
    if (this.jobs.size <= this.maxJobs) return;
    for (const [requestId, job] of this.jobs) {
      if (this.jobs.size <= this.maxJobs) break;
      if (job.idle) this.jobs.delete(requestId);
    }
  }
}
