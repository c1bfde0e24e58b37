// `npm run chart-sample`: writes docs/chart-sample.png and prints the message as `--dry-run` shows it.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeEvent } from "../src/events/decode.ts";
import { renderChartPng } from "../src/view/chart.ts";
import { renderJob, renderText } from "../src/view/render.ts";
import { foldEvent, type JobState } from "../src/jobs/state.ts";
import { sampleRun } from "./sample_run.ts";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "chart-sample.png");

let state: JobState | undefined;
let midRun: JobState | undefined;
const events = sampleRun();
for (const [index, text] of events.entries()) {
  const decoded = decodeEvent(text);
  if (decoded.kind === "invalid") throw new Error(`sample event ${index} is invalid: ${decoded.reason}`);
  const result = foldEvent(state, decoded);
  if (result.kind === "updated") state = result.state;
  if (index === events.length - 60) midRun = state;
}
if (state === undefined || midRun === undefined) throw new Error("the sample run produced no state");
const chart = renderJob(state).chart;
if (chart === undefined) throw new Error("the sample run has no chart");
const started = performance.now();
const png = chart.png();
const ms = performance.now() - started;
// Uncached renders of the same picture: the time a new key costs the bot.
const runs = 5;
const again = performance.now();
for (let i = 0; i < runs; i += 1)
  renderChartPng({ title: "timing", totalEpochs: 5, history: state.history ?? { epochs: [], batchLoss: [] } });
const each = (performance.now() - again) / runs;
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, png);
process.stdout.write(
  `${renderText(renderJob(midRun))}\n\nwrote ${OUT} (${png.byteLength} bytes, key ${chart.key}, first render ${ms.toFixed(1)} ms, then ${each.toFixed(1)} ms each)\n`,
);
