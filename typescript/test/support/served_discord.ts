// The Discord stand-in served for the tests of a file or describe block: listening before them,
// closed after them, so the test files that talk to it do not each repeat those hooks.

import { after, before } from "node:test";
import type { FakeDiscord } from "./fake_discord.ts";

/** Registers before/after hooks in the current suite that serve `discord`; read `apiUrl` inside tests only. */
export function servedDuringTests(discord: FakeDiscord): { readonly apiUrl: string } {
  let apiUrl: string | null = null;
  before(async () => {
    apiUrl = await discord.start();
  });
  after(async () => {
    await discord.stop();
  });
  return {
    get apiUrl() {
      if (apiUrl === null) throw new Error("servedDuringTests() was read outside a test: read its apiUrl inside one");
      return apiUrl;
    },
  };
}
