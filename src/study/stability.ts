/**
 * From run directories to a StabilityReport: load every complete run of every condition, match all seed pairs
 * (full and live-only), compute the statistics with their null baselines and bootstrap intervals, and pick
 * example matched pairs with their top-activating contexts.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, basename } from "node:path";
import { loadDecoder } from "../sae/io.ts";
import type { FeatureAnalysis } from "../sae/analysis.ts";
import { conditionStability, meanOverSeeds, type ConditionStability, type SeedDictionary } from "../match/stats.ts";
import { verifyManifest } from "./receipts.ts";
import type { ConditionReport, ExamplePair, ModeReport, QualitySummary, RunSummary, StabilityReport, StatWithUncertainty } from "./report/model.ts";
import type { RunMetrics } from "./run_one.ts";

export interface LoadedRun {
  dir: string;
  seed: number;
  dictionary: SeedDictionary;
  analysis: FeatureAnalysis;
  metrics: RunMetrics;
  spec: { condition: { layer: number; features: number; k: number; recipe: string }; hook: string; spec: { model: string; corpus: string } };
}

export interface StabilityOptions {
  threshold: number;
  bootstrap: number;
  nullDraws: number;
  rngSeed: number;
  liveOnly?: boolean;
  /** Paulo & Belrose's shared-latent criterion: both encoder and decoder matched to the same partner above this cosine. */
  sharedThreshold?: number;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** A finished run's decoder, metrics and feature analysis (its manifest verified first). */
export function loadRun(dir: string): LoadedRun {
  const check = verifyManifest(dir);
  if (!check.ok) throw new Error(`${dir} is not a complete run: ${check.problem}; rerun the sweep to finish it`);
  const { sae } = loadDecoder(join(dir, "sae"));
  const analysis = readJson<FeatureAnalysis>(join(dir, "feature_analysis.json"));
  const spec = readJson<LoadedRun["spec"] & { seed: number }>(join(dir, "spec.json"));
  return {
    dir, seed: spec.seed, analysis, metrics: readJson<RunMetrics>(join(dir, "metrics.json")), spec,
    dictionary: {
      seed: spec.seed,
      dict: { decoder: sae.params.wDec, encoder: sae.params.wEnc, n: sae.params.dSae, d: sae.params.dIn, live: Uint8Array.from(analysis.features, (f) => (f.dead ? 0 : 1)) },
    },
  };
}

/** Group run directories by condition: accepts a sweep directory, condition directories, or run directories. */
export function findRuns(paths: string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  const add = (runDir: string) => {
    const condition = basename(join(runDir, ".."));
    groups.set(condition, [...(groups.get(condition) ?? []), runDir]);
  };
  const visit = (p: string, depth: number) => {
    if (!existsSync(p) || !statSync(p).isDirectory()) throw new Error(`${p} is not a directory of runs`);
    if (existsSync(join(p, "manifest.json")) && existsSync(join(p, "sae"))) return add(p);
    if (depth > 2) return;
    for (const name of readdirSync(p).sort()) {
      const child = join(p, name);
      if (statSync(child).isDirectory()) visit(child, depth + 1);
    }
  };
  for (const p of paths) visit(p, 0);
  for (const [k, v] of groups) groups.set(k, [...new Set(v)].sort());
  return groups;
}

function withUncertainty(s: ConditionStability["median"]): StatWithUncertainty {
  return { value: s.value, ci: s.ci, nullMean: s.nullMean, pValue: s.pValue, effectSize: s.effectSize };
}

