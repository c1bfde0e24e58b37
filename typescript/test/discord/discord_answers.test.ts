// The table of Discord's answers (src/discord/discord_answers.ts), iterated: for every answer Discord can
// give to each kind of request, the stand-in answers it as Discord does, the real REST client
// recognises it, and delivery does what the table says (retry, continue in a new message, move to
// the notify channel, give the job up and close it, stop the bot). Also the README's copy of the
// table, Discord's own 429s holding the scheduler by scope, and 30046 arriving as a 429.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  type Action,
  actionFor,
  type AnswerKind,
  answerKindOf,
  ANSWERS,
  answersTable,
  REQUEST_KINDS,
  type RequestKind,
} from "../../src/discord/discord_answers.ts";
import { Delivery, type Target } from "../../src/discord/delivery.ts";
import { DeliveryError } from "../../src/discord/discord_port.ts";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import { MemoryMessageStore } from "../../src/discord/message_store.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import { discordAnswer, FakeDiscord, tooMany } from "../support/fake_discord.ts";
import { servedDuringTests } from "../support/served_discord.ts";
import { msg } from "../support/fake_port.ts";

type Scope = "user" | "shared" | "global";

const USER = 9223372036854763462n;

const DM = `dm${USER.toString()}`;

const NOTIFY = "900";

const CHANNEL = "42";

interface Case {
  readonly request: RequestKind;
  readonly answer: AnswerKind;
  readonly scope?: Scope;
}

function every(requests: readonly RequestKind[], answers: readonly AnswerKind[]): Case[] {
  return requests.flatMap((request) => answers.map((answer) => ({ request, answer })));
}

function limited(request: RequestKind, scope: Scope): Case {
  return { request, answer: "rate_limited", scope };
}

const SCOPES: readonly Scope[] = ["user", "shared", "global"];

const MESSAGES: readonly RequestKind[] = ["create_dm", "edit_dm", "create_channel", "edit_channel"];

/** Every answer Discord can give to each kind of request the bot makes. */
const CASES: readonly Case[] = [
  ...REQUEST_KINDS.flatMap((request) => SCOPES.map((scope) => limited(request, scope))),
  ...every(REQUEST_KINDS, ["invalid", "unauthorized", "failed"]),
  ...every(["open_dm"], ["unknown_user"]),
  ...every(MESSAGES, ["unknown_channel", "forbidden"]),
  ...every(["create_dm", "edit_dm"], ["dms_closed"]),
  ...every(["edit_dm", "edit_channel"], ["too_old", "unknown_message"]),
];

const PATHS: Record<RequestKind, RegExp> = {
  open_dm: /^POST \/users\/@me\/channels$/,
  create_dm: /^POST \/channels\/dm[0-9]+\/messages$/,
  edit_dm: /^PATCH \/channels\/dm[0-9]+\/messages\//,
  create_channel: new RegExp(`^POST /channels/${CHANNEL}/messages$`),
  edit_channel: new RegExp(`^PATCH /channels/${CHANNEL}/messages/`),
};

const discord = new FakeDiscord();

const served = servedDuringTests(discord);

function reset(): void {
  discord.requests.length = 0;
  discord.scripted.length = 0;
  discord.maxEditAgeMs = null;
  discord.globalPerSecond = 50;
}

/** Discord's answer scripted for the next request of this kind (the client resends nothing, not even a 5xx). */
function script(request: RequestKind, answer: AnswerKind, scope?: Scope): void {
  discord.scripted.push({ match: PATHS[request], answer: discordAnswer(answer, scope) });
}

function port(): RestDiscordPort {
  return new RestDiscordPort({ token: "t", apiUrl: served.apiUrl, timeoutMs: 5000 });
}

/** Sends one request of this kind, Discord's answer scripted for it. */
async function send({ request, answer, scope }: Case): Promise<unknown> {
  const rest = port();
  if (!request.startsWith("edit")) script(request, answer, scope);
  const channel = request.endsWith("_dm") ? DM : CHANNEL;
  if (request === "open_dm") return await rest.openDm(USER);
  if (request.startsWith("create")) return await rest.createMessage(channel, { embed: { title: "x" } });
  const created = await rest.createMessage(channel, { embed: { title: "x" } });
  script(request, answer, scope);
  await rest.editMessage({ channelId: channel, messageId: created.id }, { embed: { title: "y" } });
  return null;
}

