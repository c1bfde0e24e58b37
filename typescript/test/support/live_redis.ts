// One redis-server and a connected command client for the tests of a file or describe block, so
// the test files that talk to a real Redis do not each repeat the same start/stop hooks.

import { after, before } from "node:test";
import type { Redis } from "ioredis";
import { commandClient } from "../../src/app/redis_clients.ts";
import { silentLogger } from "../../src/shared/log.ts";
import { RedisServer } from "./redis_server.ts";

export interface LiveRedis {
  readonly server: RedisServer;
  readonly redis: Redis;
}

/**
 * Registers before/after hooks in the current suite: a fresh redis-server and a connected
 * client before its tests (the bot's command client unless `client` makes another, with
 * lazyConnect), both gone after them. Read `server` and `redis` inside tests only.
 */
export function liveRedis(client: (url: string) => Redis = (url) => commandClient(url, silentLogger)): LiveRedis {
  let started: LiveRedis | null = null;
  before(async () => {
    const server = await RedisServer.start();
    const redis = client(server.url);
    await redis.connect();
    started = { server, redis };
  });
  after(async () => {
    started?.redis.disconnect();
    await started?.server.stop();
  });
  const now = (): LiveRedis => {
    if (started === null) throw new Error("liveRedis() was read outside a test: read its server and redis inside one");
    return started;
  };
  return {
    get server() {
      return now().server;
    },
    get redis() {
      return now().redis;
    },
  };
}
