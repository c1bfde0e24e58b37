// The bot's core: stores each log entry's event with its job, and shows each job through the one
// bot that holds the job's lease. The holder folds the job's stored events (its own and those
// other bots stored) into one state per run, renders it and hands it to delivery; it renews the
// lease while it works. Jobs whose holder died (lease expired) and whose final state is not shown
// yet are adopted by any bot on its next pass, so every message reaches its final state.

import { BATCH_V1 } from "./generated/names.ts";
import { DEFAULT_LEASE_MS, DEFAULT_SILENT_AFTER_S, MAX_ADOPT_SCAN, SYNC_INTERVAL_MS } from "./config.ts";
import { decodeEvent, decodeEventBytes, type DecodedEvent } from "./decode.ts";
import type { Delivery, Target } from "./delivery.ts";
import { InvalidLog } from "./invalid_log.ts";
import { foldRuns, jobKey, jobOf, messageKeyFor, type JobId } from "./jobs.ts";
import { memberOf, textOf, type JobStore, type StoredEntry } from "./job_store.ts";
import type { Logger } from "./log.ts";
import { renderJob } from "./render.ts";
import { isTerminal, type JobState } from "./state.ts";
import type { LogEntry } from "./stream_reader.ts";

export interface CoordinatorOptions {
  readonly store: JobStore;
  readonly delivery: Delivery;
  readonly logger: Logger;
  /** This bot's name, held in the leases of the jobs it shows. */
  readonly owner: string;
  readonly leaseMs?: number;
  readonly silentAfterS?: number;
  /** Post every job here instead of a DM to its user. */
  readonly notifyChannelId?: string | null;
  /** Called when a run's terminal event is folded (frees the user's slot for new jobs). */
  readonly onTerminal?: (job: JobId) => void;
}

export interface CoordinatorStats {
  received: number;
  invalid: number;
  updates: number;
  errors: number;
}

/** A job this bot holds the lease of. */
interface Owned {
  readonly job: JobId;
  runs: JobState[];
  /** The newest stored member folded; later ones are read on the next sync. */
  cursor: string | null;
  /** Lifecycle members read so far; fewer than the store holds means an older one arrived late. */
  lifecycleRead: number;
  /** Per run: when its last event was folded (local ms), whether the silence is shown, whether its final state was shown. */
  lastEventAt: number[];
  silentShown: boolean[];
  done: (boolean | undefined)[];
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
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(private readonly options: CoordinatorOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.silentAfterMs = (options.silentAfterS ?? DEFAULT_SILENT_AFTER_S) * 1000;
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
        this.invalid.record("entry has no event field", `entry ${entry.id}`);
        continue;
      }
      const decoded = decodeEventBytes(entry.event);
      const text = entry.event.toString("utf8");
      if (decoded.kind === "invalid") {
        this.stats.invalid += 1;
        this.invalid.record(decoded.reason, text);
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

  /** Starts the periodic pass: lease renewal, events stored by other bots, silence, orphaned jobs. */
  start(): void {
    // Leases are renewed at least three times per lease period.
    this.timer ??= setInterval(
      () => {
        void this.tick();
      },
      Math.min(SYNC_INTERVAL_MS, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.invalid.flush();
  }

  /** Gives up every lease, so another bot takes the jobs over at once (after the shutdown flush). */
  async releaseAll(): Promise<void> {
    const jobs = [...this.owned.values()];
    this.owned.clear();
    await Promise.allSettled(jobs.map((owned) => this.options.store.release(owned.job, this.options.owner)));
  }

  /** Called by delivery when a run's message shows its final state (or was given up for good). */
  finished(messageKey: string): void {
    for (const owned of this.owned.values()) {
      const index = owned.runs.findIndex((_, run) => messageKeyFor(owned.job.userId, owned.job.requestId, run) === messageKey);
      if (index === -1) continue;
      owned.done[index] = true;
      owned.chain = owned.chain
        .then(async () => {
          await this.options.store.markDone(messageKey);
          await this.closeIfDone(owned);
        })
        .catch((error: unknown) => {
          this.failed(`recording the end of ${messageKey}`, error);
        });
    }
  }

  /** One periodic pass; exposed for tests. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const { store, owner } = this.options;
      for (const owned of [...this.owned.values()]) {
        if (!(await store.acquire(owned.job, owner, this.leaseMs))) {
          this.options.logger.warn(`lost the lease of job ${jobKey(owned.job)} to another bot; it shows the job now`);
          this.owned.delete(jobKey(owned.job));
          continue;
        }
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
      if (!(await this.options.store.acquire(job, this.options.owner, this.leaseMs))) return;
      const owned: Owned = {
        job,
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
    if (owned.done[run] === true) return;
    const silentSince = owned.silentShown[run] === true ? owned.lastEventAt[run] : undefined;
    this.stats.updates += 1;
    this.options.delivery.publish(
      key,
      this.targetOf(state),
      renderJob(state, silentSince === undefined ? {} : { silentSinceMs: silentSince }),
      terminal,
    );
  }

  /** When every run's final state is shown, the job is closed and its lease given up. */
  private async closeIfDone(owned: Owned): Promise<void> {
    if (owned.runs.length === 0 || !owned.runs.every((state, run) => isTerminal(state.status) && owned.done[run] === true)) return;
    if (this.owned.get(jobKey(owned.job)) !== owned) return;
    this.owned.delete(jobKey(owned.job));
    await this.options.store.close(owned.job);
    await this.options.store.release(owned.job, this.options.owner);
  }

  private targetOf(state: JobState): Target {
    const channel = this.options.notifyChannelId ?? null;
    return channel === null ? { kind: "dm", userId: state.userId } : { kind: "channel", channelId: channel, userId: state.userId };
  }

  private failed(what: string, error: unknown): void {
    this.stats.errors += 1;
    this.options.logger.warn(`${what} failed: ${error instanceof Error ? error.message : String(error)}; retried on the next pass`);
  }
}
