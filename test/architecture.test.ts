/**
 * The layering the README promises: a module imports only from the modules before it,
 * tensor ← gpt2 ← data ← sae ← match ← cli. Read from the import statements of every file under src/.
 */
import { describe, it, expect } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const ORDER = ["tensor", "gpt2", "data", "sae", "match", "cli"] as const;
const SRC = resolve(import.meta.dirname, "..", "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".ts") ? [path] : [];
  });
}

const moduleOf = (path: string): string => relative(SRC, path).split(/[\\/]/)[0]!;
/** src/index.ts is the package's front door (`import … from "sae-seeds"`): it sits above every module. */
const FACADE = "index.ts";

describe("module layering", () => {
  it("every import under src/ points at the same module or an earlier one", () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const from = moduleOf(file);
      const rank = from === FACADE ? ORDER.length : ORDER.indexOf(from as (typeof ORDER)[number]);
      expect(rank, `${file} is outside the known modules`).toBeGreaterThanOrEqual(0);
      for (const match of readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) {
        const target = moduleOf(resolve(dirname(file), match[1]!));
        if (ORDER.indexOf(target as (typeof ORDER)[number]) > rank) violations.push(`${relative(SRC, file)} imports ${match[1]} (${target} comes after ${from})`);
      }
    }
    expect(violations).toEqual([]);
  });
});
