/**
 * What a sweep is: a grid of conditions (layer × dictionary size × k × recipe) times seeds, plus the data and
 * training settings they share. Built in layers — defaults, then a named preset, then a spec file, then flags, each
 * explicit value winning over the layers below it (0 is a value, never "unset") — and checked by one set of rules:
 * SWEEP_SETTINGS below gives every setting's flag, spec-file key and domain, and both flags and spec files are
 * checked with `checkValue` (value_rules.ts), so the same mistake gets the same message wherever it is made.
 */
import { readFileSync } from "node:fs";
import type { Recipe } from "../sae/config.ts";
import { RECIPES } from "../sae/config.ts";
import type { ResidualConvention } from "../gpt2/model.ts";
import { checkValue, SettingsError, type FlagSpec, type FlagValues } from "./value_rules.ts";
import { parseYamlSubset } from "./yaml.ts";
import { parseStrictJson } from "./strict_json.ts";

/** The models a sweep (or any command that needs a GPT-2) can run on, in words (the CLI's --model help says the same). */
export const MODEL_HELP = "gpt2 (weights from --weights, SAE_SEEDS_WEIGHTS or weights/gpt2), mini (brown-gpt2-mini, the small GPT-2 trained by train-lm that ships in models/), random (seeded random GPT-2 small control), random-mini (seeded random control of mini's shape), a model directory in the Hugging Face layout (config.json + model.safetensors or a sharded index; GPT-2, GPT-NeoX/Pythia, Llama or Gemma-2), or a hub repository id (owner/name) fetched with `download --model owner/name`";

export interface Condition {
  layer: number;
  features: number;
  k: number;
  recipe: Recipe;
  /**
   * The token axis: this condition's tokens per pass (its first `tokens` real tokens of the cache; with
   * repeatCorpus, beyond the corpus, the corpus repeated — see runBudget). Absent: the sweep's maxTokens.
   */
  tokens?: number;
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
  /** Real tokens the cache holds (the largest of the token axis, when there is one). */
  maxTokens: number;
  /**
   * Allow tokens per pass beyond what the corpus yields: the surplus becomes extra passes over it (a fraction of a
   * pass where it is not a whole number). Off: a corpus shorter than asked is an error.
   */
  repeatCorpus?: boolean;
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
  /** Held-out tokens (after the training documents) for each run's quality metrics; 0 skips them. */
  evalTokens: number;
  /**
   * Train on this activation cache instead of running the model over the corpus: a cache directory (from `cache`,
   * `import-acts` or a sweep) or activations to import first (.npy, .safetensors, a folder of shards). The model,
   * corpus and windowing then come from the cache's manifest (./acts_sweep.ts).
   */
  acts?: string;
}

/** A condition's name, e.g. L6-n128-k8-topk, or L6-n128-k8-topk-t20000 on a token axis (its directory in a sweep). */
export function conditionId(c: Condition): string {
  return `L${c.layer}-n${c.features}-k${c.k}-${c.recipe}${c.tokens !== undefined ? `-t${c.tokens}` : ""}`;
}

/** A condition's tokens per pass: its own on a token axis, else the sweep's. */
export function conditionTokens(spec: SweepSpec, c: Condition): number {
  return c.tokens ?? spec.maxTokens;
}

/**
 * How a run spends its tokens: `rows` distinct training rows (its tokens per pass, or all the corpus yields when that
 * is fewer and repeatCorpus allows it), seen `tokensSeen` = tokens per pass × epochs times in all — whole passes, or
 * with a last partial one (`trainTokens`) when the corpus was repeated to reach the budget.
 */
export interface RunBudget {
  rows: number;
  tokensSeen: number;
  epochs: number;
  /** Present when tokensSeen is not a whole number of passes over `rows` (the trainer stops part-way). */
  trainTokens?: number;
}

/** The budget of a run that may read up to `availableRows` rows (see RunBudget). */
export function runBudget(spec: SweepSpec, c: Condition, availableRows: number): RunBudget {
  const perPass = conditionTokens(spec, c);
  const rows = Math.min(perPass, availableRows);
  const tokensSeen = perPass * spec.epochs;
  if (rows === perPass) return { rows, tokensSeen, epochs: spec.epochs };
  const epochs = Math.ceil(tokensSeen / rows);
  return { rows, tokensSeen, epochs, ...(epochs * rows !== tokensSeen ? { trainTokens: tokensSeen } : {}) };
}

