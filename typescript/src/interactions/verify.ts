// Discord signs every interaction with the application's Ed25519 key: X-Signature-Ed25519 over
// X-Signature-Timestamp + the raw body. Verified with Node's own crypto; anything that does not
// verify, or is older (or newer) than the allowed age, is refused before it is even parsed.

import { createPublicKey, verify, type KeyObject } from "node:crypto";

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function publicKeyFromHex(hex: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(hex, "hex")]), format: "der", type: "spki" });
}

export type Verdict = "ok" | "bad signature" | "stale timestamp";

export function verifyInteraction(
  key: KeyObject,
  signature: string | undefined,
  timestamp: string | undefined,
  body: Buffer,
  nowMs: number,
  maxAgeS: number,
): Verdict {
  if (signature === undefined || timestamp === undefined) return "bad signature";
  if (!/^[0-9a-fA-F]{128}$/.test(signature) || !/^[0-9]{1,12}$/.test(timestamp)) return "bad signature";
  if (!verify(null, Buffer.concat([Buffer.from(timestamp, "utf8"), body]), key, Buffer.from(signature, "hex"))) return "bad signature";
  // Checked after the signature: the timestamp is only worth reading once it is Discord's.
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > maxAgeS) return "stale timestamp";
  return "ok";
}
