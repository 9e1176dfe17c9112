/** The data a stability report shows, independent of how it is rendered (JSON, Markdown, HTML). */
import type { QualityMetrics } from "../../sae/quality.ts";

export interface Interval {
  lo: number;
  hi: number;
}

export interface StatWithUncertainty {
  value: number;
  /** 95% bootstrap interval over seeds. */
  ci: Interval | null;
  /** Mean of the statistic under the null model (random dictionaries, same shapes and live counts). */
  nullMean: number | null;
  /** Monte-Carlo p-value of the observed value under the null (one-sided: observed ≥ null). */
  pValue: number | null;
  /** (observed − null mean) / null sd. */
  effectSize: number | null;
}

export interface PairSummary {
  seedA: number;
  seedB: number;
  n: number;
  median: number;
  mean: number;
  fractionAbove: Record<string, number>;
  /** The pair's shared-latent counts (see SharedReport), when computed. */
  shared?: { sharedPB: number; samePartner: number; sharedSamePartner: number; matched: number };
}

/**
 * The shared-latent definitions in circulation, each over matched latents, pooled over seed pairs (match/shared_latents.ts):
 *   sharedPB           Paulo & Belrose: the decoder matching and the encoder matching (computed separately) both give the
 *                      latent a partner above the threshold — not necessarily the same partner
 *   samePartner        the two matchings pick the same partner
 *   sharedSamePartner  both: the stricter definition
 */
export interface SharedReport {
  threshold: number;
  sharedPB: StatWithUncertainty;
  samePartner: StatWithUncertainty;
  sharedSamePartner: StatWithUncertainty;
}

/** Per latent, in how many of the other seeds' SAEs it has a partner above the threshold (match/cross_seed.ts). */
export interface PresenceReport {
  threshold: number;
  seeds: number;
  /** counts[k]: latents with a partner in exactly k other seeds (pooled over seeds). */
  counts: number[];
  fractions: number[];
  /** The same fractions for random dictionaries of the same shapes (mean over null draws). */
  nullFractions: number[] | null;
  /** fractions[0]: found in one SAE only. */
  onlyOne: number;
  inAll: number;
}

/** The latents each seed pair leaves unmatched: how much their principal subspaces overlap (match/subspace.ts). */
export interface SubspaceReport {
  /** "Unmatched": matched cosine below this. */
  threshold: number;
  energy: number;
  /** Seed pairs covered (the first ones in pair order). */
  pairs: number;
  meanRank: number;
  /** r/d: two random r-dimensional subspaces. */
  randomExpectation: number;
  /** Mean squared cosine of the principal angles, with seed CI and the null of random subspaces of the same ranks. */
  unmatched: StatWithUncertainty;
  matched: StatWithUncertainty;
}

/** Matched cosine against held-out firing frequency (Spearman's ρ over latents, pooled over seeds). */
export interface FrequencyReport {
  rho: StatWithUncertainty;
  latents: number;
  deciles: { logFrequency: number; meanCosine: number; latents: number }[];
}

export interface ExamplePair {
  band: "high" | "middle" | "low";
  cosine: number;
  seedA: number;
  featureA: number;
  seedB: number;
  featureB: number;
  contextsA: string[];
  contextsB: string[];
}

export interface ModeReport {
  mode: "full" | "live-only";
  /**
   * Every matched cosine of every seed pair, pooled — or, when there are more than POOLED_LIMIT of them, that many
   * evenly spaced order statistics of them (the distribution, at a resolution no plot needs more of).
   */
  pooled: number[];
  /** How many matched cosines `pooled` describes. */
  pooledCount: number;
  /** The same under the null model (first draw), treated alike. */
  nullPooled: number[];
  median: StatWithUncertainty;
  fractionAboveThreshold: StatWithUncertainty;
  /** PW-MCC as Song et al. define it (arXiv 2505.20254): the mean signed cosine over the decoder assignment, averaged over seed pairs. */
  pwmcc: StatWithUncertainty;
  /** The three shared-latent fractions (null: not computed, or an encoder missing). */
  shared: SharedReport | null;
  presence: PresenceReport;
  subspace: SubspaceReport;
  /** Null unless every run recorded its latents' held-out firing frequencies. */
  frequency: FrequencyReport | null;
  pairs: PairSummary[];
  optimalityMaxViolation: number;
}

export interface RunSummary {
  seed: number;
  fvu: number;
  l0: number;
  deadFraction: number;
  realTokens: number;
  trainingRows: number;
  /** Training tokens seen (rows × passes), and the passes over the rows. */
  tokensSeen?: number;
  passes?: number;
  /** Steps, end of curve and verdict of the convergence rule (absent for runs made before it was recorded). */
  convergence?: { steps: number; endDrop: number; converged: boolean };
  /** On held-out tokens, when the sweep computed it. */
  quality?: QualityMetrics;
}

/** A condition's training budget and whether its runs converged (sae/training_curve.ts's rule). */
export interface TrainingSummary {
  /** Mean over runs: tokens seen, distinct training rows, passes over them. */
  tokensSeen: number;
  trainingRows: number;
  passes: number;
  /** Null when the runs did not record convergence. */
  convergence: { rule: string; runs: number; converged: number; meanSteps: number; meanEndDrop: number } | null;
}

/** The runs' quality on held-out tokens, each a mean over seeds with a seed-bootstrap interval. */
export interface QualitySummary {
  tokens: number;
  explainedVariance: StatWithUncertainty;
  fvu: StatWithUncertainty;
  l0: StatWithUncertainty;
  deadFraction: StatWithUncertainty;
  denseAbove1Percent: StatWithUncertainty;
  denseAbove10Percent: StatWithUncertainty;
  /** null: unavailable (imported activations have no model to splice the reconstruction into). */
  ceLossScore: StatWithUncertainty | null;
  klScore: StatWithUncertainty | null;
  /** The model's own loss on those tokens (the same for every run of a condition). */
  ceClean: number | null;
  ceZeroAblation: number | null;
}

export interface ConditionReport {
  id: string;
  /** How the tables name it, when not by layer, size, k and recipe (SAEs from other libraries). */
  label?: string;
  layer: number;
  features: number;
  k: number;
  recipe: string;
  hook: string;
  seeds: number[];
  runs: RunSummary[];
  /** Tokens on a token axis (the condition's own), else absent. */
  tokens?: number;
  training: TrainingSummary;
  /** Null draws this condition's statistics used (the report's, or fewer for wide dictionaries: StabilityOptions.nullDrawsAbove). */
  nullDraws?: number;
  /** Null when the runs carry no quality metrics (evalTokens 0, or made before they existed). */
  quality: QualitySummary | null;
  modes: ModeReport[];
  examples: ExamplePair[];
}

export interface StabilityReport {
  title: string;
  model: string;
  modelIsRandomControl: boolean;
  corpus: string;
  threshold: number;
  /** Cosine threshold of the shared-latent criterion (null: not computed). */
  sharedThreshold: number | null;
  bootstrap: number;
  nullDraws: number;
  method: string;
  conditions: ConditionReport[];
  createdAt: string;
}
