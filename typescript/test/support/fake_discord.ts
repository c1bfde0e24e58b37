// A local HTTP server speaking the part of Discord's REST API the bot uses, answering as Discord
// does (sources cited where each answer is made), recording requests and enforcing the limits it
// models:
// - a global requests-per-second limit: 429, `global: true`, Retry-After, X-RateLimit-Global and
//   X-RateLimit-Scope: global; an optional per-channel limit (scope user); scripted 429s of any
//   scope (`shared`: a per-resource limit, Discord's docs, "Rate Limits" > "Header Format");
// - 30046 on edits of messages older than a configurable age, sent as Discord sends it: HTTP 429
//   with the code in the body (discord.py users see "429 Too Many Requests (error code: 30046)",
//   aikaterna/aikaterna-cogs#302; the 429 body's optional `code`, Discord's docs "Rate Limits" >
//   "Rate Limit Response Structure");
// - 50007 (403) for users whose DMs are closed, 10003 (404) for deleted channels, 10008 (404) for
//   deleted messages, 10013 (404) for unknown users, 401 for a wrong token, 403 / 50001 for
//   channels the bot may not use, 50035 (400) with its `errors` tree, 50006 for an empty create;
// - messages held as Discord holds them (content, embeds, components, attachments), every answer
//   the whole message object; an edit without `attachments` keeps the message's attachments, one
//   with `attachments` keeps only those listed plus the files it uploads (Discord's docs, "Edit
//   Message": "any attachments not listed will be removed"); nonce + enforce_nonce; GET of one
//   message ("Get Channel Message") answering the message as held;
// - strict mode (on unless `{ strict: false }`): bodies Discord refuses are refused
//   (`discord_body_rules.ts`: embed limits, empty field values, nonce over 25, parse with users).
// Also the parts the interactions endpoint uses: message components (buttons), edits of an
// interaction's deferred answer (webhook @original) and the bulk overwrite of application commands.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { AnswerKind } from "../../src/discord/discord_answers.ts";
import { bodyProblem } from "./discord_body_rules.ts";

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

export interface HeldAttachment {
  readonly id: string;
  readonly filename: string;
  readonly size: number;
}

