/**
 * The sweeps `replicate` runs. The seed study trained five Top-K SAEs (seeds 1–5) on GPT-2 small
 * blocks.{0,6}.hook_resid_pre (TransformerLens convention) with seq_len 64 and max_tokens 2000 for 8 epochs,
 * then Hungarian-matched decoders between all seed pairs.
 */
import type { Condition, SweepSpec } from "./spec.ts";
import { gridConditions } from "./spec.ts";
import { locateStudyCorpus, storedCorpusPath } from "../data/study_corpus.ts";

/**
 * The study's layers on a model of `nLayer` blocks: layer 0 stays layer 0, GPT-2 small's layer L of 12 becomes the
 * same relative depth, round(L · nLayer / 12) (layer 6, the middle, is layer 3 of brown-gpt2-mini's 6).
 */
export function studyLayer(layer: number, nLayer = 12): number {
  return Math.min(nLayer - 1, Math.round((layer * nLayer) / 12));
}

/** The seed study's grid for a recipe: layer 0 and layer 6 (scaled to the model's depth) at 128 latents k 8, and layer 6 at 512 latents k 32. */
export const STUDY_CONDITIONS = (recipe: "topk" | "seed-report", nLayer = 12): Condition[] => [
  { layer: 0, features: 128, k: 8, recipe },
  { layer: studyLayer(6, nLayer), features: 128, k: 8, recipe },
  { layer: studyLayer(6, nLayer), features: 512, k: 32, recipe },
];

/** The study's published table, for printing beside ours. */
export const STUDY_TABLE: { layer: number; features: number; k: number; mode: "full" | "live-only"; median: number; fraction: number; note?: string }[] = [
  { layer: 0, features: 128, k: 8, mode: "full", median: 0.095, fraction: 0.0016, note: "2/1280" },
  { layer: 0, features: 128, k: 8, mode: "live-only", median: 0.5, fraction: 0.0048 },
  { layer: 6, features: 128, k: 8, mode: "live-only", median: 0.323, fraction: 0 },
  { layer: 6, features: 512, k: 32, mode: "live-only", median: 0.257, fraction: 0 },
];

export const STUDY_DEAD_FRACTION_LAYER0 = 0.66;

const base = {
  model: "gpt2", seqLen: 64, maxTokens: 2000, residual: "centered" as const,
  hookTemplate: "blocks.{layer}.hook_resid_pre", seeds: [1, 2, 3, 4, 5], epochs: 8,
  // Held-out tokens for the quality metrics: enough for stable CE/KL means, few enough to keep `npm start` quick.
  evalTokens: 512,
};

/** Exactly what the study ran, quirks included: its corpus and windowing, BOS/padding rows trained on, its recipe. */
export function faithfulSpec(corpus: string, nLayer = 12): SweepSpec {
  return { ...base, name: "replicate-faithful", corpus, windowing: "faithful", includeSpecial: true, conditions: STUDY_CONDITIONS("seed-report", nLayer), batchSize: 64, lr: 1e-3 };
}

/**
 * The same conditions done the right way: Gao et al.'s recipe, special tokens masked, the Brown corpus, 2000
 * real tokens. Optimiser settings (Adam lr 1e-3, batch 64, 8 epochs) are kept equal to the study's so that the
 * differences come from the recipe and the data handling, not from a different training budget.
 */
export function correctedSpec(nLayer = 12): SweepSpec {
  return { ...base, name: "replicate-corrected", corpus: "brown", windowing: "standard", includeSpecial: false, conditions: STUDY_CONDITIONS("topk", nLayer), batchSize: 64, lr: 1e-3 };
}

/**
 * The study's "publishable minimum" for GPT-2 small: five layers across depth, dictionary sizes 128–8192,
 * 20 seeds, 10⁶ tokens, Gao et al.'s recipe. 400 runs: meant to be run in resumable pieces (rerunning skips
 * finished runs); `plan --preset scale` prints its cost first.
 */
export function scaleSpec(nLayer = 12): SweepSpec {
  const layers = [...new Set([0, 3, 6, 9, 11].map((l) => studyLayer(l, nLayer)))];
  return {
    ...base, name: "replicate-scale", corpus: "brown", windowing: "standard", includeSpecial: false, maxTokens: 1_000_000,
    seeds: Array.from({ length: 20 }, (_, i) => i + 1),
    conditions: gridConditions(layers, [128, 512, 2048, 8192], [32], ["topk"]), batchSize: 4096, lr: 4e-4, epochs: 8, evalTokens: 4096,
  };
}

/** The named sweeps (--preset): faithful, corrected, scale. */
export const PRESETS: Record<string, (corpus?: string) => SweepSpec> = {
  // Without --corpus: the verified copy from `download --corpus seed-study` (or ../shared), else where it would be.
  faithful: (corpus) => faithfulSpec(corpus ?? locateStudyCorpus()?.path ?? storedCorpusPath()),
  corrected: () => correctedSpec(),
  scale: () => scaleSpec(),
};
