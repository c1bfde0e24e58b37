// The endpoint's HTTP side: signatures (a test key pair), PING, what it refuses, deferred answers.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ButtonStyle, ComponentType } from "discord-api-types/v10";
import { ConsoleDiscordPort } from "../../src/discord/console_port.ts";
import { cancelButton } from "../../src/view/cancel_button.ts";
import { loadInteractionSettings } from "../../src/interactions/settings.ts";
import {
  APPLICATION_ID,
  contentOf,
  type Endpoint,
  Logs,
  OWNER,
  post,
  Signer,
  startEndpoint,
  trainInteraction,
} from "../support/interactions_support.ts";
import { InteractionsServer } from "../../src/interactions/server.ts";

let endpoint: Endpoint;

const cancelRow = cancelButton(OWNER, "r") ?? { type: ComponentType.ActionRow, components: [] };

before(async () => {
  endpoint = await startEndpoint();
});

after(async () => {
  await endpoint.stop();
});

async function streamLength(): Promise<number> {
  return endpoint.redis.xlen(endpoint.settings.requestsStream);
}

void test("PING is answered with PONG", async () => {
  const answer = await post(endpoint, { type: 1, id: "1", application_id: "424242", token: "t" });
  assert.deepEqual(answer, { status: 200, body: { type: 1 } });
});

void test("a bad or missing signature gets 401 and has no effect", async () => {
  const body = trainInteraction(OWNER);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const forged = endpoint.signer.sign(timestamp, JSON.stringify({ other: "body" }));
  const requestsBefore = endpoint.discord.requests.length;
  for (const headers of [
    { "x-signature-ed25519": forged, "x-signature-timestamp": timestamp },
    { "x-signature-ed25519": "zz", "x-signature-timestamp": timestamp },
    { "x-signature-timestamp": timestamp },
    {},
  ]) {
    const answer = await post(endpoint, body, { headers });
    assert.deepEqual(answer, { status: 401, body: { error: "invalid request signature" } });
  }
  assert.equal(await streamLength(), 0);
  assert.equal(endpoint.discord.requests.length, requestsBefore);
  // Four refusals, one line: the rest are counted (src/interactions/refusal_log.ts).
  const refusals = endpoint.logs.lines.filter((line) => line.startsWith("warn interactions: refused"));
  assert.deepEqual(refusals, [
    "warn interactions: refused a request (bad signature); more refusals are counted and reported at most every 60 s",
  ]);
});

void test("a correctly signed request with an old timestamp is refused (no replay)", async () => {
  const old = Math.floor(Date.now() / 1000) - endpoint.settings.maxAgeS - 5;
  const answer = await post(endpoint, trainInteraction(OWNER), { timestampS: old });
  assert.deepEqual(answer, { status: 401, body: { error: "request too old" } });
  assert.equal(await streamLength(), 0);
});

void test("other paths, methods, oversized and unreadable bodies are refused", async () => {
  const base = endpoint.url.replace(/\/interactions$/, "");
  assert.equal((await fetch(`${base}/other`, { method: "POST" })).status, 404);
  assert.equal((await fetch(endpoint.url)).status, 405);
  const huge = await fetch(endpoint.url, { method: "POST", body: "x".repeat(100 * 1024) })
    .then((r) => r.status)
    .catch(() => 413);
  assert.equal(huge, 413);
  const notJson = "{not json";
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers = { "x-signature-ed25519": endpoint.signer.sign(timestamp, notJson), "x-signature-timestamp": timestamp };
  const answer = await fetch(endpoint.url, { method: "POST", headers, body: notJson });
  assert.equal(answer.status, 400);
  assert.equal((await post(endpoint, { type: 2, id: "1" })).status, 400);
  assert.equal((await post(endpoint, { type: 2, id: "1", application_id: "424242", token: "t" })).status, 400); // no user
  const autocomplete = { type: 4, id: "1", application_id: "424242", token: "t", user: { id: "5" } };
  assert.deepEqual(await post(endpoint, autocomplete), { status: 400, body: { error: "interaction type 4 is not handled" } });
});

void test("an unknown command gets an ephemeral answer", async () => {
  const body = { ...trainInteraction(OWNER), data: { name: "other" } };
  assert.equal(contentOf(await post(endpoint, body)), "Unknown command /other.");
});

void test("work that takes longer than the deferral limit is answered deferred, then the answer is edited", async () => {
  const slow = await startEndpoint({}, { deferAfterMs: 100 });
  try {
    slow.discord.slowMs = 400;
    const body = trainInteraction(OWNER);
    const answer = await post(slow, body);
    assert.deepEqual(answer, { status: 200, body: { type: 5, data: { flags: 64 } } });
    const token = "token" in body && typeof body.token === "string" ? body.token : "";
    const deadline = Date.now() + 10_000;
    while (slow.discord.interactionAnswers.get(token) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const [text] = slow.discord.interactionAnswers.get(token) ?? [];
    assert.match(text ?? "", /^Queued: request `[0-9a-f]{32}`/);
    slow.discord.token = "another"; // Discord refuses everything now, the deferred answer too
    await post(slow, trainInteraction(OWNER));
    const refused = Date.now() + 10_000;
    while (!slow.logs.lines.some((line) => line.includes("could not send the deferred answer")) && Date.now() < refused)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      slow.logs.lines.some((line) => line.includes("could not send the deferred answer: Discord 401")),
      slow.logs.lines.join("\n"),
    );
  } finally {
    await slow.stop();
  }
});

