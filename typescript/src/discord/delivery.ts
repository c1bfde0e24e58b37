// Sends one Discord message per job and edits it in place: throttled per message and, through one
// RequestScheduler, for the whole bot; coalescing to the newest state; retrying transient failures
// with capped exponential backoff (a terminal state is never abandoned for one); continuing in a new
// message when the old one is gone or too old to edit; and telling the requester when a job ends.
// Fenced: before every request for a job it checks that this bot still holds the job's lease (the
// coordinator's Fence); once the lease is lost the job's pending state, retry timer and the answer
// of a request in flight are dropped, never acted upon. The edit interval holds across writers: a
// job's message found in the store is first edited a whole interval after it was found, and at
// shutdown (flush) a progress state the interval would hold back past the deadline is left to the
// next owner, which shows it from the store.

import { actionFor, type Action, type RequestKind } from "./discord_answers.ts";
import { DEFAULT_EDIT_INTERVAL_MS, MAX_TRACKED_JOBS, RATE_LIMIT_FLOOR_MS, RETRY_CAP_MS } from "../shared/limits.ts";
import {
  CHART_FILE_NAME,
  DeliveryError,
  showsFinal,
  showsSent,
  type CreatedMessage,
  type DiscordPort,
  type MessageRef,
  type OutgoingMessage,
  type ShownMessage,
} from "./discord_port.ts";
import { backoffMs } from "../shared/backoff.ts";
import type { Logger } from "../shared/log.ts";
import { closedDmsMention, messageNonce, nonceFor } from "./job_message.ts";
import type { MessageStore } from "./message_store.ts";
import type { RenderedMessage } from "../view/render.ts";
import { PRIORITY, RequestScheduler } from "./scheduler.ts";

/** Where a job's message goes: a DM to its user, or one configured channel; `userId` is the requester. */
export type Target =
  { readonly kind: "dm"; readonly userId: bigint } | { readonly kind: "channel"; readonly channelId: string; readonly userId?: bigint };

export interface DeliveryOptions {
  readonly port: DiscordPort;
  readonly store: MessageStore;
  readonly logger: Logger;
  readonly editIntervalMs?: number;
  readonly maxJobs?: number;
  readonly scheduler?: RequestScheduler;
  /** Where a job goes when its user's DMs are closed (50007); null: the job stops. */
  readonly fallbackChannelId?: string | null;
  /** Reply to the live message mentioning the requester when a job ends (default true). */
  readonly notifyAtEnd?: boolean;
  /** Called once when Discord refuses the token (401): nothing can be delivered any more. */
  readonly onFatal?: (error: DeliveryError) => void;
  /** Called when a job's final state (and its notification) is shown, or the job is given up for good. */
  readonly onFinished?: (key: string) => void;
}

/**
 * Whether this bot still holds the lease (with the fencing token it took) of the job whose message
 * is about to be sent or edited; checked before every request to Discord for the job. False: the
 * lease is lost and the job is dropped here. Throws when that cannot be known now (Redis away):
 * retried like a failed request, with backoff.
 */
export type Fence = () => Promise<boolean>;

const UNFENCED: Fence = () => Promise.resolve(true);

/** The job's lease is gone: what was being sent is dropped. */
class LeaseLost extends Error {}

interface Update {
  readonly message: RenderedMessage;
  readonly terminal: boolean;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What `discord_answers.ts` says to do after `error` answered a request of this kind; anything not from Discord is retried. */
function actionOf(request: RequestKind, error: unknown): Action {
  return error instanceof DeliveryError ? actionFor(request, error.kind) : "retry";
}

/** The message of one job. At most one request to Discord is in flight for it at a time. */
class JobMessage {
  private pending: Update | null = null;
  private ref: MessageRef | null = null;
  private refLoaded = false;
  /**
   * The message came from the store (an earlier owner's, or this bot's before a lost lease) and
   * this JobMessage has not edited it yet: before its final edit it is read, and left alone when it
   * already shows that final state (an owner that showed it and lost its lease before recording the
   * end).
   */
  private foundRef = false;
  private inFlight = false;
  private timer: NodeJS.Timeout | null = null;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private retryAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private rateLimits = 0;
  /** Messages created so far: each create gets its own nonce, a retried one the same. */
  private created = 0;
  private uploadedChartKey: string | null = null;
  /** Set when the terminal state is shown and the end notification is still owed. */
  private notifyOwed: string | null = null;
  /** The user to mention in the next new message (after falling back to a shared channel). */
  private mentionNext: bigint | null = null;
  /** The request that failed last, and its channel: what an error is acted on for (`discord_answers.ts`). */
  private lastRequest: RequestKind = "open_dm";
  private lastChannel = "";
  /** Delivered the terminal state (and its notification), or stopped for good. */
  finished = false;
  /**
   * A final state is shown (its notification may still be owed): a terminal state folded again
   * later (an event of the job stored late) is not sent, since nothing edits a final message.
   */
  private finalShown = false;
  /** The lease is lost: nothing more is sent, and the answer of a request in flight is ignored. */
  private dropped = false;
  private fence: Fence = UNFENCED;

