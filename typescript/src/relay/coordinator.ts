// The bot's core: stores each log entry's event with its job, and shows each job through the one
// bot that holds the job's lease. The holder folds the job's stored events (its own and those
// other bots stored) into one state per run, renders it and hands it to delivery; it renews the
// lease on its own timer (never behind a slow pass). Jobs whose holder died (lease expired) and
// whose final state is not shown yet are adopted by any bot on its next pass, so every message
// reaches its final state. Each acquisition has a fencing token; delivery checks it before every
// request to Discord, and a lost lease drops the job here and in delivery at once.

import { BATCH_V1 } from "../generated/names.ts";
import {
  DEFAULT_LEASE_MS,
  DEFAULT_SILENT_AFTER_S,
  JOB_KEY_TTL_S,
  MAX_ADOPT_SCAN,
  RETRY_BASE_MS,
  SYNC_INTERVAL_MS,
} from "../shared/limits.ts";
import { decodeEvent, decodeEventBytes, type DecodedEvent } from "../events/decode.ts";
import { type Delivery, type Target } from "../discord/delivery.ts";
import { backoffMs } from "../shared/backoff.ts";
import { categoryOf, InvalidLog } from "../events/invalid_log.ts";
import { foldRuns, jobKey, jobOf, messageKeyFor, type JobId } from "../jobs/job.ts";
import { memberOf, textOf, type JobStore, type LeaseRenewal, type StoredEntry } from "../jobs/job_store.ts";
import type { Logger } from "../shared/log.ts";
import { renderJob } from "../view/render.ts";
import { isTerminal, type JobState } from "../jobs/state.ts";
import type { LogEntry } from "../events/stream_reader.ts";

export interface CoordinatorOptions {
  readonly store: JobStore;
  readonly delivery: Delivery;
  readonly logger: Logger;
  /** This bot's name, held in the leases of the jobs it shows. */
  readonly owner: string;
  readonly leaseMs?: number;
  readonly silentAfterS?: number;
  /** Called when a run's terminal event is folded (frees the user's slot for new jobs). */
  readonly onTerminal?: (job: JobId) => void;
  /** First wait before a failed "done" write is tried again (doubling, capped); default RETRY_BASE_MS. */
  readonly retryBaseMs?: number;
}

export interface CoordinatorStats {
  received: number;
  invalid: number;
  updates: number;
  errors: number;
}

/**
 * Per run: not known yet (undefined), not shown (false), final state shown but its "done" mark not
 * stored yet ("shown": nothing more is sent), or stored (true).
 */
type Done = boolean | "shown" | undefined;

/** A job this bot holds the lease of. */
interface Owned {
  readonly job: JobId;
  /** The fencing token of this bot's acquisition of the lease. */
  readonly token: number;
  /** Local time by which the lease has certainly run out unless renewed: asked for + lease length. */
  leaseUntil: number;
  runs: JobState[];
  /** The newest stored member folded; later ones are read on the next sync. */
  cursor: string | null;
  /** Lifecycle members read so far; fewer than the store holds means an older one arrived late. */
  lifecycleRead: number;
  /** Per run: when its last event was folded (local ms), whether the silence is shown, whether its final state was shown. */
  lastEventAt: number[];
  silentShown: boolean[];
  done: Done[];
  /** Runs changed but not yet handed to delivery (kept across a failed sync). */
  dirty: Set<number>;
  chain: Promise<void>;
}

function isBatch(decoded: DecodedEvent): boolean {
  return decoded.kind === "v1" && decoded.event.type === BATCH_V1;
}

export class Coordinator {
  readonly stats: CoordinatorStats = { received: 0, invalid: 0, updates: 0, errors: 0 };
  readonly invalid: InvalidLog;
  private readonly owned = new Map<string, Owned>();
  private readonly adopting = new Set<string>();
  private readonly leaseMs: number;
  private readonly silentAfterMs: number;
  private readonly retryBaseMs: number;
  private timer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private renewing = false;

