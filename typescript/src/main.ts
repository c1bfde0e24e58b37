// Entry point: `npm start [-- --dry-run | --help]`. Wires the log reader, the coordinator and
// delivery, and stops them in order on SIGTERM/SIGINT.

import { BOT_KEY_PREFIX, loadConfig, USAGE, type BotConfig } from "./config.ts";
import { ConsoleDiscordPort } from "./console_port.ts";
import { Coordinator } from "./coordinator.ts";
import { Delivery } from "./delivery.ts";
import { RestDiscordPort } from "./discord_rest.ts";
import { MemoryJobStore, RedisJobStore } from "./job_store.ts";
import { redactUrl, stderrLogger } from "./log.ts";
import { releaseActive, startInteractions } from "./interactions/index.ts";
import type { InteractionsServer } from "./interactions/server.ts";
import { messageKeyFor } from "./jobs.ts";
import { MemoryMessageStore, RedisMessageStore } from "./message_store.ts";
import { RequestScheduler } from "./scheduler.ts";
import { StreamReader } from "./stream_reader.ts";
import { commandClient, readerClient, waitForRedis } from "./redis_clients.ts";

const STATS_INTERVAL_MS = 60_000;

async function run(config: BotConfig): Promise<void> {
  const logger = stderrLogger;
  let stopping = false;
  let stop: (signal: string) => void = () => {
    // Before the bot is up there is nothing to flush.
    process.exit(0);
  };
  const onSignal = (signal: string): void => {
    // A signal to the whole group arrives twice (directly and forwarded by npm): stop once.
    if (stopping) return;
    stopping = true;
    stop(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const commands = commandClient(config.redisUrl, logger);
  const readerRedis = readerClient(config.redisUrl, logger);
  const shownUrl = redactUrl(config.redisUrl);
  await waitForRedis(commands, config.redisUrl, logger, () => stopping);
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
    onFatal: () => {
      // A refused token never heals by itself: exit so a supervisor (or a person) sees it.
      process.stderr.write("digits-bot: Discord refused DISCORD_TOKEN (401); set a valid bot token and start again\n");
      process.exit(1);
    },
    onFinished: (key) => coordinator?.finished(key),
  });
  const core = new Coordinator({
    store: jobStore,
    delivery,
    logger,
    owner: config.consumer,
    leaseMs: config.leaseMs,
    silentAfterS: config.silentAfterS,
    notifyChannelId: config.notifyChannelId,
    // The job no longer counts against the /train limits.
    onTerminal: (job) => {
      releaseActive(commands, job.userId, job.requestId).catch((error: unknown) => {
        logger.warn(`could not release the slot of ${job.requestId}: ${error instanceof Error ? error.message : String(error)}`);
      });
    },
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
  const pruned = await reader.pruneConsumers().catch(() => []);
  if (pruned.length > 0) logger.info(`removed ${pruned.length} consumer(s) idle for a day with nothing pending from group ${config.group}`);
  logger.info(
    `listening on ${config.eventsStream} (group ${config.group}, consumer ${config.consumer}) at ${shownUrl}${config.dryRun ? " (dry run)" : ""}`,
  );
  const statsTimer = setInterval(() => {
    logger.info(`stats ${JSON.stringify({ ...core.stats, jobs: core.ownedJobs })}`);
  }, STATS_INTERVAL_MS);
  statsTimer.unref();
  let interactions: InteractionsServer | null = null;
  if (config.interactions !== null) {
    const settings = config.interactions;
    const notifyChannelId = config.notifyChannelId;
    const started = await startInteractions(
      settings,
      {
        redis: commands,
        settings,
        // The Queued message goes through the same rate limits (and DM cache) as every edit.
        discord: delivery.scheduledPort(),
        channelFor: (userId) => (notifyChannelId !== null ? Promise.resolve(notifyChannelId) : delivery.scheduledPort().openDm(userId)),
        messages: messageStore,
        messageKeyFor: (userId, requestId) => messageKeyFor(userId, requestId),
        log: logger,
        now: Date.now,
      },
      port,
    );
    interactions = started.server;
  }
  core.start();
  void core.tick(); // take over open jobs of a bot that stopped, at once
  const reading = reader.run();

  stop = (signal) => {
    logger.info(`${signal}: stopping; stats ${JSON.stringify(core.stats)}`);
    clearInterval(statsTimer);
    // Stop reading (the batch in hand is stored and acknowledged), then send each job's newest
    // pending state within the timeout, then give the leases up so another bot goes on at once.
    reader.stop();
    const closing = interactions?.stop() ?? Promise.resolve(); // answers in progress finish
    void Promise.all([reading, closing])
      .then(() => {
        core.stop();
        return delivery.flush(config.shutdownTimeoutMs);
      })
      .then(async (flushed) => {
        logger.info(flushed ? "all pending updates sent" : `pending updates not all sent within ${config.shutdownTimeoutMs} ms`);
        await core.releaseAll();
        if (config.throwawayGroup) await commands.xgroup("DESTROY", config.eventsStream, config.group).catch(() => 0);
        commands.disconnect();
        readerRedis.disconnect();
        process.exit(0);
      });
  };
}

const result = loadConfig(process.argv.slice(2), process.env);
if (result.kind === "help") {
  process.stdout.write(`${USAGE}\n`);
} else if (result.kind === "error") {
  process.stderr.write(`digits-bot: ${result.message}\n`);
  process.exitCode = 2;
} else {
  run(result.config).catch((error: unknown) => {
    process.stderr.write(`digits-bot: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
