// The dry run's port: it prints new messages, replies, edits, chart uploads, buttons and rich
// answers instead of sending them.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsoleDiscordPort } from "../../src/discord/console_port.ts";
import { ButtonStyle, ComponentType } from "discord-api-types/v10";

void test("the dry run prints new messages, replies, edits and chart uploads", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  const { id } = await port.createMessage("c", { embed: { title: "T" }, chartPng: new Uint8Array(3) });
  await port.createMessage("c", { content: "<@1> done", replyTo: id });
  await port.editMessage({ channelId: "c", messageId: id }, { embed: { title: "U" } });
  assert.equal(
    out,
    "--- new message dry-1 in c\n## T\n\n[chart.png, 3 bytes]\n--- new message dry-2 in c replying to dry-1\n<@1> done\n--- edit dry-1 in c\n## U\n\n",
  );
});

void test("the dry run prints buttons by their label, and components without one (emoji buttons, menus) as [?]", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  await port.editMessage(
    { channelId: "c", messageId: "m" },
    {
      content: "x",
      components: [
        {
          type: ComponentType.ActionRow,
          components: [
            { type: ComponentType.Button, style: ButtonStyle.Danger, custom_id: "cancel", label: "Cancel" },
            { type: ComponentType.Button, style: ButtonStyle.Secondary, custom_id: "icon", emoji: { name: "x" } },
            { type: ComponentType.StringSelect, custom_id: "pick", options: [] },
          ],
        },
      ],
    },
  );
  assert.equal(out, "--- edit m in c\nx\n[Cancel] [?] [?]\n");
});

void test("the dry run prints a rich answer's embed", async () => {
  let out = "";
  const port = new ConsoleDiscordPort((text) => (out += text));
  await port.editOriginal("1", "t", "Reads 3", { content: "Reads 3", embed: { title: "Reads 3", description: "Top three" } });
  await port.editOriginal("1", "t", "plain");
  assert.equal(out, "--- answer to interaction of 1\nReads 3\n## Reads 3\nTop three\n--- answer to interaction of 1\nplain\n");
});

void test("the dry run cannot tell what a message shows", async () => {
  const port = new ConsoleDiscordPort(() => undefined);
  assert.equal(await port.getMessage(), null);
});