  constructor(private readonly options: CoordinatorOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.silentAfterMs = (options.silentAfterS ?? DEFAULT_SILENT_AFTER_S) * 1000;
    this.retryBaseMs = options.retryBaseMs ?? RETRY_BASE_MS;
    this.invalid = new InvalidLog(options.logger);
  }

  /** Jobs this bot shows now. */
  get ownedJobs(): number {
    return this.owned.size;
  }

  /** Stores the events of a batch of log entries; resolves once they are stored (then they may be acknowledged). */
  async handle(entries: readonly LogEntry[]): Promise<void> {
    const stored: StoredEntry[] = [];
    for (const entry of entries) {
      this.stats.received += 1;
      if (entry.event === null) {
        this.stats.invalid += 1;
        this.invalid.record("no event field", "entry has no event field", `entry ${entry.id}`);
        continue;
      }
      const decoded = decodeEventBytes(entry.event);
      const text = entry.event.toString("utf8");
      if (decoded.kind === "invalid") {
        this.stats.invalid += 1;
        this.invalid.record(categoryOf(decoded.reason), decoded.reason, text);
        continue;
      }
      stored.push({ job: jobOf(decoded), member: memberOf(entry.id, text), batch: isBatch(decoded) });
    }
    await this.options.store.append(stored, Date.now());
    const touched = new Map(stored.map((entry) => [jobKey(entry.job), entry.job]));
    for (const [key, job] of touched) {
      const owned = this.owned.get(key);
      if (owned !== undefined) this.sync(owned);
      else void this.adopt(job);
    }
  }