/** The hook a sweep reads at a layer (its hook template with {layer} filled in). */
export function hookFor(spec: SweepSpec, layer: number): string {
  return spec.hookTemplate.replace("{layer}", String(layer));
}

/** Every combination of the given axes (tokens: the token axis, when there is one). */
export function gridConditions(layers: number[], features: number[], ks: number[], recipes: Recipe[], tokens?: number[]): Condition[] {
  const out: Condition[] = [];
  for (const recipe of recipes) {
    for (const layer of layers) {
      for (const f of features) {
        for (const k of ks) {
          if (tokens && tokens.length > 1) for (const t of tokens) out.push({ layer, features: f, k, recipe, tokens: t });
          else out.push({ layer, features: f, k, recipe });
        }
      }
    }
  }
  return out;
}

export const DEFAULT_SPEC: SweepSpec = {
  name: "sweep", model: "gpt2", corpus: "brown", windowing: "standard", seqLen: 64, maxTokens: 2000, includeSpecial: false,
  residual: "centered", hookTemplate: "blocks.{layer}.hook_resid_pre", conditions: gridConditions([6], [128], [8], ["topk"]),
  seeds: [1, 2, 3, 4, 5], epochs: 8, evalTokens: 1024,
};

/**
 * The grid's axes: given as flags or spec-file keys, they replace that axis of the conditions. maxTokens is an axis
 * when it is given more than one value (then the cache holds the largest, and each condition its own prefix of it).
 */
export type Axis = "layers" | "features" | "k" | "recipes";
/** A sweep setting's spec-file key: a SweepSpec field (except the conditions themselves) or a grid axis. */
export type SettingKey = Exclude<keyof SweepSpec, "conditions"> | Axis;

/** One sweep setting: its rule (type and domain) and the SweepSpec key a spec file gives it by. */
export interface SweepSetting extends FlagSpec {
  /** The spec-file key (and SweepSpec field, for non-axes). */
  key: SettingKey;
}

/** Every setting a sweep has: its flag (the record key), spec-file key, type and domain. */
export const SWEEP_SETTINGS: Record<string, SweepSetting> = {
  name: { key: "name", type: "string", description: "sweep name (output goes to runs/<name>)", shownDefault: DEFAULT_SPEC.name },
  model: { key: "model", type: "string", description: MODEL_HELP, shownDefault: DEFAULT_SPEC.model },
  weights: { key: "weights", type: "string", description: "directory with config.json and model.safetensors" },
  corpus: { key: "corpus", type: "string", description: "brown, a .jsonl file with a text field, or a text file (one document per line)", shownDefault: DEFAULT_SPEC.corpus },
  windowing: { key: "windowing", type: "string", choices: ["standard", "faithful"], description: "standard windows, or the seed study's (one truncated, padded window per document)", shownDefault: DEFAULT_SPEC.windowing },
  "seq-len": { key: "seqLen", type: "int", min: 2, description: "tokens per window, BOS included", shownDefault: String(DEFAULT_SPEC.seqLen) },
  "max-tokens": { key: "maxTokens", type: "ints", min: 1, unique: true, description: "real tokens per pass (faithful windowing: positions, padding included, as the study counted); several values, e.g. 2000,20000,200000, make a token axis: a condition per value, each training on that many of the corpus's first tokens", shownDefault: String(DEFAULT_SPEC.maxTokens) },
  "repeat-corpus": { key: "repeatCorpus", type: "boolean", description: "allow --max-tokens beyond what the corpus yields: the surplus becomes further passes over it (stated in every report)" },
  "include-special": { key: "includeSpecial", type: "boolean", description: "train on BOS and padding rows too (the seed study's accident)" },
  residual: { key: "residual", type: "string", choices: ["centered", "raw"], description: "centered (TransformerLens convention) or raw (Hugging Face hidden states)", shownDefault: DEFAULT_SPEC.residual },
  "hook-template": { key: "hookTemplate", type: "string", description: "hook name with {layer}", shownDefault: DEFAULT_SPEC.hookTemplate },
  layers: { key: "layers", type: "ints", min: 0, unique: true, description: "layers, e.g. 0,6", shownDefault: "6" },
  features: { key: "features", type: "ints", min: 1, unique: true, description: "dictionary sizes, e.g. 128,512", shownDefault: "128" },
  k: { key: "k", type: "ints", min: 1, unique: true, description: "active latents per token, e.g. 8,32", shownDefault: "8" },
  recipes: { key: "recipes", type: "list", choices: RECIPES, unique: true, description: `training recipes: ${RECIPES.join(", ")}`, shownDefault: "topk" },
  seeds: { key: "seeds", type: "ints", min: 0, unique: true, description: "seeds, e.g. 1-5 or 1,2,3", shownDefault: "1-5" },
  epochs: { key: "epochs", type: "int", min: 1, description: "passes over the training rows", shownDefault: String(DEFAULT_SPEC.epochs) },
  "batch-size": { key: "batchSize", type: "int", min: 1, description: "rows per step", shownDefault: "the recipe's (topk 4096, seed-report 64)" },
  lr: { key: "lr", type: "number", above: 0, description: "Adam learning rate", shownDefault: "the recipe's (topk 4e-4, seed-report 1e-3)" },
  "dead-after-tokens": { key: "deadAfterTokens", type: "int", min: 1, description: "topk: a latent is dead for AuxK after this many tokens without firing", shownDefault: "one epoch of the data" },
  acts: { key: "acts", type: "string", description: "train on an activation cache (from cache, import-acts or a sweep), or on activations to import (.npy, .safetensors, a folder of shards), instead of running the model; quality on an import's held-out rows" },
  "eval-tokens": { key: "evalTokens", type: "int", min: 0, description: "held-out tokens (documents after the training ones) for each run's quality metrics: explained variance, CE-loss and KL scores, dense latents; 0 skips them", shownDefault: String(DEFAULT_SPEC.evalTokens) },
};

