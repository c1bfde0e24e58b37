// DiscordPort for --dry-run: prints each update instead of sending it.

import type { CreatedMessage, DiscordPort, MessageRef, OutgoingMessage, RichReply, ShownMessage } from "./discord_port.ts";
import { renderText } from "../view/render.ts";

function text(message: OutgoingMessage): string {
  const parts: string[] = [];
  if (message.content !== undefined) parts.push(message.content);
  if (message.embed !== undefined) parts.push(renderText({ embed: message.embed }));
  if (message.chartPng !== undefined) parts.push(`[chart.png, ${message.chartPng.byteLength} bytes]`);
  const buttons = (message.components ?? []).flatMap((row) =>
    row.components.map((button) => ("label" in button ? `[${button.label}]` : "[?]")),
  );
  if (buttons.length > 0) parts.push(buttons.join(" "));
  return parts.join("\n");
}

export class ConsoleDiscordPort implements DiscordPort {
  private nextId = 1;

  constructor(private readonly write: (text: string) => void = (out) => process.stdout.write(out)) {}

  openDm(userId: bigint): Promise<string> {
    return Promise.resolve(`dm-${userId.toString()}`);
  }

  createMessage(channelId: string, message: OutgoingMessage): Promise<CreatedMessage> {
    const messageId = `dry-${this.nextId++}`;
    const reply = message.replyTo === undefined ? "" : ` replying to ${message.replyTo}`;
    this.write(`--- new message ${messageId} in ${channelId}${reply}\n${text(message)}\n`);
    return Promise.resolve({ id: messageId });
  }

  /** The deferred answer of an interaction, printed. */
  editOriginal(applicationId: string, token: string, content: string, rich?: RichReply): Promise<void> {
    const shown = rich === undefined ? content : `${content}\n${renderText({ embed: rich.embed })}`;
    this.write(`--- answer to interaction of ${applicationId}\n${shown}\n`);
    return Promise.resolve();
  }

  editMessage(ref: MessageRef, message: OutgoingMessage): Promise<void> {
    this.write(`--- edit ${ref.messageId} in ${ref.channelId}\n${text(message)}\n`);
    return Promise.resolve();
  }

  /** A dry run keeps no messages: it cannot tell what one shows, so a final state is printed again. */
  getMessage(): Promise<ShownMessage | null> {
    return Promise.resolve(null);
  }
}
