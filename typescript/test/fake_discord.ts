// A local HTTP server speaking the part of Discord's REST API the bot uses, recording requests.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** The body exactly as sent, to check digits and fields without re-parsing. */
  readonly body: string;
  readonly authorization: string | undefined;
  readonly at: number;
}

const DmBody = z.object({ recipient_id: z.string() });
const MessageBody = z.object({
  embeds: z.array(z.object({ title: z.string().optional() }).loose()),
  allowed_mentions: z.object({ parse: z.array(z.string()) }).loose(),
}).loose();

export class FakeDiscord {
  readonly requests: RecordedRequest[] = [];
  /** Message ids that answer 404 Unknown Message. */
  readonly deleted = new Set<string>();
  /** Answer the next N requests with 429 and this Retry-After (seconds). */
  rateLimit: { count: number; retryAfterS: number } = { count: 0, retryAfterS: 0 };
  /** Latest title shown in each message, by message id. */
  readonly titles = new Map<string, string>();
  private nextId = 1;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        this.answer(req, res, Buffer.concat(chunks).toString("utf8"));
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

  /** Requests that created or edited messages, with the title they showed. */
  messageRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.path.includes("/messages"));
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: string): void {
    const method = req.method ?? "GET";
    const path = (req.url ?? "").replace(/^\/api\/v10/, "");
    this.requests.push({ method, path, body, authorization: req.headers.authorization, at: Date.now() });
    if (this.rateLimit.count > 0) {
      this.rateLimit.count -= 1;
      const retry = this.rateLimit.retryAfterS;
      this.send(res, 429, { message: "You are being rate limited.", retry_after: retry, global: false }, { "retry-after": String(retry) });
      return;
    }
    if (method === "POST" && path === "/users/@me/channels") {
      const parsed = DmBody.safeParse(JSON.parse(body));
      if (!parsed.success) { this.send(res, 400, { code: 50035, message: "Invalid Form Body" }); return; }
      { this.send(res, 200, { id: `dm${parsed.data.recipient_id}`, type: 1 }); return; }
    }
    const create = /^\/channels\/([^/]+)\/messages$/.exec(path);
    const edit = /^\/channels\/([^/]+)\/messages\/([^/]+)$/.exec(path);
    if ((method === "POST" && create !== null) || (method === "PATCH" && edit !== null)) {
      const parsed = MessageBody.safeParse(JSON.parse(body));
      if (!parsed.success) { this.send(res, 400, { code: 50035, message: "Invalid Form Body" }); return; }
      const messageId = edit?.[2] ?? `msg${this.nextId++}`;
      if (this.deleted.has(messageId)) { this.send(res, 404, { code: 10008, message: "Unknown Message" }); return; }
      this.titles.set(messageId, parsed.data.embeds[0]?.title ?? "");
      { this.send(res, 200, { id: messageId, channel_id: create?.[1] ?? edit?.[1] }); return; }
    }
    this.send(res, 404, { code: 0, message: "404: Not Found" });
  }
}
