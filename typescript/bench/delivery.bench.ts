// `npm run bench` (second part): 200 concurrent jobs delivered through the real REST client to the
// Discord stand-in (answering as Discord does, strict bodies), which enforces Discord's global limit
// of 50 requests/s and 5 per 5 s per channel. Measures the requests/s kept (mean, busiest second),
// 429s, finals delivered, the delay from an event to the edit that shows it and from the completed
// event to its edit (p50/p99), requests a cached DM channel or a coalesced edit would have saved,
// and beside them the floor for the same work at 50 requests/s; adds them to
// ../bench/results/bot.json under "delivery".

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  DEFAULT_DISCORD_MAX_RPS,
  DEFAULT_EDIT_INTERVAL_MS,
  DISCORD_CHANNEL_BURST,
  DISCORD_CHANNEL_WINDOW_MS,
} from "../src/shared/limits.ts";
import { Delivery } from "../src/discord/delivery.ts";
import { RestDiscordPort } from "../src/discord/discord_rest.ts";
import { silentLogger } from "../src/shared/log.ts";
import { MemoryMessageStore } from "../src/discord/message_store.ts";
import { RequestScheduler } from "../src/discord/scheduler.ts";
import { FakeDiscord } from "../test/support/fake_discord.ts";

const OUT = join(import.meta.dirname, "..", "..", "bench", "results", "bot.json");
const JOBS = 200;
const EVENT_EVERY_MS = 250;
const EVENTS_PER_JOB = 80; // 20 s of events per job

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

const discord = new FakeDiscord();
discord.globalPerSecond = DEFAULT_DISCORD_MAX_RPS;
discord.channelLimit = { burst: DISCORD_CHANNEL_BURST, windowMs: DISCORD_CHANNEL_WINDOW_MS };
const apiUrl = await discord.start();
const store = new MemoryMessageStore();
const delivery = new Delivery({
  port: new RestDiscordPort({ token: "bench", apiUrl }),
  store,
  logger: silentLogger,
  scheduler: new RequestScheduler({ maxRps: DEFAULT_DISCORD_MAX_RPS }),
  notifyAtEnd: true,
});

/** published[job][seq] = time the event was published. */
const published: number[][] = Array.from({ length: JOBS }, () => []);
const start = Date.now();
for (let seq = 0; seq <= EVENTS_PER_JOB; seq += 1) {
  const terminal = seq === EVENTS_PER_JOB;
  for (let job = 0; job < JOBS; job += 1) {
    published[job]?.push(Date.now());
    delivery.publish(`bench-${job}`, { kind: "dm", userId: BigInt(10_000 + job) }, { embed: { title: `job ${job} seq ${seq}` } }, terminal);
  }
  if (!terminal) await sleep(EVENT_EVERY_MS);
}
await delivery.whenIdle();
const end = Date.now();
await discord.stop();

// For each event, the first successful create/edit of its job showing it or a newer state.
const shown: number[][] = Array.from({ length: JOBS }, () => []);
for (const request of discord.messageRequests()) {
  if (request.status !== 200) continue;
  const match = /"title":"job (\d+) seq (\d+)"/.exec(request.body);
  if (match === null) continue;
  shown[Number(match[1])]?.push(request.at * 1000 + Number(match[2])); // packed: time, seq (seq < 1000)
}
const delays: number[] = [];
const terminalDelays: number[] = [];
for (let job = 0; job < JOBS; job += 1) {
  const edits = (shown[job] ?? []).map((packed) => ({ at: Math.floor(packed / 1000), seq: packed % 1000 }));
  for (const [seq, at] of (published[job] ?? []).entries()) {
    const edit = edits.find((candidate) => candidate.seq >= seq && candidate.at >= at);
    if (edit === undefined) throw new Error(`job ${job}: event ${seq} never shown`);
    delays.push(edit.at - at);
    if (seq === EVENTS_PER_JOB) terminalDelays.push(edit.at - at);
  }
}
delays.sort((a, b) => a - b);
terminalDelays.sort((a, b) => a - b);
const times = discord.requests.map((request) => request.at).sort((a, b) => a - b);
let peak = 0;
for (let i = 0, j = 0; i < times.length; i += 1) {
  while ((times[j] ?? 0) <= (times[i] ?? 0) - 1000) j += 1;
  peak = Math.max(peak, i - j + 1);
}
const seconds = (end - start) / 1000;
// Saved-request checks: one DM opened per user, and no message request showing a state its
// message already showed (a coalesced edit sends only the newest state; retries after a refusal
// are not counted).
const dmOpens = discord.requests.filter((request) => request.path === "/users/@me/channels" && request.status === 200).length;
let notNewer = 0;
const lastShown = new Map<string, number>();
for (const request of discord.messageRequests()) {
  const match = /"title":"job (\d+) seq (\d+)"/.exec(request.body);
  if (match === null || request.status !== 200) continue;
  const seq = Number(match[2]);
  if (seq <= (lastShown.get(match[1] ?? "") ?? -1)) notNewer += 1;
  lastShown.set(match[1] ?? "", seq);
}
// The floor: the same requests at exactly 50/s; all jobs complete at once, so at best the k-th
// final edit goes k/50 s after the completed events (finals first), and a job's edits come every
// jobs/50 s, an event waiting half of that on average.
const rps = DEFAULT_DISCORD_MAX_RPS;
const needed = discord.requests.filter((request) => request.status === 200).length - notNewer;
const floorMs = (k: number): number => Math.round((k / rps) * 1000);
const result = {
  benchmark: "bot delivery: 200 concurrent jobs against the Discord stand-in",
  jobs: JOBS,
  events_per_job: EVENTS_PER_JOB + 1,
  event_every_ms: EVENT_EVERY_MS,
  edit_interval_ms: DEFAULT_EDIT_INTERVAL_MS,
  global_limit_rps: DEFAULT_DISCORD_MAX_RPS,
  end_notification: true,
  duration_s: Number(seconds.toFixed(1)),
  requests: times.length,
  requests_per_s_mean: Number((times.length / seconds).toFixed(1)),
  requests_per_s_peak_1s: peak,
  responses_429: discord.tooManyRequests(),
  finals_delivered: terminalDelays.length,
  dm_channels_opened: dmOpens,
  requests_not_showing_a_newer_state: notNewer,
  event_to_edit_ms: { p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), max: delays.at(-1) ?? 0 },
  terminal_to_edit_ms: { p50: quantile(terminalDelays, 0.5), p99: quantile(terminalDelays, 0.99), max: terminalDelays.at(-1) ?? 0 },
  floor: {
    requests_needed: needed,
    seconds_at_global_limit: Number((needed / rps).toFixed(1)),
    event_to_edit_ms: { p50: floorMs(JOBS / 2), p99: floorMs(JOBS * 0.99) },
    terminal_to_edit_ms: { p50: floorMs(JOBS / 2), p99: floorMs(Math.ceil(JOBS * 0.99)) },
  },
  terminal_p99_over_floor: Number((quantile(terminalDelays, 0.99) / floorMs(Math.ceil(JOBS * 0.99))).toFixed(2)),
  machine: "2 shared cores, loaded by other sessions' tests while this ran",
};
const report: unknown = existsSync(OUT) ? JSON.parse(readFileSync(OUT, "utf8")) : {};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ ...(typeof report === "object" && report !== null ? report : {}), delivery: result }, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\nwrote ${OUT}\n`);
