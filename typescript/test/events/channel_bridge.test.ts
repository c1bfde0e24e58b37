// The channel bridge against a real redis-server: what producers only PUBLISH reaches the event
// log once, whatever number of bots hear it; what a producer logged itself (its text marked, as
// events/publishers.py does) is not appended again; invalid messages are counted; the log is
// trimmed as the Python publisher trims it; a reconnect is logged and the subscription comes back.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import type { Redis } from "ioredis";
import { ChannelBridge, seenKeyOf } from "../../src/events/channel_bridge.ts";
import { DEFAULT_STREAM_MAX_AGE_S, DEFAULT_STREAM_MAXLEN, loadConfig } from "../../src/app/config.ts";
import { CHANNEL_SEEN_TTL_S, MAX_BRIDGE_QUEUE, STREAM_TRIM_EVERY_MS } from "../../src/shared/limits.ts";
import { InvalidLog } from "../../src/events/invalid_log.ts";
import type { Logger } from "../../src/shared/log.ts";
import { silentLogger } from "../../src/shared/log.ts";
import { commandClient, subscriberClient } from "../../src/app/redis_clients.ts";
import { completed, legacyText, started } from "../support/fixtures.ts";
import { RedisServer } from "../support/redis_server.ts";

const PYTHON = resolve(import.meta.dirname, "..", "..", "..", ".venv", "bin", "python");

let redis: RedisServer;

let client: Redis;

const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  redis = await RedisServer.start();
  client = commandClient(redis.url, silentLogger);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  client.disconnect();
  await redis.stop();
});

function recorder(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (line) => lines.push(line), warn: (line) => lines.push(line) };
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

interface Started {
  readonly bridge: ChannelBridge;
  readonly logger: ReturnType<typeof recorder>;
}

async function startBridge(
  channel: string,
  stream: string,
  options: { maxlen?: number; maxAgeS?: number; commandsUrl?: string; start?: boolean } = {},
): Promise<Started> {
  const logger = recorder();
  const subscriber = subscriberClient(redis.url, silentLogger);
  const commands = commandClient(options.commandsUrl ?? redis.url, silentLogger);
  const bridge = new ChannelBridge({
    subscriber,
    commands,
    channel,
    stream,
    streamMaxlen: options.maxlen ?? DEFAULT_STREAM_MAXLEN,
    streamMaxAgeS: options.maxAgeS ?? DEFAULT_STREAM_MAX_AGE_S,
    redisUrl: redis.url.replace("redis://", "redis://user:hunter2@"),
    logger,
    invalid: new InvalidLog(logger),
  });
  if (options.start !== false) await bridge.start();
  cleanups.push(async () => {
    await bridge.stop();
    subscriber.disconnect();
    commands.disconnect();
  });
  return { bridge, logger };
}

async function logTexts(stream: string): Promise<string[]> {
  const entries = await client.xrange(stream, "-", "+");
  return entries.map(([, fields]) => fields[1] ?? "");
}

void test("a message only published is appended once, byte for byte, though two bots hear it", async () => {
  const a = await startBridge("c-once", "log-once");
  const b = await startBridge("c-once", "log-once");
  // Non-ASCII and a big user id: the log gets the exact bytes published.
  const text = started({ run_id: "run-é" });
  assert.equal(await client.publish("c-once", text), 2);
  await waitFor("both bots to handle it", () => a.bridge.stats.heard === 1 && b.bridge.stats.heard === 1);
  await waitFor("the append", async () => (await logTexts("log-once")).length === 1);
  await waitFor(
    "both bots to be done",
    () => a.bridge.stats.appended + a.bridge.stats.alreadyLogged === 1 && b.bridge.stats.appended + b.bridge.stats.alreadyLogged === 1,
  );
  assert.deepEqual(await logTexts("log-once"), [text]);
  assert.equal(a.bridge.stats.appended + b.bridge.stats.appended, 1);
  assert.equal(a.bridge.stats.alreadyLogged + b.bridge.stats.alreadyLogged, 1);
  const ttl = await client.ttl(seenKeyOf(Buffer.from(text)));
  assert.ok(ttl > 0 && ttl <= CHANNEL_SEEN_TTL_S, String(ttl));
  assert.ok(
    a.logger.lines.some(
      (line) => line.startsWith("bridging channel c-once into log-once") && line.includes("at redis://user:***@127.0.0.1"),
    ),
    a.logger.lines.join("\n"),
  );
  assert.ok(!a.logger.lines.join("\n").includes("hunter2"));
});

