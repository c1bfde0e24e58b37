// Entry point: `npm start [-- --dry-run | --help]`. Starts the bot (app/startup.ts) and stops it
// in order on SIGTERM/SIGINT (app/signals.ts: one deadline; a second signal exits at once).

import { loadConfig, USAGE, type BotConfig } from "./app/config.ts";
import { stderrLogger } from "./shared/log.ts";
import { signalHandler } from "./app/signals.ts";
import { startBot, startFailureLine, type RunningBot } from "./app/startup.ts";

/** Past the shutdown's own deadline, this long is left for the last clean-up before exit 1. */
const EXIT_GRACE_MS = 2000;

async function run(config: BotConfig): Promise<void> {
  let bot: RunningBot | null = null;
  const signals = signalHandler({
    stop: () => {
      const running = bot;
      return running === null ? null : (signal) => running.stop(signal);
    },
    exit: (code) => process.exit(code),
    log: (line) => process.stderr.write(`${line}\n`),
    deadlineMs: config.shutdownTimeoutMs + EXIT_GRACE_MS,
  });
  process.on("SIGINT", signals.onSignal);
  process.on("SIGTERM", signals.onSignal);
  bot = await startBot(config, {
    logger: stderrLogger,
    stopping: signals.stopping,
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