  constructor(
    private readonly key: string,
    private target: Target,
    private readonly owner: Delivery,
  ) {}

  get idle(): boolean {
    return !this.inFlight && this.pending === null && this.notifyOwed === null && this.timer === null;
  }

  /** Its turn's order in the scheduler (notify() asks with PRIORITY.notification). */
  private get priority(): number {
    return this.pending?.terminal === true ? PRIORITY.final : PRIORITY.progress;
  }

  private get urgent(): boolean {
    return this.pending?.terminal === true || this.notifyOwed !== null;
  }

  update(message: RenderedMessage, terminal: boolean, fence: Fence): void {
    if (this.finished || this.finalShown) return;
    // Replacing, not queueing: states in between are never sent.
    this.pending = { message, terminal };
    this.fence = fence;
    this.pump();
  }

  /** The lease is lost: the pending state, the retry timer and the answer in flight are dropped. */
  drop(): void {
    this.dropped = true;
    this.pending = null;
    this.notifyOwed = null;
    this.pump();
  }

  /** Before each request: throws LeaseLost when the job's lease is no longer this bot's. */
  private async fenced(): Promise<void> {
    if (!this.dropped && (await this.fence())) return;
    throw new LeaseLost(`the lease of job ${this.key} is lost: another bot shows it now`);
  }

  /** After each answer: one that arrives after the lease was lost is not acted upon. */
  private answered(): void {
    if (this.dropped) throw new LeaseLost(`the lease of job ${this.key} was lost while Discord answered`);
  }

  pump(): void {
    if (this.inFlight) return;
    if (this.owner.dead) this.stop();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.dropped) {
      this.pending = null;
      this.notifyOwed = null;
    }
    if (this.pending === null && this.notifyOwed === null) {
      this.owner.jobIdle(this.key, this);
      return;
    }
    this.owner.jobBusy(this);
    // A terminal state skips the edit interval but not a backoff.
    const throttledUntil = this.urgent ? this.retryAt : Math.max(this.lastSentAt + this.owner.intervalMs(), this.retryAt);
    const flushUntil = this.owner.flushUntil;
    if (flushUntil !== null && !this.urgent && throttledUntil > flushUntil) {
      // Shutting down, and the interval (or a backoff) ends after the deadline: the next owner shows it.
      this.owner.logger.info(
        `the pending update of job ${this.key} is left to the next owner: its edit interval ends after the shutdown deadline`,
      );
      this.pending = null;
      this.owner.jobIdle(this.key, this);
      return;
    }
    const wait = throttledUntil - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    this.inFlight = true;
    void this.step().finally(() => {
      this.inFlight = false;
      this.pump();
    });
  }

