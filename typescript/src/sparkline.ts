// Text sparklines (▁▂▃▄▅▆▇█) for clients that hide the chart image.

const LEVELS = "▁▂▃▄▅▆▇█";

/** Averages `values` into at most `width` buckets, keeping their order. */
export function bucket(values: readonly number[], width: number): number[] {
  if (values.length <= width) return [...values];
  const out: number[] = [];
  for (let i = 0; i < width; i += 1) {
    const slice = values.slice(Math.floor((i * values.length) / width), Math.floor(((i + 1) * values.length) / width));
    out.push(slice.reduce((sum, value) => sum + value, 0) / slice.length);
  }
  return out;
}

/** One block per value (at most `width`), scaled from the lowest to the highest; "" when empty. */
export function sparkline(values: readonly number[], width = 24): string {
  const shown = bucket(values.filter(Number.isFinite), width);
  if (shown.length === 0) return "";
  const low = Math.min(...shown);
  const span = Math.max(...shown) - low;
  const top = LEVELS.length - 1;
  return shown.map((value) => LEVELS[span === 0 ? Math.floor(top / 2) : Math.round(((value - low) / span) * top)]).join("");
}
