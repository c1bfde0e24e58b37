// Fenced writers: two bots on one real redis-server, each with its own coordinator, delivery and
// scripted Discord port. A bot that lost a job's lease sends nothing more for it (not a pending
// update, not the answer of a request in flight); the lease is renewed on its own timer while a pass
// is slow; a failed "done" write is retried so a redelivered final entry changes nothing; jobs that
// left the open set are dropped.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { defaultConsumer } from "../../src/app/config.ts";
import { Coordinator } from "../../src/relay/coordinator.ts";
import { Delivery } from "../../src/discord/delivery.ts";
import { leaseHolder, MemoryJobStore, RedisJobStore, type StoredEvents } from "../../src/jobs/job_store.ts";
import { type JobId, jobKey } from "../../src/jobs/job.ts";
import { RedisMessageStore } from "../../src/discord/message_store.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import type { LogEntry } from "../../src/events/stream_reader.ts";
import { FakePort } from "../support/fake_port.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import type { DiscordPort } from "../../src/discord/discord_port.ts";
import { BIG_USER_ID, completed, epochDone, eventText, started } from "../support/fixtures.ts";
import { PRUNE_V1 } from "../../src/generated/names.ts";
import { RedisServer } from "../support/redis_server.ts";

const PREFIX = "digits:bot:fence:";

let server: RedisServer;

let redis: Redis;

before(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
});

after(async () => {
  redis.disconnect();
  await server.stop();
});

/** A Redis job store whose reads of one job can be held (a slow adoption) and whose done writes can fail. */
class SlowStore extends RedisJobStore {
  readGate: { job: string; open: Promise<void> } | null = null;
  failDone = 0;

  override async read(job: JobId, after: string | null): Promise<StoredEvents> {
    if (this.readGate?.job === jobKey(job)) await this.readGate.open;
    return await super.read(job, after);
  }

  /** The next leaseLeft answer is read this much later (the process stalled while Redis answered). */
  stallAfterLeaseLeftMs = 0;

  override async leaseLeft(job: JobId, owner: string, token: number): Promise<number | null> {
    const left = await super.leaseLeft(job, owner, token);
    const stall = this.stallAfterLeaseLeftMs;
    this.stallAfterLeaseLeftMs = 0;
    if (stall > 0) await new Promise((resolve) => setTimeout(resolve, stall));
    return left;
  }

  override async markDone(messageKey: string): Promise<void> {
    if (this.failDone > 0) {
      this.failDone -= 1;
      throw new Error("Command timed out");
    }
    await super.markDone(messageKey);
  }
}

interface Bot {
  readonly name: string;
  readonly store: SlowStore;
  readonly port: FakePort;
  readonly delivery: Delivery;
  readonly coordinator: Coordinator;
  readonly warnings: string[];
}

/** `discord`: the port its delivery sends through (default: its own FakePort, `port`). */
function bot(name: string, leaseMs: number, editIntervalMs = 0, discord?: DiscordPort): Bot {
  const port = new FakePort();
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (line: string) => warnings.push(line) };
  const store = new SlowStore(redis, PREFIX);
  let coordinator: Coordinator | null = null;
  const delivery = new Delivery({
    port: discord ?? port,
    store: new RedisMessageStore(redis, PREFIX),
    logger,
    editIntervalMs,
    scheduler: new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 }),
    onFinished: (key) => coordinator?.finished(key),
  });
  coordinator = new Coordinator({ store, delivery, logger, owner: name, leaseMs, retryBaseMs: 20 });
  return { name, store, port, delivery, coordinator, warnings };
}

let nextId = 1;

