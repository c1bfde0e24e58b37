// The coverage gate (scripts/coverage-gate.ts): which files count, and when it fails.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { allTestFiles, describe as describeSummary, isBotSource, problems, summarize } from "../../scripts/coverage-gate.ts";

const ROOT = "/repo/typescript";

function file(path: string, lines: [number, number], branches: [number, number]) {
  return {
    path: join(ROOT, path),
    coveredLineCount: lines[0],
    totalLineCount: lines[1],
    coveredBranchCount: branches[0],
    totalBranchCount: branches[1],
  };
}

void test("only the bot's own code counts: src/, not generated code, tests or scripts", () => {
  assert.ok(isBotSource(join(ROOT, "src/events/decode.ts"), ROOT));
  assert.ok(!isBotSource(join(ROOT, "src/generated/contracts.ts"), ROOT));
  assert.ok(!isBotSource(join(ROOT, "test/events/decode.test.ts"), ROOT));
  assert.ok(!isBotSource(join(ROOT, "scripts/coverage-gate.ts"), ROOT));
  const summary = summarize({
    workingDirectory: ROOT,
    files: [
      file("src/a.ts", [90, 100], [8, 10]),
      file("src/b.ts", [10, 10], [2, 2]),
      file("test/a.test.ts", [0, 50], [0, 9]),
      file("src/generated/contracts.ts", [0, 9], [0, 0]),
    ],
  });
  assert.deepEqual(summary, { lines: { covered: 100, total: 110 }, branches: { covered: 10, total: 12 }, files: ["src/a.ts", "src/b.ts"] });
});

void test("the gate fails below either threshold, naming the figure and where the gate is", () => {
  const at = (lines: number, branches: number) => ({
    lines: { covered: lines, total: 100 },
    branches: { covered: branches, total: 100 },
    files: ["src/a.ts"],
  });
  assert.deepEqual(problems(at(95, 95), { lines: 95, branches: 95 }), []);
  const [lines, ...rest] = problems(at(94, 95), { lines: 95, branches: 95 });
  assert.match(lines ?? "", /^lines: 94\.00% covered, below the gate of 95% \(scripts\/coverage-gate\.ts\)/);
  assert.deepEqual(rest, []);
  assert.match(problems(at(95, 10), { lines: 95, branches: 95 }).join(), /^branches: 10\.00% covered/);
  assert.deepEqual(problems({ lines: { covered: 0, total: 0 }, branches: { covered: 0, total: 0 }, files: [] }), [
    "no file under src/ was measured; is coverage on?",
  ]);
  assert.match(
    describeSummary(at(97, 90)),
    /^coverage of src\/ \(1 files, generated code excluded\): lines 97\.00% \(97\/100, gate [0-9.]+%\), branches 90\.00%/,
  );
});

void test("npm test runs every test file, each in the folder of what it tests; test/support/ holds helpers, no tests", () => {
  const files = allTestFiles();
  assert.ok(files.includes(join("test", "architecture.test.ts")));
  assert.ok(files.includes(join("test", "discord", "delivery.test.ts")));
  assert.ok(files.includes(join("test", "events", "decode.test.ts")));
  assert.deepEqual(
    files.filter((path) => path.startsWith(join("test", "support"))),
    [],
  );
  // Named after what they test, never after a coverage gap.
  assert.deepEqual(
    files.filter((path) => /(^|\/|_)cov(_|\.)|_edges\.|_units\./.test(path)),
    [],
  );
});
