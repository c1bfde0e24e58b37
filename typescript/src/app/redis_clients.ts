// Redis connections of the bot: one for commands, one that blocks reading the event log, and one
// subscribed to the events channel (a subscribed connection takes no other commands).
// ioredis reconnects by itself, with the capped delay below.

import { Redis } from "ioredis";
import { READ_BLOCK_MS, REDIS_WAIT_BASE_MS, RETRY_CAP_MS } from "../shared/limits.ts";
import { redactUrl, type Logger } from "../shared/log.ts";

const MAX_RECONNECT_DELAY_MS = 5_000;
const COMMAND_TIMEOUT_MS = 2_000;

/** Reconnect delay: grows with each failed attempt, capped, never gives up. */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * attempt, MAX_RECONNECT_DELAY_MS);
}

function client(redisUrl: string, name: string, logger: Logger, commandTimeout: number): Redis {
  const redis = new Redis(redisUrl, { retryStrategy: reconnectDelay, maxRetriesPerRequest: 1, commandTimeout, lazyConnect: true });
  let warned = false;
  redis.on("error", (error: Error) => {
    // One line per outage, not one per reconnect attempt.
    if (!warned) logger.warn(`Redis (${name}): ${error.message}`);
    warned = true;
  });
  redis.on("ready", () => {
    if (warned) logger.info(`Redis (${name}) is back`);
    warned = false;
  });
  return redis;
}

/** A connection for commands; fails fast while Redis is away. */
export function commandClient(redisUrl: string, logger: Logger): Redis {
  return client(redisUrl, "commands", logger, COMMAND_TIMEOUT_MS);
}

/** A connection for the blocking log reads (they wait up to READ_BLOCK_MS for entries). */
export function readerClient(redisUrl: string, logger: Logger): Redis {
  return client(redisUrl, "log reader", logger, READ_BLOCK_MS + COMMAND_TIMEOUT_MS);
}

/** A connection for the channel subscription; ioredis subscribes again after each reconnect. */
export function subscriberClient(redisUrl: string, logger: Logger): Redis {
  return client(redisUrl, "channel subscriber", logger, COMMAND_TIMEOUT_MS);
}

/**
 * Waits until Redis answers, saying so and retrying with capped backoff: a bot started before
 * Redis (a reboot, a deploy) comes up by itself. Resolves false when `stopped()` turns true.
 */
export async function waitForRedis(redis: Redis, redisUrl: string, logger: Logger, stopped: () => boolean): Promise<boolean> {
  for (let attempt = 1; !stopped(); attempt += 1) {
    try {
      if (redis.status === "wait") await redis.connect();
      await redis.ping();
      return true;
    } catch (error) {
      const wait = Math.min(REDIS_WAIT_BASE_MS * 2 ** Math.min(attempt - 1, 20), RETRY_CAP_MS / 6);
      const reason = error instanceof Error ? error.message : String(error);
      logger.warn(`waiting for Redis at ${redactUrl(redisUrl)} (${reason}); retrying in ${wait} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return false;
}