void test("every answer to every request has one action, and the README shows the table as the code has it", () => {
  const kinds = new Set<AnswerKind>(ANSWERS.map((answer) => answer.kind));
  for (const request of REQUEST_KINDS) for (const kind of [...kinds, "failed"] satisfies AnswerKind[]) assert.ok(actionFor(request, kind));
  // The ones that matter most, written out: the table cannot drift into nonsense unseen.
  assert.equal(answerKindOf(429, 30046), "too_old");
  assert.equal(answerKindOf(429, null), "rate_limited");
  assert.equal(answerKindOf(418, null), "invalid");
  assert.equal(answerKindOf(503, null), "failed");
  assert.equal(actionFor("edit_dm", "too_old"), "new_message");
  assert.equal(actionFor("create_dm", "dms_closed"), "notify_channel");
  assert.equal(actionFor("open_dm", "unknown_user"), "give_up");
  assert.equal(actionFor("create_channel", "unknown_channel"), "give_up");
  assert.equal(actionFor("edit_channel", "invalid"), "give_up");
  assert.equal(actionFor("edit_channel", "unauthorized"), "stop_bot");
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  assert.ok(readme.includes(answersTable()), `README.md must hold the table as answersTable() prints it:\n${answersTable()}`);
});

void test("the real REST client recognises each answer of the stand-in as the table's kind", async () => {
  for (const one of CASES) {
    const { request, answer, scope } = one;
    reset();
    const error = await send(one).then(
      () => null,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof DeliveryError, `${request} × ${answer}: ${String(error)}`);
    assert.equal(error.kind, answer, `${request} × ${answer}: ${error.message}`);
    if (answer === "rate_limited") {
      assert.equal(error.scope, scope, `${request} × 429 ${scope ?? ""}`);
      assert.ok(error.retryAfterMs >= 200, `Retry-After is kept: ${error.retryAfterMs}`);
    }
  }
});

interface Run {
  readonly delivery: Delivery;
  readonly warnings: string[];
  readonly fatal: DeliveryError[];
  readonly finished: string[];
}

function run(scheduler = new RequestScheduler({ maxRps: 50, channelBurst: 100 })): Run {
  const warnings: string[] = [];
  const fatal: DeliveryError[] = [];
  const finished: string[] = [];
  const delivery = new Delivery({
    port: port(),
    store: new MemoryMessageStore(),
    logger: { info: () => undefined, warn: (line) => warnings.push(line) },
    editIntervalMs: 20,
    scheduler,
    notifyAtEnd: false,
    fallbackChannelId: NOTIFY,
    onFatal: (error) => fatal.push(error),
    onFinished: (key) => finished.push(key),
  });
  return { delivery, warnings, fatal, finished };
}

/** Where the final state is shown now. */
function shownFinal(key: string): { id: string; channelId: string; content: string | undefined; replyTo: string | undefined }[] {
  return [...discord.messages.values()].filter((message) => message.title === `${key} final`);
}

