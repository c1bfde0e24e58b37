// The real processes of an end-to-end test file (the bot from its source, Python workers): each
// started in its own process group with its output kept, waited on with every output in the
// timeout's message, and all stopped (SIGTERM, SIGKILL after 10 s) when the file ends.

import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { APPLICATION_ID, type Signer } from "./interactions_support.ts";

export const REPO = resolve(import.meta.dirname, "..", "..", "..");

export const PYTHON = resolve(REPO, ".venv", "bin", "python");

export class Processes {
  private readonly children: { name: string; child: ChildProcess; output: () => string }[] = [];

  /** Starts `command`; its output (stdout and stderr) so far. */
  start(name: string, command: string, args: string[], cwd: string, env: Record<string, string>): () => string {
    let out = "";
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    this.children.push({ name, child, output: () => out });
    return () => out;
  }

  /** The bot (npm start's entry point) with its interactions endpoint on `port`; `env` adds settings. */
  startBot(options: { apiUrl: string; redisUrl: string; signer: Signer; port: number; env: Record<string, string> }): () => string {
    return this.start("bot", "node", ["--import", "tsx", "src/main.ts"], resolve(REPO, "typescript"), {
      DISCORD_TOKEN: "test",
      DISCORD_API_URL: options.apiUrl,
      REDIS_URL: options.redisUrl,
      DISCORD_PUBLIC_KEY: options.signer.publicKeyHex,
      DISCORD_APPLICATION_ID: APPLICATION_ID,
      DIGITS_INTERACTIONS_PORT: String(options.port),
      ...options.env,
    });
  }

  /** The first truthy value of `check`, polled every 50 ms; past `timeoutMs` an error with each process's last output. */
  async waitFor<T>(
    what: string,
    check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
    timeoutMs: number,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) return value;
      if (Date.now() > deadline) {
        const outputs = this.children.map((c) => `--- ${c.name}\n${c.output().slice(-2000)}`).join("\n");
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${outputs}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops every process still running: SIGTERM to its group, SIGKILL after 10 s. */
  async stopAll(): Promise<void> {
    for (const { child } of this.children) {
      if (child.pid !== undefined && child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        process.kill(-child.pid, "SIGTERM");
        const timer = setTimeout(() => {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        }, 10_000);
        await exited;
        clearTimeout(timer);
      }
    }
  }
}
