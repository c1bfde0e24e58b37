// Each interaction is handled once. Discord retries a delivery it got no answer to, and a proxy in
// front of the bot may retry too; the copy is byte-identical or signed anew, and without this each
// copy of a /train would queue one more job. The first copy claims the interaction id (SET NX,
// kept for twice the accepted timestamp age, so no copy the signature check still accepts outlives
// it) and stores its answer there; every later copy gets that answer, waiting for it while the first
// is still being handled. A first copy that fails changed nothing: its claim is removed, so a retry
// is handled afresh.

import type { Redis } from "ioredis";
import type { Logger } from "../shared/log.ts";
import type { Handler } from "./server.ts";
import type { RichReply } from "../discord/discord_port.ts";

export const INTERACTION_KEY_PREFIX = "digits:interaction:";
/** The claim's value while the first copy is handled; then ANSWERED followed by its answer. */
const HANDLING = "…";
const ANSWERED = "=";
/** A later copy waits this long for the first copy's answer, looking every POLL_MS. */
const WAIT_MS = 15_000;
const POLL_MS = 100;

export const STILL_HANDLING = "This request is already being handled; its answer follows in the first reply.";

export interface OnceOptions {
  readonly redis: Redis;
  /** Signed requests this far from now are refused (DIGITS_INTERACTION_MAX_AGE_S). */
  readonly maxAgeS: number;
  readonly log: Logger;
  readonly waitMs?: number;
}

/** `handler` run at most once per interaction id; later copies get the first copy's answer. */
export function handledOnce(handler: Handler, options: OnceOptions): Handler {
  const { redis, log } = options;
  const ttlS = 2 * options.maxAgeS;
  const waitMs = options.waitMs ?? WAIT_MS;
  return async (interaction) => {
    const key = INTERACTION_KEY_PREFIX + interaction.id;
    const deadline = Date.now() + waitMs;
    for (;;) {
      if ((await redis.set(key, HANDLING, "EX", ttlS, "NX")) === "OK") {
        let answer: string | RichReply;
        try {
          answer = await handler(interaction);
        } catch (error) {
          await redis.del(key).catch(() => 0); // nothing was changed: a retry is handled afresh
          throw error;
        }
        // A repeat of a rich answer (/predict's) gets its text.
        const text = typeof answer === "string" ? answer : answer.content;
        await redis.set(key, ANSWERED + text, "EX", ttlS).catch((error: unknown) => {
          log.warn(
            `interactions: the answer to ${interaction.id} could not be kept for its repeats (${String(error)}); a repeat is told it is being handled`,
          );
        });
        return answer;
      }
      const stored = await redis.get(key);
      if (stored?.startsWith(ANSWERED) === true) return stored.slice(ANSWERED.length);
      if (Date.now() >= deadline) return STILL_HANDLING;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };
}
