// `npm run register-commands` against the Discord stand-in: a bulk overwrite of /train, derived
// from the generated schema; refusals name the setting and never print the token.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import { allCommands, trainCommand } from "../../src/interactions/command.ts";
import { registerCommands } from "../../scripts/register_commands.ts";
import { FakeDiscord } from "../support/fake_discord.ts";
import { servedDuringTests } from "../support/served_discord.ts";

const run_ = promisify(execFile);

const discord = new FakeDiscord();

const served = servedDuringTests(discord);

async function run(env: Record<string, string>, argv: string[] = []): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await registerCommands(
    argv,
    { DISCORD_API_URL: served.apiUrl, ...env },
    (text) => (out += text),
    (text) => (err += text),
  );
  return { code, out, err };
}

void test("/train is derived from the schema: each field the user chooses, its bounds and the CLI's default", () => {
  const command = trainCommand();
  assert.equal(command.name, "train");
  const options = new Map((command.options ?? []).map((option) => [option.name, option]));
  assert.deepEqual([...options.keys()], ["model_id", "epochs", "batch_size", "lr", "seed", "augment", "notes"]);
  assert.deepEqual(options.get("epochs"), {
    name: "epochs",
    description: "Number of epochs to train, 1 to 100 (default 5)",
    required: false,
    type: 4,
    min_value: 1,
    max_value: 100,
  });
  assert.deepEqual(options.get("lr"), {
    name: "lr",
    description: "Learning rate, above 0 and at most 1 (default 0.01)",
    required: false,
    type: 10,
    max_value: 1,
  });
  assert.deepEqual(options.get("notes"), {
    name: "notes",
    description: "Free text from the requester, at most 500 characters, or null",
    required: false,
    type: 3,
    max_length: 500,
  });
  assert.equal(options.get("augment")?.type, 5);
  for (const option of options.values()) assert.ok(option.description.length <= 100, option.description);
});

void test("registers by bulk overwrite, globally or in one guild", async () => {
  const global = await run({ DISCORD_TOKEN: "test", DISCORD_APPLICATION_ID: "424242" });
  assert.deepEqual(global, {
    code: 0,
    out: "registered /train (7 options), /predict (2 options), /jobs (1 options) for application 424242 in every guild (global)\n",
    err: "",
  });
  assert.deepEqual(discord.commands.get("424242"), JSON.parse(JSON.stringify(allCommands())));
  const put = discord.requests.find((request) => request.method === "PUT");
  assert.equal(put?.path, "/applications/424242/commands");
  assert.equal(put.authorization, "Bot test");
  const guild = await run({ DISCORD_TOKEN: "test", DISCORD_APPLICATION_ID: "424242", DISCORD_GUILD_ID: "900" });
  assert.equal(guild.code, 0);
  assert.ok(discord.commands.has("424242/900"));
});

void test("refusals: settings missing (2), token refused (1), never printing the token", async () => {
  assert.deepEqual(await run({}), {
    code: 2,
    out: "",
    err: "register-commands: DISCORD_TOKEN must be set to the bot token (see --help)\n",
  });
  const badGuild = await run({ DISCORD_TOKEN: "t", DISCORD_APPLICATION_ID: "1", DISCORD_GUILD_ID: "x" });
  assert.equal(badGuild.err, 'register-commands: DISCORD_GUILD_ID must be a guild id (digits), got "x" (see --help)\n');
  const noApplication = await run({ DISCORD_TOKEN: "t" });
  assert.equal(
    noApplication.err,
    "register-commands: DISCORD_APPLICATION_ID must be the application's id (digits), got null (see --help)\n",
  );
  discord.token = "right-token";
  try {
    const refused = await run({ DISCORD_TOKEN: "wrong-secret", DISCORD_APPLICATION_ID: "424242" });
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Discord refused DISCORD_TOKEN; use the bot token of this application/);
    assert.ok(!(refused.out + refused.err).includes("wrong-secret"));
  } finally {
    discord.token = null;
  }
  const help = await run({}, ["--help"]);
  assert.match(help.out, /^Usage: npm run register-commands/);
});

void test("npm run register-commands works as documented", async () => {
  // Asynchronously: the stand-in answers from this process.
  const result = await run_("npm", ["run", "--silent", "register-commands"], {
    cwd: resolve(import.meta.dirname, "..", ".."),
    env: { ...process.env, DISCORD_TOKEN: "test", DISCORD_APPLICATION_ID: "5", DISCORD_API_URL: served.apiUrl },
    timeout: 60_000,
  });
  assert.equal(
    result.stdout,
    "registered /train (7 options), /predict (2 options), /jobs (1 options) for application 5 in every guild (global)\n",
  );
  assert.deepEqual(discord.commands.get("5"), discord.commands.get("424242"));
});
