// Entry point: `npm start [-- --dry-run | --help]`.

import { Bot } from "./bot.ts";
import { loadConfig, USAGE, type BotConfig } from "./config.ts";
import { ConsoleDiscordPort } from "./console_port.ts";
import { Delivery } from "./delivery.ts";
import { RestDiscordPort } from "./discord_rest.ts";
import { RequestScheduler } from "./scheduler.ts";
import { stderrLogger } from "./log.ts";
import { MemoryMessageStore, RedisMessageStore, type MessageStore } from "./message_store.ts";
import { commandClient, subscribe } from "./subscriber.ts";

const STATS_INTERVAL_MS = 60_000;

async function run(config: BotConfig): Promise<void> {
  const logger = stderrLogger;
  const commands = config.dryRun ? null : commandClient(config.redisUrl, logger);
  // A dry run must not leave message ids behind for the real bot.
  const store: MessageStore = commands === null ? new MemoryMessageStore() : new RedisMessageStore(commands);
  const port =
    config.dryRun || config.discordToken === null
      ? new ConsoleDiscordPort()
      : new RestDiscordPort({ token: config.discordToken, apiUrl: config.discordApiUrl });
  const delivery = new Delivery({
    port,
    store,
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
  });
  const bot = new Bot({ delivery, logger, notifyChannelId: config.notifyChannelId });
  const subscription = await subscribe(config.redisUrl, config.eventsChannel, (payload) => {
    bot.handle(payload);
  }, logger);
  logger.info(`listening on ${config.eventsChannel} at ${config.redisUrl}${config.dryRun ? " (dry run)" : ""}`);
  const statsTimer = setInterval(() => {
    logger.info(`stats ${JSON.stringify(bot.stats)}`);
  }, STATS_INTERVAL_MS);
  statsTimer.unref();

  let stopping = false;
  const stop = (signal: string): void => {
    // A signal to the whole group arrives twice (directly and forwarded by npm): stop once; the
    // flush is bounded by its timeout either way.
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping; stats ${JSON.stringify(bot.stats)}`);
    clearInterval(statsTimer);
    // Stop taking events, then send each job's newest pending state, bounded by the timeout.
    void subscription
      .close()
      .then(() => delivery.flush(config.shutdownTimeoutMs))
      .then((flushed) => {
        logger.info(flushed ? "all pending updates sent" : `pending updates not all sent within ${config.shutdownTimeoutMs} ms`);
        commands?.disconnect();
        process.exit(0);
      });
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
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
