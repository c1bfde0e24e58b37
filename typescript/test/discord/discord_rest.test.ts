// The REST port against a local server that answers exactly what each test scripts: every error
// Discord can answer is turned into the DeliveryError kind delivery acts on, and answers without an
// id or without embeds are handled. Also what a create's answer is compared on (showsSent).

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { DeliveryError, showsSent } from "../../src/discord/discord_port.ts";
import { RestDiscordPort, toDeliveryError } from "../../src/discord/discord_rest.ts";

interface Scripted {
  readonly status: number;
  readonly body: unknown;
}

/** Answers each request with the next scripted answer (200 `{}` once the script is empty). */
const script: Scripted[] = [];

const seen: string[] = [];

let server: Server;

let apiUrl: string;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push(`${req.method ?? ""} ${(req.url ?? "").replace(/^\/api\/v10/, "")}`);
      const answer = script.shift() ?? { status: 200, body: {} };
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  apiUrl = `http://127.0.0.1:${(address satisfies AddressInfo).port}/api`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
});

function port(): RestDiscordPort {
  return new RestDiscordPort({ token: "t", apiUrl, timeoutMs: 5000 });
}

async function refusal(status: number, body: unknown): Promise<DeliveryError> {
  script.length = 0;
  script.push({ status, body });
  try {
    await port().createMessage("5", { content: "x" });
  } catch (error) {
    assert.ok(error instanceof DeliveryError, String(error));
    return error;
  }
  throw new Error(`status ${status} was not refused`);
}

void test("each refusal Discord answers becomes the kind delivery acts on", async () => {
  const cases: [number, unknown, string][] = [
    [401, { code: 0, message: "401: Unauthorized" }, "unauthorized"],
    [403, { code: 50007, message: "Cannot send messages to this user" }, "dms_closed"],
    [400, { code: 30046, message: "Maximum number of edits" }, "too_old"],
    [403, { code: 50001, message: "Missing Access" }, "forbidden"],
    [404, { code: 10003, message: "Unknown Channel" }, "unknown_channel"],
    [404, { code: 10008, message: "Unknown Message" }, "unknown_message"],
    [404, { code: 0, message: "404: Not Found" }, "unknown_message"],
    [400, { code: 50035, message: "Invalid Form Body" }, "invalid"],
    [404, { code: 10013, message: "Unknown User" }, "unknown_user"],
    [400, { error: "invalid_request", error_description: "an OAuth refusal: its code is a string" }, "invalid"],
    [429, { code: 30046, message: "Maximum number of edits", retry_after: 1, global: false }, "too_old"],
  ];
  for (const [status, body, kind] of cases) {
    const error = await refusal(status, body);
    assert.equal(error.kind, kind, `${status} ${JSON.stringify(body)}`);
    assert.match(error.message, new RegExp(`^Discord ${status} \\(`));
  }
});

void test("a server error is a transient failure, sent once: the client does not resend it (delivery does, after its fence)", async () => {
  script.length = 0;
  seen.length = 0;
  script.push({ status: 500, body: { message: "Internal Server Error" } });
  await assert.rejects(port().editMessage({ channelId: "5", messageId: "6" }, { content: "x" }), (error: unknown) => {
    assert.ok(error instanceof DeliveryError);
    assert.equal(error.kind, "failed");
    assert.match(error.message, /^Discord HTTP 500: /);
    return true;
  });
  assert.deepEqual(seen, ["PATCH /channels/5/messages/6"]);
});

void test("anything else thrown is a transient failure with its text", () => {
  const fromError = toDeliveryError(new TypeError("fetch failed"));
  assert.deepEqual([fromError.kind, fromError.message], ["failed", "fetch failed"]);
  const fromString = toDeliveryError("socket hang up");
  assert.deepEqual([fromString.kind, fromString.message], ["failed", "socket hang up"]);
});

