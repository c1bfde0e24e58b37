// Discord's interactions endpoint over node:http: POST /interactions, signature checked first
// (401 and no effect otherwise), PING answered with PONG, /train and buttons handed to their
// handlers. Discord wants an answer within 3 s: work still going after deferAfterMs gets a
// deferred ephemeral answer at once, and its text follows by editing that answer.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { KeyObject } from "node:crypto";
import { z } from "zod";
import type { RichReply } from "../discord/discord_port.ts";
import type { Logger } from "../shared/log.ts";
import { DEFERRED, ephemeral, parseInteraction, PONG, type Interaction } from "./interaction.ts";
import { INTERACTIONS_PATH, MAX_BODY_BYTES, REQUEST_TIMEOUT_MS } from "./settings.ts";
import { RefusalLog } from "./refusal_log.ts";
import { publicKeyFromHex, verifyInteraction } from "./verify.ts";

export type UserInteraction = Extract<Interaction, { kind: "command" | "button" }>;

/** Each returns the ephemeral text (or rich answer) for the user; expected refusals are text too, never a throw. */
export type Handler = (interaction: UserInteraction) => Promise<string | RichReply>;

/** Edits the deferred answer of an interaction (its webhook's @original message). */
export interface InteractionReplies {
  editOriginal(applicationId: string, token: string, content: string, rich?: RichReply): Promise<void>;
}

export interface ServerOptions {
  readonly publicKeyHex: string;
  readonly host: string;
  readonly port: number;
  readonly maxAgeS: number;
  readonly deferAfterMs: number;
  /** Commands answered "thinking…" at once (their answer always follows as an edit). */
  readonly deferAtOnce?: ReadonlySet<string>;
}

const TcpAddress = z.object({ address: z.string(), family: z.string(), port: z.number().int() });

const FAILED_TEXT = "Something went wrong on our side; nothing was changed. Try again in a minute.";

function send(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export class InteractionsServer {
  private readonly server: Server;
  private readonly key: KeyObject;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly refusals: RefusalLog;

  constructor(
    private readonly options: ServerOptions,
    private readonly handler: Handler,
    private readonly replies: InteractionReplies,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.key = publicKeyFromHex(options.publicKeyHex);
    this.refusals = new RefusalLog(log);
    this.server = createServer((req, res) => {
      this.receive(req, res);
    });
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = REQUEST_TIMEOUT_MS;
  }

  /** Listens; the address actually bound (port 0 picks a free one). */
  async start(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    // A TCP server that is listening always has one (null: not listening; a string: a pipe).
    return TcpAddress.parse(this.server.address());
  }

  /** Stops listening and waits for the answers in progress (each bounded by its own timeouts). */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
    this.server.closeIdleConnections();
    await Promise.allSettled([...this.inFlight]);
    this.server.closeAllConnections();
    await closed;
    this.refusals.close();
  }

  private receive(req: IncomingMessage, res: ServerResponse): void {
    // req.url is always set on a server's requests (its type allows undefined for client responses).
    if (String(req.url).split("?")[0] !== INTERACTIONS_PATH) {
      send(res, 404, { error: "not found" });
      return;
    }
    if (req.method !== "POST") {
      send(res, 405, { error: "POST only" });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        send(res, 413, { error: "body too large" });
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => {
      if (size <= MAX_BODY_BYTES) this.answer(req, res, Buffer.concat(chunks));
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const signature = req.headers["x-signature-ed25519"];
    const timestamp = req.headers["x-signature-timestamp"];
    const verdict = verifyInteraction(
      this.key,
      typeof signature === "string" ? signature : undefined,
      typeof timestamp === "string" ? timestamp : undefined,
      body,
      this.now(),
      this.options.maxAgeS,
    );
    if (verdict !== "ok") {
      this.refusals.record(verdict); // counted: a flood of junk must not flood the log
      send(res, 401, { error: verdict === "bad signature" ? "invalid request signature" : "request too old" });
      return;
    }
    const interaction = parseInteraction(body.toString("utf8"));
    if (interaction.kind === "ping") {
      send(res, 200, PONG);
      return;
    }
    if (interaction.kind === "invalid") {
      send(res, 400, { error: interaction.reason });
      return;
    }
    if (interaction.kind === "unsupported") {
      send(res, 400, { error: `interaction type ${interaction.type} is not handled` });
      return;
    }
    this.reply(res, interaction);
  }

  private reply(res: ServerResponse, interaction: UserInteraction): void {
    let deferred = false;
    const atOnce = interaction.kind === "command" && this.options.deferAtOnce?.has(interaction.name) === true;
    const defer = (): void => {
      deferred = true;
      send(res, 200, DEFERRED);
    };
    const timer = setTimeout(defer, this.options.deferAfterMs);
    if (atOnce) {
      clearTimeout(timer);
      defer();
    }
    const work = this.handler(interaction)
      .catch((error: unknown) => {
        this.log.warn(`interactions: ${interaction.kind} failed: ${error instanceof Error ? error.message : String(error)}`);
        return FAILED_TEXT;
      })
      .then(async (reply) => {
        clearTimeout(timer);
        const text = typeof reply === "string" ? reply : reply.content;
        if (!deferred) {
          send(res, 200, ephemeral(text));
          return;
        }
        const rich = typeof reply === "string" ? undefined : reply;
        await this.replies.editOriginal(interaction.applicationId, interaction.token, text, rich).catch((error: unknown) => {
          this.log.warn(`interactions: could not send the deferred answer: ${error instanceof Error ? error.message : String(error)}`);
        });
      });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }
}
