// The one retry schedule of the bot: reading the log, bridging the channel, renewing leases and
// sending to Discord all wait longer after each failure in a row, up to a cap, never forever.

import { RETRY_BASE_MS, RETRY_CAP_MS } from "./limits.ts";

/** Capped exponential backoff: base, 2*base, 4*base, … for the 1st, 2nd, 3rd failure in a row. */
export function backoffMs(failures: number, base: number = RETRY_BASE_MS): number {
  return Math.min(RETRY_CAP_MS, base * 2 ** Math.min(30, Math.max(0, failures - 1)));
}
