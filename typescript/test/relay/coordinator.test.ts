// The coordinator alone (in-memory job store, scripted Discord port): leases lost and refused,
// Redis failures retried on the next pass, an older event arriving late, the end of a job.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Coordinator } from "../../src/relay/coordinator.ts";
import { Delivery } from "../../src/discord/delivery.ts";
import { type JobStore, type LeaseRenewal, MemoryJobStore, type StoredEntry, type StoredEvents } from "../../src/jobs/job_store.ts";
import type { JobId } from "../../src/jobs/job.ts";
import { MemoryMessageStore } from "../../src/discord/message_store.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import type { LogEntry } from "../../src/events/stream_reader.ts";
import { FakePort } from "../support/fake_port.ts";
import { BIG_USER_ID, completed, epochDone, started } from "../support/fixtures.ts";

/** A promise rejected with `value`, whatever it is. */
function rejectedWith(value: unknown): Promise<never> {
  return Promise.resolve().then(() => {
    throw value;
  });
}

/** A memory store whose lease and Redis calls can be made to refuse or fail. */
class ScriptedStore implements JobStore {
  private readonly inner = new MemoryJobStore();
  grant = true;
  failNextRead = 0;
  failNextAppend = 0;
  released: string[] = [];
  acquireCalls = 0;
  openJobsCalls = 0;
  /** While set, acquire (or read) waits for it (a slow Redis). */
  acquireGate: Promise<void> | null = null;
  renewGate: Promise<void> | null = null;
  renewCalls = 0;
  readGate: Promise<void> | null = null;
  /** The next acquire fails with this value, which is not an Error. */
  oddFailure: unknown = null;

  /** Names of calls that fail once, the next time they are made. */
  readonly failOnce = new Set<"acquire" | "openJobs" | "markDone" | "renew" | "close">();

  private fails(call: "acquire" | "openJobs" | "markDone" | "renew" | "close"): boolean {
    return this.failOnce.delete(call);
  }

  private token = 0;

  private granted(): number | null {
    this.token += 1;
    return this.grant ? this.token : null;
  }

  acquire(): Promise<number | null> {
    this.acquireCalls += 1;
    if (this.acquireGate !== null) return this.acquireGate.then(() => this.granted());
    if (this.fails("acquire")) return Promise.reject(new Error("Command timed out"));
    const odd = this.oddFailure;
    this.oddFailure = null;
    if (odd !== null) return rejectedWith(odd);
    return Promise.resolve(this.granted());
  }

  renew(): Promise<LeaseRenewal> {
    this.renewCalls += 1;
    if (this.fails("renew")) return Promise.reject(new Error("Command timed out"));
    const gate = this.renewGate;
    if (gate !== null) return gate.then(() => (this.grant ? "held" : "lost"));
    return Promise.resolve(this.grant ? "held" : "lost");
  }

  leaseLeft(): Promise<number | null> {
    return Promise.resolve(this.grant ? Number.POSITIVE_INFINITY : null);
  }

  release(job: JobId, owner: string): Promise<void> {
    this.released.push(`${job.requestId}:${owner}`);
    return Promise.resolve();
  }

  isOpen(job: JobId): Promise<boolean> {
    return this.inner.isOpen(job);
  }

  read(job: JobId, after: string | null): Promise<StoredEvents> {
    const gate = this.readGate;
    if (gate !== null) return gate.then(() => this.read(job, after));
    if (this.failNextRead > 0) {
      this.failNextRead -= 1;
      return Promise.reject(new Error("Connection is closed."));
    }
    return this.inner.read(job, after);
  }

  append(entries: readonly StoredEntry[]): Promise<void> {
    if (this.failNextAppend > 0) {
      this.failNextAppend -= 1;
      return Promise.reject(new Error("Connection is closed."));
    }
    return this.inner.append(entries);
  }

  openJobs(limit: number): Promise<JobId[]> {
    this.openJobsCalls += 1;
    if (this.fails("openJobs")) return Promise.reject(new Error("Command timed out"));
    return this.inner.openJobs(limit);
  }

  close(job: JobId): Promise<void> {
    if (this.fails("close")) return Promise.reject(new Error("Command timed out"));
    return this.inner.close(job);
  }

  isDone(key: string): Promise<boolean> {
    return this.inner.isDone(key);
  }

  markDone(key: string): Promise<void> {
    if (this.fails("markDone")) return Promise.reject(new Error("Command timed out"));
    return this.inner.markDone(key);
  }
}

