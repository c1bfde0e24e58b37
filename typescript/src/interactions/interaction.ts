// The part of Discord's interaction objects the endpoint reads, checked with zod at the boundary,
// and the answers it sends. Only what Discord signed reaches here (see verify.ts).

import { InteractionResponseType, InteractionType, MessageFlags } from "discord-api-types/v10";
import { z } from "zod";

const PING: number = InteractionType.Ping;
const COMMAND: number = InteractionType.ApplicationCommand;
const COMPONENT: number = InteractionType.MessageComponent;

const Snowflake = z.string().regex(/^[0-9]{1,20}$/);
const User = z.object({ id: Snowflake }).loose();
const OptionValue = z.union([z.string(), z.number(), z.boolean()]);
/** An attachment option's file as Discord resolved it (the option's value is its id). */
const Attachment = z.object({ id: Snowflake, url: z.string(), size: z.number().int().nonnegative() }).loose();
export type ResolvedAttachment = z.infer<typeof Attachment>;

const RawInteraction = z
  .object({
    type: z.number().int(),
    id: z.string(),
    application_id: Snowflake,
    token: z.string().min(1).max(1000),
    guild_id: Snowflake.optional(),
    channel_id: Snowflake.optional(),
    member: z.object({ user: User }).loose().optional(),
    user: User.optional(),
    data: z
      .object({
        name: z.string().optional(),
        custom_id: z.string().optional(),
        options: z.array(z.object({ name: z.string(), value: OptionValue.optional() }).loose()).optional(),
        resolved: z
          .object({ attachments: z.record(Snowflake, Attachment).optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export type Interaction =
  | { readonly kind: "ping" }
  | ({
      readonly kind: "command";
      readonly name: string;
      readonly options: ReadonlyMap<string, string | number | boolean>;
      /** data.resolved.attachments: the files attachment options name, by id. */
      readonly attachments?: ReadonlyMap<string, ResolvedAttachment>;
    } & Common)
  | ({ readonly kind: "button"; readonly customId: string } & Common)
  | { readonly kind: "unsupported"; readonly type: number };

interface Common {
  /** The interaction's own id: a repeated delivery carries the same one (see once.ts). */
  readonly id: string;
  readonly applicationId: string;
  readonly token: string;
  /** Whoever used the command or pressed the button (member.user in a guild, user in a DM). */
  readonly userId: bigint;
  readonly guildId: string | null;
  readonly channelId: string | null;
}

/** The interaction in a verified body, or the reason it cannot be read. */
export function parseInteraction(body: string): Interaction | { readonly kind: "invalid"; readonly reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { kind: "invalid", reason: "body is not JSON" };
  }
  const parsed = RawInteraction.safeParse(raw);
  if (!parsed.success)
    return { kind: "invalid", reason: parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ") };
  const data = parsed.data;
  if (data.type === PING) return { kind: "ping" };
  const user = data.member?.user.id ?? data.user?.id;
  if (user === undefined) return { kind: "invalid", reason: "no member.user or user" };
  const common: Common = {
    id: data.id,
    applicationId: data.application_id,
    token: data.token,
    userId: BigInt(user),
    guildId: data.guild_id ?? null,
    channelId: data.channel_id ?? null,
  };
  if (data.type === COMMAND && data.data?.name !== undefined) {
    const options = new Map<string, string | number | boolean>();
    for (const option of data.data.options ?? []) if (option.value !== undefined) options.set(option.name, option.value);
    const attachments = new Map(Object.entries(data.data.resolved?.attachments ?? {}));
    return { kind: "command", name: data.data.name, options, attachments, ...common };
  }
  if (data.type === COMPONENT && data.data?.custom_id !== undefined) {
    return { kind: "button", customId: data.data.custom_id, ...common };
  }
  return { kind: "unsupported", type: data.type };
}

export const PONG = { type: InteractionResponseType.Pong };

/** An answer only the user who asked sees; it can mention nobody. */
export function ephemeral(content: string): object {
  return {
    type: InteractionResponseType.ChannelMessageWithSource,
    data: { content, flags: MessageFlags.Ephemeral, allowed_mentions: { parse: [] } },
  };
}

/** "Thinking…", only for the user who asked; the answer follows by editing it. */
export const DEFERRED = { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } };
