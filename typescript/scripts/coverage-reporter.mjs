// @ts-check
// A node:test reporter that writes node's coverage summary as one JSON line, for
// scripts/coverage-gate.ts to check. Plain JS: node loads reporters without tsx's hooks.

/** @param {AsyncIterable<import("node:test/reporters").TestEvent>} source */
export default async function* coverageReporter(source) {
  for await (const event of source) {
    if (event.type === "test:coverage") yield `${JSON.stringify(event.data.summary)}\n`;
  }
}