function setup(store = new ScriptedStore()): {
  store: ScriptedStore;
  port: FakePort;
  coordinator: Coordinator;
  delivery: Delivery;
  warnings: string[];
  terminals: string[];
} {
  const port = new FakePort();
  const warnings: string[] = [];
  const terminals: string[] = [];
  let coordinator: Coordinator | null = null;
  const delivery = new Delivery({
    port,
    store: new MemoryMessageStore(),
    logger: { info: () => undefined, warn: (line) => warnings.push(line) },
    editIntervalMs: 0,
    notifyAtEnd: false,
    scheduler: new RequestScheduler({ maxRps: 1_000_000, channelBurst: 1_000_000, safetyMs: 0 }),
    onFinished: (key) => coordinator?.finished(key),
  });
  coordinator = new Coordinator({
    store,
    delivery,
    logger: { info: () => undefined, warn: (line) => warnings.push(line) },
    owner: "me",
    onTerminal: (job) => terminals.push(job.requestId),
    retryBaseMs: 5,
  });
  return { store, port, coordinator, delivery, warnings, terminals };
}

let nextId = 1;

function entries(...texts: string[]): LogEntry[] {
  return texts.map((text) => ({ id: `${nextId++}-0`, event: Buffer.from(text) }));
}

async function settle(coordinator: Coordinator, delivery: Delivery): Promise<void> {
  await coordinator.tick();
  await delivery.whenIdle();
  await coordinator.tick();
}

void test("a job ends: its run is marked done, the job closed, the lease given up, onTerminal called once", async () => {
  const { store, port, coordinator, delivery, terminals } = setup();
  await coordinator.handle(entries(started({ request_id: "end" }), completed(0.9, { request_id: "end" })));
  await settle(coordinator, delivery);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create"],
  );
  assert.equal(coordinator.ownedJobs, 0);
  assert.deepEqual(store.released, ["end:me"]);
  assert.deepEqual(terminals, ["end"]);
  assert.equal(await store.isDone(`${BIG_USER_ID}:end`), true);
  assert.deepEqual(await store.openJobs(10), []);
});

void test("a job whose lease another bot holds is stored but not shown here", async () => {
  const { store, port, coordinator, delivery } = setup();
  store.grant = false;
  await coordinator.handle(entries(started({ request_id: "theirs" })));
  await settle(coordinator, delivery);
  assert.equal(port.calls.length, 0);
  assert.equal(coordinator.ownedJobs, 0);
  assert.equal(
    (await store.read({ userId: BigInt(BIG_USER_ID), requestId: "theirs" }, null)).members.length,
    1,
    "stored for whoever shows it",
  );
  store.grant = true; // the other bot died: its lease ran out
  await settle(coordinator, delivery);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create"],
    "adopted on the next pass",
  );
});

void test("a lease lost to another bot stops this bot showing the job", async () => {
  const { store, port, coordinator, delivery, warnings } = setup();
  await coordinator.handle(entries(started({ request_id: "lost" })));
  await settle(coordinator, delivery);
  assert.equal(coordinator.ownedJobs, 1);
  store.grant = false; // its renewal fails: another bot took it after a stall
  await coordinator.renew();
  await coordinator.handle(entries(epochDone(1, 0.9, { request_id: "lost" })));
  await coordinator.tick();
  await delivery.whenIdle();
  assert.equal(coordinator.ownedJobs, 0);
  assert.ok(
    warnings.some((line) => line.includes("lost the lease of job")),
    warnings.join("\n"),
  );
  assert.equal(port.calls.filter((call) => call.op === "edit").length, 0, "no edit after the lease went");
});

void test("a failed read is retried on the next pass; nothing is lost", async () => {
  const { store, port, coordinator, delivery, warnings } = setup();
  store.failNextRead = 1;
  await coordinator.handle(entries(started({ request_id: "retry" })));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await delivery.whenIdle();
  assert.equal(port.calls.length, 0);
  assert.equal(coordinator.stats.errors, 1);
  assert.match(warnings.join("\n"), /updating job .*retry failed: Connection is closed\.; retried on the next pass/);
  await settle(coordinator, delivery);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create"],
  );
});

void test("a failed store rejects the batch, so its entries are not acknowledged", async () => {
  const { store, coordinator } = setup();
  store.failNextAppend = 1;
  await assert.rejects(coordinator.handle(entries(started({ request_id: "unstored" }))), /Connection is closed/);
  assert.equal(coordinator.ownedJobs, 0);
});

