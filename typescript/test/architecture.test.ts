// The bot's layers: each folder of src/ imports only from folders below it in LAYERS (and from
// itself), and no modules import each other in a circle. A folder's README.md says what it owns.
// The imports are read with the TypeScript compiler's own pre-parser (static, type-only, dynamic
// and re-exports alike), so a new import that runs back up the layers fails here.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import ts from "typescript";

/**
 * Lowest first; folders in one entry are peers, which may not import each other. `generated` is
 * code made from schemas/; `shared` the helpers several layers use (limits, log, backoff, Lua
 * scripts); `main` is src/main.ts, the entry point (dist/main.js).
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["generated"],
  ["shared"],
  ["events"],
  ["jobs"],
  ["view"],
  ["discord"],
  ["relay", "interactions"],
  ["app"],
  ["main"],
];

const SRC = resolve(import.meta.dirname, "..", "src");

/** Module -> the modules it imports (paths relative to src/, with "/" and the ".ts"). */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** The layer of a module: its top folder under src/, or "main" for a file directly in src/. */
export function layerOf(module: string): string {
  const slash = module.indexOf("/");
  return slash === -1 ? "main" : module.slice(0, slash);
}

/** One line per import that runs up the layers or across peers, or whose module is in no known layer. */
export function upwardImports(graph: ImportGraph, layers: readonly (readonly string[])[] = LAYERS): string[] {
  const rank = (module: string): number => layers.findIndex((peers) => peers.includes(layerOf(module)));
  const found: string[] = [];
  for (const [from, targets] of graph) {
    if (rank(from) === -1) found.push(`${from} is in no layer: add its folder "${layerOf(from)}" to LAYERS`);
    for (const target of targets) {
      if (layerOf(target) === layerOf(from)) continue;
      if (rank(target) > rank(from)) found.push(`${from} imports ${target}: ${layerOf(target)} is above ${layerOf(from)}`);
      if (rank(target) === rank(from)) found.push(`${from} imports ${target}: ${layerOf(target)} and ${layerOf(from)} are peers`);
    }
  }
  return found;
}

/** Every cycle's modules (one list per strongly connected component of more than one module, or a self-import). */
export function cycles(graph: ImportGraph): string[][] {
  // Tarjan's strongly connected components, iterative over the sorted modules so the order is stable.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let next = 0;
  const visit = (module: string): void => {
    index.set(module, next);
    low.set(module, next);
    next += 1;
    stack.push(module);
    onStack.add(module);
    for (const target of graph.get(module) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(module, Math.min(low.get(module) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(module, Math.min(low.get(module) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(module) !== index.get(module)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== module);
    if (component.length > 1 || (graph.get(module) ?? []).includes(module)) found.push(component.sort());
  };
  for (const module of [...graph.keys()].sort()) if (!index.has(module)) visit(module);
  return found;
}

/** Whether a module sends Lua by itself (EVAL or EVALSHA) instead of through a registered script. */
export function sendsLua(text: string): boolean {
  return /\.eval(sha)?\(/i.test(text);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The relative imports of every module under `src` (package imports are not layers). */
export function importGraph(src: string = SRC): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const path of sourceFiles(src)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path, "utf8"), true, true);
    const targets = importedFiles
      .map((file) => file.fileName)
      .filter((name) => name.startsWith("."))
      .map((name) =>
        relative(src, resolve(dirname(path), name))
          .split(sep)
          .join("/"),
      );
    graph.set(relative(src, path).split(sep).join("/"), targets);
  }
  return graph;
}

void test("the checker finds an import that runs up the layers, and a module in no layer", () => {
  const graph = new Map([
    ["events/stream_reader.ts", ["discord/delivery.ts", "shared/log.ts"]],
    ["discord/delivery.ts", ["shared/backoff.ts"]],
    ["interactions/train.ts", ["relay/coordinator.ts", "discord/delivery.ts"]],
    ["relay/coordinator.ts", ["discord/delivery.ts"]],
    ["shared/log.ts", []],
    ["shared/backoff.ts", []],
    ["misc/helper.ts", []],
  ]);
  assert.deepEqual(upwardImports(graph), [
    "events/stream_reader.ts imports discord/delivery.ts: discord is above events",
    "interactions/train.ts imports relay/coordinator.ts: relay and interactions are peers",
    'misc/helper.ts is in no layer: add its folder "misc" to LAYERS',
  ]);
  graph.set("events/stream_reader.ts", ["shared/backoff.ts", "shared/log.ts"]);
  graph.set("interactions/train.ts", ["discord/delivery.ts"]);
  graph.delete("misc/helper.ts");
  assert.deepEqual(upwardImports(graph), []);
});

void test("the checker finds a cycle within one folder and a self-import, and nothing in a tree", () => {
  const graph = new Map([
    ["view/render.ts", ["view/chart.ts", "view/escape.ts"]],
    ["view/chart.ts", ["view/sparkline.ts"]],
    ["view/sparkline.ts", ["view/render.ts"]],
    ["view/escape.ts", ["view/escape.ts"]],
    ["app/main.ts", ["view/render.ts"]],
  ]);
  assert.deepEqual(cycles(graph), [["view/escape.ts"], ["view/chart.ts", "view/render.ts", "view/sparkline.ts"]]);
  graph.set("view/sparkline.ts", []);
  graph.set("view/escape.ts", []);
  assert.deepEqual(cycles(graph), []);
});

void test("the checker finds Lua sent by EVAL or EVALSHA, not a registered script's call", () => {
  assert.ok(sendsLua("await redis.eval(SCRIPT, 1, key)"));
  assert.ok(sendsLua("redis.evalsha(sha, 0)"));
  assert.ok(!sendsLua("await scripted(redis).digitsCountInWindow(key, 60)"));
});

void test("the checker reads static, type-only, dynamic and re-exported imports of the real sources", () => {
  const graph = importGraph();
  assert.ok(graph.get("main.ts")?.includes("app/startup.ts"), "main.ts imports app/startup.ts");
  assert.ok((graph.get("app/startup.ts")?.length ?? 0) > 5);
  const typeOnly = ts.preProcessFile('import type { A } from "./a.ts";\nexport { B } from "../b.ts";\nawait import("./c.ts");', true, true);
  assert.deepEqual(
    typeOnly.importedFiles.map((file) => file.fileName),
    ["./a.ts", "../b.ts", "./c.ts"],
  );
});

const SOURCES = importGraph();

void test("src/: imports run only down the layers", () => {
  assert.deepEqual(upwardImports(SOURCES), []);
});

void test("src/: no modules import each other in a circle", () => {
  assert.deepEqual(cycles(SOURCES), []);
});

void test("src/: sends Lua only through the scripts registered in shared/redis_scripts.ts", () => {
  const evaluating = sourceFiles(SRC).filter((path) => sendsLua(readFileSync(path, "utf8")));
  assert.deepEqual(evaluating, []);
});

void test("src/: every folder says what it owns in a README.md", () => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((entry) => entry.isDirectory() && entry.name !== "generated");
  assert.ok(folders.length >= 8);
  assert.deepEqual(
    folders.filter((folder) => !existsSync(join(SRC, folder.name, "README.md"))).map((folder) => folder.name),
    [],
  );
});
