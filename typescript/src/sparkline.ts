// Text sparklines (▁▂▃▄▅▆▇█) for clients that hide the chart image.

const LEVELS = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"] as const;

/**
 * Averages the finite values of `items` into at most `width` buckets, keeping their order, in one
 * pass without copying the series (the embed is rendered on every event).
 */
export function bucket<T>(items: readonly T[], width: number, value: (item: T) => number): number[] {
  const out: number[] = [];
  const buckets = Math.min(width, items.length);
  let current = 0;
  let sum = 0;
  let count = 0;
  const flush = (): void => {
    if (count > 0) out.push(sum / count);
    sum = 0;
    count = 0;
  };
  for (const [i, item] of items.entries()) {
    const index = Math.floor((i * buckets) / items.length);
    if (index !== current) {
      flush();
      current = index;
    }
    const v = value(item);
    if (Number.isFinite(v)) {
      sum += v;
      count += 1;
    }
  }
  flush();
  return out;
}

/** One block per value (at most `width`), scaled from the lowest to the highest; "" when empty. */
export function sparkline<T>(items: readonly T[], value: (item: T) => number, width = 24): string {
  const shown = bucket(items, width, value);
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const v of shown) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const span = high - low;
  const top = LEVELS.length - 1;
  let out = "";
  for (const v of shown) out += LEVELS[span === 0 ? Math.floor(top / 2) : Math.round(((v - low) / span) * top)] ?? "";
  return out;
}