  /** Sends the newest state, or the owed notification; never throws. */
  private async step(): Promise<void> {
    try {
      if (!this.refLoaded) {
        this.ref = await this.owner.loadRef(this.key); // throws on a failed read: retried below
        this.refLoaded = true;
        if (this.ref !== null) {
          this.foundRef = true;
          // A message this bot found (shown by /train, an earlier owner, or itself before a lost
          // lease) may have been edited just now: its first edit here waits a whole interval.
          this.lastSentAt = Date.now();
          if (!this.urgent) return;
        }
      }
      if (this.pending === null) {
        await this.notify();
      } else {
        const update = await this.deliver();
        this.answered();
        if (update?.terminal === true) {
          this.finalShown = true;
          // A state folded again while the final one was in flight (an event of the job stored
          // late, chaos seed 1934) is not sent either: nothing edits a final message.
          this.pending = null;
          if (this.owner.notifyAtEnd && this.target.userId !== undefined) this.notifyOwed = update.message.embed.title ?? "Training ended";
          else this.finish();
        }
      }
      this.failures = 0;
      this.rateLimits = 0;
      this.lastSentAt = Date.now();
    } catch (error) {
      if (error instanceof LeaseLost || this.dropped) {
        this.owner.logger.info(`${describe(error)}; its pending update is dropped`);
        this.drop();
        this.owner.forget(this.key, this);
        return;
      }
      // deliver() puts back the state it took before it throws: the newest is retried.
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    const now = Date.now();
    const action = actionOf(this.lastRequest, error);
    if (error instanceof DeliveryError && action === "stop_bot") {
      this.abandon();
      this.owner.fatal(error);
      return;
    }
    // A permanent refusal (or closed DMs with no channel to move to): retrying cannot help.
    if (action === "give_up" || action === "notify_channel") {
      this.owner.logger.warn(
        `giving up on job ${this.key}: ${describe(error)} (Discord refuses ${this.lastRequest} for good; nothing more is sent for this job and it is closed)`,
      );
      this.abandon();
      return;
    }
    if (error instanceof DeliveryError && error.kind === "rate_limited") {
      this.rateLimits += 1;
      const wait = Math.min(RETRY_CAP_MS, Math.max(error.retryAfterMs, backoffMs(this.rateLimits, RATE_LIMIT_FLOOR_MS)));
      this.retryAt = now + wait;
      // Discord's own 429s hold the scheduler too: a global one every request, a route's its channel.
      if (error.scope === "global") this.owner.scheduler.holdUntil(now + error.retryAfterMs);
      else if (error.scope !== null) this.owner.scheduler.holdChannel(this.lastChannel, now + error.retryAfterMs);
      this.owner.logger.warn(`rate limited on job ${this.key} (${error.scope ?? "client"}); retrying in ${wait} ms`);
      return;
    }
    this.failures += 1;
    const wait = backoffMs(this.failures);
    this.retryAt = now + wait;
    this.owner.logger.warn(
      `sending update for job ${this.key} failed (${this.failures} in a row): ${describe(error)}; retrying in ${wait} ms`,
    );
  }

  /** Notes the request about to be sent, for `failed`. */
  private sending(request: "open_dm" | "create" | "edit", channelId: string): void {
    const dm = this.target.kind === "dm" && channelId !== this.owner.fallbackChannelId;
    this.lastRequest =
      request === "open_dm" ? "open_dm" : request === "create" ? (dm ? "create_dm" : "create_channel") : dm ? "edit_dm" : "edit_channel";
    this.lastChannel = channelId;
  }

  private stop(): void {
    this.pending = null;
    this.notifyOwed = null;
    this.finish();
  }

  /** Stopped for good (403, closed DMs): later states of the job are not sent either. */
  private abandon(): void {
    this.stop();
    this.owner.abandoned(this.key);
  }

  private finish(): void {
    this.finished = true;
  }

  /**
   * Takes the newest pending state when it is this job's turn and shows it; null when a create
   * came back with an earlier message that shows something else (the state is pending again).
   */
  private async deliver(): Promise<Update | null> {
    if (this.ref !== null) {
      const ref = this.ref;
      const pending = this.pending;
      if (this.foundRef && pending?.terminal === true && (await this.showsAlready(ref, pending.message))) {
        this.owner.logger.info(`message of job ${this.key} already shows its final state; not edited again`);
        return this.take();
      }
      await this.owner.turn(ref.channelId, () => this.priority);
      await this.fenced();
      const update = this.take();
      const message = this.outgoing(update.message);
      this.sending("edit", ref.channelId);
      try {
        await this.owner.port.editMessage(ref, message);
        this.foundRef = false;
        return update;
      } catch (error) {
        if (message.chartPng !== undefined) this.uploadedChartKey = null;
        this.pending ??= update;
        const action = actionOf(this.lastRequest, error);
        if (action === "notify_channel" && this.fellBack()) {
          this.ref = null;
          return await this.create(null, null);
        }
        if (!(error instanceof DeliveryError && action === "new_message")) throw error;
        this.ref = null;
        if (error.kind === "unknown_channel") this.owner.forgetDm(this.target);
        if (error.kind === "too_old") {
          this.owner.logger.info(`message of job ${this.key} is too old to edit; continuing in a new one`);
          return await this.create(ref.channelId, ref.messageId);
        }
        this.owner.logger.info(`message of job ${this.key} is gone; sending a new one`);
      }
    }
    return await this.create(null, null);
  }

  /**
   * Reads the stored message (GET, under the same limits and fence as an edit) and tells whether it
   * shows the final state `final` already. A 429, a 5xx or a refused token is acted on as for an
   * edit (retried, or the bot stops); any other refusal (10008, 10003, 403, ...) means it cannot be
   * read: the edit goes on as it would without the read, and its own answer is acted on.
   */
  private async showsAlready(ref: MessageRef, final: RenderedMessage): Promise<boolean> {
    await this.owner.turn(ref.channelId, () => this.priority);
    await this.fenced();
    this.sending("edit", ref.channelId);
    let shown: ShownMessage | null;
    try {
      shown = await this.owner.port.getMessage(ref);
    } catch (error) {
      const action = actionOf(this.lastRequest, error);
      if (action === "retry" || action === "stop_bot") throw error;
      this.owner.logger.info(`message of job ${this.key} could not be read (${describe(error)}); editing it to its final state`);
      shown = null;
    }
    this.answered();
    this.foundRef = false;
    return shown !== null && showsFinal(final.embed, final.components, shown);
  }

  private take(): Update {
    const update = this.pending;
    if (update === null) throw new Error("nothing pending"); // unreachable: only called with a pending state
    this.pending = null;
    return update;
  }

  /** Posts a new message; `replyTo` (in `replyChannel`) links it to the earlier one of the job. */
  private async create(replyChannel: string | null, replyTo: string | null): Promise<Update | null> {
    if (this.target.kind === "dm") this.sending("open_dm", `open-dm:${this.target.userId.toString()}`);
    const channelId = await this.owner.channelFor(this.target, () => this.priority);
    await this.owner.turn(channelId, () => this.priority);
    await this.fenced();
    const update = this.take();
    this.uploadedChartKey = null;
    const base = this.outgoing(update.message);
    const mention = this.mentionNext;
    const continued = replyTo !== null && replyChannel === channelId;
    const message: OutgoingMessage = {
      ...base,
      nonce: messageNonce(this.key, this.created),
      ...(continued ? { replyTo, content: "Continued from the earlier message (Discord stops edits after an hour)." } : {}),
      ...(mention !== null ? { mentionUserId: mention, content: closedDmsMention(mention) } : {}),
    };
    let created: CreatedMessage;
    this.sending("create", channelId);
    try {
      created = await this.owner.port.createMessage(channelId, message);
    } catch (error) {
      this.pending ??= update;
      this.uploadedChartKey = null;
      const action = actionOf(this.lastRequest, error);
      // A DM channel that is gone is opened again at the next try.
      if (action === "new_message") this.owner.forgetDm(this.target);
      if (action === "notify_channel" && this.fellBack()) return await this.create(null, null);
      throw error;
    }
    this.answered();
    this.created += 1;
    this.mentionNext = null;
    this.ref = { channelId, messageId: created.id };
    this.foundRef = false;
    await this.owner.saveRef(this.key, this.ref);
    if (showsSent(message, created)) return update;
    if (update.terminal && created.shown !== undefined && showsFinal(update.message.embed, update.message.components, created.shown)) {
      // That earlier message shows the final state already (its details may differ): left as it is.
      this.owner.logger.info(`message of job ${this.key} came back as created earlier, showing its final state; not edited again`);
      return update;
    }
    // The nonce was used before (an earlier create whose answer was lost, maybe by a bot that
    // died): Discord answered with that message, which shows an older state. Edit it next.
    this.owner.logger.info(`message of job ${this.key} came back as created earlier; editing it to the newest state`);
    this.uploadedChartKey = null;
    this.pending ??= update;
    return null;
  }

  /** On closed DMs, switches the job to the fallback channel when there is one (false: none, give up). */
  private fellBack(): boolean {
    const fallback = this.owner.fallbackChannelId;
    if (this.target.kind !== "dm" || fallback === null) return false;
    this.owner.logger.info(`user of job ${this.key} does not accept DMs; posting in channel ${fallback}`);
    this.mentionNext = this.target.userId;
    this.target = { kind: "channel", channelId: fallback, userId: this.target.userId };
    return true;
  }

  /** The request body of a state: the chart is uploaded only when its key changed. */
  private outgoing(message: RenderedMessage): OutgoingMessage {
    const chart = message.chart;
    const components = message.components === undefined ? {} : { components: message.components };
    if (chart === undefined) return { embed: message.embed, ...components };
    const embed = { ...message.embed, image: { url: `attachment://${CHART_FILE_NAME}` } };
    if (chart.key === this.uploadedChartKey) return { embed, ...components };
    let png: Uint8Array;
    try {
      png = chart.png();
    } catch (error) {
      // The state matters more than its picture (a final state must not be lost to a chart).
      this.owner.logger.warn(`chart of job ${this.key} could not be drawn (${describe(error)}); sending the message without it`);
      return { embed: message.embed, ...components };
    }
    // Counted as uploaded now; a failed request clears it so the retry uploads again.
    this.uploadedChartKey = chart.key;
    return { embed, chartPng: png, ...components };
  }

  /** Replies to the live message, pinging only the requester. */
  private async notify(): Promise<void> {
    const ref = this.ref;
    const title = this.notifyOwed;
    const userId = this.target.userId;
    // No message to reply to when it was gone and its replacement failed before it was sent.
    if (ref !== null && title !== null && userId !== undefined) {
      await this.owner.turn(ref.channelId, () => PRIORITY.notification);
      await this.fenced();
      this.sending("create", ref.channelId);
      await this.owner.port.createMessage(ref.channelId, {
        content: `<@${userId.toString()}> ${title}: see the message above.`,
        mentionUserId: userId,
        replyTo: ref.messageId,
        nonce: nonceFor(this.key, "end"),
      });
      this.answered();
    }
    this.stop();
  }
}

export class Delivery {
  readonly port: DiscordPort;
  readonly logger: Logger;
  readonly editIntervalMs: number;
  readonly scheduler: RequestScheduler;
  readonly fallbackChannelId: string | null;
  readonly notifyAtEnd: boolean;
  /** Set by flush(): when it gives up (epoch ms); a progress state not sendable by then is left behind. */
  flushUntil: number | null = null;
  private readonly store: MessageStore;
  private readonly maxJobs: number;
  private readonly onFatal: (error: DeliveryError) => void;
  private readonly onFinished: (key: string) => void;
  /** Discord refused the token: nothing is sent any more. */
  dead = false;
  private readonly jobs = new Map<string, JobMessage>();
  /**
   * The message id this bot last stored for each job, kept past a lost lease: when the lease is
   * taken again and the store has no id (a Redis restarted without its data), the job goes on in
   * the message it already has instead of a second one. The store's id, when there is one, wins.
   */
  private readonly knownRefs = new Map<string, MessageRef>();
  private readonly busy = new Set<JobMessage>();
  /** Jobs given up for good, oldest first (bounded like the jobs). */
  private readonly gaveUp = new Set<string>();
  private readonly dmChannels = new Map<bigint, string>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: DeliveryOptions) {
    this.port = options.port;
    this.store = options.store;
    this.logger = options.logger;
    this.editIntervalMs = options.editIntervalMs ?? DEFAULT_EDIT_INTERVAL_MS;
    this.maxJobs = options.maxJobs ?? MAX_TRACKED_JOBS;
    this.scheduler = options.scheduler ?? new RequestScheduler();
    this.fallbackChannelId = options.fallbackChannelId ?? null;
    this.notifyAtEnd = options.notifyAtEnd ?? true;
    this.onFatal = options.onFatal ?? (() => undefined);
    this.onFinished = options.onFinished ?? (() => undefined);
  }

