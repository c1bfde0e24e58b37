// A local HTTP server speaking the part of Discord's REST API the bot uses, recording requests and
// enforcing the limits it models: a global requests-per-second limit (429 + retry_after and the
// Retry-After / X-RateLimit-* headers), an optional per-channel limit, 30046 on edits of messages
// older than a configurable age, 50007 for users whose DMs are closed, 401 for a wrong token, 403
// for channels the bot may not use, nonce + enforce_nonce deduplication, and multipart uploads.
// Also the parts the interactions endpoint uses: message components (buttons), edits of an
// interaction's deferred answer (webhook @original) and the bulk overwrite of application commands.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** The JSON body exactly as sent (payload_json for a multipart request). */
  readonly body: string;
  readonly authorization: string | undefined;
  readonly at: number;
  readonly status: number;
  /** Uploaded files of a multipart request, by form field (files[0], …). */
  readonly files: readonly { readonly field: string; readonly name: string; readonly bytes: Uint8Array }[];
}

export interface StoredMessage {
  readonly id: string;
  readonly channelId: string;
  readonly createdAt: number;
  title: string;
  content: string | undefined;
  /** The embeds as last sent (Discord keeps them on edits without embeds). */
  embeds: readonly unknown[];
  readonly replyTo: string | undefined;
  readonly allowedMentions: unknown;
  /** Uploads received for this message, newest last. */
  readonly uploads: Uint8Array[];
  edits: number;
  /** The message's components as last sent (undefined: never sent; edits without them keep them). */
  components: unknown;
}

const DmBody = z.object({ recipient_id: z.string() });
const MessageBody = z
  .object({
    embeds: z.array(z.object({ title: z.string().optional() }).loose()).optional(),
    content: z.string().optional(),
    allowed_mentions: z.object({ parse: z.array(z.string()), users: z.array(z.string()).optional() }).loose(),
    message_reference: z.object({ message_id: z.string() }).loose().optional(),
    nonce: z.string().max(25).optional(),
    enforce_nonce: z.boolean().optional(),
    components: z.array(z.unknown()).optional(),
  })
  .loose();

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