function toModeReport(s: ConditionStability, threshold: number): ModeReport {
  const t = String(threshold);
  return {
    mode: s.mode,
    pooled: Array.from(s.pooled),
    nullPooled: Array.from(s.nullPooled),
    median: withUncertainty(s.median),
    fractionAboveThreshold: withUncertainty(s.fractionAboveThreshold),
    pwmcc: withUncertainty(s.pwmcc),
    sharedFraction: s.shared ? withUncertainty(s.shared.sharedSamePartner) : null,
    pairs: s.pairs.map((p) => ({
      seedA: p.seedA, seedB: p.seedB, n: p.match.values.length, median: p.match.summary.median, mean: p.match.summary.mean,
      fractionAbove: { ...p.match.summary.fractionAbove, [t]: p.match.summary.fractionAbove[t] ?? 0 },
      ...(p.shared ? { shared: p.shared.sharedSamePartner } : {}),
    })),
    optimalityMaxViolation: s.optimalityMaxViolation,
  };
}

function contexts(run: LoadedRun, feature: number): string[] {
  return (run.analysis.features[feature]?.topActivations ?? []).slice(0, 3).map((t) => `${t.context?.text ?? `row ${t.row}`} (${t.activation.toFixed(2)})`);
}

function examples(full: ConditionStability, runs: LoadedRun[]): ExamplePair[] {
  const first = full.pairs[0];
  if (!first) return [];
  const runA = runs.find((r) => r.seed === first.seedA)!;
  const runB = runs.find((r) => r.seed === first.seedB)!;
  const order = Array.from(first.match.values.keys()).sort((x, y) => first.match.values[y]! - first.match.values[x]!);
  const pick = (band: ExamplePair["band"], t: number): ExamplePair => ({
    band, cosine: first.match.values[t]!, seedA: first.seedA, featureA: first.match.indexA[t]!, seedB: first.seedB, featureB: first.match.indexB[t]!,
    contextsA: contexts(runA, first.match.indexA[t]!), contextsB: contexts(runB, first.match.indexB[t]!),
  });
  return [pick("high", order[0]!), pick("middle", order[Math.floor(order.length / 2)]!), pick("low", order[order.length - 1]!)];
}

const QUALITY_KEYS = ["explainedVariance", "fvu", "l0", "deadFraction", "denseAbove1Percent", "denseAbove10Percent", "ceLossScore", "klScore"] as const;

/** Mean quality over the seeds with bootstrap intervals; null unless every run has quality metrics. */
function qualitySummary(runs: RunSummary[], options: StabilityOptions): QualitySummary | null {
  if (!runs.every((r) => r.quality)) return null;
  const q = runs.map((r) => r.quality!);
  // A score some run could not have (CE-loss and KL without a model) is unavailable for the condition, never averaged.
  const stats = Object.fromEntries(QUALITY_KEYS.map((k) => {
    const values = q.map((x) => x[k]);
    return [k, values.some((v) => v === null) ? null : withUncertainty(meanOverSeeds(values as number[], options.bootstrap, options.rngSeed, k))];
  }));
  return { tokens: q[0]!.tokens, ceClean: q[0]!.ceClean, ceZeroAblation: q[0]!.ceZeroAblation, ...stats } as QualitySummary;
}

/** One condition's part of the report, from its loaded runs. */
export function conditionReport(id: string, runs: LoadedRun[], options: StabilityOptions): ConditionReport {
  const c = runs[0]!.spec.condition;
  const dicts = runs.map((r) => r.dictionary);
  const common = {
    threshold: options.threshold, bootstrap: options.bootstrap, nullDraws: options.nullDraws, rngSeed: options.rngSeed,
    ...(options.sharedThreshold !== undefined ? { sharedThreshold: options.sharedThreshold } : {}),
  };
  const modes: ConditionStability[] = [];
  let full: ConditionStability | null = null;
  if (!options.liveOnly) {
    full = conditionStability(dicts, { ...common, mode: "full" });
    modes.push(full);
  }
  modes.push(conditionStability(dicts, { ...common, mode: "live-only" }));
  const runSummaries: RunSummary[] = runs.map((r) => ({
    seed: r.seed, fvu: r.metrics.fvu, l0: r.metrics.l0, deadFraction: r.metrics.deadFraction, realTokens: r.metrics.realTokens, trainingRows: r.metrics.trainingRows,
    ...(r.metrics.quality ? { quality: r.metrics.quality } : {}),
  }));
  return {
    id, layer: c.layer, features: c.features, k: c.k, recipe: c.recipe, hook: runs[0]!.spec.hook, seeds: runs.map((r) => r.seed),
    // Examples from the live-only matching: a dead feature has no contexts to show, and in the full matching the
    // low-cosine band is mostly dead features.
    runs: runSummaries, quality: qualitySummary(runSummaries, options), modes: modes.map((m) => toModeReport(m, options.threshold)),
    examples: examples(modes.find((m) => m.mode === "live-only") ?? full ?? modes[0]!, runs),
  };
}

