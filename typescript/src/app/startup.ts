// Starts the bot from its config (the log reader, the channel bridge, the coordinator, delivery
// and the interactions endpoint) and stops them in order; main.ts ties it to the process
// (signals, exit codes).

import { ChannelBridge } from "../events/channel_bridge.ts";
import { BOT_KEY_PREFIX, type BotConfig } from "./config.ts";
import { ConsoleDiscordPort } from "../discord/console_port.ts";
import { Coordinator } from "../relay/coordinator.ts";
import { Delivery } from "../discord/delivery.ts";
import { RestDiscordPort } from "../discord/discord_rest.ts";
import { releaseActive, startInteractions } from "../interactions/index.ts";
import type { InteractionsServer } from "../interactions/server.ts";
import { messageKeyFor, type JobId } from "../jobs/job.ts";
import { MemoryJobStore, RedisJobStore } from "../jobs/job_store.ts";
import { redactUrl, type Logger } from "../shared/log.ts";
import { MemoryMessageStore, RedisMessageStore } from "../discord/message_store.ts";
import { commandClient, readerClient, subscriberClient, waitForRedis } from "./redis_clients.ts";
import { RequestScheduler } from "../discord/scheduler.ts";
import { StreamReader } from "../events/stream_reader.ts";

/** Of the shutdown's deadline, this much (at most half) is kept for giving the leases up after the flush. */
const RELEASE_RESERVE_MS = 1000;

/** Resolves when `work` settles or after `ms`, whichever is first; never rejects. */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  const timers: NodeJS.Timeout[] = [];
  await Promise.race([
    work.catch(() => undefined),
    new Promise((resolve) => {
      timers.push(setTimeout(resolve, ms));
    }),
  ]);
  for (const timer of timers) clearTimeout(timer);
}

/** The stats line is logged this often by default. */
export const STATS_INTERVAL_MS = 60_000;

export interface StartOptions {
  readonly logger: Logger;
  /** Whether a stop was asked for; while it is, Redis is no longer waited for. */
  readonly stopping: () => boolean;
  /** Discord refused the token (401), which never heals by itself. */
  readonly onFatal: () => void;
  readonly statsIntervalMs?: number;
  /** Consumers of the group idle this long with nothing pending are removed at start (default: a day). */
  readonly staleConsumerMs?: number;
}

export interface RunningBot {
  /** Where the interactions endpoint listens; null when it is off. */
  readonly interactionsPort: number | null;
  /**
   * Stops reading (the batch in hand is stored and acknowledged), sends each job's newest pending
   * state within the shutdown timeout, then gives the leases up so another bot goes on at once.
   */
  stop(signal: string): Promise<void>;
}

/** The one line `npm start` prints before it exits 1 when the bot could not start. */
export function startFailureLine(error: unknown): string {
  return `digits-bot: ${error instanceof Error ? error.message : String(error)}\n`;
}

/** Frees an ended job's /train slot with `release`; a failure is logged (the slot then expires by itself). */
export function releaseSlot(release: (job: JobId) => Promise<void>, logger: Logger): (job: JobId) => void {
  return (job) => {
    release(job).catch((error: unknown) => {
      logger.warn(`could not release the slot of ${job.requestId}: ${error instanceof Error ? error.message : String(error)}`);
    });
  };
}

