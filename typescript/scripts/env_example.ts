// `npm run env-example [-- --check]`: writes the bot's part of deploy/digits.env.example (from its
// title to the end) from src/shared/settings_schema.ts; --check only says whether the file differs.
// The Python part above it is `python -m codegen.env_example`'s; `make codegen` runs both.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_TITLE, exampleSection } from "../src/shared/settings_schema.ts";

const FILE = join(import.meta.dirname, "..", "..", "deploy", "digits.env.example");

const current = readFileSync(FILE, "utf8");
const at = current.indexOf(EXAMPLE_TITLE);
const fresh = `${at < 0 ? `${current}\n` : current.slice(0, at)}${exampleSection()}`;
if (process.argv.includes("--check")) {
  if (fresh !== current) {
    process.stderr.write(`${FILE}: the bot's settings differ from src/shared/settings_schema.ts; run \`make codegen\`\n`);
    process.exitCode = 1;
  } else process.stdout.write("env-example: the bot's settings match src/shared/settings_schema.ts\n");
} else if (fresh !== current) {
  writeFileSync(FILE, fresh);
  process.stdout.write(`wrote ${FILE}\n`);
}
