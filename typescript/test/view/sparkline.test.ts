// Text sparklines (for clients that hide the chart image): each series scaled from its lowest to
// its highest value, one block per value.

import assert from "node:assert/strict";
import { test } from "node:test";
import { bucket, sparkline } from "../../src/view/sparkline.ts";

void test("sparklines scale each series from its lowest to its highest value", () => {
  const id = (v: number): number => v;
  assert.equal(sparkline([], id), "");
  assert.equal(sparkline([1, 2, 3], id), "▁▅█");
  assert.equal(sparkline([3, 3], id), "▄▄");
  assert.equal(sparkline([1, Number.NaN, 2], id), "▁█");
  assert.equal(sparkline([Number.NaN], id), "");
  assert.equal(
    sparkline(
      Array.from({ length: 100 }, (_, i) => 100 - i),
      id,
      10,
    ),
    "█▇▆▆▅▄▃▃▂▁",
  );
  assert.deepEqual(bucket([1, 2, 3, 4], 2, id), [1.5, 3.5]);
  assert.deepEqual(bucket([1, 2, 3, 4, 5], 2, id), [2, 4.5]);
  assert.deepEqual(bucket([1, 2], 5, id), [1, 2]);
});

void test("sparklines keep one block per value even for losses near the largest double", () => {
  const id = (v: number): number => v;
  assert.equal(sparkline([0, 1e308, 1e308, 1e308], id, 2), "▁█");
  assert.deepEqual(bucket([1e308, 1e308], 1, id), [1e308]);
  assert.equal(sparkline([-1.7e308, 0, 1.7e308], id), "▁▅█");
  assert.equal(sparkline([0.5, 0.25, 1, 0], id), "▅▃█▁");
});
