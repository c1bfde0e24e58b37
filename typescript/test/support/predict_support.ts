// Pictures and /predict interactions for the bot's tests: PNG and JPEG headers of any size
// (enough for the bot, which reads only headers), real PNGs of a digit drawn with the chart's
// font (for the Python worker), and a signed /predict as Discord sends it, attachment resolved.

import { createRequire } from "node:module";
import { Resvg } from "@resvg/resvg-js";
import { Redis } from "ioredis";
import { startInteractions } from "../../src/interactions/index.ts";
import type { InteractionSettings } from "../../src/interactions/settings.ts";
import type { TrainDeps } from "../../src/interactions/train.ts";
import { FakeDiscord, type Attachment, type RecordedRequest } from "./fake_discord.ts";
import { APPLICATION_ID, Logs, post, type Signer, startParts } from "./interactions_support.ts";

const FONT_FILE = createRequire(import.meta.url).resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf");

/** A PNG signature and IHDR declaring width x height; `body` appended (no valid data needed). */
export function pngHeader(width: number, height: number, body: Uint8Array = new Uint8Array(16)): Uint8Array {
  const head = Buffer.alloc(24);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(head, 0);
  head.writeUInt32BE(13, 8);
  head.write("IHDR", 12, "latin1");
  head.writeUInt32BE(width, 16);
  head.writeUInt32BE(height, 20);
  return Buffer.concat([head, body]);
}

/** A JPEG start (SOI, an APP0 segment, a fill byte) then a baseline frame header of width x height. */
export function jpegHeader(width: number, height: number): Uint8Array {
  const app0 = [0xff, 0xe0, 0x00, 0x04, 0x00, 0x00];
  const frame = [0xff, 0xc0, 0x00, 0x0b, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x01, 0x01, 0x11, 0x00];
  return new Uint8Array([0xff, 0xd8, ...app0, 0xff, ...frame]);
}

/** A real PNG: `digit` drawn black on white, `size` pixels square (a blank page for ""). */
export function digitPng(digit: string, size = 96): Uint8Array {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/><text x="50%" y="78%" font-size="${size * 0.8}" text-anchor="middle" font-family="DejaVu Sans">${digit}</text></svg>`;
  return new Resvg(svg, { font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
}

let nextToken = 1;

/** A /predict interaction of `userId` naming `url` as its resolved attachment (id 77). */
export function predictInteraction(
  userId: bigint,
  url: string,
  size: number,
  options: Record<string, string> = {},
): { token: string; body: object } {
  const token = `predict-${nextToken++}`;
  const user = { id: userId.toString(), username: "someone" };
  const body = {
    type: 2,
    id: token,
    application_id: APPLICATION_ID,
    token,
    channel_id: "901",
    guild_id: "900",
    member: { user, roles: [] },
    data: {
      id: "6",
      name: "predict",
      type: 1,
      options: [{ name: "image", type: 11, value: "77" }, ...Object.entries(options).map(([name, value]) => ({ name, value, type: 3 }))],
      resolved: { attachments: { "77": { id: "77", filename: "digit.png", size, url, proxy_url: url, content_type: "image/png" } } },
    },
  };
  return { token, body };
}

/** The endpoint with /predict and /jobs against a real Redis and the stand-in, attachments allowed from it. */
export interface PredictStage {
  readonly url: string;
  readonly apiUrl: string;
  readonly redis: Redis;
  readonly discord: FakeDiscord;
  readonly signer: Signer;
  readonly logs: Logs;
  /** Serves `bytes` as an attachment; its URL. */
  attach(name: string, attachment: Attachment): string;
  /** Posts a signed interaction; the immediate answer's body. */
  send(body: object): Promise<unknown>;
  /** The edits of the deferred answer of `token`, once there are `count`. */
  edits(token: string, count?: number): Promise<readonly { readonly body: unknown; readonly files: RecordedRequest["files"] }[]>;
  stop(): Promise<void>;
}

export async function startPredictStage(
  env: Record<string, string> = {},
  overrides: Partial<InteractionSettings> = {},
  notifyChannelId: TrainDeps["notifyChannelId"] = null,
): Promise<PredictStage> {
  const { redisServer, discord, apiUrl, signer, settings, redis, port } = await startParts(env, overrides);
  const logs = new Logs();
  const { server, port: listening } = await startInteractions(
    settings,
    {
      redis,
      settings,
      discord: port,
      channelFor: (userId) => port.openDm(userId),
      messages: { set: () => Promise.resolve() },
      messageKeyFor: (userId, requestId) => `${userId.toString()}:${requestId}`,
      log: logs,
      now: Date.now,
      isOpen: () => Promise.resolve(false),
      notifyChannelId,
    },
    port,
    { DIGITS_ATTACHMENT_ORIGIN: new URL(apiUrl).origin, ...env },
  );
  const url = `http://127.0.0.1:${listening}/interactions`;
  return {
    url,
    apiUrl,
    redis,
    discord,
    signer,
    logs,
    attach: (name, attachment) => discord.attachmentUrl(apiUrl, `901/77/${name}`, attachment),
    send: async (body) => (await post({ url, signer }, body)).body,
    edits: async (token, count = 1) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const edits = discord.interactionEdits.get(token) ?? [];
        if (edits.length >= count) return edits;
        if (Date.now() > deadline) throw new Error(`no edit of ${token} within 30 s; logs: ${logs.lines.join("\n")}`);
        await new Promise((done) => setTimeout(done, 20));
      }
    },
    stop: async () => {
      await server.stop();
      redis.disconnect();
      await discord.stop();
      await redisServer.stop();
    },
  };
}