export class FakeDiscord {
  readonly requests: RecordedRequest[] = [];
  /** Message ids that answer 404 Unknown Message. */
  readonly deleted = new Set<string>();
  /** Answer the next N requests with 429 and this Retry-After (seconds); omitted when `header` is false. */
  rateLimit: { count: number; retryAfterS: number; header?: boolean } = { count: 0, retryAfterS: 0 };
  /** Requests per second for the whole bot, over a sliding second (Discord: 50). */
  globalPerSecond = 50;
  /** Per channel: at most `burst` requests per `windowMs`; null: not enforced. */
  channelLimit: { burst: number; windowMs: number } | null = null;
  /** Edits of messages older than this (ms) answer 30046; null: never. */
  maxEditAgeMs: number | null = null;
  /** Users whose DMs are closed: messages in their DM channel answer 403 / 50007. */
  readonly dmsClosed = new Set<string>();
  /** Channels the bot may not post in (403 / 50001). */
  readonly forbiddenChannels = new Set<string>();
  /** When set, any other Authorization answers 401. */
  token: string | null = null;
  /** Answer the next N message requests with 500 (after storing a create when `afterStore`). */
  failNext: { count: number; status: number; delayMs: number } = { count: 0, status: 500, delayMs: 0 };
  /** Latest title shown in each message, by message id. */
  readonly titles = new Map<string, string>();
  readonly messages = new Map<string, StoredMessage>();
  /** 429s answered because of the global or channel limit (not the scripted ones). */
  limitHits = 0;
  /** Answers wait this long (ms) before they are sent: a slow Discord. */
  slowMs = 0;
  /** Contents of the deferred interaction answers, by interaction token, newest last. */
  readonly interactionAnswers = new Map<string, string[]>();
  /** Application commands as last overwritten (PUT), by `<application>` or `<application>/<guild>`. */
  readonly commands = new Map<string, unknown>();
  private readonly nonces = new Map<string, string>();
  private readonly recent: number[] = [];
  private readonly channelRecent = new Map<string, number[]>();
  private nextId = 1;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        void this.receive(req, res, Buffer.concat(chunks));
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return `http://127.0.0.1:${(address satisfies AddressInfo).port}/api`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  /** Requests that created or edited messages. */
  messageRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.path.includes("/messages"));
  }

  /** Requests answered 429, for any reason. */
  tooManyRequests(): number {
    return this.requests.filter((request) => request.status === 429).length;
  }

  private async receive(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const method = req.method ?? "GET";
    const path = (req.url ?? "").replace(/^\/api\/v10/, "");
    const contentType = req.headers["content-type"] ?? "";
    let body = raw.toString("utf8");
    const files: { field: string; name: string; bytes: Uint8Array }[] = [];
    if (contentType.startsWith("multipart/form-data")) {
      const form = await new Response(new Uint8Array(raw), { headers: { "content-type": contentType } }).formData();
      body = "";
      for (const [field, value] of form.entries()) {
        if (typeof value === "string") {
          if (field === "payload_json") body = value;
        } else {
          files.push({ field, name: value.name, bytes: new Uint8Array(await value.arrayBuffer()) });
        }
      }
    }
    const answer = this.answer(method, path, body, req.headers.authorization, files);
    this.requests.push({ method, path, body, authorization: req.headers.authorization, at: Date.now(), status: answer.status, files });
    const send = (): void => {
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(JSON.stringify(answer.body));
    };
    const delay = (answer.status >= 500 ? this.failNext.delayMs : 0) + this.slowMs;
    if (delay > 0) setTimeout(send, delay);
    else send();
  }

  private tooMany(retryAfterS: number, global: boolean, header: boolean): Answer {
    const headers: Record<string, string> = header
      ? { "retry-after": String(retryAfterS), "x-ratelimit-scope": global ? "global" : "user" }
      : {};
    if (header && global) headers["x-ratelimit-global"] = "true";
    return { status: 429, body: { message: "You are being rate limited.", retry_after: retryAfterS, global }, headers };
  }

  /** The sliding-window limits; an answer when one is exceeded. */
  private limited(path: string, now: number): Answer | null {
    while (this.recent.length > 0 && (this.recent[0] ?? 0) <= now - 1000) this.recent.shift();
    if (this.recent.length >= this.globalPerSecond) {
      this.limitHits += 1;
      return this.tooMany(Math.max(0.001, ((this.recent[0] ?? now) + 1000 - now) / 1000), true, true);
    }
    const channel = /^\/channels\/([^/]+)/.exec(path)?.[1];
    if (this.channelLimit !== null && channel !== undefined) {
      const window = this.channelLimit.windowMs;
      const times = (this.channelRecent.get(channel) ?? []).filter((at) => at > now - window);
      this.channelRecent.set(channel, times);
      if (times.length >= this.channelLimit.burst) {
        this.limitHits += 1;
        return this.tooMany(((times[0] ?? now) + window - now) / 1000, false, true);
      }
      times.push(now);
    }
    this.recent.push(now);
    return null;
  }

  private channelHeaders(path: string): Record<string, string> {
    const channel = /^\/channels\/([^/]+)/.exec(path)?.[1];
    if (this.channelLimit === null || channel === undefined) return {};
    const used = this.channelRecent.get(channel)?.length ?? 0;
    return {
      "x-ratelimit-limit": String(this.channelLimit.burst),
      "x-ratelimit-remaining": String(Math.max(0, this.channelLimit.burst - used)),
      "x-ratelimit-reset-after": String(this.channelLimit.windowMs / 1000),
      "x-ratelimit-bucket": `channel-${channel}`,
    };
  }

  private answer(method: string, path: string, body: string, authorization: string | undefined, files: RecordedRequest["files"]): Answer {
    if (this.token !== null && authorization !== `Bot ${this.token}`)
      return { status: 401, body: { code: 0, message: "401: Unauthorized" } };
    if (this.rateLimit.count > 0) {
      this.rateLimit.count -= 1;
      return this.tooMany(this.rateLimit.retryAfterS, false, this.rateLimit.header ?? true);
    }
    const now = Date.now();
    const limit = this.limited(path, now);
    if (limit !== null) return limit;
    const headers = this.channelHeaders(path);
    const webhook = /^\/webhooks\/([0-9]+)\/([^/]+)\/messages\/(?:@|%40)original$/.exec(path);
    if (method === "PATCH" && webhook?.[2] !== undefined) {
      const content = z.object({ content: z.string() }).loose().safeParse(JSON.parse(body));
      if (!content.success) return { status: 400, body: { code: 50035, message: "Invalid Form Body" } };
      const answers = this.interactionAnswers.get(webhook[2]) ?? [];
      answers.push(content.data.content);
      this.interactionAnswers.set(webhook[2], answers);
      return { status: 200, body: { id: "answer", content: content.data.content } };
    }
    const commands = /^\/applications\/([0-9]+)(?:\/guilds\/([0-9]+))?\/commands$/.exec(path);
    if (method === "PUT" && commands?.[1] !== undefined) {
      const list = z.array(z.object({ name: z.string() }).loose()).safeParse(JSON.parse(body));
      if (!list.success) return { status: 400, body: { code: 50035, message: "Invalid Form Body" } };
      this.commands.set(commands[2] === undefined ? commands[1] : `${commands[1]}/${commands[2]}`, list.data);
      return { status: 200, body: list.data.map((command, index) => ({ id: String(index + 1), ...command })) };
    }
    if (method === "POST" && path === "/users/@me/channels") {
      const parsed = DmBody.safeParse(JSON.parse(body));
      if (!parsed.success) return { status: 400, body: { code: 50035, message: "Invalid Form Body" } };
      return { status: 200, body: { id: `dm${parsed.data.recipient_id}`, type: 1 }, headers };
    }
    const create = /^\/channels\/([^/]+)\/messages$/.exec(path);
    const edit = /^\/channels\/([^/]+)\/messages\/([^/]+)$/.exec(path);
    const channelId = create?.[1] ?? edit?.[1];
    if (channelId === undefined || !((method === "POST" && create !== null) || (method === "PATCH" && edit !== null))) {
      return { status: 404, body: { code: 0, message: "404: Not Found" } };
    }
    const parsed = MessageBody.safeParse(JSON.parse(body));
    if (!parsed.success) return { status: 400, body: { code: 50035, message: "Invalid Form Body" } };
    const data = parsed.data;
    if (this.forbiddenChannels.has(channelId)) return { status: 403, body: { code: 50001, message: "Missing Access" } };
    if (channelId.startsWith("dm") && this.dmsClosed.has(channelId.slice(2))) {
      return { status: 403, body: { code: 50007, message: "Cannot send messages to this user" } };
    }
    const title = data.embeds?.[0]?.title ?? "";
    const upload = files.find((file) => file.field === "files[0]");
    if (edit !== null) {
      const messageId = edit[2] ?? "";
      const stored = this.messages.get(messageId);
      if (this.deleted.has(messageId) || stored === undefined) return { status: 404, body: { code: 10008, message: "Unknown Message" } };
      if (this.maxEditAgeMs !== null && now - stored.createdAt > this.maxEditAgeMs) {
        return {
          status: 400,
          body: { code: 30046, message: "Maximum number of edits to messages older than 1 hour reached. Try again later." },
        };
      }
      if (this.failNext.count > 0) {
        this.failNext.count -= 1;
        return { status: this.failNext.status, body: { code: 0, message: "Internal Server Error" } };
      }
      if (data.embeds !== undefined) {
        stored.title = title;
        stored.embeds = data.embeds;
      }
      stored.content = data.content ?? stored.content;
      stored.edits += 1;
      if (data.components !== undefined) stored.components = data.components;
      if (upload !== undefined) stored.uploads.push(upload.bytes);
      this.titles.set(messageId, stored.title);
      return { status: 200, body: held(stored), headers };
    }
    const known =
      data.enforce_nonce === true && data.nonce !== undefined ? this.messages.get(this.nonces.get(data.nonce) ?? "") : undefined;
    // Like Discord: the earlier message, as it stands; nothing is created or changed.
    if (known !== undefined) return { status: 200, body: { ...held(known), nonce: data.nonce }, headers };
    const messageId = `msg${this.nextId++}`;
    const created: StoredMessage = {
      id: messageId,
      channelId,
      createdAt: now,
      title,
      content: data.content,
      embeds: data.embeds ?? [],
      replyTo: data.message_reference?.message_id,
      allowedMentions: data.allowed_mentions,
      uploads: upload === undefined ? [] : [upload.bytes],
      edits: 0,
      components: data.components,
    };
    this.messages.set(messageId, created);
    if (data.enforce_nonce === true && data.nonce !== undefined) this.nonces.set(data.nonce, messageId);
    this.titles.set(messageId, title);
    if (this.failNext.count > 0) {
      // The message exists, but the answer is lost: the client will try again.
      this.failNext.count -= 1;
      return { status: this.failNext.status, body: { code: 0, message: "Internal Server Error" } };
    }
    return { status: 200, body: held(created), headers };
  }
}

/** A message as Discord answers with it. */
function held(message: StoredMessage): Record<string, unknown> {
  return { id: message.id, channel_id: message.channelId, content: message.content ?? "", embeds: message.embeds };
}
