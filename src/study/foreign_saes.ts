/**
 * Stability of SAEs sae-seeds did not train: any files it reads (SAELens, sparsify, dictionary_learning, the seed
 * platform — ../sae/formats/), several SAEs with the same d_in, treated as the seeds of one condition and reported
 * exactly as a sweep's condition is (./stability.ts conditionReport: full and live-only matchings, PW-MCC, fraction
 * ≥ threshold, Paulo & Belrose's shared fraction, random-dictionary nulls, seed-bootstrap intervals).
 *
 * Live latents, top activations and quality need activations (`acts`): an activation cache (its held-out rows when
 * it was imported, else its rows), or a .npy / .safetensors file or folder of shards read directly. The first
 * `maxRows` rows are used. Each SAE is then analysed on those rows (dead = never fires there) and scored by
 * rowsQuality (explained variance, FVU, L0, dead and dense latents; CE-loss and KL unavailable without the model).
 * Without activations every latent counts as live — the live-only matching is then the full one, and the report
 * says so in its dead rule — and there are no quality metrics.
 *
 * Widths may differ (the matchings are rectangular); the condition's `features` is then the smallest width.
 */
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { detectSAEFormat, loadSAE, type LoadedSAE } from "../sae/io.ts";
import { analyseFeatures, type FeatureAnalysis } from "../sae/analysis.ts";
import { rowsQuality, reconstructionMetrics } from "../sae/quality.ts";
import { loadActivationCache } from "../data/activation_cache.ts";
import { heldOutRows } from "../data/import_acts.ts";
import { openActivationSource } from "../data/activation_sources.ts";
import { arrayRows, type RowSource } from "../data/rows.ts";
import { conditionReport, METHOD_TEXT, type LoadedRun, type StabilityOptions } from "./stability.ts";
import type { StabilityReport } from "./report/model.ts";
import type { RunMetrics } from "./run_one.ts";

/** Rows of activations used for live masks and quality when --tokens is not given. */
export const DEFAULT_FOREIGN_ROWS = 65_536;

/** Where the activations for live masks and quality come from, and how many rows to use. */
export interface ForeignActs {
  /** An activation cache directory, or a .npy / .safetensors file or a folder of shards. */
  path: string;
  /** The cache's hook, or the safetensors tensor (default: the only one). */
  hook?: string;
  maxRows?: number;
}

/** What `stability --saes` needs besides the statistics' settings. */
export interface ForeignStabilityOptions extends StabilityOptions {
  /** The hookpoint folder of sparsify repositories among the SAEs. */
  hookpoint?: string;
  acts?: ForeignActs;
  /** k for TopK files that carry none (seed-platform files), needed only with activations. */
  k?: number;
}

/** The rows [T, d] the SAEs are analysed on, and a description of where they came from. */
export function foreignRows(acts: ForeignActs): { x: Float32Array; rows: number; d: number; source: string } {
  const max = acts.maxRows ?? DEFAULT_FOREIGN_ROWS;
  let data: RowSource;
  let source: string;
  if (existsSync(join(acts.path, "manifest.json"))) {
    const cache = loadActivationCache(acts.path);
    const hooks = cache.manifest.hooks;
    const hook = acts.hook ?? (hooks.length === 1 ? hooks[0]! : undefined);
    if (!hook) throw new Error(`${acts.path} holds ${hooks.join(", ")}; choose one with --hook`);
    const held = cache.manifest.imported ? heldOutRows(cache, hook) : null;
    data = held ?? cache.rows(hook);
    source = `${held ? "held-out rows" : "rows"} of activation cache ${acts.path} (${hook})`;
  } else {
    const src = openActivationSource(acts.path, { hook: acts.hook });
    try {
      const rows = Math.min(max, src.rows);
      return { x: src.readRows(0, rows), rows, d: src.d, source: `the first ${rows} rows of ${acts.path}` };
    } finally {
      src.close();
    }
  }
  const rows = Math.min(max, data.rows);
  const x = new Float32Array(rows * data.dIn);
  for (let r = 0; r < rows; r++) data.copyRow(r, x, r * data.dIn);
  return { x, rows, d: data.dIn, source: `the first ${rows} ${source}` };
}

/** Every latent live: what the analysis is without activations (so live-only equals full, said in the rule). */
function allLive(loaded: LoadedSAE): FeatureAnalysis {
  const n = loaded.sae.params.dSae;
  return {
    recipe: loaded.sae.recipe, rows: 0, deadRule: "no activations given (--acts): every latent counted live, so live-only is the full matching",
    deadCount: 0, deadFraction: 0,
    features: Array.from({ length: n }, (_, index) => ({ index, fireCount: NaN, frequency: NaN, maxActivation: NaN, meanActivation: NaN, dead: false, topActivations: [] })),
  };
}

