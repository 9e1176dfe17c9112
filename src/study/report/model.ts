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
  /** Latents shared by the Paulo & Belrose criterion, when computed. */
  shared?: number;
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
  /** Every matched cosine of every seed pair, pooled. */
  pooled: number[];
  /** The same under the null model, pooled over draws (subsampled for plotting). */
  nullPooled: number[];
  median: StatWithUncertainty;
  fractionAboveThreshold: StatWithUncertainty;
  /** Mean pairwise matched cosine. */
  pwmcc: StatWithUncertainty;
  /** Paulo & Belrose's shared fraction (encoder and decoder matched to the same partner above the shared threshold). */
  sharedFraction: StatWithUncertainty | null;
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
  /** On held-out tokens, when the sweep computed it. */
  quality?: QualityMetrics;
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
