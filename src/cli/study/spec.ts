/**
 * What a sweep is: a grid of conditions (layer × dictionary size × k × recipe) times seeds, plus the data and
 * training settings they share. Parsed from flags or a JSON/YAML file, validated in one place, and written into
 * every run directory so a run can always say what it was.
 */
import { readFileSync } from "node:fs";
import type { Recipe } from "../../sae/config.ts";
import { RECIPES } from "../../sae/config.ts";
import type { ResidualConvention } from "../../gpt2/model.ts";
import { UsageError } from "../args.ts";
import { parseYamlSubset } from "./yaml.ts";

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
  if (spec.windowing !== "standard" && spec.windowing !== "faithful") fail(`windowing "${spec.windowing}" must be "standard" or "faithful"`);
  if (spec.residual !== "raw" && spec.residual !== "centered") fail(`residual "${spec.residual}" must be "raw" or "centered"`);
  if (!(Number.isInteger(spec.seqLen) && spec.seqLen >= 2)) fail("seqLen must be an integer of at least 2");
  if (!(spec.maxTokens >= 1)) fail("maxTokens must be positive");
  if (!(spec.epochs >= 1)) fail("epochs must be positive");
  if (!spec.hookTemplate.includes("{layer}")) fail('hookTemplate must contain "{layer}"');
  return spec;
}

/** The type each spec-file key must have; checked before anything is run so a typo fails in one line. */
const FIELD_TYPES: Record<string, "string" | "number" | "boolean" | "numbers" | "strings" | "conditions"> = {
  name: "string", model: "string", weights: "string", corpus: "string", windowing: "string", seqLen: "number",
  maxTokens: "number", includeSpecial: "boolean", residual: "string", hookTemplate: "string", conditions: "conditions",
  seeds: "numbers", epochs: "number", batchSize: "number", lr: "number", deadAfterTokens: "number",
  layers: "numbers", features: "numbers", k: "numbers", recipes: "strings",
};

function checkFieldTypes(path: string, values: Record<string, unknown>): void {
  const fail = (key: string, want: string, got: unknown) => {
    throw new UsageError(`sweep spec ${path}: "${key}" must be ${want}, got ${JSON.stringify(got)}`);
  };
  for (const [key, value] of Object.entries(values)) {
    const type = FIELD_TYPES[key];
    if (type === undefined) {
      throw new UsageError(`sweep spec ${path}: unknown key "${key}"; known keys are ${Object.keys(FIELD_TYPES).join(", ")}`);
    }
    if (type === "string" || type === "number" || type === "boolean") {
      if (typeof value !== type || (type === "number" && !Number.isFinite(value))) fail(key, `a ${type}`, value);
    } else if (type === "numbers") {
      if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v))) fail(key, "a list of integers", value);
    } else if (type === "strings") {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) fail(key, "a list of strings", value);
    } else {
      const ok = Array.isArray(value) && value.every((c) => c !== null && typeof c === "object" && !Array.isArray(c)
        && Object.keys(c).sort().join(",") === "features,k,layer,recipe"
        && Number.isInteger((c as Condition).layer) && Number.isInteger((c as Condition).features)
        && Number.isInteger((c as Condition).k) && typeof (c as Condition).recipe === "string");
      if (!ok) fail(key, "a list of {layer, features, k, recipe}", value);
    }
  }
}

/** The file's key/value pairs: YAML (the subset in yaml.ts) for .yaml/.yml, JSON otherwise. */
function readSpecValues(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read sweep spec ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the --config path`);
  }
  let values: unknown;
  try {
    values = /\.ya?ml$/i.test(path) ? parseYamlSubset(text, path) : JSON.parse(text);
  } catch (e) {
    throw new UsageError(`sweep spec ${path} is not valid ${/\.ya?ml$/i.test(path) ? "YAML (supported subset)" : "JSON"}: ${(e as Error).message}`);
  }
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw new UsageError(`sweep spec ${path} must be a mapping of settings (name, seeds, layers, …)`);
  }
  return values as Record<string, unknown>;
}

/**
 * Read a sweep spec from a JSON or YAML file (keys as in SweepSpec; the `layers/features/k/recipes` axes expand to a
 * grid of conditions; keys left out keep the defaults).
 */
export function readSpecFile(path: string, defaults: SweepSpec): SweepSpec {
  const values = readSpecValues(path);
  checkFieldTypes(path, values);
  const { layers, features, k, recipes, ...settings } = values as Partial<SweepSpec> & { layers?: number[]; features?: number[]; k?: number[]; recipes?: Recipe[] };
  const spec: SweepSpec = { ...defaults, ...settings };
  if (!settings.conditions && (layers || features || k || recipes)) {
    spec.conditions = gridConditions(
      layers ?? [...new Set(defaults.conditions.map((c) => c.layer))],
      features ?? [...new Set(defaults.conditions.map((c) => c.features))],
      k ?? [...new Set(defaults.conditions.map((c) => c.k))],
      recipes ?? [...new Set(defaults.conditions.map((c) => c.recipe))],
    );
  }
  return validateSpec(spec);
}