  /**
   * Shows `message` as the newest state of the job `key`; returns at once. `fence` is asked before
   * every request for the job (see Fence); without one the job is this bot's alone.
   */
  publish(key: string, target: Target, message: RenderedMessage, terminal: boolean, fence: Fence = UNFENCED): void {
    if (this.dead || this.gaveUp.has(key)) return;
    let job = this.jobs.get(key);
    if (job === undefined) {
      job = new JobMessage(key, target, this);
      this.jobs.set(key, job);
      this.evictIdle();
    }
    job.update(message, terminal, fence);
  }

  /**
   * The job's lease is lost: its pending state and retry timer are dropped, and the answer of a
   * request in flight is ignored (not stored, no notification, not reported finished). A later
   * publish (the lease taken again) starts afresh from the stored message id.
   */
  drop(key: string): void {
    const job = this.jobs.get(key);
    if (job === undefined) return;
    this.jobs.delete(key);
    job.drop();
  }

  /** @internal a dropped job is forgotten: a later publish (the lease taken again) starts afresh. */
  forget(key: string, job: JobMessage): void {
    if (this.jobs.get(key) === job) this.jobs.delete(key);
  }

  /** Jobs with a message still being sent or waiting for its next edit. */
  get busyJobs(): number {
    return this.busy.size;
  }

