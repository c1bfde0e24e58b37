// A dry run never touches what production reads, even with the operator's environment loaded:
// with DIGITS_BOT_GROUP set it reads through a throwaway group of its own (the real group's
// entries stay unacknowledged for the real bots), and with DISCORD_PUBLIC_KEY set it serves no
// interactions endpoint (so it can queue no job).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { loadConfig } from "../../src/app/config.ts";
import { started } from "../support/fixtures.ts";
import { RedisServer } from "../support/redis_server.ts";

const MAIN = join(import.meta.dirname, "..", "..", "src", "main.ts");

const PUBLIC_KEY = "a".repeat(64);

void test("loadConfig: a dry run's group is private and its endpoint off, whatever is set", () => {
  const env = { DIGITS_BOT_GROUP: "digits-bot", DISCORD_PUBLIC_KEY: PUBLIC_KEY, DISCORD_APPLICATION_ID: "1" };
  const dry = loadConfig(["--dry-run"], env);
  assert.equal(dry.kind, "run");
  assert.equal(dry.config.group, `digits-bot-dry-run-${process.pid}`);
  assert.equal(dry.config.throwawayGroup, true);
  assert.equal(dry.config.interactions, null);
  const real = loadConfig([], { ...env, DISCORD_TOKEN: "t" });
  assert.equal(real.kind === "run" ? `${real.config.group} ${String(real.config.interactions !== null)}` : "", "digits-bot true");
});

void test("a dry run with the real group and public key set acknowledges nothing of the real group and queues nothing", async () => {
  const server = await RedisServer.start();
  const redis = new Redis(server.url);
  const stream = "dry-isolation-log";
  const requests = "dry-isolation-requests";
  await redis.xgroup("CREATE", stream, "digits-bot", "$", "MKSTREAM");
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--dry-run"], {
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: server.url,
      DIGITS_EVENTS_STREAM: stream,
      DIGITS_BOT_GROUP: "digits-bot",
      DISCORD_PUBLIC_KEY: PUBLIC_KEY,
      DISCORD_APPLICATION_ID: "1",
      DIGITS_INTERACTIONS_PORT: "0",
      DIGITS_REQUESTS_STREAM: requests,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const deadline = Date.now() + 60_000;
    while (!stderr.includes("listening on")) {
      assert.ok(Date.now() < deadline, `the bot did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await redis.xadd(stream, "*", "event", started({ request_id: "dry-isolated" }));
    while (!stdout.includes("Training started")) {
      assert.ok(Date.now() < deadline, `no dry-run output; got ${JSON.stringify(stdout)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.doesNotMatch(stderr, /interactions endpoint listening/, "a dry run serves no /train");
    const groups = JSON.stringify(await redis.xinfo("GROUPS", stream));
    assert.match(groups, /"digits-bot","consumers",0,"pending",0,"last-delivered-id","0-0"/, groups);
    assert.match(groups, new RegExp(`"digits-bot-dry-run-${String(child.pid)}"`), groups);
    assert.equal(await redis.exists(requests), 0, "nothing is queued");
  } finally {
    child.kill("SIGTERM");
    await exited;
    const groups = JSON.stringify(await redis.xinfo("GROUPS", stream));
    redis.disconnect();
    await server.stop();
    assert.doesNotMatch(groups, /dry-run/, "the throwaway group is deleted at exit");
  }
});
