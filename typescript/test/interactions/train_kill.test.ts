// /train killed (SIGKILL: it stops where it is and sends nothing more) at each step that talks to
// Discord or stores the message id: no live "Queued" message with a Cancel button is ever left for
// a request that is not on the stream, and the job's events, delivered by any bot, end up in one
// message. Also the order's other side: events delivered before the Queued message is created.
// A real redis-server and the Discord stand-in (nonces enforced as Discord does).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Delivery } from "../../src/discord/delivery.ts";
import type { CreatedMessage, DiscordPort, MessageRef, OutgoingMessage } from "../../src/discord/discord_port.ts";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import { messageKeyFor } from "../../src/jobs/job.ts";
import { MemoryMessageStore } from "../../src/discord/message_store.ts";
import { RequestScheduler } from "../../src/discord/scheduler.ts";
import type { UserInteraction } from "../../src/interactions/server.ts";
import { handleTrain, type TrainDeps } from "../../src/interactions/train.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { msg } from "../support/fake_port.ts";
import { APPLICATION_ID, interactionsClient, Logs, OWNER, settingsFor, Signer } from "../support/interactions_support.ts";
import { liveRedis } from "../support/live_redis.ts";

const live = liveRedis(interactionsClient);

let discord: FakeDiscord;

let port: RestDiscordPort;

before(async () => {
  discord = new FakeDiscord();
  port = new RestDiscordPort({ token: "test", apiUrl: await discord.start() });
});

after(async () => {
  await discord.stop();
});

const command: Extract<UserInteraction, { kind: "command" }> = {
  kind: "command",
  name: "train",
  options: new Map(),
  id: "1",
  applicationId: APPLICATION_ID,
  token: "t",
  userId: OWNER,
  guildId: "900",
  channelId: "901",
};

/** Where the bot dies: before opening the DM, before or after Discord took the create, at storing the id. */
const STEPS = ["open_dm", "create_unsent", "create_applied", "store"] as const;

type Step = (typeof STEPS)[number];

/** A bot whose next call at `step` never returns (nor does anything after it): `dead` resolves then. */
function killedAt(step: Step, requestId: string): { deps: TrainDeps; dead: Promise<void> } {
  let die = (): void => undefined;
  const dead = new Promise<void>((resolve) => {
    die = resolve;
  });
  const killed = <T>(): Promise<T> => {
    die();
    return new Promise<T>(() => undefined); // the process is gone: nothing after this runs
  };
  const discordPort: DiscordPort = {
    openDm: (userId) => port.openDm(userId),
    editMessage: (ref, message) => port.editMessage(ref, message),
    getMessage: (ref) => port.getMessage(ref),
    createMessage: async (channelId: string, message: OutgoingMessage): Promise<CreatedMessage> => {
      if (step === "create_unsent") return await killed();
      const created = await port.createMessage(channelId, message);
      return step === "create_applied" ? await killed() : created;
    },
  };
  const deps: TrainDeps = {
    redis: live.redis,
    settings: settingsFor(new Signer()),
    discord: discordPort,
    channelFor: (userId) => (step === "open_dm" ? killed() : port.openDm(userId)),
    messages: { set: (): Promise<void> => (step === "store" ? killed() : Promise.resolve()) },
    messageKeyFor,
    log: new Logs(),
    now: Date.now,
    newRequestId: () => requestId,
    isOpen: () => Promise.resolve(false),
  };
  return { deps, dead };
}

/** The request ids on the requests stream. */
async function requested(): Promise<Set<string>> {
  const entries = await live.redis.xrange(settingsFor(new Signer()).requestsStream, "-", "+");
  const ids = entries.flatMap(([, fields]) => (fields[0] === "request" ? [/"request_id":"([^"]+)"/.exec(fields[1] ?? "")?.[1] ?? ""] : []));
  return new Set(ids);
}

/** The request ids named by a Cancel button on a message in Discord, sent since `before`. */
function liveButtons(before: Set<string>): string[] {
  return [...discord.messages.entries()].flatMap(([id, message]) =>
    before.has(id)
      ? []
      : [...JSON.stringify(message.components ?? []).matchAll(/digits:cancel:[0-9]+:([^"]+)"/g)].map((match) => match[1] ?? ""),
  );
}

/** The job's first event, delivered by another bot that never learnt the message id. */
async function deliverStarted(requestId: string): Promise<void> {
  const delivery = new Delivery({ port, store: new MemoryMessageStore(), logger: new Logs(), scheduler: new RequestScheduler({}) });
  delivery.publish(messageKeyFor(OWNER, requestId), { kind: "dm", userId: OWNER }, msg("Training started"), false);
  await delivery.whenIdle();
}

for (const step of STEPS) {
  void test(
    `a bot killed at ${step} leaves no Cancel button without its request, and the job gets one message`,
    { timeout: 30_000 },
    async () => {
      await live.redis.flushall();
      const requestId = `killed-${step}`;
      const before = new Set(discord.messages.keys());
      const { deps, dead } = killedAt(step, requestId);
      const answered = handleTrain(command, deps).then(() => "answered");
      assert.equal(await Promise.race([dead.then(() => "dead"), answered]), "dead", `the bot reached ${step}`);
      for (const live of liveButtons(before))
        assert.ok((await requested()).has(live), `a Cancel button for ${live}, which was never requested`);
      assert.ok((await requested()).has(requestId), "the request was appended before anything was shown");
      await deliverStarted(requestId);
      const mine = [...discord.messages.keys()].filter((id) => !before.has(id));
      assert.equal(mine.length, 1, "one message for the job");
      assert.equal(discord.titles.get(mine[0] ?? ""), "Training started");
    },
  );
}

void test(
  "events delivered before the Queued message is created: one message, still showing the newer state",
  { timeout: 30_000 },
  async () => {
    await live.redis.flushall();
    const requestId = "events-first";
    const before = new Set(discord.messages.keys());
    const refs = new Map<string, MessageRef>();
    const deps: TrainDeps = {
      redis: live.redis,
      settings: settingsFor(new Signer()),
      discord: port,
      // Between the append and the Queued message, another bot delivers the job's first event.
      channelFor: async (userId) => {
        await deliverStarted(requestId);
        return await port.openDm(userId);
      },
      messages: {
        set: (key, ref) => {
          refs.set(key, ref);
          return Promise.resolve();
        },
      },
      messageKeyFor,
      log: new Logs(),
      now: Date.now,
      newRequestId: () => requestId,
      isOpen: () => Promise.resolve(false),
    };
    assert.match(await handleTrain(command, deps), /^Queued: /);
    const mine = [...discord.messages.keys()].filter((id) => !before.has(id));
    assert.equal(mine.length, 1, "the Queued create got the job's message back");
    assert.equal(discord.titles.get(mine[0] ?? ""), "Training started", "not taken back to Queued");
    assert.equal(refs.get(messageKeyFor(OWNER, requestId))?.messageId, mine[0]);
  },
);
