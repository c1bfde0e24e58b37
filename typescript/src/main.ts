// Entry point: `npm start [-- --dry-run | --help]`. Starts the bot (src/startup.ts) and stops it
// in order on SIGTERM/SIGINT.

import { loadConfig, USAGE, type BotConfig } from "./config.ts";
import { stderrLogger } from "./log.ts";
import { startBot, startFailureLine, type RunningBot } from "./startup.ts";

async function run(config: BotConfig): Promise<void> {
  let stopping = false;
  let bot: RunningBot | null = null;
  const onSignal = (signal: string): void => {
    // A signal to the whole group arrives twice (directly and forwarded by npm): stop once.
    if (stopping) return;
    stopping = true;
    // Before the bot is up there is nothing to flush.
    if (bot === null) process.exit(0);
    void bot.stop(signal).then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  bot = await startBot(config, {
    logger: stderrLogger,
    stopping: () => stopping,
    onFatal: () => {
      process.stderr.write("digits-bot: Discord refused DISCORD_TOKEN (401); set a valid bot token and start again\n");
      process.exit(1);
    },
  });
}

const result = loadConfig(process.argv.slice(2), process.env);
if (result.kind === "help") {
  process.stdout.write(`${USAGE}\n`);
} else if (result.kind === "error") {
  process.stderr.write(`digits-bot: ${result.message}\n`);
  process.exitCode = 2;
} else {
  run(result.config).catch((error: unknown) => {
    process.stderr.write(startFailureLine(error));
    process.exit(1);
  });
}