void test("an older lifecycle event stored late (by another bot) is folded in: the job is folded again", async () => {
  const { store, port, coordinator, delivery } = setup();
  const [first, second, third] = entries(
    started({ request_id: "late" }),
    epochDone(1, 0.91, { request_id: "late" }),
    epochDone(2, 0.95, { request_id: "late" }),
  );
  assert.ok(first !== undefined && second !== undefined && third !== undefined);
  await coordinator.handle([first, third]);
  await settle(coordinator, delivery);
  // Entry 2 reaches Redis after entry 3 was folded: another bot stored it.
  const text = second.event?.toString() ?? "";
  await store.append([
    {
      job: { userId: BigInt(BIG_USER_ID), requestId: "late" },
      member: `${second.id.split("-")[0]?.padStart(16, "0") ?? ""}-000000000000|${text}`,
      batch: false,
    },
  ]);
  await settle(coordinator, delivery);
  const last = port.calls.at(-1)?.message?.embed?.fields?.find((field) => field.name === "Epochs")?.value ?? "";
  assert.match(last, /Epoch 1: val_acc 91\.00%/);
  assert.match(last, /Epoch 2: val_acc 95\.00%/);
});

void test("releaseAll gives every lease up", async () => {
  const { store, coordinator, delivery } = setup();
  await coordinator.handle(entries(started({ request_id: "r1" }), started({ request_id: "r2" })));
  await settle(coordinator, delivery);
  await coordinator.releaseAll();
  assert.deepEqual(store.released.sort(), ["r1:me", "r2:me"]);
  assert.equal(coordinator.ownedJobs, 0);
});

void test("start and stop run the periodic pass and flush the invalid-entry counts", async () => {
  const { coordinator, warnings } = setup();
  coordinator.start();
  coordinator.start(); // twice is once
  for (let n = 0; n < 7; n += 1) await coordinator.handle([{ id: `${nextId++}-0`, event: null }]);
  coordinator.stop();
  assert.match(
    warnings.at(-1) ?? "",
    /invalid events since the last report: 2 × no event field \(e\.g\. "entry has no event field"\) \(7 in all\)/,
  );
});

void test("Redis failing in the periodic pass, in taking a job or in recording its end is logged and redone later", async () => {
  const { store, port, coordinator, delivery, warnings } = setup();
  store.failOnce.add("acquire");
  await coordinator.handle(entries(started({ request_id: "flaky" })));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.match(warnings.join("\n"), /taking job .*flaky failed: Command timed out/);
  store.failOnce.add("openJobs");
  await coordinator.tick();
  assert.match(warnings.join("\n"), /the periodic pass failed: Command timed out/);
  await settle(coordinator, delivery);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create"],
    "taken on a later pass",
  );
  store.failOnce.add("markDone");
  store.failOnce.add("close");
  await coordinator.handle(entries(completed(0.9, { request_id: "flaky" })));
  await settle(coordinator, delivery);
  assert.match(warnings.join("\n"), /recording the end of .*flaky failed \(1 in a row\): Command timed out; retrying in 5 ms/);
  assert.equal(coordinator.stats.errors, 3);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(await store.isDone(`${BIG_USER_ID}:flaky`), true, "stored by the retry");
  assert.match(warnings.join("\n"), /closing job .*flaky failed: Command timed out; retried on the next pass/);
  await coordinator.tick();
  assert.equal(coordinator.ownedJobs, 0, "closed once stored");
  store.failOnce.add("renew");
  await coordinator.handle(entries(started({ request_id: "renewed" })));
  await settle(coordinator, delivery);
  await coordinator.renew();
  assert.match(warnings.at(-1) ?? "", /^renewing 1 lease\(s\) failed: Command timed out; retried on the next pass$/);
  assert.equal(coordinator.ownedJobs, 1, "a failed renewal is not a lost lease");
  assert.equal(coordinator.stats.errors, 5);
});

void test("a pass started while one is running does nothing", async () => {
  const { store, coordinator, delivery } = setup();
  await coordinator.handle(entries(started({ request_id: "busy" })));
  await settle(coordinator, delivery);
  const before = store.openJobsCalls;
  await Promise.all([coordinator.tick(), coordinator.tick()]);
  assert.equal(store.openJobsCalls, before + 1);
  await coordinator.tick();
  assert.equal(store.openJobsCalls, before + 2, "the next pass runs");
});

void test("a job is taken once while its lease is being taken, however often its events arrive", async () => {
  const { store, port, coordinator, delivery } = setup();
  let open = (): void => undefined;
  store.acquireGate = new Promise<void>((resolve) => {
    open = resolve;
  });
  await coordinator.handle(entries(started({ request_id: "slow" })));
  await coordinator.handle(entries(epochDone(1, 0.9, { request_id: "slow" })));
  const tick = coordinator.tick();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(store.acquireCalls, 1, "one acquire in flight for the job");
  store.acquireGate = null;
  open();
  await tick;
  await settle(coordinator, delivery);
  assert.equal(coordinator.ownedJobs, 1);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create"],
    "shown once, with both events",
  );
  assert.match(JSON.stringify(port.calls.at(-1)?.message?.embed), /Epoch 1: val_acc 90\.00%/);
});

