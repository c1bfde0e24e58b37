// What the tests that run the whole bot need, started before a test file's tests and stopped
// after them: a redis-server, the Discord stand-in answering only one token, and a client of
// that Redis to append events with.

import { after, before } from "node:test";
import type { Redis } from "ioredis";
import { silentLogger } from "../../src/shared/log.ts";
import { commandClient } from "../../src/app/redis_clients.ts";
import { FakeDiscord } from "./fake_discord.ts";
import { RedisServer } from "./redis_server.ts";

interface Parts {
  readonly redis: RedisServer;
  readonly discord: FakeDiscord;
  readonly apiUrl: string;
  readonly publisher: Redis;
}

export class BotStage {
  private parts: Parts | null = null;

  /** Registers the file's before/after hooks; the parts exist while its tests run. */
  constructor(token: string) {
    before(async () => {
      const redis = await RedisServer.start();
      const discord = new FakeDiscord();
      discord.token = token;
      const apiUrl = await discord.start();
      this.parts = { redis, discord, apiUrl, publisher: commandClient(redis.url, silentLogger) };
    });
    after(async () => {
      const parts = this.started();
      parts.publisher.disconnect();
      await parts.discord.stop();
      await parts.redis.stop();
    });
  }

  private started(): Parts {
    if (this.parts === null) throw new Error("the stage is used outside its tests");
    return this.parts;
  }

  get redis(): RedisServer {
    return this.started().redis;
  }

  get discord(): FakeDiscord {
    return this.started().discord;
  }

  get apiUrl(): string {
    return this.started().apiUrl;
  }

  get publisher(): Redis {
    return this.started().publisher;
  }
}
