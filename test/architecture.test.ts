/**
 * The layering the README promises, read from the import statements of every file under src/:
 *   - floors: tensor ← gpt2 ← data ← sae ← match ← study ← cli (src/index.ts, the package's front door, on top);
 *     a file imports only from its own floor or the floors before it;
 *   - no import circle between files, anywhere in src/ — type-only imports included, since a circle of types is a
 *     circle of meaning (each cycle is reported with its files in order);
 *   - a registry (a `registry.ts` that lists the members of a kind: SAE architectures, model families) imports its
 *     members, and nothing a member imports leads back to it;
 *   - library code imports only relative files, Node's built-ins and the package's runtime dependencies.
 */
import { describe, it, expect } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative, resolve, dirname } from "node:path";

const FLOORS = ["tensor", "gpt2", "data", "sae", "match", "study", "cli"] as const;
const SRC = resolve(import.meta.dirname, "..", "src");
/** src/index.ts is the package's front door (`import … from "sae-seeds"`): it sits above every floor. */
const FACADE = "index.ts";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".ts") ? [path] : [];
  });
}

const floorOf = (path: string): string => relative(SRC, path).split(/[\\/]/)[0]!;
const rankOf = (path: string): number => (floorOf(path) === FACADE ? FLOORS.length : FLOORS.indexOf(floorOf(path) as (typeof FLOORS)[number]));
const show = (path: string): string => relative(SRC, path).replaceAll("\\", "/");

/** Every module specifier a file names: static imports and re-exports (type-only ones too) and dynamic import()s. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) out.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+"([^"]+)"/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) out.push(m[1]!);
  return out;
}

const ALL = files(SRC).sort();
const SOURCES = new Map(ALL.map((f) => [f, readFileSync(f, "utf8")]));
/** file → the src files it imports. */
const GRAPH = new Map(ALL.map((f) => [f, [...new Set(specifiers(SOURCES.get(f)!).filter((s) => s.startsWith(".")).map((s) => resolve(dirname(f), s)))]]));

/** Every import circle, each as its files in import order, the first file repeated at the end. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

/** Every file reachable from `start` (itself excluded unless on a circle). */
function reachable(start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...(GRAPH.get(start) ?? [])];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    stack.push(...(GRAPH.get(f) ?? []));
  }
  return seen;
}

describe("module layering", () => {
  it("every file under src/ belongs to a floor, and every relative import names an existing file", () => {
    const problems: string[] = [];
    for (const [file, targets] of GRAPH) {
      if (rankOf(file) < 0) problems.push(`${show(file)} is outside the floors ${FLOORS.join(", ")}`);
      for (const t of targets) if (!existsSync(t)) problems.push(`${show(file)} imports ${show(t)}, which does not exist`);
    }
    expect(problems).toEqual([]);
  });

  it(`every import points at the same floor or an earlier one (${FLOORS.join(" ← ")})`, () => {
    const violations: string[] = [];
    for (const [file, targets] of GRAPH) {
      for (const t of targets) if (rankOf(t) > rankOf(file)) violations.push(`${show(file)} imports ${show(t)} (${floorOf(t)} comes after ${floorOf(file)})`);
    }
    expect(violations).toEqual([]);
  });

  it("no import circle between files anywhere in src/", () => {
    expect(cycles(GRAPH).map((c) => c.map(show).join(" → "))).toEqual([]);
  });

  it("each registry imports its members, and nothing a member imports leads back to the registry", () => {
    const registries = ALL.filter((f) => basename(f) === "registry.ts");
    expect(registries.map(show)).toContain("sae/arch/registry.ts");
    const problems: string[] = [];
    for (const registry of registries) {
      const members = GRAPH.get(registry)!.filter((t) => dirname(t) === dirname(registry) && !t.endsWith("types.ts"));
      if (members.length === 0) problems.push(`${show(registry)} imports no members beside it`);
      for (const m of members) if (reachable(m).has(registry)) problems.push(`${show(m)} leads back to ${show(registry)}`);
    }
    expect(problems).toEqual([]);
  });

  it("library code imports only relative files, node: built-ins and the package's runtime dependencies", () => {
    const manifest = JSON.parse(readFileSync(join(SRC, "..", "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const allowed = new Set(Object.keys(manifest.dependencies));
    const packageOf = (s: string) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!);
    const violations: string[] = [];
    for (const [file, text] of SOURCES) {
      for (const s of specifiers(text)) if (!s.startsWith(".") && !s.startsWith("node:") && !allowed.has(packageOf(s))) violations.push(`${show(file)} imports "${s}"`);
    }
    expect(violations).toEqual([]);
  });

  it("the circle check finds circles (a graph with one, reported in order)", () => {
    const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a", "d"]], ["d", []]]);
    expect(cycles(g)).toEqual([["a", "b", "c", "a"]]);
    expect(cycles(new Map([["a", ["b"]], ["b", []]]))).toEqual([]);
  });
});
