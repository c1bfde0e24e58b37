// A scriptable DiscordPort for delivery tests: records calls, answers at once or when released.

import {
  DeliveryError,
  type CreatedMessage,
  type DiscordPort,
  type MessageRef,
  type OutgoingMessage,
  type ShownMessage,
} from "../../src/discord/discord_port.ts";
import type { RenderedMessage } from "../../src/view/render.ts";

export interface Call {
  readonly op: "openDm" | "create" | "edit" | "get";
  readonly at: number;
  readonly channelId?: string;
  readonly messageId?: string;
  readonly userId?: bigint;
  readonly title?: string;
  readonly message?: OutgoingMessage;
}

type Outcome = "ok" | "hold" | DeliveryError;

export class FakePort implements DiscordPort {
  readonly calls: Call[] = [];
  /** Outcomes for the next calls, in order; "ok" once the list is empty. */
  readonly script: Outcome[] = [];
  /** What the next creates answer the message shows (a reused nonce's earlier message); none: what was sent. */
  readonly shownNext: ShownMessage[] = [];
  /** What the next reads answer the message shows; none: null (the port cannot tell). */
  readonly readNext: ShownMessage[] = [];
  private released: (() => void)[] = [];
  private nextId = 100;

  /** Lets every held call finish. */
  release(): void {
    const pending = this.released;
    this.released = [];
    for (const resolve of pending) resolve();
  }

  private async answer(): Promise<void> {
    const outcome = this.script.shift() ?? "ok";
    if (outcome === "hold") {
      await new Promise<void>((resolve) => this.released.push(resolve));
      return;
    }
    if (outcome instanceof DeliveryError) throw outcome;
  }

  async openDm(userId: bigint): Promise<string> {
    this.calls.push({ op: "openDm", at: Date.now(), userId });
    await this.answer();
    return `dm-${userId.toString()}`;
  }

  async createMessage(channelId: string, message: OutgoingMessage): Promise<CreatedMessage> {
    this.calls.push({ op: "create", at: Date.now(), channelId, title: message.embed?.title ?? "", message });
    await this.answer();
    const shown = this.shownNext.shift();
    return { id: `m${this.nextId++}`, ...(shown === undefined ? {} : { shown }) };
  }

  async editMessage(ref: MessageRef, message: OutgoingMessage): Promise<void> {
    this.calls.push({
      op: "edit",
      at: Date.now(),
      channelId: ref.channelId,
      messageId: ref.messageId,
      title: message.embed?.title ?? "",
      message,
    });
    await this.answer();
  }

  async getMessage(ref: MessageRef): Promise<ShownMessage | null> {
    this.calls.push({ op: "get", at: Date.now(), channelId: ref.channelId, messageId: ref.messageId });
    await this.answer();
    return this.readNext.shift() ?? null;
  }
}

export function msg(title: string, chartKey?: string): RenderedMessage {
  if (chartKey === undefined) return { embed: { title } };
  return { embed: { title }, chart: { key: chartKey, png: () => new TextEncoder().encode(`png ${chartKey}`) } };
}