function entries(...texts: string[]): LogEntry[] {
  return texts.map((text) => ({ id: `${nextId++}-0`, event: Buffer.from(text) }));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function job(requestId: string): JobId {
  return { userId: BigInt(BIG_USER_ID), requestId };
}

function ops(port: FakePort): string[] {
  return port.calls.map((call) => `${call.op}${call.title === undefined ? "" : ` ${call.title}`}`);
}

async function settle(b: Bot): Promise<void> {
  await b.coordinator.tick();
  await b.delivery.whenIdle();
  await b.coordinator.tick();
}

const LOSSES = [
  // The bot stalled: no renewal for a whole lease, it knows by its own clock the lease is gone.
  { how: "it stalled past the lease", leaseMs: 300, lose: () => sleep(350), warning: /lease of job .*:stale ran out unrenewed/ },
  // Redis let the lease go early (a paused or restarted Redis): the bot learns it from Redis.
  {
    how: "Redis let it go",
    leaseMs: 10_000,
    lose: async () => {
      await redis.del(`${PREFIX}lease:${jobKey(job("stale"))}`);
    },
    warning: /lost the lease of job .*:stale to another bot/,
  },
];

for (const { how, leaseMs, lose, warning } of LOSSES) {
  void test(`a bot that lost the lease (${how}) does not send its pending update: the new holder alone edits`, async () => {
    await redis.flushall();
    const a = bot("a", leaseMs, 1_000); // the flush waits out the interval, then the fence stops the edit
    const b = bot("b", leaseMs);
    await a.coordinator.handle(entries(started({ request_id: "stale" })));
    await settle(a);
    assert.deepEqual(ops(a.port), ["openDm", "create Training started · digits"]);
    await a.coordinator.handle(entries(epochDone(1, 0.9, { request_id: "stale" })));
    await sleep(50);
    assert.equal(a.delivery.busyJobs, 1, "the epoch waits for the edit interval");
    await lose();
    await settle(b); // b takes the job over
    assert.equal(b.coordinator.ownedJobs, 1);
    assert.deepEqual(ops(b.port), ["edit Training · digits"], "b edits the stored message to the newest state");
    assert.equal(await a.delivery.flush(2000), true);
    assert.deepEqual(ops(a.port), ["openDm", "create Training started · digits"], "a sends nothing more");
    assert.equal(a.coordinator.ownedJobs, 0);
    assert.match(a.warnings.join("\n"), warning);
  });
}

void test("an answer that arrives after the lease was lost is not acted upon: no stored id, no notification, no done mark", async () => {
  await redis.flushall();
  const a = bot("a", 10_000);
  a.port.script.push("ok", "hold"); // the DM opens; the create of the final state waits
  await a.coordinator.handle(entries(started({ request_id: "late" }), completed(0.9, { request_id: "late" })));
  await sleep(50);
  assert.deepEqual(ops(a.port), ["openDm", "create Training completed · digits"]);
  await redis.del(`${PREFIX}lease:${jobKey(job("late"))}`); // the lease ran out meanwhile
  await a.coordinator.renew();
  assert.equal(a.coordinator.ownedJobs, 0);
  a.port.release();
  await a.delivery.whenIdle();
  assert.deepEqual(ops(a.port), ["openDm", "create Training completed · digits"], "no end notification");
  assert.equal(await redis.exists(`${PREFIX}message:${jobKey(job("late"))}`), 0, "the message id is not stored");
  assert.equal(await a.store.isDone(jobKey(job("late"))), false, "not marked done: the next holder shows it");
});

void test("a pending update after the leases were given up at shutdown is not sent", async () => {
  await redis.flushall();
  const a = bot("a", 10_000, 1_000); // as above
  await a.coordinator.handle(entries(started({ request_id: "bye" })));
  await settle(a);
  await a.coordinator.handle(entries(epochDone(1, 0.9, { request_id: "bye" })));
  await sleep(50);
  await a.coordinator.releaseAll();
  assert.equal(await a.delivery.flush(2000), true);
  assert.deepEqual(ops(a.port), ["openDm", "create Training started · digits"]);
  // Taken again later (a restart of the same bot would): shown afresh, in the same message.
  await a.coordinator.handle(entries(epochDone(2, 0.95, { request_id: "bye" })));
  await sleep(50);
  assert.equal(await a.delivery.flush(2000), true);
  assert.deepEqual(ops(a.port), ["openDm", "create Training started · digits", "edit Training · digits"]);
});

void test("the lease is renewed on its own timer while adopting another job is slow", async () => {
  await redis.flushall();
  const a = bot("a", 300);
  const b = bot("b", 300);
  await a.coordinator.handle(entries(started({ request_id: "kept" })));
  await settle(a);
  const holder = await redis.get(`${PREFIX}lease:${jobKey(job("kept"))}`);
  assert.match(holder ?? "", /^a#[0-9]+$/);
  let open = (): void => undefined;
  a.store.readGate = { job: jobKey(job("slow")), open: new Promise<void>((resolve) => (open = resolve)) };
  await b.store.append(
    [{ job: job("slow"), member: "0000000000000001-000000000000|" + started({ request_id: "slow" }), batch: false }],
    Date.now(),
  );
  a.coordinator.start();
  const pass = a.coordinator.tick(); // adopting "slow" waits on its read for a second, three leases long
  await sleep(1000);
  assert.equal(await b.store.acquire(job("kept"), "b", 300), null, "a still holds the lease of its job");
  assert.equal(await redis.get(`${PREFIX}lease:${jobKey(job("kept"))}`), holder, "the same acquisition, renewed");
  open();
  await pass;
  a.coordinator.stop();
});

void test("a failed done write is retried until stored: the final entry delivered again neither edits nor pings", async () => {
  await redis.flushall();
  const a = bot("a", 10_000);
  a.store.failDone = 2;
  const final = entries(started({ request_id: "once" }), completed(0.9, { request_id: "once" }));
  await a.coordinator.handle(final);
  await sleep(50);
  await settle(a);
  assert.deepEqual(ops(a.port), ["openDm", "create Training completed · digits", "create "], "shown, and the user pinged once");
  await sleep(200); // two failures (20 ms, 40 ms), then stored
  assert.equal(await a.store.isDone(jobKey(job("once"))), true);
  await settle(a);
  assert.equal(a.coordinator.ownedJobs, 0, "closed once stored");
  assert.match(a.warnings.join("\n"), /recording the end of .*:once failed \(2 in a row\): Command timed out; retrying in 40 ms/);
  // Another bot claims the entries again (say the first never acknowledged them).
  const b = bot("b", 10_000);
  await b.coordinator.handle(final);
  await sleep(50);
  await settle(b);
  assert.deepEqual(ops(b.port), [], "nothing edited, nobody pinged again");
});

void test("a final state shown by a bot that lost its lease before recording it is not edited again, nor its user pinged again", async () => {
  await redis.flushall();
  const discord = new FakeDiscord();
  const apiUrl = await discord.start();
  try {
    const a = bot("a", 10_000, 0, new RestDiscordPort({ token: "t", apiUrl, timeoutMs: 5000 }));
    a.store.failDone = 1_000_000; // Redis paused: the end is shown, never recorded
    const final = entries(started({ request_id: "shown" }), completed(0.9, { request_id: "shown" }));
    await a.coordinator.handle(final);
    await sleep(50);
    await a.delivery.whenIdle();
    const shownByA = discord.messageRequests().map((request) => `${request.method} ${request.status}`);
    assert.deepEqual(shownByA, ["POST 200", "POST 200"], "a shows the final state and pings the user");
    await redis.del(`${PREFIX}lease:${jobKey(job("shown"))}`); // its lease ran out meanwhile
    await a.coordinator.renew();
    assert.equal(a.coordinator.ownedJobs, 0);
    const b = bot("b", 10_000, 0, new RestDiscordPort({ token: "t", apiUrl, timeoutMs: 5000 }));
    await b.coordinator.handle(final); // b takes the job over: its final state is not marked done
    await sleep(50);
    await settle(b);
    const byB = discord.messageRequests().slice(shownByA.length);
    assert.deepEqual(
      byB.map((request) => request.method),
      ["GET", "POST"],
      "b reads the message, does not edit it, and its notification (same nonce) creates nothing",
    );
    assert.equal(discord.messages.size, 2, "one job message and one notification: the user pinged once");
    assert.equal([...discord.messages.values()].filter((message) => message.edits > 0).length, 0, "nothing edited");
    assert.equal(await b.store.isDone(jobKey(job("shown"))), true, "b records the end");
    // Had the message not shown it (a progress state left over), b would edit it.
    await redis.flushall();
    const c = bot("c", 10_000, 0, new RestDiscordPort({ token: "t", apiUrl, timeoutMs: 5000 }));
    const first = [...discord.messages.keys()][0] ?? "";
    const channel = discord.messages.get(first)?.channelId ?? "";
    await new RedisMessageStore(redis, PREFIX).set(jobKey(job("shown")), { channelId: channel, messageId: first });
    const held = discord.messages.get(first);
    if (held !== undefined) held.embeds = [{ title: "Training · digits" }];
    await c.coordinator.handle(entries(started({ request_id: "shown" }), completed(0.9, { request_id: "shown" })));
    await sleep(50);
    await settle(c);
    assert.equal(discord.messages.get(first)?.edits, 1, "a message that does not show the final state is edited");
  } finally {
    await discord.stop();
  }
});

void test("a final state folded again with a late event (stored after it was shown) is not shown over the first: chaos seed 77", async () => {
  await redis.flushall();
  const discord = new FakeDiscord();
  const apiUrl = await discord.start();
  try {
    const a = bot("a", 10_000, 0, new RestDiscordPort({ token: "t", apiUrl, timeoutMs: 5000 }));
    a.store.failDone = 1_000_000; // Redis away: the end is shown, never recorded
    // The worker's prune event comes before its completed one in the log, but another bot stores it later.
    const [start, prune, end] = entries(
      started({ request_id: "late" }),
      eventText(PRUNE_V1, { request_id: "late", deleted_count: 2 }),
      completed(0.9, { request_id: "late" }),
    );
    if (start === undefined || prune === undefined || end === undefined) throw new Error("three entries");
    await a.coordinator.handle([start, end]);
    await sleep(50);
    await a.delivery.whenIdle();
    const shownByA = discord.messageRequests().length;
    const first = [...discord.messages.values()][0];
    assert.match(JSON.stringify(first?.embeds), /Training completed/);
    assert.doesNotMatch(JSON.stringify(first?.embeds), /Pruned/, "a shows the final state without the late note");
    await redis.del(`${PREFIX}lease:${jobKey(job("late"))}`); // its lease ran out meanwhile
    await a.coordinator.renew();
    const b = bot("b", 10_000, 0, new RestDiscordPort({ token: "t", apiUrl, timeoutMs: 5000 }));
    await b.coordinator.handle([prune]); // b stores the late event and takes the job over
    await sleep(50);
    await settle(b);
    const byB = discord.messageRequests().slice(shownByA);
    assert.deepEqual(
      byB.map((request) => request.method),
      ["GET", "POST"],
      "b reads the message and leaves its final state as it is (the note is not shown)",
    );
    assert.equal([...discord.messages.values()].filter((message) => message.edits > 0).length, 0, "nothing edited");
    assert.equal(await b.store.isDone(jobKey(job("late"))), true, "b records the end");
  } finally {
    await discord.stop();
  }
});

void test("an owned job that left the open set (another bot closed it, or no event for the key expiry) is dropped", async () => {
  await redis.flushall();
  const a = bot("a", 10_000, 60_000);
  await a.coordinator.handle(entries(started({ request_id: "gone" })));
  await settle(a);
  await a.coordinator.handle(entries(epochDone(1, 0.9, { request_id: "gone" })));
  await redis.zrem(`${PREFIX}open`, jobKey(job("gone")));
  await a.coordinator.renew();
  assert.equal(a.coordinator.ownedJobs, 0);
  assert.match(a.warnings.at(-1) ?? "", /job .*:gone is closed or had no event for 604800 s; dropped/);
  assert.equal(await redis.exists(`${PREFIX}lease:${jobKey(job("gone"))}`), 0, "its lease freed");
  assert.equal(await a.delivery.flush(1000), true);
  assert.equal(a.port.calls.filter((call) => call.op === "edit").length, 0, "its pending update dropped");
  await a.coordinator.handle(entries(started({ request_id: "quiet" })));
  await settle(a);
  assert.equal(a.coordinator.ownedJobs, 1);
  await redis.zadd(`${PREFIX}open`, Date.now() - 604_800_001, jobKey(job("quiet"))); // its last event 7 days ago
  await a.coordinator.renew();
  assert.equal(a.coordinator.ownedJobs, 0, "no event for the key expiry: dropped");
  assert.equal(await redis.exists(`${PREFIX}lease:${jobKey(job("quiet"))}`), 0);
});

void test("each acquisition gets a new fencing token; the lease names the owner and the token", async () => {
  await redis.flushall();
  const store = new RedisJobStore(redis, PREFIX);
  const first = await store.acquire(job("t"), "same-host-1", 10_000);
  assert.equal(first, 1);
  assert.equal(await store.acquire(job("t"), "same-host-1", 10_000), null, "held: not taken twice, even under the same name");
  assert.equal(await redis.get(`${PREFIX}lease:${jobKey(job("t"))}`), leaseHolder("same-host-1", 1));
  await store.release(job("t"), "same-host-1", 1);
  assert.equal(await store.acquire(job("t"), "same-host-1", 10_000), 2);
  assert.equal(await store.leaseLeft(job("t"), "same-host-1", 1), null, "the first acquisition's token holds nothing");
  assert.ok(((await store.leaseLeft(job("t"), "same-host-1", 2)) ?? 0) > 9000);
  assert.equal(await store.renew(job("t"), "same-host-1", 1, 10_000, Date.now()), "lost");
});

void test("a lease near its end without renewal holds updates back until renewed; the memory store's leases are its own", async () => {
  await redis.flushall();
  const a = bot("a", 600, 0);
  await a.coordinator.handle(entries(started({ request_id: "late-renew" })));
  await settle(a);
  await sleep(450); // 150 ms left: under a third of the lease
  await a.coordinator.handle(entries(epochDone(1, 0.9, { request_id: "late-renew" })));
  await sleep(50);
  assert.match(a.warnings.join("\n"), /ends in [0-9]+ ms and is not renewed yet/);
  assert.equal(a.port.calls.filter((call) => call.op === "edit").length, 0, "held back");
  a.coordinator.start(); // renewals resume
  await sleep(1200); // the backoff of the first failure (1 s)
  await a.delivery.whenIdle();
  a.coordinator.stop();
  assert.equal(a.port.calls.filter((call) => call.op === "edit").length, 1, "sent once renewed");
  const memory = new MemoryJobStore();
  assert.equal(await memory.renew(job("m")), "closed");
  await memory.append([{ job: job("m"), member: "x", batch: false }]);
  assert.equal(await memory.renew(job("m")), "held");
  assert.equal(await memory.leaseLeft(), Number.POSITIVE_INFINITY);
});

void test("a lease answer read after a stall counts from when it was asked: the update is held back, not sent on a lease gone meanwhile", async () => {
  await redis.flushall();
  const a = bot("a", 600, 0);
  await a.coordinator.handle(entries(started({ request_id: "stalled" })));
  await settle(a);
  a.store.stallAfterLeaseLeftMs = 700; // Redis answered "about 600 ms left"; the bot reads it 700 ms later
  await a.coordinator.handle(entries(epochDone(1, 0.9, { request_id: "stalled" })));
  await sleep(800);
  assert.equal(await redis.exists(`${PREFIX}lease:${jobKey(job("stalled"))}`), 0, "the lease is gone by now");
  assert.equal(a.port.calls.filter((call) => call.op === "edit").length, 0, "nothing sent on the stale answer");
  assert.match(a.warnings.join("\n"), /lease of job .*:stalled ends in -?[0-9]+ ms and is not renewed yet/);
});

void test("the edit interval holds across a hand-over: the next owner's first edit waits a whole interval", async () => {
  await redis.flushall();
  const a = bot("a", 10_000, 1_000);
  const b = bot("b", 10_000, 1_000);
  await a.coordinator.handle(entries(started({ request_id: "handover" })));
  await settle(a);
  await a.coordinator.handle(entries(epochDone(1, 0.9, { request_id: "handover" })));
  await sleep(50);
  assert.equal(await a.delivery.flush(2000), true); // shutdown: the interval is waited out, then the edit
  await a.coordinator.releaseAll();
  const last = a.port.calls.at(-1);
  assert.ok(last?.op === "edit", JSON.stringify(ops(a.port)));
  await settle(b); // b takes the job over and shows it from the store
  const first = b.port.calls.find((call) => call.op === "edit");
  assert.ok(first !== undefined, JSON.stringify(ops(b.port)));
  assert.ok(first.at - last.at >= 1_000, `b edited ${first.at - last.at} ms after a`);
});

void test("two bots with the same hostname and pid (pid 1 in two containers) get different names", () => {
  const names = new Set(Array.from({ length: 100 }, () => defaultConsumer()));
  assert.equal(names.size, 100);
});