void test("when Redis fails the user is told to try again and nothing is queued", async () => {
  const broken = await startEndpoint();
  try {
    await broken.redis.quit();
    const text = contentOf(await post(broken, trainInteraction(OWNER)));
    assert.match(text, /Something went wrong on our side; nothing was changed/);
    assert.ok(broken.logs.lines.some((line) => line.startsWith("warn interactions: command failed")));
    assert.equal(broken.discord.messageRequests().length, 0);
  } finally {
    await broken.stop();
  }
});

void test("settings: off without a public key, errors name the variable and the fix", () => {
  assert.deepEqual(loadInteractionSettings({}), { kind: "off" });
  const key = "ab".repeat(32);
  const cases: [Record<string, string>, RegExp][] = [
    [{ DISCORD_PUBLIC_KEY: "xyz" }, /^DISCORD_PUBLIC_KEY must be the 64 hex digits/],
    [{ DISCORD_PUBLIC_KEY: key }, /^DISCORD_APPLICATION_ID must be the application's id \(digits\)/],
    [
      { DISCORD_PUBLIC_KEY: key, DISCORD_APPLICATION_ID: "1", DIGITS_MAX_JOBS_PER_USER: "0" },
      /^DIGITS_MAX_JOBS_PER_USER must be a whole number from 1 to 1000, got "0"; unset it for 2$/,
    ],
    [
      { DISCORD_PUBLIC_KEY: key, DISCORD_APPLICATION_ID: "1", DIGITS_ADMIN_USER_IDS: "1, me" },
      /^DIGITS_ADMIN_USER_IDS must be comma-separated Discord ids \(digits\), got "me"$/,
    ],
  ];
  for (const [env, expected] of cases) {
    const result = loadInteractionSettings(env);
    assert.match("message" in result ? result.message : "", expected);
  }
  const on = loadInteractionSettings({
    DISCORD_PUBLIC_KEY: key,
    DISCORD_APPLICATION_ID: "1",
    DIGITS_ADMIN_USER_IDS: "5, 6,",
    DIGITS_ALLOWED_GUILD_IDS: "",
  });
  assert.ok("settings" in on);
  assert.deepEqual([...on.settings.adminUserIds], ["5", "6"]);
  assert.equal(on.settings.allowedGuildIds.size, 0);
  assert.equal(on.settings.port, 8787);
});

void test("the dry run prints buttons and deferred answers", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  await port.createMessage("c", { content: "hi", components: [cancelRow] });
  await port.createMessage("c", {
    content: "no label",
    components: [
      { type: ComponentType.ActionRow, components: [{ type: ComponentType.Button, style: ButtonStyle.Link, url: "https://x.example" }] },
    ],
  });
  await port.editOriginal("424242", "token", "Queued: request `r`");
  assert.match(out, /hi\n\[Cancel\]\n/);
  assert.match(out, /no label\n\[\?\]\n/);
  assert.match(out, /--- answer to interaction of 424242\nQueued: request `r`\n/);
});

void describe("handlers called in-process", () => {
  const signer = new Signer();

  void test("the endpoint: a handler or a deferred answer failing with a non-Error is logged as it is", async () => {
    const logs = new Logs();
    const handlerReason: unknown = "handler gave up";
    const replyReason: unknown = "Discord gave up";
    let release = (): void => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const edits: string[] = [];
    const server = new InteractionsServer(
      { publicKeyHex: signer.publicKeyHex, host: "127.0.0.1", port: 0, maxAgeS: 300, deferAfterMs: 100 },
      async (interaction) => {
        if (interaction.kind === "button") throw handlerReason;
        await slow;
        return "done late";
      },
      {
        editOriginal: async (_applicationId, _token, content) => {
          edits.push(content);
          await Promise.resolve();
          throw replyReason;
        },
      },
      logs,
    );
    const address = await server.start();
    assert.equal(address.address, "127.0.0.1");
    assert.ok(address.port > 0);
    const endpoint = { url: `http://127.0.0.1:${address.port}/interactions?from=discord`, signer };
    try {
      const buttonBody = { type: 3, id: "2", application_id: APPLICATION_ID, token: "b", user: { id: "5" }, data: { custom_id: "x" } };
      assert.equal(
        contentOf(await post(endpoint, buttonBody)),
        "Something went wrong on our side; nothing was changed. Try again in a minute.",
      );
      assert.ok(logs.lines.includes("warn interactions: button failed: handler gave up"), logs.lines.join("\n"));
      const deferred = await post(endpoint, trainInteraction(OWNER));
      assert.deepEqual(deferred, { status: 200, body: { type: 5, data: { flags: 64 } } });
      release();
    } finally {
      await server.stop(); // waits for the late answer
    }
    assert.deepEqual(edits, ["done late"]);
    assert.ok(logs.lines.includes("warn interactions: could not send the deferred answer: Discord gave up"), logs.lines.join("\n"));
  });
});