export interface StoredMessage {
  readonly id: string;
  readonly channelId: string;
  readonly createdAt: number;
  editedAt: number | null;
  /** Attachments the message holds now (uploads keep their bytes in `uploads`). */
  attachments: HeldAttachment[];
  readonly nonce: string | undefined;
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

const DmBody = z.object({ recipient_id: z.string().regex(/^[0-9]{1,20}$/) });
const MessageBody = z
  .object({
    embeds: z.array(z.object({ title: z.string().optional() }).loose()).optional(),
    content: z.string().optional(),
    allowed_mentions: z.object({ parse: z.array(z.string()), users: z.array(z.string()).optional() }).loose(),
    message_reference: z.object({ message_id: z.string() }).loose().optional(),
    nonce: z.string().optional(),
    enforce_nonce: z.boolean().optional(),
    components: z.array(z.unknown()).optional(),
    attachments: z.array(z.object({ id: z.string() }).loose()).optional(),
  })
  .loose();

/** Discord's 50035 answer; `errors` names the field (Discord's docs, "Example JSON Error Response"). */
function invalidForm(errors: Record<string, unknown>): Answer {
  return { status: 400, body: { code: 50035, errors, message: "Invalid Form Body" } };
}

function schemaErrors(error: z.ZodError): Record<string, unknown> {
  const first = error.issues[0];
  let tree: Record<string, unknown> = { _errors: [{ code: "BASE_TYPE_INVALID", message: first?.message ?? "Invalid" }] };
  for (const part of [...(first?.path ?? [])].reverse()) tree = { [String(part)]: tree };
  return tree;
}

/** A 429 as Discord sends it (Discord's docs, "Rate Limits": body, Retry-After, X-RateLimit-Scope / -Global). */
export function tooMany(retryAfterS: number, scope: "user" | "shared" | "global", header = true, code?: number, message?: string): Answer {
  const global = scope === "global";
  const headers: Record<string, string> = header ? { "retry-after": String(retryAfterS), "x-ratelimit-scope": scope } : {};
  if (header && global) headers["x-ratelimit-global"] = "true";
  const body = {
    message: message ?? "You are being rate limited.",
    retry_after: retryAfterS,
    global,
    ...(code === undefined ? {} : { code }),
  };
  return { status: 429, body, headers };
}

/**
 * Discord's answer of each kind the bot tells apart (`discord_answers.ts`), as Discord sends it:
 * the JSON error codes of Discord's docs, "Opcodes and Status Codes"; 30046 as a 429 (see above).
 */
export function discordAnswer(kind: AnswerKind, scope: "user" | "shared" | "global" = "user"): Answer {
  switch (kind) {
    case "rate_limited":
      return tooMany(0.2, scope);
    case "too_old":
      // retry_after: Discord's value is not documented; waiting it out does not help anyway.
      return tooMany(3, "user", true, 30046, "Maximum number of edits to messages older than 1 hour reached. Try again later.");
    case "unknown_message":
      return { status: 404, body: { code: 10008, message: "Unknown Message" } };
    case "unknown_channel":
      return { status: 404, body: { code: 10003, message: "Unknown Channel" } };
    case "unknown_user":
      return { status: 404, body: { code: 10013, message: "Unknown User" } };
    case "dms_closed":
      return { status: 403, body: { code: 50007, message: "Cannot send messages to this user" } };
    case "forbidden":
      return { status: 403, body: { code: 50001, message: "Missing Access" } };
    case "invalid":
      return invalidForm({ recipients: { _errors: [{ code: "BASE_TYPE_INVALID", message: "Invalid Recipient(s)" }] } });
    case "unauthorized":
      return { status: 401, body: { code: 0, message: "401: Unauthorized" } };
    case "failed":
      return { status: 502, body: { code: 0, message: "502: Bad Gateway" } };
  }
}

export interface FakeDiscordOptions {
  /** Refuse bodies Discord would refuse (default true). */
  readonly strict?: boolean;
}

export type Answer = { status: number; body: unknown; headers?: Record<string, string> };

/** A file the stand-in serves as an attachment; `status` and `redirectTo` script a failure. */
export interface Attachment {
  readonly bytes: Uint8Array;
  readonly contentType: string;
  readonly status?: number;
  readonly redirectTo?: string;
  readonly delayMs?: number;
}

export class FakeDiscord {
  readonly requests: RecordedRequest[] = [];
  /** Message ids that answer 404 Unknown Message. */
  readonly deleted = new Set<string>();
  /** Answer the next N requests with 429 and this Retry-After (seconds); omitted when `header` is false. */
  rateLimit: { count: number; retryAfterS: number; header?: boolean; scope?: "user" | "shared" | "global" } = {
    count: 0,
    retryAfterS: 0,
  };
  /** Channels that answer 404 / 10003 Unknown Channel (deleted). */
  readonly deletedChannels = new Set<string>();
  /** User ids that answer 404 / 10013 Unknown User when a DM is opened. */
  readonly unknownUsers = new Set<string>();
  /** The next request whose "METHOD /path" matches gets `answer` (each entry used once, in order). */
  readonly scripted: { readonly match: RegExp; readonly answer: Answer }[] = [];
  /** Refuse bodies Discord would refuse (`discord_body_rules.ts`). */
  readonly strict: boolean;
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
  /** Each edit of a deferred answer, by interaction token: its JSON body and its uploads. */
  readonly interactionEdits = new Map<string, { readonly body: unknown; readonly files: RecordedRequest["files"] }[]>();
  /** What GET /attachments/<path> serves (Discord's CDN), by path; see serveAttachment. */
  readonly attachments = new Map<string, Attachment>();
  /** Application commands as last overwritten (PUT), by `<application>` or `<application>/<guild>`. */
  readonly commands = new Map<string, unknown>();
  private readonly nonces = new Map<string, string>();
  private readonly recent: number[] = [];
  private readonly channelRecent = new Map<string, number[]>();
  private nextId = 1;
  private readonly server: Server;

