// The job's chart: validation accuracy and train loss per epoch, and the batch loss curve, as a PNG.
//
// Drawn as SVG and rasterised by resvg (a native renderer shipped as npm packages, no browser) with
// the DejaVu Sans font from the dejavu-fonts-ttf package: no system font is assumed. Only numbers we
// format ourselves become text in the picture, never event text. The picture sits on an opaque light
// card so it reads the same in Discord's light and dark themes.

import { createRequire } from "node:module";
import { Resvg } from "@resvg/resvg-js";
import { isTerminal, type History, type JobState } from "../jobs/state.ts";

export interface Chart {
  /** Changes only at each epoch end and at the end; delivery uploads the PNG when it changes. */
  readonly key: string;
  /** The PNG, rendered at most once per key (cached). */
  readonly png: () => Uint8Array;
}

export const CHART_WIDTH = 520;
export const CHART_HEIGHT = 300;
/** Pixels per SVG unit: 2 keeps lines and text sharp on high-density screens. */
export const CHART_SCALE = 2;
/** Rendered charts kept; a job needs only its newest one. */
const CACHE_ENTRIES = 64;

const FONT_FILE = createRequire(import.meta.url).resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf");
const FONT = "DejaVu Sans";
const COLORS = {
  card: "#f8f9fa",
  text: "#212529",
  muted: "#495057",
  grid: "#dee2e6",
  acc: "#1971c2",
  loss: "#d9480f",
  batch: "#f59f00",
} as const;
const PLOT = { left: 58, right: CHART_WIDTH - 58, top: 56, bottom: CHART_HEIGHT - 40 } as const;

/** What one chart shows: fixed by its key, so the same key always gives the same picture. */
export interface ChartData {
  readonly title: string;
  readonly totalEpochs: number;
  readonly history: History;
}

function fmt(value: number): string {
  return Number(value.toPrecision(3)).toString();
}

/** Log-scale loss axis from a power of ten below the smallest loss to one above the largest. */
function lossAxis(losses: readonly number[]): { lo: number; hi: number; ticks: number[] } {
  const positive = losses.map((loss) => Math.max(loss, 1e-4));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
  const hi = Math.max(10 ** Math.ceil(Math.log10(Math.max(...positive, lo * 10))), lo * 10);
  const decades = Math.round(Math.log10(hi / lo));
  const ticks: number[] = [];
  for (let power = lo; power < hi * 1.001; power *= 10) {
    for (const step of decades <= 2 ? [1, 2, 5] : [1]) if (power * step <= hi * 1.001) ticks.push(power * step);
  }
  return { lo, hi, ticks };
}

/** Accuracy axis from a tenth below the lowest accuracy to 100%, in five steps. */
function accAxis(accs: readonly number[]): { lo: number; ticks: number[] } {
  const lo = Math.min(Math.floor(Math.min(...accs, 1) * 10) / 10, 0.9);
  return { lo, ticks: Array.from({ length: 6 }, (_, i) => lo + ((1 - lo) * i) / 5) };
}

function polyline(points: readonly (readonly [number, number])[], color: string, width: number): string {
  if (points.length === 0) return "";
  const d = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  return `<polyline points="${d}" fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round" stroke-linecap="round"/>`;
}

function markers(points: readonly (readonly [number, number])[], color: string): string {
  return points.map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${color}"/>`).join("");
}

function text(x: number, y: number, body: string, anchor: "start" | "middle" | "end", color: string = COLORS.muted, size = 12): string {
  return `<text x="${x}" y="${y}" font-size="${size}" fill="${color}" text-anchor="${anchor}">${body}</text>`;
}