/** Starts the bot; resolves once it reads the log, or to null when stopped while Redis was awaited. */
export async function startBot(config: BotConfig, options: StartOptions): Promise<RunningBot | null> {
  const { logger } = options;
  const commands = commandClient(config.redisUrl, logger);
  const readerRedis = readerClient(config.redisUrl, logger);
  const subscriber = subscriberClient(config.redisUrl, logger);
  if (!(await waitForRedis(commands, config.redisUrl, logger, options.stopping))) {
    commands.disconnect();
    readerRedis.disconnect();
    subscriber.disconnect();
    return null;
  }
  const prefix = `${BOT_KEY_PREFIX}${config.group}:`;
  // A dry run keeps job state in memory: it must not leave message ids behind for the real bot.
  const jobStore = config.dryRun ? new MemoryJobStore() : new RedisJobStore(commands, prefix);
  const messageStore = config.dryRun ? new MemoryMessageStore() : new RedisMessageStore(commands, prefix);
  const port =
    config.dryRun || config.discordToken === null
      ? new ConsoleDiscordPort()
      : new RestDiscordPort({ token: config.discordToken, apiUrl: config.discordApiUrl });
  let coordinator: Coordinator | null = null;
  const delivery = new Delivery({
    port,
    store: messageStore,
    logger,
    editIntervalMs: config.editIntervalMs,
    scheduler: new RequestScheduler({ maxRps: config.discordMaxRps }),
    fallbackChannelId: config.notifyChannelId,
    notifyAtEnd: config.notifyAtEnd,
    onFatal: options.onFatal,
    onFinished: (key) => coordinator?.finished(key),
  });
  const core = new Coordinator({
    store: jobStore,
    delivery,
    logger,
    owner: config.consumer,
    leaseMs: config.leaseMs,
    silentAfterS: config.silentAfterS,
    // The job no longer counts against the /train limits.
    onTerminal: releaseSlot((job) => releaseActive(commands, job.userId, job.requestId), logger),
  });
  coordinator = core;
  const reader = new StreamReader({
    redis: readerRedis,
    stream: config.eventsStream,
    group: config.group,
    consumer: config.consumer,
    claimIdleMs: config.claimIdleMs,
    logger,
    handle: (entries) => core.handle(entries),
  });
  await reader.ensureGroup();
  // Pruning is housekeeping: a Redis that refuses it (a user without XINFO) does not stop the bot.
  const pruned = await reader.pruneConsumers(options.staleConsumerMs).catch(() => []);
  if (pruned.length > 0) logger.info(`removed ${pruned.length} consumer(s) idle for a day with nothing pending from group ${config.group}`);
  // Producers that only PUBLISH reach the log through the bridge (once across all bots).
  const bridge = new ChannelBridge({
    subscriber,
    commands,
    channel: config.eventsChannel,
    stream: config.eventsStream,
    streamMaxlen: config.streamMaxlen,
    streamMaxAgeS: config.streamMaxAgeS,
    redisUrl: config.redisUrl,
    logger,
    invalid: core.invalid,
  });
  await bridge.start();
  logger.info(
    `listening on ${config.eventsStream} (group ${config.group}, consumer ${config.consumer}) at ${redactUrl(config.redisUrl)}${config.dryRun ? " (dry run)" : ""}`,
  );
  const statsTimer = setInterval(() => {
    logger.info(`stats ${JSON.stringify({ ...core.stats, jobs: core.ownedJobs, channel: bridge.stats })}`);
  }, options.statsIntervalMs ?? STATS_INTERVAL_MS);
  statsTimer.unref();
  let interactions: { readonly server: InteractionsServer; readonly port: number } | null = null;
  if (config.interactions !== null) {
    const settings = config.interactions;
    // The Queued message goes through the same rate limits (and DM cache) as every edit.
    const scheduled = delivery.scheduledPort();
    interactions = await startInteractions(
      settings,
      {
        redis: commands,
        settings,
        discord: scheduled,
        // The requester's DM first; the notify channel when DMs are closed (as delivery does).
        channelFor: (userId) => scheduled.openDm(userId),
        notifyChannelId: config.notifyChannelId,
        messages: messageStore,
        messageKeyFor,
        log: logger,
        now: Date.now,
        isOpen: (userId, requestId) => jobStore.isOpen({ userId, requestId }),
      },
      port,
      process.env,
      { store: jobStore, messages: messageStore, prefix },
    );
  }
  core.start();
  void core.tick(); // take over open jobs of a bot that stopped, at once
  const reading = reader.run();
  const server = interactions?.server ?? null;

  return {
    interactionsPort: interactions?.port ?? null,
    stop: async (signal) => {
      // One deadline for all of it: answers in progress, the flush, giving the leases up.
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const left = (): number => Math.max(0, deadline - Date.now());
      logger.info(`${signal}: stopping; stats ${JSON.stringify(core.stats)}`);
      clearInterval(statsTimer);
      reader.stop();
      // Answers in progress finish (as far as the deadline lets them).
      await within(Promise.all([reading, server?.stop(), bridge.stop()]), left());
      core.stopPasses(); // leases are still renewed while the flush runs
      const flushed = await delivery.flush(Math.max(0, left() - Math.min(RELEASE_RESERVE_MS, left() / 2)));
      logger.info(flushed ? "all pending updates sent" : `pending updates not all sent within ${config.shutdownTimeoutMs} ms`);
      await within(core.releaseAll(), left());
      core.stop();
      if (config.throwawayGroup) await commands.xgroup("DESTROY", config.eventsStream, config.group).catch(() => 0);
      commands.disconnect();
      readerRedis.disconnect();
      subscriber.disconnect();
    },
  };
}