/** One SAE as a "seed" of the condition: its dictionary, analysis and metrics. */
function foreignRun(path: string, seed: number, loaded: LoadedSAE, rows: { x: Float32Array; rows: number } | null): LoadedRun {
  const { sae } = loaded;
  const analysis = rows ? analyseFeatures(sae, arrayRows(rows.x, sae.params.dIn)) : allLive(loaded);
  const quality = rows ? rowsQuality(sae, rows.x, rows.rows) : undefined;
  const rec = rows ? reconstructionMetrics(sae, rows.x, rows.rows).metrics : null;
  const metrics: RunMetrics = {
    condition: "saes", seed, fvu: rec?.fvu ?? NaN, mse: NaN, l0: rec?.l0 ?? NaN, deadFraction: rows ? analysis.deadFraction : NaN,
    deadCount: rows ? analysis.deadCount : NaN, trainingRows: 0, realTokens: rows?.rows ?? 0, tokensSeen: 0, seconds: 0,
    ...(quality ? { quality } : {}),
  };
  return {
    dir: path, seed, analysis, metrics,
    spec: {
      condition: { layer: -1, features: sae.params.dSae, k: sae.k, recipe: sae.recipe },
      hook: loaded.hookName ?? "unknown", spec: { model: loaded.modelName ?? "unknown", corpus: "unknown" },
    },
    dictionary: {
      seed,
      dict: { decoder: sae.params.wDec, encoder: sae.params.wEnc, n: sae.params.dSae, d: sae.params.dIn, live: Uint8Array.from(analysis.features, (f) => (f.dead ? 0 : 1)) },
    },
  };
}

/** The stability report of SAEs given as files (two or more, same d_in), as a sweep's report of one condition. */
export function buildForeignStabilityReport(paths: string[], options: ForeignStabilityOptions, title: string, log: (line: string) => void = () => {}): StabilityReport {
  if (paths.length < 2) throw new Error(`stability --saes needs two or more SAEs to compare, got ${paths.length}`);
  const loaded = paths.map((p) => {
    const opts = { ...(options.hookpoint !== undefined && detectSAEFormat(p).format === "sparsify" ? { hookpoint: options.hookpoint } : {}), ...(options.k !== undefined ? { k: options.k } : {}) };
    // Matching needs only decoders and encoders; with activations the SAEs are run, so they must load whole.
    return loadSAE(p, options.acts ? opts : { ...opts, decoderOnly: true });
  });
  const d = loaded[0]!.sae.params.dIn;
  loaded.forEach((l, i) => {
    if (l.sae.params.dIn !== d) throw new Error(`${paths[i]} reads d_in ${l.sae.params.dIn} but ${paths[0]} reads ${d}; stability compares SAEs of the same input (same model and hook)`);
  });
  let rows: { x: Float32Array; rows: number } | null = null;
  let rowsSource = "none";
  if (options.acts) {
    const got = foreignRows(options.acts);
    if (got.d !== d) throw new Error(`${options.acts.path} has rows of ${got.d} values but the SAEs read d_in ${d}`);
    rows = got;
    rowsSource = got.source;
    log(`activations: ${got.source}`);
  }
  const runs = loaded.map((l, i) => foreignRun(paths[i]!, i, l, rows));
  const widths = [...new Set(loaded.map((l) => l.sae.params.dSae))];
  const formats = [...new Set(loaded.map((l) => `${l.format} ${l.architecture}`))];
  const label = `${paths.length} SAEs (${formats.join(", ")}; ${widths.length === 1 ? `${widths[0]} latents` : `widths ${widths.join(", ")}`}; d_in ${d})`;
  log(`matching ${label}: ${(paths.length * (paths.length - 1)) / 2} pairs`);
  const condition = conditionReport("saes", runs, options);
  condition.label = label;
  condition.features = Math.min(...widths);
  condition.layer = -1;
  const models = [...new Set(loaded.map((l) => l.modelName ?? "unknown"))];
  return {
    title, model: models.join(", "), modelIsRandomControl: false, corpus: `activations: ${rowsSource}`, threshold: options.threshold,
    sharedThreshold: options.sharedThreshold ?? null, bootstrap: options.bootstrap, nullDraws: options.nullDraws,
    method: `${METHOD_TEXT}\n\nThe "seeds" here are SAEs given as files (${paths.map((p) => basename(resolve(p))).join(", ")}), read with their libraries' own forward passes; live latents and quality come from ${rowsSource === "none" ? "no activations (every latent counted live; no quality metrics)" : rowsSource} (CE-loss and KL scores need the model and are unavailable).`,
    conditions: [condition], createdAt: new Date().toISOString(),
  };
}