  /**
   * The edit interval of each job: the configured one, or longer when so many jobs are busy that
   * the global budget could not give each of them an edit per interval.
   */
  intervalMs(): number {
    return Math.max(this.editIntervalMs, this.busy.size * this.scheduler.spacingMs);
  }

  /** Resolves once nothing is in flight or waiting (tests, shutdown). */
  whenIdle(): Promise<void> {
    if (this.busyJobs === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Sends every job's newest pending state for at most `timeoutMs` (shutdown): a final state at
   * once, a progress state once its edit interval is out, or never when that is after the deadline
   * (the job's next owner shows it from the store). Resolves true when nothing is left waiting.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    this.flushUntil = Date.now() + timeoutMs;
    for (const job of this.busy) job.pump();
    const timers: NodeJS.Timeout[] = [];
    const timeout = new Promise<boolean>((resolve) => {
      timers.push(
        setTimeout(() => {
          resolve(false);
        }, timeoutMs),
      );
    });
    const done = await Promise.race([this.whenIdle().then(() => true), timeout]);
    for (const timer of timers) clearTimeout(timer);
    return done;
  }

  /**
   * The port with every call taking its turn under the bot's limits, for messages sent outside a
   * job's delivery (the Queued message of /train); DM channels come from the same cache.
   */
  scheduledPort(): DiscordPort {
    return {
      openDm: (userId) => this.channelFor({ kind: "dm", userId }, () => PRIORITY.final),
      createMessage: async (channelId, message) => {
        await this.turn(channelId, () => PRIORITY.final);
        return await this.port.createMessage(channelId, message);
      },
      editMessage: async (ref, message) => {
        await this.turn(ref.channelId, () => PRIORITY.final);
        await this.port.editMessage(ref, message);
      },
      getMessage: async (ref) => {
        await this.turn(ref.channelId, () => PRIORITY.final);
        return await this.port.getMessage(ref);
      },
    };
  }

  /** @internal waits for this request's turn under the global and per-channel limits. */
  turn(channel: string, urgent: () => number): Promise<void> {
    return this.scheduler.acquire(channel, urgent);
  }

  /** @internal */
  fatal(error: DeliveryError): void {
    if (this.dead) return;
    this.dead = true;
    for (const job of this.busy) job.pump();
    this.logger.warn(`Discord refused the bot token: ${error.message}. Check DISCORD_TOKEN; the bot cannot deliver anything.`);
    this.onFatal(error);
  }

  /** @internal */
  abandoned(key: string): void {
    this.gaveUp.add(key);
    if (this.gaveUp.size > this.maxJobs) {
      const oldest = this.gaveUp.values().next();
      if (oldest.done !== true) this.gaveUp.delete(oldest.value);
    }
  }

  /** @internal called by a JobMessage that has something to send. */
  jobBusy(job: JobMessage): void {
    this.busy.add(job);
  }

  /** @internal called by a JobMessage that has nothing left to do. */
  jobIdle(key: string, job: JobMessage): void {
    this.busy.delete(job);
    if (job.finished && this.jobs.get(key) === job) {
      this.jobs.delete(key);
      // After a refused token nothing was shown: the job is not finished for the other bots.
      if (!this.dead) this.onFinished(key);
    }
    if (this.idleWaiters.length > 0 && this.busyJobs === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** @internal a failed read throws: it is not "no message", and is retried with backoff. */
  async loadRef(key: string): Promise<MessageRef | null> {
    try {
      return (await this.store.get(key)) ?? this.knownRefs.get(key) ?? null;
    } catch (error) {
      throw new Error(`could not read the message id of job ${key}: ${describe(error)}`, { cause: error });
    }
  }

  /** @internal */
  async saveRef(key: string, ref: MessageRef): Promise<void> {
    this.knownRefs.delete(key);
    this.knownRefs.set(key, ref);
    if (this.knownRefs.size > this.maxJobs) {
      for (const oldest of this.knownRefs.keys()) {
        this.knownRefs.delete(oldest);
        break;
      }
    }
    try {
      await this.store.set(key, ref);
    } catch (error) {
      this.logger.warn(`could not store the message id of job ${key}: ${describe(error)}`);
    }
  }

  /** @internal */
  async channelFor(target: Target, urgent: () => number): Promise<string> {
    if (target.kind === "channel") return target.channelId;
    const cached = this.dmChannels.get(target.userId);
    if (cached !== undefined) return cached;
    await this.turn(`open-dm:${target.userId.toString()}`, urgent);
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
    for (const [key, job] of this.jobs) {
      if (this.jobs.size <= this.maxJobs) break;
      if (job.idle) this.jobs.delete(key);
    }
  }
}