const SETTING_BY_KEY = new Map(Object.entries(SWEEP_SETTINGS).map(([flag, s]) => [s.key as string, { flag, setting: s }]));
const AXES: readonly string[] = ["layers", "features", "k", "recipes"];

/** Settings by key, already checked; applied over `spec` (axes regrid its conditions). */
function applySettings(spec: SweepSpec, values: Partial<Record<SettingKey, unknown>>): SweepSpec {
  const out: SweepSpec = { ...spec };
  const axis = <T>(key: Axis, current: T[]): T[] => (values[key] !== undefined ? (values[key] as T[]) : [...new Set(current)]);
  // maxTokens: one value sets the tokens per pass; several make the token axis (and the cache holds the largest).
  const tokenValues = values.maxTokens === undefined ? undefined : (Array.isArray(values.maxTokens) ? values.maxTokens as number[] : [values.maxTokens as number]);
  const currentTokens = [...new Set(spec.conditions.flatMap((c) => (c.tokens !== undefined ? [c.tokens] : [])))];
  if (AXES.some((a) => values[a as Axis] !== undefined) || tokenValues !== undefined) {
    out.conditions = gridConditions(
      axis("layers", spec.conditions.map((c) => c.layer)), axis("features", spec.conditions.map((c) => c.features)),
      axis("k", spec.conditions.map((c) => c.k)), axis<Recipe>("recipes", spec.conditions.map((c) => c.recipe)),
      tokenValues ?? currentTokens,
    );
  }
  for (const [key, value] of Object.entries(values)) if (value !== undefined && !AXES.includes(key) && key !== "maxTokens") (out as unknown as Record<string, unknown>)[key] = value;
  if (tokenValues !== undefined) out.maxTokens = Math.max(...tokenValues);
  return out;
}

/** The flag layer: every sweep setting the user gave on the command line (already checked by parseArgs). */
export function applyFlagSettings(spec: SweepSpec, flags: FlagValues): SweepSpec {
  const values: Partial<Record<SettingKey, unknown>> = {};
  for (const [flag, setting] of Object.entries(SWEEP_SETTINGS)) if (flags[flag] !== undefined) values[setting.key] = flags[flag];
  return applySettings(spec, values);
}