async function withTimeout(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: not idle after ${ms} ms`));
    }, ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

void test("delivery does what the table says for every answer, against the stand-in", async () => {
  let n = 0;
  for (const { request, answer, scope } of CASES) {
    reset();
    const key = `job${n++}`;
    const what = `${request} × ${answer}${scope === undefined ? "" : ` (${scope})`}`;
    const action: Action = actionFor(request, answer);
    const { delivery, warnings, fatal, finished } = run();
    const target: Target = request.endsWith("_channel")
      ? { kind: "channel", channelId: CHANNEL, userId: USER }
      : { kind: "dm", userId: USER };
    let first: string | undefined;
    if (request.startsWith("edit")) {
      delivery.publish(key, target, msg(`${key} s1`), false);
      await withTimeout(delivery.whenIdle(), 5000, what);
      first = [...discord.messages.values()].find((message) => message.title === `${key} s1`)?.id;
      assert.ok(first !== undefined, what);
    }
    script(request, answer, scope);
    const start = discord.requests.length;
    delivery.publish(key, target, msg(`${key} final`), true);
    await withTimeout(delivery.whenIdle(), 10_000, what);
    const after = discord.requests.slice(start);
    const refused = after.filter((r) => PATHS[request].test(`${r.method} ${r.path}`));
    assert.ok(refused.length >= 1 && refused[0]?.status !== 200, `${what}: the request was refused`);
    const shown = shownFinal(key);
    switch (action) {
      case "retry":
        assert.equal(shown.length, 1, `${what}: retried until the final state was shown`);
        if (first !== undefined) assert.equal(shown[0]?.id, first, `${what}: in the same message`);
        assert.ok(refused.length >= 2, `${what}: the same request again`);
        break;
      case "new_message":
        assert.equal(shown.length, 1, `${what}: shown`);
        if (first !== undefined) assert.notEqual(shown[0]?.id, first, `${what}: in a new message`);
        if (answer === "too_old") assert.equal(shown[0]?.replyTo, first, `${what}: replying to the old one`);
        if (request === "create_dm")
          assert.equal(after.filter((r) => PATHS.open_dm.test(`${r.method} ${r.path}`)).length, 2, "the DM opened again");
        break;
      case "notify_channel":
        assert.equal(shown.length, 1, `${what}: shown`);
        assert.equal(shown[0]?.channelId, NOTIFY, `${what}: in the notify channel`);
        assert.match(shown[0].content ?? "", new RegExp(`<@${USER.toString()}>`), `${what}: mentioning the user`);
        break;
      case "give_up":
        assert.equal(shown.length, 0, `${what}: nothing shown`);
        assert.equal(refused.length, 1, `${what}: not retried`);
        assert.deepEqual(finished, [key], `${what}: the job is closed`);
        assert.equal(warnings.filter((line) => line.startsWith(`giving up on job ${key}`)).length, 1, `${what}: logged once`);
        break;
      case "stop_bot":
        assert.equal(fatal.length, 1, `${what}: the bot stops`);
        assert.equal(refused.length, 1, `${what}: nothing more sent`);
        assert.deepEqual(finished, [], `${what}: the job is not closed (another bot may show it)`);
        break;
    }
  }
});

void test("a global 429 holds every job's requests; a route's 429 (user or shared) holds only its channel", async () => {
  for (const scope of ["global", "user", "shared"] as const) {
    reset();
    // Retry-After 1 s: long enough to tell a hold from a loaded machine's delay.
    discord.scripted.push({ match: /^POST \/channels\/61\/messages$/, answer: tooMany(1, scope) });
    const { delivery } = run();
    delivery.publish(`held-a-${scope}`, { kind: "channel", channelId: "61" }, msg("a"), true);
    while (!discord.requests.some((r) => r.status === 429)) await new Promise((resolve) => setTimeout(resolve, 5));
    const limitedAt = discord.requests.find((r) => r.status === 429)?.at ?? 0;
    delivery.publish(`held-b-${scope}`, { kind: "channel", channelId: "62" }, msg("b"), true);
    await withTimeout(delivery.whenIdle(), 5000, scope);
    const other = discord.requests.find((r) => r.path === "/channels/62/messages");
    const waited = (other?.at ?? 0) - limitedAt;
    if (scope === "global") assert.ok(waited >= 990, `global: the other channel waited ${waited} ms`);
    else assert.ok(waited < 600, `${scope}: the other channel did not wait (${waited} ms)`);
  }
});

void test("a job whose edits get 429 + 30046 shows its final state in a continuation message within seconds of its end", async () => {
  reset();
  const { delivery } = run();
  const target: Target = { kind: "channel", channelId: CHANNEL, userId: USER };
  delivery.publish("long", target, msg("long s1"), false);
  await withTimeout(delivery.whenIdle(), 5000, "s1");
  discord.maxEditAgeMs = 0;
  const end = Date.now();
  delivery.publish("long", target, msg("long final"), true);
  await withTimeout(delivery.whenIdle(), 5000, "final");
  const tooOld = discord.requests.filter((r) => r.status === 429);
  assert.equal(tooOld.length, 1, "one 429 (30046), not retried");
  assert.match(JSON.stringify(discord.requests.find((r) => r.status === 429)), /PATCH/);
  const shown = shownFinal("long");
  assert.equal(shown.length, 1);
  const shownAt = discord.requests.find((r) => r.method === "POST" && r.body.includes("long final"))?.at ?? Number.POSITIVE_INFINITY;
  assert.ok(shownAt - end < 2000, `final shown ${shownAt - end} ms after the end`);
  assert.notEqual(shown[0]?.replyTo, undefined, "the continuation replies to the old message");
});