/** The chart as SVG (pure; exported for tests and the sample command). */
export function chartSvg(data: ChartData): string {
  const { epochs, batchLoss } = data.history;
  const maxAt = Math.max(data.totalEpochs, epochs.at(-1)?.epoch ?? 0, Math.ceil(batchLoss.at(-1)?.at ?? 0), 1);
  const x = (at: number): number => PLOT.left + (at / maxAt) * (PLOT.right - PLOT.left);
  const loss = lossAxis([...batchLoss.map((p) => p.loss), ...epochs.map((e) => e.trainLoss)]);
  const yLoss = (value: number): number =>
    PLOT.bottom - (Math.log10(Math.max(value, loss.lo) / loss.lo) / Math.log10(loss.hi / loss.lo)) * (PLOT.bottom - PLOT.top);
  const acc = accAxis(epochs.map((e) => e.valAcc));
  const yAcc = (value: number): number => PLOT.bottom - ((Math.max(value, acc.lo) - acc.lo) / (1 - acc.lo)) * (PLOT.bottom - PLOT.top);

  const parts: string[] = [`<rect width="${CHART_WIDTH}" height="${CHART_HEIGHT}" fill="${COLORS.card}"/>`];
  for (const tick of loss.ticks) {
    const y = yLoss(tick).toFixed(1);
    parts.push(`<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${y}" y2="${y}" stroke="${COLORS.grid}"/>`);
    parts.push(text(PLOT.left - 6, Number(y) + 4, fmt(tick), "end", COLORS.loss));
  }
  for (const tick of acc.ticks)
    parts.push(text(PLOT.right + 6, yAcc(tick) + 4, `${(tick * 100).toFixed(acc.lo === 0 ? 0 : 1)}%`, "start", COLORS.acc));
  const step = Math.max(1, Math.ceil(maxAt / 10));
  for (let epoch = 0; epoch <= maxAt; epoch += step) parts.push(text(x(epoch), PLOT.bottom + 16, String(epoch), "middle"));
  parts.push(text((PLOT.left + PLOT.right) / 2, CHART_HEIGHT - 6, "epoch", "middle"));
  parts.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="${COLORS.muted}"/>`,
  );

  parts.push(
    polyline(
      batchLoss.map((p) => [x(p.at), yLoss(p.loss)]),
      COLORS.batch,
      1.2,
    ),
  );
  const trainPoints = epochs.map((e): [number, number] => [x(e.epoch), yLoss(e.trainLoss)]);
  const accPoints = epochs.map((e): [number, number] => [x(e.epoch), yAcc(e.valAcc)]);
  parts.push(polyline(trainPoints, COLORS.loss, 2.5), markers(trainPoints, COLORS.loss));
  parts.push(polyline(accPoints, COLORS.acc, 2.5), markers(accPoints, COLORS.acc));

  parts.push(text(12, 22, data.title, "start", COLORS.text, 15));
  const legend: [string, string][] = [
    [COLORS.acc, "val accuracy (right)"],
    [COLORS.loss, "train loss (left, log)"],
    [COLORS.batch, "batch loss"],
  ];
  let lx = 12;
  for (const [color, label] of legend) {
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="40" y2="40" stroke="${color}" stroke-width="3"/>`, text(lx + 23, 44, label, "start"));
    lx += 23 + label.length * 7 + 18;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" font-family="${FONT}">${parts.join("")}</svg>`;
}

/** Rasterises the chart to PNG bytes. */
export function renderChartPng(data: ChartData): Uint8Array {
  const resvg = new Resvg(chartSvg(data), {
    font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: FONT },
    fitTo: { mode: "zoom", value: CHART_SCALE },
  });
  return resvg.render().asPng();
}

const cache = new Map<string, Uint8Array>();
let renders = 0;

/** How many PNGs were rasterised so far (tests check the cache with it). */
export function chartRenderCount(): number {
  return renders;
}

function cached(cacheKey: string, data: () => ChartData): Uint8Array {
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  const png = renderChartPng(data());
  renders += 1;
  cache.set(cacheKey, png);
  if (cache.size > CACHE_ENTRIES) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return png;
}

/** The job's chart, or undefined before the first epoch ends (and when there is nothing to draw). */
export function chartFor(state: JobState): Chart | undefined {
  const history = state.history;
  if (history === undefined) return undefined;
  const lastLine = history.epochs.at(-1);
  const final = isTerminal(state.status);
  if (lastLine === undefined && !(final && history.batchLoss.length > 0)) return undefined;
  // Epochs count from 1: 0 is a final chart of a job that ended before its first epoch did.
  const last = lastLine?.epoch ?? 0;
  // Up to the epoch in the key only, so a key always stands for one picture.
  const upTo = final ? Number.POSITIVE_INFINITY : last;
  const totalEpochs = state.totalEpochs ?? Math.max(last, 1);
  const key = `${state.runId ?? state.requestId}:${final ? "final" : `epoch-${upTo}`}`;
  // Built only when the PNG is asked for: rendering the embed on every event stays cheap.
  const data = (): ChartData => ({
    title: final
      ? `${state.status === "completed" ? "Completed" : "Stopped"} · ${last}/${totalEpochs} epochs`
      : `Epoch ${upTo}/${totalEpochs}`,
    totalEpochs,
    history: { epochs: history.epochs.filter((e) => e.epoch <= upTo), batchLoss: history.batchLoss.filter((p) => p.at <= upTo) },
  });
  const cacheKey = `${state.userId}\u0000${state.requestId}\u0000${key}`;
  return { key, png: () => cached(cacheKey, data) };
}