/** Cross-setting rules, after all layers are applied. */
export function validateSpec(spec: SweepSpec): SweepSpec {
  const fail = (m: string): never => {
    throw new SettingsError(`sweep "${spec.name}": ${m}`);
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.name)) fail(`name "${spec.name}" must be letters, digits, ".", "_" or "-" (it names a directory)`);
  if (!spec.conditions.length) fail("no conditions");
  const ids = spec.conditions.map(conditionId);
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated) fail(`condition ${repeated} is listed twice`);
  for (const c of spec.conditions) {
    if (c.k > c.features) fail(`k ${c.k} must be at most the dictionary size ${c.features} (condition ${conditionId(c)})`);
  }
  // Imported activations have one hook and no layers: the template is that hook's name (./acts_sweep.ts).
  if (!spec.hookTemplate.includes("{layer}") && spec.acts === undefined) fail(`hookTemplate "${spec.hookTemplate}" must contain "{layer}"`);
  const tokens = spec.conditions.filter((c) => c.tokens !== undefined);
  if (tokens.length && spec.windowing === "faithful") fail("a token axis (several --max-tokens values) needs standard windowing: the faithful windows count positions, not tokens");
  for (const c of tokens) if (c.tokens! > spec.maxTokens) fail(`condition ${conditionId(c)} trains on ${c.tokens} tokens, more than the ${spec.maxTokens} the sweep's cache holds (maxTokens)`);
  return spec;
}

const CONDITION_SETTINGS: Record<keyof Condition, FlagSpec> = {
  layer: { type: "int", min: 0, description: "" },
  features: { type: "int", min: 1, description: "" },
  k: { type: "int", min: 1, description: "" },
  recipe: { type: "string", choices: RECIPES, description: "" },
  tokens: { type: "int", min: 1, description: "" },
};

function checkConditions(label: string, value: unknown): Condition[] {
  if (!Array.isArray(value) || value.length === 0) throw new SettingsError(`${label} must be a non-empty list of {layer, features, k, recipe[, tokens]}, got ${JSON.stringify(value)}`);
  return value.map((c, i) => {
    const keys = c !== null && typeof c === "object" && !Array.isArray(c) ? Object.keys(c).sort().join(",") : "";
    if (keys !== "features,k,layer,recipe" && keys !== "features,k,layer,recipe,tokens") throw new SettingsError(`${label}[${i}] must be {layer, features, k, recipe[, tokens]}, got ${JSON.stringify(c)}`);
    const out = {} as Record<string, unknown>;
    for (const [key, rule] of Object.entries(CONDITION_SETTINGS)) {
      const v = (c as Record<string, unknown>)[key];
      if (key === "tokens" && v === undefined) continue;
      out[key] = checkValue(`${label}[${i}].${key}`, rule, v);
    }
    return out as unknown as Condition;
  });
}

/** The file's key/value pairs: YAML (the subset in yaml.ts) for .yaml/.yml, strict JSON otherwise. */
function readSpecValues(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SettingsError(`cannot read sweep spec ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the --config path`);
  }
  const yaml = /\.ya?ml$/i.test(path);
  let values: unknown;
  try {
    values = yaml ? parseYamlSubset(text, path) : parseStrictJson(text);
  } catch (e) {
    throw new SettingsError(`sweep spec ${path} is not valid ${yaml ? "YAML (supported subset)" : "JSON"}: ${(e as Error).message}`);
  }
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw new SettingsError(`sweep spec ${path} must be a mapping of settings (name, seeds, layers, …)`);
  }
  return values as Record<string, unknown>;
}

/**
 * The spec-file layer over `base`: keys as in SweepSpec (`layers/features/k/recipes` replace that axis of the grid;
 * `conditions` gives the list outright); keys left out keep the values below.
 */
export function readSpecFile(path: string, base: SweepSpec): SweepSpec {
  const values = readSpecValues(path);
  const checked: Partial<Record<SettingKey, unknown>> = {};
  let conditions: Condition[] | undefined;
  for (const [key, value] of Object.entries(values)) {
    const label = `sweep spec ${path}: ${key}`;
    if (key === "conditions") {
      conditions = checkConditions(label, value);
      continue;
    }
    const entry = SETTING_BY_KEY.get(key);
    if (!entry) throw new SettingsError(`sweep spec ${path}: unknown key "${key}"; known keys are ${[...SETTING_BY_KEY.keys(), "conditions"].join(", ")}`);
    // maxTokens: one number (tokens per pass) or a list (a token axis).
    checked[entry.setting.key] = checkValue(label, entry.setting, key === "maxTokens" && typeof value === "number" ? [value] : value, value);
  }
  if (conditions && AXES.some((a) => checked[a as Axis] !== undefined)) {
    throw new SettingsError(`sweep spec ${path}: give either "conditions" or the axes (layers, features, k, recipes), not both`);
  }
  return applySettings(conditions ? { ...base, conditions } : base, checked);
}