  constructor(options: FakeDiscordOptions = {}) {
    this.strict = options.strict ?? true;
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

  /** The URL of a file served as Discord's CDN serves attachments (cdn.discordapp.com/attachments/...). */
  attachmentUrl(apiUrl: string, path: string, attachment: Attachment): string {
    this.attachments.set(path, attachment);
    return `${new URL(apiUrl).origin}/attachments/${path}`;
  }

  /** GET /attachments/<path>: the bytes with their content type (404 when unknown), after `delayMs`. */
  private serveAttachment(req: IncomingMessage, res: ServerResponse): boolean {
    const path = /^\/attachments\/(.+)$/.exec(req.url ?? "")?.[1];
    if (req.method !== "GET" || path === undefined) return false;
    const file = this.attachments.get(path);
    const send = (): void => {
      if (file === undefined) {
        res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
        return;
      }
      res.writeHead(file.status ?? 200, {
        "content-type": file.contentType,
        ...(file.redirectTo !== undefined ? { location: file.redirectTo } : {}),
      });
      res.end(Buffer.from(file.bytes));
    };
    setTimeout(send, file?.delayMs ?? 0);
    return true;
  }

  private async receive(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    if (this.serveAttachment(req, res)) return;
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

  /** The sliding-window limits; an answer when one is exceeded. */
  private limited(path: string, now: number): Answer | null {
    while (this.recent.length > 0 && (this.recent[0] ?? 0) <= now - 1000) this.recent.shift();
    if (this.recent.length >= this.globalPerSecond) {
      this.limitHits += 1;
      return tooMany(Math.max(0.001, ((this.recent[0] ?? now) + 1000 - now) / 1000), "global", true);
    }
    const channel = /^\/channels\/([^/]+)/.exec(path)?.[1];
    if (this.channelLimit !== null && channel !== undefined) {
      const window = this.channelLimit.windowMs;
      const times = (this.channelRecent.get(channel) ?? []).filter((at) => at > now - window);
      this.channelRecent.set(channel, times);
      if (times.length >= this.channelLimit.burst) {
        this.limitHits += 1;
        return tooMany(((times[0] ?? now) + window - now) / 1000, "user", true);
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
    if (this.token !== null && authorization !== `Bot ${this.token}`) return discordAnswer("unauthorized");
    const scripted = this.scripted.findIndex((next) => next.match.test(`${method} ${path}`));
    if (scripted >= 0) return this.scripted.splice(scripted, 1)[0]?.answer ?? discordAnswer("failed");
    if (this.rateLimit.count > 0) {
      this.rateLimit.count -= 1;
      return tooMany(this.rateLimit.retryAfterS, this.rateLimit.scope ?? "user", this.rateLimit.header ?? true);
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
      const edits = this.interactionEdits.get(webhook[2]) ?? [];
      this.interactionEdits.set(webhook[2], [...edits, { body: JSON.parse(body), files }]);
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
      if (!parsed.success) return invalidForm(schemaErrors(parsed.error));
      if (this.unknownUsers.has(parsed.data.recipient_id)) return discordAnswer("unknown_user");
      return { status: 200, body: { id: `dm${parsed.data.recipient_id}`, type: 1 }, headers };
    }
    const create = /^\/channels\/([^/]+)\/messages$/.exec(path);
    const edit = /^\/channels\/([^/]+)\/messages\/([^/]+)$/.exec(path);
    if (method === "GET" && edit?.[1] !== undefined) {
      // Discord's docs, "Message Resource" > "Get Channel Message": the whole message object.
      if (this.deletedChannels.has(edit[1])) return discordAnswer("unknown_channel");
      if (this.forbiddenChannels.has(edit[1])) return discordAnswer("forbidden");
      const messageId = edit[2] ?? "";
      const stored = this.messages.get(messageId);
      if (this.deleted.has(messageId) || stored === undefined) return discordAnswer("unknown_message");
      return { status: 200, body: held(stored), headers };
    }
    const channelId = create?.[1] ?? edit?.[1];
    if (channelId === undefined || !((method === "POST" && create !== null) || (method === "PATCH" && edit !== null))) {
      return { status: 404, body: { code: 0, message: "404: Not Found" } };
    }
    if (this.deletedChannels.has(channelId)) return discordAnswer("unknown_channel");
    const json: unknown = JSON.parse(body);
    const parsed = MessageBody.safeParse(json);
    if (!parsed.success) return invalidForm(schemaErrors(parsed.error));
    const data = parsed.data;
    const problem = this.strict ? bodyProblem(parsed.data) : null;
    if (problem !== null) return invalidForm(problem);
    if (this.forbiddenChannels.has(channelId)) return discordAnswer("forbidden");
    if (channelId.startsWith("dm") && this.dmsClosed.has(channelId.slice(2))) return discordAnswer("dms_closed");
    const title = data.embeds?.[0]?.title ?? "";
    const uploads = files.filter((file) => /^files\[[0-9]+\]$/.test(file.field));
    if (edit !== null) {
      const messageId = edit[2] ?? "";
      const stored = this.messages.get(messageId);
      if (this.deleted.has(messageId) || stored === undefined) return discordAnswer("unknown_message");
      if (this.maxEditAgeMs !== null && now - stored.createdAt > this.maxEditAgeMs) {
        // As Discord sends it: a 429 carrying the code (see the file's comment).
        return discordAnswer("too_old");
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
      stored.editedAt = now;
      if (data.components !== undefined) stored.components = data.components;
      // Without `attachments` the message keeps its attachments; with it, only those listed by an
      // existing id stay, and the uploads are added.
      const kept =
        data.attachments === undefined
          ? stored.attachments
          : stored.attachments.filter((held) => data.attachments?.some((listed) => listed.id === held.id) === true);
      stored.attachments = [...kept, ...uploads.map((file) => this.attachment(file))];
      for (const file of uploads) stored.uploads.push(file.bytes);
      this.titles.set(messageId, stored.title);
      return { status: 200, body: held(stored), headers };
    }
    const known =
      data.enforce_nonce === true && data.nonce !== undefined ? this.messages.get(this.nonces.get(data.nonce) ?? "") : undefined;
    // Like Discord: the earlier message, as it stands; nothing is created or changed.
    if (known !== undefined) return { status: 200, body: held(known), headers };
    const empty = (data.content ?? "") === "" && (data.embeds ?? []).length === 0 && (data.components ?? []).length === 0;
    if (empty && uploads.length === 0) return { status: 400, body: { code: 50006, message: "Cannot send an empty message" } };
    const messageId = `msg${this.nextId++}`;
    const created: StoredMessage = {
      id: messageId,
      channelId,
      createdAt: now,
      editedAt: null,
      attachments: uploads.map((file) => this.attachment(file)),
      nonce: data.nonce,
      title,
      content: data.content,
      embeds: data.embeds ?? [],
      replyTo: data.message_reference?.message_id,
      allowedMentions: data.allowed_mentions,
      uploads: uploads.map((file) => file.bytes),
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

  private attachment(file: RecordedRequest["files"][number]): HeldAttachment {
    return { id: `att${this.nextId++}`, filename: file.name, size: file.bytes.byteLength };
  }
}

/**
 * A message as Discord answers with it: the whole message object (Discord's docs, "Message
 * Resource" > "Message Object"), embeds with `type: "rich"`, attachments with their CDN urls, and an
 * `attachment://` image pointing at the upload it names.
 */
function held(message: StoredMessage): Record<string, unknown> {
  const cdn = (attachment: HeldAttachment): string =>
    `https://cdn.discordapp.com/attachments/${message.channelId}/${attachment.id}/${attachment.filename}`;
  const embeds = message.embeds.map((embed) => {
    const parsed = z
      .object({ image: z.object({ url: z.string() }).loose().optional() })
      .loose()
      .safeParse(embed);
    const url = parsed.success ? parsed.data.image?.url : undefined;
    const named =
      url?.startsWith("attachment://") === true ? message.attachments.find((a) => `attachment://${a.filename}` === url) : undefined;
    const image = named === undefined ? {} : { image: { url: cdn(named), proxy_url: cdn(named) } };
    return { type: "rich", ...(parsed.success ? parsed.data : {}), ...image };
  });
  return {
    id: message.id,
    type: message.replyTo === undefined ? 0 : 19,
    channel_id: message.channelId,
    author: { id: "1", username: "digits", discriminator: "0", bot: true },
    content: message.content ?? "",
    timestamp: new Date(message.createdAt).toISOString(),
    edited_timestamp: message.editedAt === null ? null : new Date(message.editedAt).toISOString(),
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: message.attachments.map((attachment) => ({
      ...attachment,
      url: cdn(attachment),
      proxy_url: cdn(attachment),
      content_type: "image/png",
    })),
    embeds,
    pinned: false,
    flags: 0,
    components: message.components ?? [],
    ...(message.nonce === undefined ? {} : { nonce: message.nonce }),
    ...(message.replyTo === undefined ? {} : { message_reference: { channel_id: message.channelId, message_id: message.replyTo } }),
  };
}
