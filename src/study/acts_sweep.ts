/**
 * Sweeps on an activation cache instead of the model (`sweep --acts CACHE_OR_FILE`): activations another model or
 * library computed (imported by ../data/import_acts.ts, here or by `import-acts`), or a cache sae-seeds built before.
 *
 * The cache decides what the sweep is about: its manifest gives the model, the corpus (or the import's
 * description), the windowing, the residual convention and the hooks, and the spec takes them from there (so run
 * identities, spec.json and the SAE files say what the rows really are). An imported cache has one hook and no
 * layers: every condition is at "layer 0" and the hook template is the hook's name. Quality metrics come from the
 * import's held-out rows (explained variance, FVU, L0, dead and dense latents; CE-loss and KL unavailable — they need
 * the model); a corpus-built cache has no held-out rows of its own, so with it quality needs the model and corpus
 * (a sweep without --acts, which reuses the same cache) or --eval-tokens 0.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadActivationCache, type ActivationCache } from "../data/activation_cache.ts";
import { heldOutRows, importActivations } from "../data/import_acts.ts";
import { SettingsError } from "./value_rules.ts";
import { hookFor, validateSpec, type SweepSpec } from "./spec.ts";
import { makeRowsEvaluation, type Evaluation } from "./training_run.ts";

/** What the user says about activations imported on the fly (recorded in the cache's manifest). */
export interface ActsDescription {
  model?: string;
  hook?: string;
  tokens?: string;
}

const NOT_DESCRIBED = "not described (imported on the fly by --acts; use `import-acts --model … --source-hook … --tokens …` to record it)";

/** The cache `spec.acts` names: a cache directory as it is, or activations imported into `cacheRoot` first. */
export function cacheForActs(acts: string, cacheRoot: string, describe: ActsDescription = {}, log?: (line: string) => void): ActivationCache {
  if (existsSync(join(acts, "manifest.json"))) return loadActivationCache(acts);
  const cache = importActivations(cacheRoot, {
    source: acts, description: { model: describe.model ?? NOT_DESCRIBED, hook: describe.hook ?? NOT_DESCRIBED, tokens: describe.tokens ?? NOT_DESCRIBED }, log,
  });
  log?.(`activations ${acts}: imported into ${cache.dir} (${cache.manifest.rows} training rows, ${cache.manifest.imported!.heldOut.rows} held out; reused when already there)`);
  return cache;
}

/** The sweep as it runs on `cache`: model, corpus, windowing, hooks and held-out size from the manifest. */
export function specForActs(spec: SweepSpec, cache: ActivationCache): SweepSpec {
  const m = cache.manifest;
  const fail = (problem: string): never => {
    throw new SettingsError(`sweep "${spec.name}" on ${cache.dir}: ${problem}`);
  };
  if (m.imported) {
    const hook = m.hooks[0]!;
    const layers = [...new Set(spec.conditions.map((c) => c.layer))];
    if (layers.length > 1) fail(`imported activations have one hook (${hook}) and no layers; drop --layers ${layers.join(",")}`);
    const held = m.imported.heldOut.rows;
    if (spec.evalTokens > 0 && held === 0) fail(`the import holds no held-out rows for quality metrics; re-import with --held-out-rows N, or pass --eval-tokens 0`);
    return validateSpec({
      ...spec, acts: cache.dir, model: m.model.name, weights: undefined, corpus: m.corpus.name, windowing: "standard", seqLen: m.seqLen,
      maxTokens: m.realTokens, residual: m.residual, includeSpecial: false, hookTemplate: hook,
      conditions: spec.conditions.map((c) => ({ ...c, layer: 0 })), evalTokens: Math.min(spec.evalTokens, held),
    });
  }
  if (spec.evalTokens > 0) fail(`quality metrics on a cache built from a corpus need the model and the corpus's later documents: run the sweep without --acts (it reuses this cache), or pass --eval-tokens 0`);
  const windowing = m.windowing as { mode?: string; maxTokens?: number };
  const out = validateSpec({
    ...spec, acts: cache.dir, model: m.model.name, corpus: m.corpus.name, windowing: windowing.mode === "faithful" ? "faithful" : "standard",
    seqLen: m.seqLen, maxTokens: windowing.maxTokens ?? m.realTokens, residual: m.residual,
  });
  for (const c of out.conditions) {
    const hook = hookFor(out, c.layer);
    if (!m.hooks.includes(hook)) fail(`the cache holds ${m.hooks.join(", ")}, not ${hook} (layer ${c.layer}); choose --layers among the cached ones`);
  }
  return out;
}

/** Quality metrics for a sweep on an imported cache: its first spec.evalTokens held-out rows (null when 0). */
export function actsEvaluation(spec: SweepSpec, cache: ActivationCache): Evaluation | null {
  if (spec.evalTokens === 0 || !cache.manifest.imported) return null;
  const hook = cache.manifest.hooks[0]!;
  const rows = heldOutRows(cache, hook)!;
  const T = Math.min(spec.evalTokens, rows.rows);
  const x = new Float32Array(T * rows.dIn);
  for (let r = 0; r < T; r++) rows.copyRow(r, x, r * rows.dIn);
  return makeRowsEvaluation(hook, x, T);
}

/** The receipts every run of an acts sweep records: what the rows are, from the manifest. */
export function actsReceipts(cache: ActivationCache): Record<string, unknown> {
  const m = cache.manifest;
  return {
    model: m.model.label, modelKind: m.model.kind, weightsSha256: m.model.sha256, corpus: m.corpus.name, corpusSha256: m.corpus.sha256,
    activationCache: resolve(cache.dir), activationCacheKey: m.key, activationCacheSha256: m.contentSha256,
    ...(m.imported ? { importedFrom: m.imported.sources.map((s) => ({ file: s.file, sha256: s.sha256 })), importedDescription: m.imported.description, ceLossScore: "unavailable (imported activations: no model)" } : {}),
  };
}