void test("an answer without an id is refused; one without embeds cannot be compared; a null content is empty", async () => {
  script.length = 0;
  script.push({ status: 200, body: { type: 1 } });
  await assert.rejects(port().openDm(7n), /Discord answered the DM channel without an id/);
  script.push({ status: 200, body: { content: "x" } });
  await assert.rejects(port().createMessage("5", { content: "x" }), /Discord answered the new message without an id/);

  script.push({ status: 200, body: { id: "9", content: "x" } });
  assert.deepEqual(await port().createMessage("5", { content: "x" }), { id: "9" });
  script.push({ status: 200, body: { id: "9", content: "x", embeds: "not a list" } });
  assert.deepEqual(await port().createMessage("5", { content: "x" }), { id: "9" });

  script.push({ status: 200, body: { id: "10", content: null, embeds: [{ title: "T" }] } });
  const created = await port().createMessage("5", { embed: { title: "T" } });
  assert.deepEqual(created, { id: "10", shown: { content: "", embeds: [{ title: "T" }] } });
  assert.equal(showsSent({ embed: { title: "T" } }, created), true);
});

void test("showsSent compares content, title, description, fields and footer of the first embed", () => {
  const embed = { title: "T", description: "D", fields: [{ name: "a", value: "1" }], footer: { text: "f" } };
  const shown = (content: string, ...embeds: object[]): { id: string; shown: { content: string; embeds: object[] } } => ({
    id: "1",
    shown: { content, embeds },
  });
  assert.equal(showsSent({ embed }, shown("", embed)), true);
  assert.equal(showsSent({ embed }, shown("", { ...embed, fields: [{ name: "a", value: "2" }] })), false);
  assert.equal(showsSent({ embed }, shown("", { ...embed, footer: { text: "g" } })), false);
  assert.equal(showsSent({ embed }, shown("", { title: "T", description: "D" })), false);
  // No fields and no footer on either side: the same; a title alone is not the same as nothing.
  assert.equal(showsSent({ embed: { title: "T" } }, shown("", { title: "T" })), true);
  assert.equal(showsSent({ embed: { title: "T" } }, shown("", {})), false);
  // A message without an embed matches only an answer without one.
  assert.equal(showsSent({ content: "hi" }, shown("hi")), true);
  assert.equal(showsSent({ content: "hi" }, shown("hi", { title: "T" })), false);
  assert.equal(showsSent({ content: "hi" }, shown("hello")), false);
  // A port that cannot tell (no `shown`): what was sent is shown.
  assert.equal(showsSent({ content: "hi" }, { id: "1" }), true);
});

void test("getMessage reads what a message shows (GET /channels/{channel.id}/messages/{message.id}); unknown without embeds or components", async () => {
  script.length = 0;
  seen.length = 0;
  const embeds = [{ type: "rich", title: "done", description: "97%" }];
  script.push(
    { status: 200, body: { id: "9", content: "", embeds, components: [] } },
    { status: 200, body: { id: "9", content: null, embeds, components: [{ type: 1, components: [] }] } },
    { status: 200, body: { id: "9", content: "" } },
    { status: 200, body: { id: "9", content: "", embeds } },
    { status: 404, body: { code: 10008, message: "Unknown Message" } },
  );
  const ref = { channelId: "5", messageId: "9" };
  const shown = [{ title: "done", description: "97%" }]; // the parts compared (type dropped)
  assert.deepEqual(await port().getMessage(ref), { content: "", embeds: shown, componentRows: 0 });
  assert.deepEqual(await port().getMessage(ref), { content: "", embeds: shown, componentRows: 1 });
  assert.equal(await port().getMessage(ref), null);
  assert.equal(await port().getMessage(ref), null);
  await assert.rejects(port().getMessage(ref), (error) => error instanceof DeliveryError && error.kind === "unknown_message");
  assert.deepEqual(
    seen,
    Array.from({ length: 5 }, () => "GET /channels/5/messages/9"),
  );
});
