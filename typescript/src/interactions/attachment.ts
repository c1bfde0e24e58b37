// Fetches the one picture a /predict names, as safely as a bot that fetches URLs must: only the
// attachment Discord resolved in the signed interaction, only from Discord's attachment origin
// (DIGITS_ATTACHMENT_ORIGIN), no redirects, at most MAX_ATTACHMENT_BYTES (declared size checked
// first, then counted while reading), at most FETCH_TIMEOUT_MS, and only PNG or JPEG of a sane
// size by its header (image_header.ts), all before any decoding. Refusals are text for the user.

import type { ResolvedAttachment } from "./interaction.ts";
import { readImageHeader, refusalOf } from "./image_header.ts";
import { FETCH_TIMEOUT_MS, MAX_ATTACHMENT_BYTES } from "./predict_settings.ts";

export type Fetched = { readonly kind: "ok"; readonly bytes: Uint8Array } | { readonly kind: "refused"; readonly reason: string };

const MB = (MAX_ATTACHMENT_BYTES / 1024 / 1024).toFixed(0);
const TOO_LARGE = `the picture is larger than ${MB} MB; send a smaller one`;

function refused(reason: string): Fetched {
  return { kind: "refused", reason };
}

async function readLimited(response: Response): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // A response to a GET that answered 200 has a body.
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_ATTACHMENT_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The attachment's bytes, or why it is refused. `origin`: the only origin fetched from. */
export async function fetchAttachment(attachment: ResolvedAttachment, origin: string): Promise<Fetched> {
  if (!URL.canParse(attachment.url) || new URL(attachment.url).origin !== origin) {
    return refused("the picture is not a Discord attachment; attach the picture to the command");
  }
  if (attachment.size > MAX_ATTACHMENT_BYTES) return refused(TOO_LARGE);
  let bytes: Uint8Array | null;
  try {
    const response = await fetch(attachment.url, { redirect: "error", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) {
      await response.body?.cancel();
      return refused(`Discord answered ${response.status} for the picture; attach it again`);
    }
    bytes = await readLimited(response);
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    return refused(timedOut ? "the picture took too long to download; try again" : "the picture could not be downloaded; try again");
  }
  if (bytes === null) return refused(TOO_LARGE);
  const refusal = refusalOf(readImageHeader(bytes));
  return refusal === null ? { kind: "ok", bytes } : refused(refusal);
}