  /**
   * Starts the periodic pass (events stored by other bots, silence, orphaned jobs) and, on its own
   * timer, lease renewal: at least three renewals per lease period however long a pass takes.
   */
  start(): void {
    this.timer ??= setInterval(
      () => {
        void this.tick();
      },
      Math.min(SYNC_INTERVAL_MS, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
    this.renewTimer ??= setInterval(
      () => {
        void this.renew();
      },
      Math.floor(this.leaseMs / 3),
    );
    this.renewTimer.unref();
  }

  /** Stops the periodic pass only: leases are still renewed (while delivery flushes at shutdown). */
  stopPasses(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.invalid.flush();
  }

  /** Stops both timers (leases are renewed no more: call releaseAll soon after). */
  stop(): void {
    this.stopPasses();
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    this.renewTimer = null;
  }

  /** Gives up every lease, so another bot takes the jobs over at once (after the shutdown flush). */
  async releaseAll(): Promise<void> {
    const jobs = [...this.owned.values()];
    this.owned.clear();
    await Promise.allSettled(jobs.map((owned) => this.options.store.release(owned.job, this.options.owner, owned.token)));
  }

  /** Called by delivery when a run's message shows its final state (or was given up for good). */
  finished(messageKey: string): void {
    for (const owned of this.owned.values()) {
      const index = owned.runs.findIndex((_, run) => messageKeyFor(owned.job.userId, owned.job.requestId, run) === messageKey);
      if (index === -1) continue;
      // Nothing more is sent for the run from now on, even before its mark is stored.
      owned.done[index] = "shown";
      this.recordDone(messageKey, 0, () => {
        owned.done[index] = true;
        owned.chain = owned.chain
          .then(() => this.closeIfDone(owned))
          .catch((error: unknown) => {
            this.failed(`closing job ${jobKey(owned.job)}`, error);
          });
      });
    }
  }

  /**
   * Stores the run's "done" mark, retrying with capped backoff until it is stored: without it a
   * redelivered terminal entry would edit the message again and ping the user a second time.
   */
  private recordDone(messageKey: string, failures: number, stored: () => void): void {
    this.options.store.markDone(messageKey).then(stored, (error: unknown) => {
      const wait = backoffMs(failures + 1, this.retryBaseMs);
      this.stats.errors += 1;
      this.options.logger.warn(
        `recording the end of ${messageKey} failed (${failures + 1} in a row): ${describeError(error)}; retrying in ${wait} ms`,
      );
      setTimeout(() => {
        this.recordDone(messageKey, failures + 1, stored);
      }, wait).unref();
    });
  }

  /** Renews every lease this bot holds, all at once; drops the jobs whose lease is lost or that closed. */
  async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    const { store, owner } = this.options;
    const now = Date.now();
    const failures: unknown[] = [];
    await Promise.all(
      [...this.owned.values()].map(async (owned) => {
        let renewal: LeaseRenewal;
        try {
          renewal = await store.renew(owned.job, owner, owned.token, this.leaseMs, now);
        } catch (error) {
          failures.push(error);
          return;
        }
        if (renewal === "held") owned.leaseUntil = Math.max(owned.leaseUntil, now + this.leaseMs);
        if (renewal === "lost") this.lose(owned, `lost the lease of job ${jobKey(owned.job)} to another bot; it shows the job now`);
        if (renewal === "closed") this.lose(owned, `job ${jobKey(owned.job)} is closed or had no event for ${JOB_KEY_TTL_S} s; dropped`);
      }),
    );
    // One line per pass, however many jobs (Redis away fails them all).
    if (failures.length > 0) this.failed(`renewing ${failures.length} lease(s)`, failures[0]);
    this.renewing = false;
  }

  /** The job is not this bot's any more: forgotten here, and its pending updates dropped in delivery. */
  private lose(owned: Owned, why: string): void {
    if (this.owned.get(jobKey(owned.job)) !== owned) return;
    this.owned.delete(jobKey(owned.job));
    this.options.logger.warn(why);
    for (let run = 0; run < owned.runs.length; run += 1)
      this.options.delivery.drop(messageKeyFor(owned.job.userId, owned.job.requestId, run));
  }

  /** The fence delivery asks before every request for the job: whether this acquisition still holds the lease. */
  private async holds(owned: Owned): Promise<boolean> {
    if (this.owned.get(jobKey(owned.job)) !== owned) return false;
    if (Date.now() >= owned.leaseUntil) {
      // Not renewed for a whole lease (Redis away, or this process stalled): another bot may hold it.
      this.lose(owned, `the lease of job ${jobKey(owned.job)} ran out unrenewed; another bot may show the job now`);
      return false;
    }
    const asked = Date.now();
    const reported = await this.options.store.leaseLeft(owned.job, this.options.owner, owned.token);
    if (reported === null) {
      this.lose(owned, `lost the lease of job ${jobKey(owned.job)} to another bot; it shows the job now`);
      return false;
    }
    // Counted from the question: an answer read late (this process stalled meanwhile) vouches for less.
    const left = asked + reported - Date.now();
    // Renewed every third of the lease: less than that left means renewals are failing.
    if (left < this.leaseMs / 3) throw new Error(`the lease of job ${jobKey(owned.job)} ends in ${left} ms and is not renewed yet`);
    return true;
  }

  /** One periodic pass; exposed for tests. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const { store } = this.options;
      for (const owned of [...this.owned.values()]) {
        this.sync(owned);
        await owned.chain;
      }
      for (const job of await store.openJobs(MAX_ADOPT_SCAN, Date.now())) {
        if (!this.owned.has(jobKey(job))) await this.adopt(job);
      }
    } catch (error) {
      this.failed("the periodic pass", error);
    } finally {
      this.ticking = false;
    }
  }

  private async adopt(job: JobId): Promise<void> {
    const key = jobKey(job);
    if (this.adopting.has(key) || this.owned.has(key)) return;
    this.adopting.add(key);
    try {
      const askedAt = Date.now();
      const token = await this.options.store.acquire(job, this.options.owner, this.leaseMs);
      if (token === null) return;
      const owned: Owned = {
        job,
        token,
        leaseUntil: askedAt + this.leaseMs,
        runs: [],
        cursor: null,
        lifecycleRead: 0,
        lastEventAt: [],
        silentShown: [],
        done: [],
        dirty: new Set(),
        chain: Promise.resolve(),
      };
      this.owned.set(key, owned);
      this.sync(owned);
      await owned.chain;
    } catch (error) {
      this.failed(`taking job ${key}`, error);
    } finally {
      this.adopting.delete(key);
    }
  }

  private sync(owned: Owned): void {
    owned.chain = owned.chain
      .then(() => this.syncNow(owned))
      .catch((error: unknown) => {
        this.failed(`updating job ${jobKey(owned.job)}`, error);
      });
  }

  /** Folds the events stored since the last sync and publishes each run they changed. */
  private async syncNow(owned: Owned): Promise<void> {
    if (this.owned.get(jobKey(owned.job)) !== owned) return;
    let read = await this.options.store.read(owned.job, owned.cursor);
    if (owned.cursor !== null && read.lifecycleCount > owned.lifecycleRead + read.lifecycleRead) {
      // Another bot stored an older event after we folded past it: fold the whole job again.
      Object.assign(owned, { runs: [], cursor: null, lifecycleRead: 0, lastEventAt: [], silentShown: [], dirty: new Set() });
      read = await this.options.store.read(owned.job, null);
    }
    owned.lifecycleRead += read.lifecycleRead;
    const changed = owned.dirty;
    const now = Date.now();
    for (const member of read.members) {
      const event = decodeEvent(textOf(member));
      // Stored by a bot that knows event types this one does not: skipped (still counted as read).
      if (event.kind === "invalid") continue;
      const run = foldRuns(owned.runs, event);
      if (run === null) continue;
      changed.add(run);
      owned.lastEventAt[run] = now;
      owned.silentShown[run] = false;
      // foldRuns returns the index of the run it just stored: the state is there.
      const state = owned.runs[run];
      if (state !== undefined && isTerminal(state.status)) this.options.onTerminal?.(owned.job);
    }
    owned.cursor = read.members.at(-1) ?? owned.cursor;
    for (const [run, state] of owned.runs.entries()) {
      // Every run has the time of its last event (both are set by the fold above).
      const lastAt = owned.lastEventAt[run];
      if (lastAt !== undefined && !isTerminal(state.status) && owned.silentShown[run] !== true && now - lastAt >= this.silentAfterMs) {
        owned.silentShown[run] = true;
        changed.add(run);
      }
    }
    for (const run of [...changed]) {
      // Only runs that exist are marked changed (a fold again clears the marks with the runs).
      const state = owned.runs[run];
      if (state !== undefined) await this.publish(owned, run, state);
      changed.delete(run);
    }
    await this.closeIfDone(owned);
  }

  private async publish(owned: Owned, run: number, state: JobState): Promise<void> {
    const key = messageKeyFor(owned.job.userId, owned.job.requestId, run);
    const terminal = isTerminal(state.status);
    if (terminal && owned.done[run] === undefined) owned.done[run] = await this.options.store.isDone(key);
    if (owned.done[run] === true || owned.done[run] === "shown") return;
    // The lease may have been lost while the events were read.
    if (this.owned.get(jobKey(owned.job)) !== owned) return;
    const silentSince = owned.silentShown[run] === true ? owned.lastEventAt[run] : undefined;
    this.stats.updates += 1;
    this.options.delivery.publish(
      key,
      this.targetOf(state),
      renderJob(state, silentSince === undefined ? {} : { silentSinceMs: silentSince }),
      terminal,
      () => this.holds(owned),
    );
  }

  /** When every run's final state is shown, the job is closed and its lease given up. */
  private async closeIfDone(owned: Owned): Promise<void> {
    if (owned.runs.length === 0 || !owned.runs.every((state, run) => isTerminal(state.status) && owned.done[run] === true)) return;
    if (this.owned.get(jobKey(owned.job)) !== owned) return;
    this.owned.delete(jobKey(owned.job));
    await this.options.store.close(owned.job);
    await this.options.store.release(owned.job, this.options.owner, owned.token);
  }

  /** A DM first; delivery moves the job to the notify channel when the user's DMs are closed. */
  private targetOf(state: JobState): Target {
    return { kind: "dm", userId: state.userId };
  }

  private failed(what: string, error: unknown): void {
    this.stats.errors += 1;
    this.options.logger.warn(`${what} failed: ${describeError(error)}; retried on the next pass`);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
