/**
 * What a sweep is: a grid of conditions (layer × dictionary size × k × recipe) times seeds, plus the data and
 * training settings they share. Parsed from flags or a JSON file, validated in one place, and written into
 * every run directory so a run can always say what it was.
 */
import { readFileSync } from "node:fs";
import type { Recipe } from "../../sae/config.ts";
import { RECIPES } from "../../sae/config.ts";
import type { ResidualConvention } from "../../gpt2/model.ts";
import { UsageError } from "../args.ts";

export interface Condition {
  layer: number;
  features: number;
  k: number;
  recipe: Recipe;
}

export interface SweepSpec {
  name: string;
  model: string;
  weights?: string;
  /** "brown", a .jsonl path, or a text file path. */
  corpus: string;
  /** "standard" windows (BOS per window, documents continue across windows) or the seed study's "faithful" ones. */
  windowing: "standard" | "faithful";
  seqLen: number;
  maxTokens: number;
  includeSpecial: boolean;
  residual: ResidualConvention;
  hookTemplate: string;
  conditions: Condition[];
  seeds: number[];
  epochs: number;
  batchSize?: number;
  lr?: number;
  /** topk recipe: dead after this many tokens without firing (default: one epoch of this data). */
  deadAfterTokens?: number;
}

export function conditionId(c: Condition): string {
  return `L${c.layer}-n${c.features}-k${c.k}-${c.recipe}`;
}

export function hookFor(spec: SweepSpec, layer: number): string {
  return spec.hookTemplate.replace("{layer}", String(layer));
}

/** Every combination of the given axes. */
export function gridConditions(layers: number[], features: number[], ks: number[], recipes: Recipe[]): Condition[] {
  const out: Condition[] = [];
  for (const recipe of recipes) for (const layer of layers) for (const f of features) for (const k of ks) out.push({ layer, features: f, k, recipe });
  return out;
}

export function validateSpec(spec: SweepSpec): SweepSpec {
  const fail = (m: string) => {
    throw new UsageError(`sweep spec "${spec.name}": ${m}`);
  };
  if (!spec.conditions.length) fail("no conditions");
  if (!spec.seeds.length) fail("no seeds");
  if (new Set(spec.seeds).size !== spec.seeds.length) fail(`seeds repeat: ${spec.seeds.join(",")}`);
  for (const c of spec.conditions) {
    if (!RECIPES.includes(c.recipe)) fail(`unknown recipe ${c.recipe}; use ${RECIPES.join(" or ")}`);
    if (!(c.k >= 1 && c.k <= c.features)) fail(`k = ${c.k} must be between 1 and the dictionary size ${c.features}`);
    if (!Number.isInteger(c.layer) || c.layer < 0) fail(`layer ${c.layer} is not a layer index`);
  }
  if (!(spec.seqLen >= 2)) fail("seqLen must be at least 2");
  if (!(spec.maxTokens >= 1)) fail("maxTokens must be positive");
  if (!(spec.epochs >= 1)) fail("epochs must be positive");
  if (!spec.hookTemplate.includes("{layer}")) fail('hookTemplate must contain "{layer}"');
  return spec;
}

/** Read a sweep spec from JSON (keys as in SweepSpec; `layers/features/k/recipes` axes expand to conditions). */
export function readSpecFile(path: string, defaults: SweepSpec): SweepSpec {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`cannot read sweep spec ${path}: ${(e as Error).message}`);
  }
  const known = new Set([...Object.keys(defaults), "layers", "features", "k", "recipes"]);
  const unknown = Object.keys(json).filter((k) => !known.has(k));
  if (unknown.length) throw new UsageError(`sweep spec ${path}: unknown key(s) ${unknown.join(", ")}`);
  const spec = { ...defaults, ...json } as SweepSpec & { layers?: number[]; features?: number[]; k?: number[]; recipes?: Recipe[] };
  if (!json.conditions && (json.layers || json.features || json.k || json.recipes)) {
    spec.conditions = gridConditions(
      (json.layers as number[]) ?? [...new Set(defaults.conditions.map((c) => c.layer))],
      (json.features as number[]) ?? [...new Set(defaults.conditions.map((c) => c.features))],
      (json.k as number[]) ?? [...new Set(defaults.conditions.map((c) => c.k))],
      (json.recipes as Recipe[]) ?? [...new Set(defaults.conditions.map((c) => c.recipe))],
    );
  }
  delete spec.layers; delete spec.features; delete spec.k; delete spec.recipes;
  return validateSpec(spec);
}
