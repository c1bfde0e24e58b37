// The interactions endpoint on 127.0.0.1 against a real Redis and the Discord stand-in, and a
// test key pair that signs requests as Discord does (Ed25519 over timestamp + body).

import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { Redis } from "ioredis";
import { RestDiscordPort } from "../../src/discord/discord_rest.ts";
import type { MessageRef } from "../../src/discord/discord_port.ts";
import type { Logger } from "../../src/shared/log.ts";
import { startInteractions } from "../../src/interactions/index.ts";
import { RedisJobStore } from "../../src/jobs/job_store.ts";
import type { InteractionsServer } from "../../src/interactions/server.ts";
import { loadInteractionSettings, type InteractionSettings } from "../../src/interactions/settings.ts";
import { FakeDiscord } from "./fake_discord.ts";
import type { LiveRedis } from "./live_redis.ts";
import { RedisServer } from "./redis_server.ts";

export const APPLICATION_ID = "424242";
/** Above 2^53: a JS number would lose its last digits. */
export const OWNER = 2n ** 62n + 12345n;
export const OTHER = 1234567890123456789n;
export const ADMIN = 77n;

export class Signer {
  readonly publicKeyHex: string;
  private readonly privateKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync("ed25519");
    this.privateKey = pair.privateKey;
    // The raw 32-byte key is the tail of its DER SubjectPublicKeyInfo.
    this.publicKeyHex = pair.publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("hex");
  }

  sign(timestamp: string, body: string): string {
    return sign(null, Buffer.from(timestamp + body), this.privateKey).toString("hex");
  }
}

export class Logs implements Logger {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
}

/** The endpoint's settings for interactions signed by `signer`; `env` adds settings (DIGITS_*). */
export function settingsFor(signer: Signer, env: Record<string, string> = {}): InteractionSettings {
  const loaded = loadInteractionSettings({ DISCORD_PUBLIC_KEY: signer.publicKeyHex, DISCORD_APPLICATION_ID: APPLICATION_ID, ...env });
  if (loaded.kind !== "on") throw new Error(`settings: ${JSON.stringify(loaded)}`);
  return loaded.settings;
}

/** A client as the bot's interactions make one (one retry per command), connected by liveRedis. */
export function interactionsClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
}

/** A client of `live`'s server as a user who may not run `denied` (ACL); disconnect() it. */
export async function restrictedClient(live: LiveRedis, name: string, denied: readonly string[]): Promise<Redis> {
  await live.redis.call("ACL", "SETUSER", name, "reset", "on", "nopass", "~*", "&*", "+@all", ...denied.map((command) => `-${command}`));
  return new Redis(live.server.url, { username: name, password: "unused", maxRetriesPerRequest: 1 });
}

export interface Endpoint {
  readonly url: string;
  readonly redis: Redis;
  readonly discord: FakeDiscord;
  readonly signer: Signer;
  readonly settings: InteractionSettings;
  readonly messages: Map<string, MessageRef>;
  /** The bot's job store, as the coordinator keeps it (a job with stored events is open). */
  readonly jobs: RedisJobStore;
  readonly logs: Logs;
  readonly server: InteractionsServer;
  stop(): Promise<void>;
}

/** Each interaction built here has its own id and token, as Discord's have. */
let nextToken = 1;

/** What an endpoint under test starts from: Redis, the stand-in (and a port to it), a signer, settings. */
export async function startParts(env: Record<string, string>, overrides: Partial<InteractionSettings>) {
  const redisServer = await RedisServer.start();
  const discord = new FakeDiscord();
  const apiUrl = await discord.start();
  const signer = new Signer();
  const settings = { ...settingsFor(signer, { DIGITS_INTERACTIONS_PORT: "0", ...env }), ...overrides };
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  const port = new RestDiscordPort({ token: "test", apiUrl });
  return { redisServer, discord, apiUrl, signer, settings, redis, port };
}

/** Starts Redis, the stand-in and the endpoint; `env` adds settings (DIGITS_*). */
export async function startEndpoint(
  env: Record<string, string> = {},
  overrides: Partial<InteractionSettings> = {},
  now: () => number = Date.now,
): Promise<Endpoint> {
  const { redisServer, discord, signer, settings, redis, port } = await startParts(env, overrides);
  const messages = new Map<string, MessageRef>();
  const jobs = new RedisJobStore(redis, "digits:bot:test:");
  const logs = new Logs();
  const { server, port: listening } = await startInteractions(
    settings,
    {
      redis,
      settings,
      discord: port,
      channelFor: (userId) => port.openDm(userId),
      // As startup.ts passes the bot's setting.
      notifyChannelId: env.DIGITS_NOTIFY_CHANNEL_ID ?? null,
      messages: {
        set: (key, ref) => {
          messages.set(key, ref);
          return Promise.resolve();
        },
      },
      messageKeyFor: (userId, requestId) => `${userId.toString()}:${requestId}`,
      log: logs,
      now,
      isOpen: (userId, requestId) => jobs.isOpen({ userId, requestId }),
    },
    port,
  );
  return {
    url: `http://127.0.0.1:${listening}/interactions`,
    redis,
    discord,
    signer,
    settings,
    messages,
    jobs,
    logs,
    server,
    stop: async () => {
      await server.stop();
      redis.disconnect();
      await discord.stop();
      await redisServer.stop();
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** Posts `body` signed now (or at `timestampS`), or with the given headers instead. */
export async function post(
  endpoint: Pick<Endpoint, "url" | "signer">,
  body: unknown,
  options: { timestampS?: number; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const text = JSON.stringify(body);
  const timestamp = String(options.timestampS ?? Math.floor(Date.now() / 1000));
  const headers = options.headers ?? { "x-signature-ed25519": endpoint.signer.sign(timestamp, text), "x-signature-timestamp": timestamp };
  const response = await fetch(endpoint.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: text });
  const answer: unknown = await response.json();
  return { status: response.status, body: answer };
}

function who(userId: bigint, guildId: string | null): object {
  const user = { id: userId.toString(), username: "someone" };
  return guildId === null ? { user } : { guild_id: guildId, member: { user, roles: [] } };
}

export function trainInteraction(
  userId: bigint,
  options: Record<string, string | number | boolean> = {},
  guildId: string | null = "900",
  channelId = "901",
): object {
  return {
    type: 2,
    id: String(nextToken),
    application_id: APPLICATION_ID,
    token: `token-${nextToken++}`,
    channel_id: channelId,
    ...who(userId, guildId),
    data: { id: "5", name: "train", type: 1, options: Object.entries(options).map(([name, value]) => ({ name, value, type: 4 })) },
  };
}

export function buttonInteraction(userId: bigint, customId: string): object {
  return {
    type: 3,
    id: String(nextToken),
    application_id: APPLICATION_ID,
    token: `token-${nextToken++}`,
    channel_id: "901",
    ...who(userId, null),
    data: { custom_id: customId, component_type: 2 },
  };
}

/** The text of an ephemeral answer (type 4, flags 64). */
export function contentOf(answer: Answer): string {
  const body = answer.body;
  if (typeof body !== "object" || body === null || !("type" in body) || body.type !== 4 || !("data" in body))
    throw new Error(`not an answer: ${JSON.stringify(body)}`);
  const data = body.data;
  if (
    typeof data !== "object" ||
    data === null ||
    !("flags" in data) ||
    data.flags !== 64 ||
    !("content" in data) ||
    typeof data.content !== "string"
  ) {
    throw new Error(`not ephemeral: ${JSON.stringify(body)}`);
  }
  return data.content;
}