void test("what a producer logged itself (its text marked before the PUBLISH) is not appended again", async () => {
  const { bridge } = await startBridge("c-logged", "log-logged");
  const text = completed(0.5);
  // As events/publishers.py does: mark, PUBLISH and XADD in one round trip.
  const replies = await client
    .multi()
    .set(seenKeyOf(Buffer.from(text)), "1", "EX", CHANNEL_SEEN_TTL_S)
    .publish("c-logged", text)
    .xadd("log-logged", "*", "event", text)
    .exec();
  assert.equal(replies?.[1]?.[1], 1);
  await waitFor("the bridge to look", () => bridge.stats.alreadyLogged === 1);
  assert.deepEqual(await logTexts("log-logged"), [text]);
  assert.equal(bridge.stats.appended, 0);
});

void test("legacy messages are bridged too; invalid ones are counted and logged, never appended", async () => {
  const { bridge, logger } = await startBridge("c-junk", "log-junk");
  const legacy = legacyText("started", { total_epochs: 2 });
  for (const junk of ["not json", "{}", "x".repeat(70_000)]) await client.publish("c-junk", junk);
  await client.publish("c-junk", legacy);
  await waitFor("the legacy message", () => bridge.stats.appended === 1);
  assert.deepEqual(await logTexts("log-junk"), [legacy]);
  assert.equal(bridge.stats.invalid, 3);
  assert.equal(bridge.stats.heard, 4);
  assert.ok(
    logger.lines.some((line) => line.startsWith('invalid event #1 ("on the channel: ')),
    logger.lines.join("\n"),
  );
});

void test("the log is trimmed as the Python publisher trims it: MAXLEN ~ on each append, by age at most every 10 s", async () => {
  for (let n = 1; n <= 300; n += 1) await client.xadd("log-trim", `${n}-0`, "event", "ancient");
  const { bridge } = await startBridge("c-trim", "log-trim", { maxlen: 1000, maxAgeS: 60 });
  const before = Number((await client.info("commandstats")).match(/cmdstat_xtrim:calls=(\d+)/)?.[1] ?? 0);
  await client.publish("c-trim", started({ request_id: "trim-1" }));
  await waitFor("the first append", () => bridge.stats.appended === 1);
  assert.deepEqual(await logTexts("log-trim"), [started({ request_id: "trim-1" })]);
  await client.publish("c-trim", started({ request_id: "trim-2" }));
  await waitFor("the second append", () => bridge.stats.appended === 2);
  const after = Number((await client.info("commandstats")).match(/cmdstat_xtrim:calls=(\d+)/)?.[1] ?? 0);
  assert.equal(after - before, 1, "the second append comes within the trim interval");
  // MAXLEN ~: a log far past its length shrinks by whole nodes on the next append.
  const pipeline = client.pipeline();
  for (let n = 0; n < 3000; n += 1) pipeline.xadd("log-trim", "*", "event", "filler");
  await pipeline.exec();
  await client.publish("c-trim", started({ request_id: "trim-3" }));
  await waitFor("the third append", () => bridge.stats.appended === 3);
  const length = await client.xlen("log-trim");
  assert.ok(length >= 1000 && length < 1300, String(length));
});

void test("a restarted Redis: the reconnect is logged (password redacted) and messages are bridged again", async () => {
  const server = await RedisServer.start();
  const logger = recorder();
  const subscriber = subscriberClient(server.url, silentLogger);
  const commands = commandClient(server.url, silentLogger);
  const bridge = new ChannelBridge({
    subscriber,
    commands,
    channel: "c-restart",
    stream: "log-restart",
    streamMaxlen: DEFAULT_STREAM_MAXLEN,
    streamMaxAgeS: DEFAULT_STREAM_MAX_AGE_S,
    redisUrl: server.url.replace("redis://", "redis://:hunter2@"),
    logger,
    invalid: new InvalidLog(logger),
  });
  const other = commandClient(server.url, silentLogger);
  try {
    await bridge.start();
    await server.stop();
    await server.launch();
    await waitFor("the reconnect line", () => logger.lines.some((line) => line.includes("reconnected to redis://:***@127.0.0.1")), 15_000);
    const text = started({ request_id: "after-restart" });
    await waitFor("the subscription to come back", async () => (await other.publish("c-restart", text)) === 1, 15_000);
    await waitFor("the append", () => bridge.stats.appended === 1);
    assert.deepEqual(
      (await other.xrange("log-restart", "-", "+")).map(([, fields]) => fields[1]),
      [text],
    );
    assert.ok(!logger.lines.join("\n").includes("hunter2"));
  } finally {
    await bridge.stop();
    subscriber.disconnect();
    commands.disconnect();
    other.disconnect();
    await server.stop();
  }
});

