// DiscordPort for --dry-run: prints each update instead of sending it.

import type { DiscordPort, MessageRef } from "./discord_port.ts";
import { renderText, type RenderedMessage } from "./render.ts";

export class ConsoleDiscordPort implements DiscordPort {
  private nextId = 1;

  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  openDm(userId: bigint): Promise<string> {
    return Promise.resolve(`dm-${userId.toString()}`);
  }

  createMessage(channelId: string, message: RenderedMessage): Promise<string> {
    const messageId = `dry-${this.nextId++}`;
    this.write(`--- new message ${messageId} in ${channelId}\n${renderText(message)}\n`);
    return Promise.resolve(messageId);
  }

  editMessage(ref: MessageRef, message: RenderedMessage): Promise<void> {
    this.write(`--- edit ${ref.messageId} in ${ref.channelId}\n${renderText(message)}\n`);
    return Promise.resolve();
  }
}
