// Text sparklines (▁▂▃▄▅▆▇█) for clients that hide the chart image.

/** The eight levels, lowest first; each is one UTF-16 unit, so charAt picks one. */
const LEVELS = "▁▂▃▄▅▆▇█";

/**
 * Averages the finite values of `items` into at most `width` buckets, keeping their order, in one
 * pass without copying the series (the embed is rendered on every event). The mean is kept as it
 * goes, never a sum, so values near the largest double (a loss of 1e308) still average to a finite one.
 */
export function bucket<T>(items: readonly T[], width: number, value: (item: T) => number): number[] {
  const out: number[] = [];
  const buckets = Math.min(width, items.length);
  let current = 0;
  let mean = 0;
  let count = 0;
  const flush = (): void => {
    if (count > 0) out.push(mean);
    mean = 0;
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
      count += 1;
      // Both terms are finite (at most half a double's range apart), so the mean stays finite.
      mean += v / count - mean / count;
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
  // Halves, so that the span of finite values from -1.7e308 to 1.7e308 stays finite too.
  const span = high / 2 - low / 2;
  const top = LEVELS.length - 1;
  let out = "";
  for (const v of shown) out += LEVELS.charAt(span === 0 ? Math.floor(top / 2) : Math.round(((v / 2 - low / 2) / span) * top));
  return out;
}