export const METHOD_TEXT = [
  "Each pair of seeds is matched one-to-one by the exact Hungarian algorithm (shortest augmenting path, Crouse 2016) on the cosine similarity of L2-normalised decoder directions; every matching is certified optimal by its dual potentials. 'full' matches all features; 'live-only' matches only features that fired at least once on the training rows (rectangular when live counts differ).",
  "Null model: in each of R draws every seed is replaced by a random dictionary of the same shape and live count (i.i.d. Gaussian directions, normalised) and matched the same way. p-values are Monte-Carlo, one-sided: (1 + #{null ≥ observed}) / (1 + R).",
  "Shared latents (Paulo & Belrose 2025, arXiv 2501.16615): encoders and decoders are matched separately, each by the exact Hungarian algorithm on cosine similarity; a latent is shared when both matchings give it the same partner and both cosines exceed the shared threshold. The shared fraction is shared latents over matched pairs, pooled over seed pairs, with the same bootstrap and null model (random encoders and decoders).",
  "Quality, on held-out tokens (documents after the training ones, real tokens only): explained variance by SAELens's formula, FVU, L0, dead latents (never firing there), dense latents (firing on more than 1% / 10% of the tokens), and with the reconstruction spliced into the forward pass at its hook (real tokens; BOS keeps its own residual) the CE-loss score (CE_zero-ablation − CE_SAE)/(CE_zero-ablation − CE_clean) and the KL score (KL_zero − KL_SAE)/KL_zero, as SAELens computes them. Each is a mean over seeds with a seed-bootstrap 95% interval. For penalty recipes (relu-l1, jumprelu, gated) k is the target L0 of a controller on the penalty coefficient, so conditions with the same k compare architectures at matched sparsity.",
  "95% intervals: percentile bootstrap over seeds — resample the seeds with replacement and recompute the statistic over the pairs among distinct resampled seeds — because pairs sharing a seed are not independent. All resampling uses fixed RNG streams, so the report is reproducible to the digit.",
].join("\n\n");

/** The stability report of groups of run directories (one group per condition): every seed pair matched, with nulls, CIs and quality. */
export function buildStabilityReport(groups: Map<string, string[]>, options: StabilityOptions, title: string, log: (s: string) => void = () => {}): StabilityReport {
  const conditions: ConditionReport[] = [];
  let model = "", corpus = "", random = false;
  for (const [id, dirs] of groups) {
    const runs = dirs.map(loadRun);
    if (runs.length < 2) {
      log(`skipping ${id}: ${runs.length} complete run(s); stability needs at least two seeds`);
      continue;
    }
    const env = readJson<{ model?: string; modelKind?: string; corpus?: string }>(join(runs[0]!.dir, "environment.json"));
    model = env.model ?? model;
    corpus = env.corpus ?? corpus;
    random ||= env.modelKind === "random";
    log(`matching ${id}: ${runs.length} seeds, ${(runs.length * (runs.length - 1)) / 2} pairs`);
    conditions.push(conditionReport(id, runs, options));
  }
  if (!conditions.length) throw new Error("no condition has two or more complete runs; train a sweep first");
  return {
    title, model, modelIsRandomControl: random, corpus, threshold: options.threshold, sharedThreshold: options.sharedThreshold ?? null, bootstrap: options.bootstrap,
    nullDraws: options.nullDraws, method: METHOD_TEXT, conditions, createdAt: new Date().toISOString(),
  };
}
