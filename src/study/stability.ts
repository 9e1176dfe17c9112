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
import type { ConditionReport, ExamplePair, ModeReport, QualitySummary, RunSummary, StabilityReport, StatWithUncertainty, TrainingSummary } from "./report/model.ts";
import { HELD_OUT_FREQUENCY_FILE, type HeldOutFrequencyFile, type RunMetrics } from "./run_one.ts";
import { CONVERGENCE_RULE } from "../sae/training_curve.ts";

export interface LoadedRun {
  dir: string;
  seed: number;
  dictionary: SeedDictionary;
  analysis: FeatureAnalysis;
  metrics: RunMetrics;
  spec: { condition: { layer: number; features: number; k: number; recipe: string; tokens?: number }; hook: string; spec: { model: string; corpus: string } };
}

export interface StabilityOptions {
  threshold: number;
  bootstrap: number;
  nullDraws: number;
  rngSeed: number;
  liveOnly?: boolean;
  /** The shared-latent definitions (shared (P&B), same partner, both) at this cosine; also "has a partner" in the presence and subspace views. */
  sharedThreshold?: number;
  /** Seed pairs the subspace view covers (default match/stats.ts's DEFAULT_SUBSPACE_PAIRS). */
  subspacePairs?: number;
  /**
   * Fewer null draws for wide dictionaries, where each draw is many exact matchings of n × n matrices: conditions with
   * more than `features` latents use `draws` (each condition's report says how many it used).
   */
  nullDrawsAbove?: { features: number; draws: number };
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
  // Held-out firing frequencies, when the run recorded them (RESULTS_VERSION ≥ 5 with quality metrics).
  const frequencyPath = join(dir, HELD_OUT_FREQUENCY_FILE);
  const frequency = existsSync(frequencyPath) ? Float64Array.from(readJson<HeldOutFrequencyFile>(frequencyPath).frequency) : undefined;
  return {
    dir, seed: spec.seed, analysis, metrics: readJson<RunMetrics>(join(dir, "metrics.json")), spec,
    dictionary: {
      seed: spec.seed,
      dict: { decoder: sae.params.wDec, encoder: sae.params.wEnc, n: sae.params.dSae, d: sae.params.dIn, live: Uint8Array.from(analysis.features, (f) => (f.dead ? 0 : 1)) },
      ...(frequency && frequency.length === sae.params.dSae ? { frequency } : {}),
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

/** Reports keep at most this many values of a pooled distribution (evenly spaced order statistics beyond it). */
export const POOLED_LIMIT = 4000;

/** `values` as they are, or POOLED_LIMIT evenly spaced order statistics of them (rounded to 5 decimals: plots need no more). */
export function compactDistribution(values: ArrayLike<number>, limit = POOLED_LIMIT): number[] {
  const round = (v: number) => Math.round(v * 1e5) / 1e5;
  if (values.length <= limit) return Array.from(values, round);
  const sorted = Float64Array.from(values).sort();
  return Array.from({ length: limit }, (_, i) => round(sorted[Math.round((i * (sorted.length - 1)) / (limit - 1))]!));
}

function toModeReport(s: ConditionStability, threshold: number): ModeReport {
  const t = String(threshold);
  return {
    mode: s.mode,
    pooled: compactDistribution(s.pooled),
    pooledCount: s.pooled.length,
    nullPooled: compactDistribution(s.nullPooled),
    median: withUncertainty(s.median),
    fractionAboveThreshold: withUncertainty(s.fractionAboveThreshold),
    pwmcc: withUncertainty(s.pwmcc),
    shared: s.shared ? { threshold: s.shared.threshold, sharedPB: withUncertainty(s.shared.sharedPB), samePartner: withUncertainty(s.shared.samePartner), sharedSamePartner: withUncertainty(s.shared.sharedSamePartner) } : null,
    presence: {
      threshold: s.presence.threshold, seeds: s.presence.seeds, counts: s.presence.counts, fractions: s.presence.fractions,
      nullFractions: s.presence.nullFractions, onlyOne: s.presence.onlyOne, inAll: s.presence.inAll,
    },
    subspace: {
      threshold: s.subspace.threshold, energy: s.subspace.energy, pairs: s.subspace.pairs, meanRank: s.subspace.meanRank,
      randomExpectation: s.subspace.randomExpectation, unmatched: withUncertainty(s.subspace.unmatched), matched: withUncertainty(s.subspace.matched),
    },
    frequency: s.frequency ? { rho: withUncertainty(s.frequency.rho), latents: s.frequency.latents, deciles: s.frequency.deciles } : null,
    pairs: s.pairs.map((p) => ({
      seedA: p.seedA, seedB: p.seedB, n: p.match.values.length, median: p.match.summary.median, mean: p.match.summary.mean,
      fractionAbove: { ...p.match.summary.fractionAbove, [t]: p.match.summary.fractionAbove[t] ?? 0 },
      ...(p.shared ? { shared: p.shared } : {}),
    })),
    optimalityMaxViolation: s.optimalityMaxViolation,
  };
}

/** Mean tokens, rows and passes over a condition's runs, and how many passed the convergence rule. */
function trainingSummary(runs: RunSummary[]): TrainingSummary {
  const mean = (f: (r: RunSummary) => number) => runs.reduce((s, r) => s + f(r), 0) / runs.length;
  const withConvergence = runs.filter((r) => r.convergence);
  return {
    tokensSeen: mean((r) => r.tokensSeen ?? r.trainingRows), trainingRows: mean((r) => r.trainingRows), passes: mean((r) => r.passes ?? 1),
    convergence: withConvergence.length === runs.length ? {
      rule: CONVERGENCE_RULE, runs: runs.length, converged: runs.filter((r) => r.convergence!.converged).length,
      meanSteps: mean((r) => r.convergence!.steps), meanEndDrop: mean((r) => r.convergence!.endDrop),
    } : null,
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
  const nullDraws = options.nullDrawsAbove && c.features > options.nullDrawsAbove.features ? Math.min(options.nullDraws, options.nullDrawsAbove.draws) : options.nullDraws;
  const common = {
    threshold: options.threshold, bootstrap: options.bootstrap, nullDraws, rngSeed: options.rngSeed,
    ...(options.sharedThreshold !== undefined ? { sharedThreshold: options.sharedThreshold } : {}),
    ...(options.subspacePairs !== undefined ? { subspacePairs: options.subspacePairs } : {}),
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
    ...(r.metrics.tokensSeen !== undefined ? { tokensSeen: r.metrics.tokensSeen } : {}),
    ...(r.metrics.passes !== undefined ? { passes: r.metrics.passes } : {}),
    ...(r.metrics.convergence ? { convergence: { steps: r.metrics.convergence.steps, endDrop: r.metrics.convergence.endDrop, converged: r.metrics.convergence.converged } } : {}),
    ...(r.metrics.quality ? { quality: r.metrics.quality } : {}),
  }));
  return {
    id, layer: c.layer, features: c.features, k: c.k, recipe: c.recipe, hook: runs[0]!.spec.hook, seeds: runs.map((r) => r.seed),
    ...(c.tokens !== undefined ? { tokens: c.tokens } : {}), training: trainingSummary(runSummaries), nullDraws,
    // Examples from the live-only matching: a dead feature has no contexts to show, and in the full matching the
    // low-cosine band is mostly dead features.
    runs: runSummaries, quality: qualitySummary(runSummaries, options), modes: modes.map((m) => toModeReport(m, options.threshold)),
    examples: examples(modes.find((m) => m.mode === "live-only") ?? full ?? modes[0]!, runs),
  };
}

export const METHOD_TEXT = [
  "Each pair of seeds is matched one-to-one by the exact Hungarian algorithm (shortest augmenting path, Crouse 2016) on the cosine similarity of L2-normalised decoder directions; every matching is certified optimal by its dual potentials. 'full' matches all features; 'live-only' matches only features that fired at least once on the training rows (rectangular when live counts differ).",
  "Null model: in each of R draws every seed is replaced by a random dictionary of the same shape and live count (i.i.d. Gaussian directions, normalised) and matched the same way. p-values are Monte-Carlo, one-sided: (1 + #{null ≥ observed}) / (1 + R).",
  "PW-MCC is Song et al.'s pairwise mean correlation coefficient (arXiv 2505.20254): the mean signed cosine over the decoder assignment, averaged over seed pairs.",
  "Shared latents, two definitions side by side. Encoders and decoders are matched separately, each by the exact Hungarian algorithm on cosine similarity, giving every latent a decoder partner and an encoder partner. 'shared (P&B)' is Paulo & Belrose's count (arXiv 2501.16615; their analysis code, SrGonao/sae_overlap): both matched cosines exceed the shared threshold, whichever the partners. 'same partner' is how often the two matchings pick the same partner (reported separately in their code). 'shared, same partner' requires both — the stricter definition. Each is over matched latents, pooled over seed pairs, with the same bootstrap and null model (random encoders and decoders).",
  "Presence across seeds: a latent has a partner in another seed when their pair's decoder matching pairs it at cosine ≥ the shared threshold; the histogram counts, per latent of every seed, in how many of the other seeds it has one (Paulo & Belrose's many-seed view; 0 = found in one SAE only). The null column is the same for random dictionaries.",
  "Subspaces of what did not match (after Gerasimov et al., arXiv 2606.12138): for a seed pair, the latents of each side whose matched cosine is below the shared threshold; the principal subspace of each set (the eigenvectors of UᵀU holding 90% of its energy, the smaller rank of the two, at most d/2) and the mean squared cosine of the principal angles between them — 1 for the same subspace, r/d for random ones. The null is random subspaces of the same ranks; 'matched' is the same for the latents that did match.",
  "Which latents are stable: Spearman's ρ between a latent's mean matched cosine (over the other seeds, full matching) and its firing frequency on held-out tokens, over latents that fired there, pooled over seeds; the interval resamples seeds.",
  `Convergence: each run records its training curve; ${CONVERGENCE_RULE}. Conditions with runs that fail the rule are flagged: near-null stability from an SAE still improving is not a finding. Tokens seen beyond one pass over the corpus are further passes (stated as passes).`,
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