void test("a stored member this bot cannot decode (another version wrote it) is skipped", async () => {
  const { store, port, coordinator, delivery } = setup();
  const job = { userId: BigInt(BIG_USER_ID), requestId: "mixed" };
  await store.append([{ job, member: "0000000000000000-000000000000|{not an event", batch: false }]);
  await coordinator.handle(entries(started({ request_id: "mixed" })));
  await settle(coordinator, delivery);
  await settle(coordinator, delivery);
  assert.equal(coordinator.stats.errors, 0);
  assert.deepEqual(
    port.calls.map((call) => [call.op, call.title]),
    [
      ["openDm", undefined],
      ["create", "Training started · digits"],
    ],
    "shown once: the member it cannot decode is not taken for an older event arriving late, pass after pass",
  );
  await coordinator.handle(entries(epochDone(1, 0.9, { request_id: "mixed" })));
  await settle(coordinator, delivery);
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create", "edit"],
  );
});

void test("a job with two runs closes once, when both final states are shown", async () => {
  const { store, port, coordinator, delivery, terminals } = setup();
  const second = { request_id: "twice", run_id: "run-2" };
  await coordinator.handle(
    entries(started({ request_id: "twice" }), completed(0.8, { request_id: "twice" }), started(second), completed(0.9, second)),
  );
  await settle(coordinator, delivery);
  assert.deepEqual(
    port.calls.filter((call) => call.op === "create").map((call) => call.title),
    ["Training completed · digits", "Training completed · digits"],
  );
  assert.equal(coordinator.ownedJobs, 0);
  assert.deepEqual(store.released, ["twice:me"]);
  assert.equal(await store.isDone(`${BIG_USER_ID}:twice`), true);
  assert.equal(await store.isDone(`${BIG_USER_ID}:twice#1`), true);
  assert.deepEqual(terminals, ["twice", "twice"]);
});

void test("a failure that is not an Error is logged by its text", async () => {
  const { store, coordinator, warnings } = setup();
  store.oddFailure = "READONLY You can't write against a read only replica.";
  await coordinator.handle(entries(started({ request_id: "odd" })));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.match(
    warnings.join("\n"),
    /taking job .*odd failed: READONLY You can't write against a read only replica\.; retried on the next pass/,
  );
  assert.equal(coordinator.stats.errors, 1);
});

void test("the end of a job recorded after a pass already closed it closes nothing twice", async () => {
  const { store, port, coordinator, delivery } = setup();
  port.script.push("ok", "hold"); // openDm answers, the create of the final state waits
  await coordinator.handle(entries(started({ request_id: "race" }), completed(0.9, { request_id: "race" })));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(
    port.calls.map((call) => call.op),
    ["openDm", "create"],
  );
  let open = (): void => undefined;
  store.readGate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const tick = coordinator.tick(); // its read of the job waits
  await new Promise((resolve) => setTimeout(resolve, 10));
  port.release(); // the final state is shown: its end is recorded after that read
  await delivery.whenIdle();
  store.readGate = null;
  open();
  await tick;
  await settle(coordinator, delivery);
  assert.equal(coordinator.ownedJobs, 0);
  assert.deepEqual(store.released, ["race:me"], "closed and given up once");
  assert.equal(await store.isDone(`${BIG_USER_ID}:race`), true);
  assert.deepEqual(await store.openJobs(10), []);
  assert.equal(port.calls.length, 2);
});

void test("a lease lost while a renewal or a read is on its way: dropped once, nothing published from the read", async () => {
  const { store, port, coordinator, delivery, warnings } = setup();
  await coordinator.handle(entries(started({ request_id: "race-lost" })));
  await settle(coordinator, delivery);
  let openRenewal = (): void => undefined;
  store.renewGate = new Promise<void>((resolve) => (openRenewal = resolve));
  let openRead = (): void => undefined;
  store.readGate = new Promise<void>((resolve) => (openRead = resolve));
  await coordinator.handle(entries(epochDone(1, 0.9, { request_id: "race-lost" }))); // its read waits
  store.grant = false;
  const renewal = coordinator.renew(); // waits for Redis
  await coordinator.renew(); // one renewal at a time: this one does nothing
  assert.equal(store.renewCalls, 1);
  await coordinator.renew().catch(() => undefined);
  // Meanwhile the periodic pass runs its own check (the fence's): the lease is gone.
  await coordinator.handle(entries(epochDone(2, 0.95, { request_id: "race-lost" })));
  openRenewal();
  await renewal;
  store.renewGate = null;
  store.readGate = null;
  openRead();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await delivery.whenIdle();
  assert.equal(coordinator.ownedJobs, 0);
  assert.equal(warnings.filter((line) => line.includes("lost the lease of job")).length, 1, warnings.join("\n"));
  assert.equal(port.calls.filter((call) => call.op === "edit").length, 0, "nothing from the read that finished after the loss");
});
