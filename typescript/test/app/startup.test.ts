// startBot in-process (what `npm start` runs): a real Redis and the Discord stand-in; its start
// log, stats, interactions endpoint, stop sequence, and what it does when Redis refuses housekeeping.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type BotConfig, loadConfig } from "../../src/app/config.ts";
import { isActive, releaseActive, reserveActive } from "../../src/interactions/active.ts";
import type { JobId } from "../../src/jobs/job.ts";
import { type Logger, silentLogger } from "../../src/shared/log.ts";
import { commandClient } from "../../src/app/redis_clients.ts";
import { releaseSlot, startBot, startFailureLine } from "../../src/app/startup.ts";
import { completed, started } from "../support/fixtures.ts";
import { BotStage } from "../support/bot_stage.ts";

const TOKEN = "startup-token";

const stage = new BotStage(TOKEN);

class LinesLogger implements Logger {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  has(pattern: RegExp): boolean {
    return this.lines.some((line) => pattern.test(line));
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function botConfig(argv: readonly string[], env: Record<string, string>): BotConfig {
  const result = loadConfig(argv, { REDIS_URL: stage.redis.url, DIGITS_EDIT_INTERVAL_MS: "0", ...env });
  assert.equal(result.kind, "run", JSON.stringify(result));
  return result.config;
}

const noFatal = (): void => assert.fail("Discord refused the token");

void test("a bot with a token shows a job in Discord, logs stats, prunes stale consumers, and stops in order", async () => {
  const stream = "startup-token-log";
  await stage.publisher.xgroup("CREATE", stream, "bots", "$", "MKSTREAM");
  await stage.publisher.xgroup("CREATECONSUMER", stream, "bots", "bot-gone");
  const config = botConfig([], {
    DISCORD_TOKEN: TOKEN,
    DISCORD_API_URL: stage.apiUrl,
    DIGITS_EVENTS_STREAM: stream,
    DIGITS_BOT_GROUP: "bots",
    DIGITS_BOT_CONSUMER: "bot-1",
  });
  const logger = new LinesLogger();
  const bot = await startBot(config, { logger, stopping: () => false, onFatal: noFatal, statsIntervalMs: 20, staleConsumerMs: 0 });
  assert.ok(bot !== null);
  assert.equal(bot.interactionsPort, null);
  assert.ok(logger.has(/^info removed 1 consumer\(s\) idle for a day with nothing pending from group bots$/), logger.lines.join("\n"));
  assert.ok(logger.has(new RegExp(`^info listening on ${stream} \\(group bots, consumer bot-1\\) at ${stage.redis.url}$`)));
  const consumers = async (): Promise<string> => JSON.stringify(await stage.publisher.xinfo("CONSUMERS", stream, "bots"));
  assert.doesNotMatch(await consumers(), /bot-gone/);

  await stage.publisher.xadd(stream, "*", "event", started({ request_id: "startup-job" }));
  await waitFor("the job's message", () => [...stage.discord.titles.values()].some((title) => title.startsWith("Training started")));
  await waitFor("a stats line", () => logger.has(/^info stats \{.*"jobs":1/));
  await stage.publisher.xadd(stream, "*", "event", completed(0.97, { request_id: "startup-job" }));
  await waitFor("the end", () => [...stage.discord.titles.values()].some((title) => title.startsWith("Training completed")));

  await bot.stop("SIGTERM");
  assert.ok(logger.has(/^info SIGTERM: stopping; stats \{/));
  assert.ok(logger.has(/^info all pending updates sent$/));
  assert.equal(logger.lines.filter((line) => line.startsWith("warn")).length, 0, logger.lines.join("\n"));
  // The real group stays for the next bot; this bot's clients are closed, so it no longer reads.
  assert.match(JSON.stringify(await stage.publisher.xinfo("GROUPS", stream)), /"bots"/);
  const stats = logger.lines.filter((line) => line.startsWith("info stats")).length;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(logger.lines.filter((line) => line.startsWith("info stats")).length, stats, "no stats after the stop");
});

void test("a stop that cannot send a pending update within the shutdown timeout says so", async () => {
  const stream = "startup-unsent-log";
  const config = botConfig([], {
    DISCORD_TOKEN: TOKEN,
    DISCORD_API_URL: stage.apiUrl,
    DIGITS_EVENTS_STREAM: stream,
    DIGITS_BOT_GROUP: "unsent",
    DIGITS_SHUTDOWN_TIMEOUT_MS: "200",
  });
  const logger = new LinesLogger();
  const bot = await startBot(config, { logger, stopping: () => false, onFatal: noFatal });
  assert.ok(bot !== null);
  stage.discord.slowMs = 1500;
  try {
    const before = stage.discord.messageRequests().length;
    await stage.publisher.xadd(stream, "*", "event", started({ request_id: "unsent-job" }));
    await waitFor("a create under way", () => stage.discord.messageRequests().length > before);
    await bot.stop("SIGTERM");
  } finally {
    stage.discord.slowMs = 0;
  }
  assert.ok(logger.has(/^info pending updates not all sent within 200 ms$/), logger.lines.join("\n"));
});

void test("a dry run serves no /train and deletes its throwaway group at stop; a bot with DISCORD_PUBLIC_KEY listens for Discord", async () => {
  const stream = "startup-dry-log";
  const endpoint = {
    DISCORD_PUBLIC_KEY: "b".repeat(64),
    DISCORD_APPLICATION_ID: "77",
    DIGITS_INTERACTIONS_HOST: "127.0.0.1",
    DIGITS_INTERACTIONS_PORT: "0",
  };
  const config = botConfig(["--dry-run"], { DIGITS_EVENTS_STREAM: stream, DIGITS_NOTIFY_CHANNEL_ID: "555", ...endpoint });
  assert.equal(config.throwawayGroup, true);
  assert.equal(config.interactions, null, "a dry run never queues a job");
  const logger = new LinesLogger();
  const bot = await startBot(config, { logger, stopping: () => false, onFatal: noFatal });
  assert.ok(bot !== null);
  assert.ok(logger.has(/ \(dry run\)$/), logger.lines.join("\n"));
  assert.equal(bot.interactionsPort, null);
  assert.match(JSON.stringify(await stage.publisher.xinfo("GROUPS", stream)), new RegExp(config.group));
  await bot.stop("SIGINT");
  assert.ok(logger.has(/^info SIGINT: stopping/));
  assert.deepEqual(await stage.publisher.xinfo("GROUPS", stream), [], "the throwaway group is gone");

  const live = botConfig([], { DISCORD_TOKEN: TOKEN, DISCORD_API_URL: stage.apiUrl, DIGITS_EVENTS_STREAM: stream, ...endpoint });
  const served = await startBot(live, { logger, stopping: () => false, onFatal: noFatal });
  assert.ok(served !== null);
  assert.ok(served.interactionsPort !== null && served.interactionsPort > 0);
  assert.ok(
    logger.has(new RegExp(`^info interactions endpoint listening on http://127\\.0\\.0\\.1:${served.interactionsPort}/interactions$`)),
  );
  const answer = await fetch(`http://127.0.0.1:${served.interactionsPort}/interactions`, { method: "POST", body: "{}" });
  assert.equal(answer.status, 401, "an unsigned request is refused");
  await served.stop("SIGTERM");
  await assert.rejects(fetch(`http://127.0.0.1:${served.interactionsPort}/interactions`, { method: "POST", body: "{}" }));
});

void test("a Redis user that may not list consumers or delete groups still runs the bot; that housekeeping is skipped", async () => {
  await stage.publisher.call("ACL", "SETUSER", "limited", "on", ">pw", "~*", "&*", "+@all", "-xinfo", "-xgroup|destroy");
  const stream = "startup-acl-log";
  const url = stage.redis.url.replace("redis://", "redis://limited:pw@");
  const logger = new LinesLogger();
  const config = botConfig(["--dry-run"], { REDIS_URL: url, DIGITS_EVENTS_STREAM: stream });
  await stage.publisher.xgroup("CREATE", stream, config.group, "$", "MKSTREAM");
  await stage.publisher.xgroup("CREATECONSUMER", stream, config.group, "bot-gone");
  const bot = await startBot(config, { logger, stopping: () => false, onFatal: noFatal, staleConsumerMs: 0 });
  assert.ok(bot !== null);
  assert.ok(
    logger.has(/^info listening on startup-acl-log .* at redis:\/\/limited:\*\*\*@127\.0\.0\.1:\d+ \(dry run\)$/),
    logger.lines.join("\n"),
  );
  assert.ok(!logger.has(/removed/));
  assert.match(JSON.stringify(await stage.publisher.xinfo("CONSUMERS", stream, config.group)), /bot-gone/, "not pruned");
  await bot.stop("SIGTERM");
  assert.ok(logger.has(/^info all pending updates sent$/));
  // The throwaway group could not be deleted: it is left behind, and the stop still completes.
  assert.match(JSON.stringify(await stage.publisher.xinfo("GROUPS", stream)), new RegExp(config.group));
});

void test("a bot told to stop while it waits for Redis gives up and starts nothing", async () => {
  const logger = new LinesLogger();
  const bot = await startBot(botConfig(["--dry-run"], { REDIS_URL: "redis://127.0.0.1:1" }), {
    logger,
    stopping: () => true,
    onFatal: noFatal,
  });
  assert.equal(bot, null);
  assert.ok(!logger.has(/listening/));
});

void test("an ended job's slot is freed; when that fails the failure is logged, not thrown", async () => {
  const client = commandClient(stage.redis.url, silentLogger);
  const release = (job: JobId): Promise<void> => releaseActive(client, job.userId, job.requestId);
  const limits = { maxJobsPerUser: 5, maxJobsTotal: 5, activeJobTtlS: 3600 };
  assert.equal((await reserveActive(client, limits, 42n, "slot-job", Date.now())).kind, "reserved");
  assert.equal(await isActive(client, 42n, "slot-job", Date.now()), true);
  const logger = new LinesLogger();
  releaseSlot(release, logger)({ userId: 42n, requestId: "slot-job" });
  await waitFor("the slot freed", async () => !(await isActive(client, 42n, "slot-job", Date.now())));
  assert.deepEqual(logger.lines, []);
  client.disconnect();
  releaseSlot(release, logger)({ userId: 42n, requestId: "lost-job" });
  await waitFor("the warning", () => logger.has(/^warn could not release the slot of lost-job: Connection is closed\.$/));
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a non-Error rejection logs
  releaseSlot(() => Promise.reject("refused"), logger)({ userId: 42n, requestId: "odd-job" });
  await waitFor("the second warning", () => logger.has(/^warn could not release the slot of odd-job: refused$/));
});

void test("a start failure is one line naming the cause, whatever was thrown", () => {
  assert.equal(startFailureLine(new Error("listen EADDRINUSE")), "digits-bot: listen EADDRINUSE\n");
  assert.equal(startFailureLine("no route"), "digits-bot: no route\n");
});
