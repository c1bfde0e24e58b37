// SIGTERM/SIGINT: the first stops the bot in order within one deadline; the same signal delivered
// twice at once (to the group and forwarded by npm) is one; a later one exits at once. In-process
// with a recorded exit, then for real: a bot whose Discord never answers, signalled twice.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { DUPLICATE_SIGNAL_MS, signalExitCode, signalHandler } from "../../src/app/signals.ts";
import { within } from "../../src/app/startup.ts";
import { started } from "../support/fixtures.ts";
import { RedisServer } from "../support/redis_server.ts";

function harness(options: { up?: boolean; stop?: () => Promise<void>; deadlineMs?: number } = {}): {
  onSignal: (signal: string) => void;
  stopping: () => boolean;
  exits: number[];
  logs: string[];
  stops: string[];
  clock: { now: number };
} {
  const exits: number[] = [];
  const logs: string[] = [];
  const stops: string[] = [];
  const clock = { now: 1_000_000 };
  const stop = options.stop ?? (() => Promise.resolve());
  const handler = signalHandler({
    stop: () =>
      options.up === false
        ? null
        : (signal) => {
            stops.push(signal);
            return stop();
          },
    exit: (code) => exits.push(code),
    log: (line) => logs.push(line),
    deadlineMs: options.deadlineMs ?? 60_000,
    now: () => clock.now,
  });
  return { ...handler, exits, logs, stops, clock };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

void test("the first signal stops the bot once and exits 0; the same signal again at once changes nothing", async () => {
  const h = harness();
  assert.equal(h.stopping(), false);
  h.onSignal("SIGTERM");
  h.clock.now += DUPLICATE_SIGNAL_MS - 1;
  h.onSignal("SIGTERM");
  assert.equal(h.stopping(), true);
  await sleep(10);
  assert.deepEqual(h.stops, ["SIGTERM"]);
  assert.deepEqual(h.exits, [0]);
});

void test("a second signal after that exits at once, with the signal's code, while the stop is still going", () => {
  const h = harness({ stop: () => new Promise<void>(() => undefined) });
  h.onSignal("SIGTERM");
  h.clock.now += DUPLICATE_SIGNAL_MS;
  h.onSignal("SIGINT");
  assert.deepEqual(h.exits, [130]);
  assert.deepEqual(h.logs, ["digits-bot: SIGINT again: exiting now, without finishing the shutdown"]);
});

void test("a stop that outlasts the deadline ends in exit 1; a signal before the bot is up exits 0 at once", async () => {
  const h = harness({ stop: () => new Promise<void>(() => undefined), deadlineMs: 30 });
  h.onSignal("SIGTERM");
  await sleep(80);
  assert.deepEqual(h.exits, [1]);
  assert.match(h.logs[0] ?? "", /the shutdown did not end within 30 ms; exiting/);
  const early = harness({ up: false });
  early.onSignal("SIGINT");
  assert.deepEqual(early.exits, [0]);
  assert.deepEqual([signalExitCode("SIGTERM"), signalExitCode("SIGINT"), signalExitCode("SIGNOPE")], [143, 130, 128]);
});

void test("each step of the stop is bounded by what is left of the deadline, and a failing step does not stop the rest", async () => {
  const began = Date.now();
  await within(new Promise(() => undefined), 50);
  assert.ok(Date.now() - began < 1000);
  await within(Promise.reject(new Error("Redis went away")), 1000);
  await within(Promise.resolve(), 60_000); // its timer is cleared: nothing keeps the process up
});

void test("the real bot: SIGTERM while Discord hangs, then SIGTERM again, exits at once with 143", async () => {
  const redisServer = await RedisServer.start();
  const sockets: Socket[] = [];
  const hanging = createServer((socket) => sockets.push(socket)); // accepts, never answers
  await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
  const address = hanging.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const publisher = new Redis(redisServer.url);
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "..", "src", "main.ts")], {
    env: {
      PATH: process.env.PATH ?? "",
      DISCORD_TOKEN: "t",
      DISCORD_API_URL: `http://127.0.0.1:${port}`,
      REDIS_URL: redisServer.url,
      DIGITS_EVENTS_STREAM: "signals",
      DIGITS_SHUTDOWN_TIMEOUT_MS: "60000",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  try {
    for (let waited = 0; !output.includes("listening on"); waited += 50) {
      assert.ok(waited < 20_000, output);
      await sleep(50);
    }
    await publisher.xadd("signals", "*", "event", started({ request_id: "hang" }));
    for (let waited = 0; sockets.length === 0; waited += 50) {
      assert.ok(waited < 20_000, `no request reached Discord: ${output}`);
      await sleep(50);
    }
    child.kill("SIGTERM");
    await sleep(DUPLICATE_SIGNAL_MS + 300);
    const again = Date.now();
    child.kill("SIGTERM");
    assert.equal(await exited, 143, output);
    assert.ok(Date.now() - again < 2000, "at once, not after the 60 s shutdown");
    assert.match(output, /SIGTERM again: exiting now/);
  } finally {
    child.kill("SIGKILL");
    publisher.disconnect();
    for (const socket of sockets) socket.destroy();
    hanging.close();
    await redisServer.stop();
  }
});
