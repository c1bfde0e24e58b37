// `npm run register-commands`: registers /train, /predict and /jobs with Discord by bulk overwrite (PUT
// /applications/{id}/commands, or a guild's commands with DISCORD_GUILD_ID: those apply at once),
// against DISCORD_API_URL. Exit 0 registered, 1 Discord refused or failed, 2 settings missing.

import { REST } from "@discordjs/rest";
import { Routes } from "discord-api-types/v10";
import { DEFAULT_DISCORD_API_URL } from "../src/config.ts";
import { toDeliveryError } from "../src/discord_rest.ts";
import { allCommands } from "../src/interactions/command.ts";

export const REGISTER_USAGE = `Usage: npm run register-commands

Registers the bot's slash commands (/train, /predict, /jobs) with Discord, replacing the ones registered before.

Environment:
  DISCORD_TOKEN           bot token (required)
  DISCORD_APPLICATION_ID  the application's id (required)
  DISCORD_GUILD_ID        register in this guild only (applies at once; without it: every guild)
  DISCORD_API_URL         default ${DEFAULT_DISCORD_API_URL}`;

type Env = Readonly<Record<string, string | undefined>>;
type Write = (text: string) => void;

export async function registerCommands(argv: readonly string[], env: Env, out: Write, err: Write): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    out(`${REGISTER_USAGE}\n`);
    return 0;
  }
  const token = env.DISCORD_TOKEN?.trim() ?? "";
  const application = env.DISCORD_APPLICATION_ID?.trim() ?? "";
  const guild = env.DISCORD_GUILD_ID?.trim() ?? "";
  const missing = [token === "" ? "DISCORD_TOKEN" : "", /^[0-9]{1,20}$/.test(application) ? "" : "DISCORD_APPLICATION_ID"].filter(
    (name) => name !== "",
  );
  if (missing.length > 0 || (guild !== "" && !/^[0-9]{1,20}$/.test(guild))) {
    err(`register-commands: set ${missing.join(" and ") || "DISCORD_GUILD_ID to a guild id (digits)"} (see --help)\n`);
    return 2;
  }
  const rest = new REST({
    api: env.DISCORD_API_URL?.trim() || DEFAULT_DISCORD_API_URL,
    version: "10",
    retries: 2,
    timeout: 10_000,
  }).setToken(token);
  const route = guild === "" ? Routes.applicationCommands(application) : Routes.applicationGuildCommands(application, guild);
  const commands = allCommands();
  try {
    await rest.put(route, { body: commands });
  } catch (error) {
    const failure = toDeliveryError(error);
    const hint = failure.kind === "unauthorized" ? ": Discord refused DISCORD_TOKEN; use the bot token of this application" : "";
    err(`register-commands: ${failure.message}${hint}\n`);
    return 1;
  }
  const where = guild === "" ? "every guild (global)" : `guild ${guild}`;
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
