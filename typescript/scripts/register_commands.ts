// `npm run register-commands`: registers /train, /predict and /jobs with Discord by bulk overwrite (PUT
// /applications/{id}/commands, or a guild's commands with DISCORD_GUILD_ID: those apply at once),
// against DISCORD_API_URL. Exit 0 registered, 1 Discord refused or failed, 2 settings missing.

import { REST } from "@discordjs/rest";
import { Routes } from "discord-api-types/v10";
import { toDeliveryError } from "../src/discord/discord_rest.ts";
import { allCommands } from "../src/interactions/command.ts";
import { readSettings, type Env } from "../src/shared/settings_kinds.ts";
import { environmentHelp, REGISTER_SETTINGS } from "../src/shared/settings_schema.ts";

export const REGISTER_USAGE = `Usage: npm run register-commands

Registers the bot's slash commands (/train, /predict, /jobs) with Discord, replacing the ones registered before.

Environment:
${environmentHelp([REGISTER_SETTINGS])}`;

type Write = (text: string) => void;

export async function registerCommands(argv: readonly string[], env: Env, out: Write, err: Write): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    out(`${REGISTER_USAGE}\n`);
    return 0;
  }
  const read = readSettings(REGISTER_SETTINGS, env);
  if (!read.ok) {
    err(`register-commands: ${read.message} (see --help)\n`);
    return 2;
  }
  const { DISCORD_TOKEN: token, DISCORD_APPLICATION_ID: application, DISCORD_GUILD_ID: guild } = read.values;
  const rest = new REST({ api: read.values.DISCORD_API_URL, version: "10", retries: 2, timeout: 10_000 }).setToken(token);
  const route = guild === null ? Routes.applicationCommands(application) : Routes.applicationGuildCommands(application, guild);
  const commands = allCommands();
  try {
    await rest.put(route, { body: commands });
  } catch (error) {
    const failure = toDeliveryError(error);
    const hint = failure.kind === "unauthorized" ? ": Discord refused DISCORD_TOKEN; use the bot token of this application" : "";
    err(`register-commands: ${failure.message}${hint}\n`);
    return 1;
  }
  const where = guild === null ? "every guild (global)" : `guild ${guild}`;
  const names = commands.map((command) => `/${command.name} (${String(command.options?.length ?? 0)} options)`).join(", ");
  out(`registered ${names} for application ${application} in ${where}\n`);
  return 0;
}

if (process.argv[1]?.endsWith("register_commands.ts") === true) {
  const write =
    (stream: NodeJS.WriteStream): Write =>
    (text) =>
      stream.write(text);
  process.exitCode = await registerCommands(process.argv.slice(2), process.env, write(process.stdout), write(process.stderr));
}
