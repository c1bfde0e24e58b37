// `npm run bench` (second part): 200 concurrent jobs delivered through the real REST client to the
// Discord stand-in, which enforces Discord's global limit of 50 requests/s. Measures the requests/s
// kept, the delay from an event to the edit that shows it (p50/p99), and from a terminal event to
// its edit; adds them to ../bench/results/bot.json under "delivery".

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DEFAULT_DISCORD_MAX_RPS, DEFAULT_EDIT_INTERVAL_MS } from "../src/config.ts";
import { Delivery } from "../src/delivery.ts";
import { RestDiscordPort } from "../src/discord_rest.ts";
import { silentLogger } from "../src/log.ts";
import { MemoryMessageStore } from "../src/message_store.ts";
import { RequestScheduler } from "../src/scheduler.ts";
import { FakeDiscord } from "../test/fake_discord.ts";

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
  event_to_edit_ms: { p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), max: delays.at(-1) ?? 0 },
  terminal_to_edit_ms: { p50: quantile(terminalDelays, 0.5), p99: quantile(terminalDelays, 0.99), max: terminalDelays.at(-1) ?? 0 },
};
const report: unknown = existsSync(OUT) ? JSON.parse(readFileSync(OUT, "utf8")) : {};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ ...(typeof report === "object" && report !== null ? report : {}), delivery: result }, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\nwrote ${OUT}\n`);