void test("a message Redis refuses to append is tried again with backoff, then dropped and logged", async () => {
  const dead = await RedisServer.unstarted(); // nothing listens on its port
  const { bridge, logger } = await startBridge("c-dead", "log-dead", { commandsUrl: dead.url });
  await client.publish("c-dead", started({ request_id: "lost" }));
  await waitFor("the message to be given up", () => bridge.stats.dropped === 1, 30_000);
  const line = logger.lines.find((text) => text.startsWith("could not append a channel message to log-dead (5 tries"));
  assert.ok(line?.includes("it is lost: ") === true && line.includes("lost"), logger.lines.join("\n"));
});

void test("past MAX_BRIDGE_QUEUE waiting messages new ones are dropped (logged once); a stop drops what still waits", async () => {
  const dead = await RedisServer.unstarted();
  const { bridge, logger } = await startBridge("c-full", "log-full", { commandsUrl: dead.url, start: false });
  const text = Buffer.from(started({ request_id: "full" }));
  const total = MAX_BRIDGE_QUEUE + 5;
  for (let n = 0; n < total; n += 1) bridge.heard(text);
  // One in hand, MAX_BRIDGE_QUEUE waiting, the rest dropped at once.
  assert.equal(bridge.stats.dropped, total - 1 - MAX_BRIDGE_QUEUE);
  assert.equal(logger.lines.filter((line) => line.includes("dropping new ones")).length, 1);
  await bridge.stop();
  bridge.heard(text); // after the stop: ignored
  assert.equal(bridge.stats.heard, total);
  assert.equal(bridge.stats.dropped, total);
  assert.equal(bridge.stats.appended, 0);
});

void test("the retention and the seen mark agree with the Python publisher's", () => {
  const code = [
    "import json",
    "from handwriting_ai.settings import Settings",
    "from handwriting_ai.events.eventlog import SEEN_TTL_S, seen_key",
    "from handwriting_ai.events.publishers import TRIM_EVERY_S",
    "e = Settings().events",
    "print(json.dumps([e.stream_maxlen, e.stream_max_age_s, TRIM_EVERY_S, SEEN_TTL_S, seen_key('{\"é\": 1}')]))",
  ].join("\n");
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EVENTS__")));
  const result = spawnSync(PYTHON, ["-c", code], { encoding: "utf8", timeout: 60_000, env });
  assert.equal(result.status, 0, result.stderr);
  const python: unknown = JSON.parse(result.stdout);
  assert.deepEqual(python, [
    DEFAULT_STREAM_MAXLEN,
    DEFAULT_STREAM_MAX_AGE_S,
    STREAM_TRIM_EVERY_MS / 1000,
    CHANNEL_SEEN_TTL_S,
    seenKeyOf(Buffer.from('{"é": 1}')),
  ]);
});

void test("the bot reads the channel and the log's retention from the workers' variables; bad values are refused", () => {
  const base = { DISCORD_TOKEN: "t" };
  const config = loadConfig([], { ...base, DIGITS_EVENTS_CHANNEL: "ch", EVENTS__STREAM_MAXLEN: "5000", EVENTS__STREAM_MAX_AGE_S: "3600" });
  assert.equal(config.kind, "run");
  assert.deepEqual([config.config.eventsChannel, config.config.streamMaxlen, config.config.streamMaxAgeS], ["ch", 5000, 3600]);
  assert.deepEqual(loadConfig([], { ...base, EVENTS__STREAM_MAXLEN: "10" }), {
    kind: "error",
    message: 'EVENTS__STREAM_MAXLEN must be a whole number >= 1000, got "10"',
  });
  assert.deepEqual(loadConfig([], { ...base, EVENTS__STREAM_MAX_AGE_S: "a week" }), {
    kind: "error",
    message: 'EVENTS__STREAM_MAX_AGE_S must be a whole number >= 60, got "a week"',
  });
});
