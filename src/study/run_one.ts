/**
 * One run = one (condition, seed): train the SAE on the condition's hook, analyse its features, and write the
 * run directory with its receipts. A directory whose manifest verifies and whose recorded identity (identity.json)
 * is the one asked for is complete and is skipped; a complete run of another identity is never overwritten (an
 * error names the differences). Anything else in the directory is cleared first (a run killed mid-way leaves no
 * trace in the result), except a training checkpoint made with the same settings, which is resumed, and the claim
 * of the process training it (claim.json, see file_lock.ts). A run that fails leaves failed.json saying why
 * (recordFailure, called by the pipeline around everything a run does, reading its rows included).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { defaultTrainConfig, type SAETrainConfig } from "../sae/config.ts";
import { trainSAE, type HistoryEntry } from "../sae/trainer.ts";
import { analyseFeatures, type RowContext } from "../sae/analysis.ts";
import { saveSAELens } from "../sae/io.ts";
import type { SAE } from "../sae/sae.ts";
import type { QualityMetrics } from "../sae/quality.ts";
import { convergenceOf, type Convergence } from "../sae/training_curve.ts";
import { fileCheckpointStore } from "../sae/checkpoint.ts";
import type { RowSource } from "../data/rows.ts";
import { matmulKernelName } from "../tensor/matmul.ts";
import { environmentRecord, verifyManifest, writeJsonAtomic, writeManifest } from "./receipts.ts";
import { IDENTITY_FILE, identityDifferences, identityHash, readIdentity, RESULTS_VERSION, type RecordedIdentity, type RunIdentity } from "./run_identity.ts";
import type { Condition, SweepSpec } from "./spec.ts";
import { conditionId, conditionTokens, hookFor, runBudget } from "./spec.ts";

export const CHECKPOINT_FILE = "training-state.safetensors";
/** Held by the process training the run (see file_lock.ts); not part of the result. */
export const CLAIM_FILE = "claim.json";
/** Left by a run that stopped with an error: what went wrong, where and when. */
export const FAILED_FILE = "failed.json";

export interface RunInputs {
  spec: SweepSpec;
  condition: Condition;
  seed: number;
  /** Training rows (already restricted to real tokens unless includeSpecial). */
  rows: RowSource;
  /** Real tokens among the rows (what the report counts). */
  realTokens: number;
  /** Turns a training row into its document and position (for the feature analysis). */
  describeRow: (row: number) => RowContext;
  receipts: Record<string, unknown>;
  threads: number;
  /** What determines the result (see run_identity.ts): recorded in identity.json and checked before skipping. */
  identity: RecordedIdentity;
  /** The trained SAE's quality and latent frequencies on held-out tokens, when the sweep computes them. */
  evaluate?: (sae: SAE) => HeldOutEvaluation;
  /** Called after every training step. */
  onProgress?: (done: number, total: number, extra: string) => void;
}

/** What a run measures on held-out tokens: its quality (sae/quality.ts) and each latent's firing frequency there. */
export interface HeldOutEvaluation {
  quality: QualityMetrics;
  frequency: Float64Array;
}

/** Each latent's held-out firing frequency (fraction of held-out real tokens), as HELD_OUT_FREQUENCY_FILE holds it. */
export interface HeldOutFrequencyFile {
  tokens: number;
  frequency: number[];
}

export const HELD_OUT_FREQUENCY_FILE = "heldout_frequency.json";
export const TRAINING_CURVE_FILE = "training_curve.json";

export interface RunMetrics {
  condition: string;
  seed: number;
  fvu: number;
  mse: number;
  l0: number;
  deadFraction: number;
  deadCount: number;
  trainingRows: number;
  realTokens: number;
  tokensSeen: number;
  /** Passes over the training rows: tokensSeen / trainingRows (absent in runs made before it was recorded, and for SAEs not trained here). */
  passes?: number;
  seconds: number;
  /** Optimizer steps, the end of the training curve, and whether the run passed the convergence rule (sae/training_curve.ts). */
  convergence?: Convergence;
  /** On held-out tokens (absent when the sweep's evalTokens is 0). */
  quality?: QualityMetrics;
}

/** A run's directory: <root>/<condition id>/seed-<seed>. */
export function runDir(root: string, condition: Condition, seed: number): string {
  return join(root, conditionId(condition), `seed-${seed}`);
}

/**
 * The resolved training config of one run (the recipe's defaults, the spec's overrides, AuxK's dead-after from the
 * data) over `rows` distinct rows; `realTokens` of them real (the token budget, runBudget, counts real tokens).
 */
export function trainConfigFor(spec: SweepSpec, condition: Condition, seed: number, rows: number, dIn: number, realTokens = rows): SAETrainConfig {
  const dims = { dIn, dSae: condition.features, k: condition.k, seed };
  const budget = runBudget(spec, condition, realTokens);
  const overrides = {
    epochs: budget.epochs,
    ...(budget.trainTokens !== undefined ? { trainTokens: budget.trainTokens } : {}),
    ...(spec.batchSize !== undefined ? { batchSize: spec.batchSize } : {}),
    ...(spec.lr !== undefined ? { lr: spec.lr } : {}),
  };
  const base = defaultTrainConfig(condition.recipe, dims, overrides);
  // Recipes with AuxK (topk, batchtopk, matryoshka): a latent counts as dead after one epoch of this data without
  // firing (the recipes' 10M-token default would never trigger in a small study), unless the spec says otherwise.
  const usesAuxK = base.kAux > 0 && base.auxCoefficient > 0;
  return usesAuxK ? defaultTrainConfig(condition.recipe, dims, { ...overrides, deadAfterTokens: spec.deadAfterTokens ?? rows }) : base;
}

export type RunState =
  | { state: "complete" }
  /** Complete, but made with other settings: `differences` names them. */
  | { state: "other"; differences: string[] }
  | { state: "incomplete" };

/** Whether `dir` holds the finished run with this identity. */
export function runState(dir: string, identity: RecordedIdentity): RunState {
  if (!existsSync(dir) || !verifyManifest(dir).ok) return { state: "incomplete" };
  const recorded = readIdentity(dir);
  if (!recorded) return { state: "other", differences: ["identity.json (absent: made by a sae-seeds without run identities)"] };
  if (recorded.sha256 === identity.sha256) return { state: "complete" };
  const differences = identityDifferences(recorded.identity, identity.identity);
  return { state: "other", differences: differences.length ? differences : ["identity hash"] };
}

/** The inputs that determine a run's result, besides its spec, condition and seed. */
export interface IdentityInputs {
  modelSha256: string;
  corpusSha256: string;
  /** ActivationCache.hookSha256(hook): the rows the run reads. */
  activationsSha256: string;
  /** Training rows (this run's: its prefix on a token axis), the real tokens among them, and their width. */
  rows: number;
  /** Real tokens among the rows (default: rows, i.e. BOS and padding excluded). */
  realTokens?: number;
  dIn: number;
  /** sha256 of the held-out windows the quality metrics use (null when spec.evalTokens is 0). */
  heldOutSha256: string | null;
}

/** The identity of one run of a sweep from the inputs that determine it. */
export function runIdentityFor(spec: SweepSpec, condition: Condition, seed: number, inputs: IdentityInputs): RecordedIdentity {
  const identity: RunIdentity = {
    resultsVersion: RESULTS_VERSION,
    model: { sha256: inputs.modelSha256 },
    corpus: { sha256: inputs.corpusSha256 },
    windowing: { mode: spec.windowing, seqLen: spec.seqLen, maxTokens: spec.maxTokens },
    budget: { tokensPerPass: conditionTokens(spec, condition), realTokens: inputs.realTokens ?? inputs.rows, tokensSeen: runBudget(spec, condition, inputs.realTokens ?? inputs.rows).tokensSeen },
    includeSpecial: spec.includeSpecial,
    residual: spec.residual,
    hook: hookFor(spec, condition.layer),
    activations: { sha256: inputs.activationsSha256 },
    rows: inputs.rows,
    evaluation: { tokens: spec.evalTokens, windowsSha256: inputs.heldOutSha256 },
    train: trainConfigFor(spec, condition, seed, inputs.rows, inputs.dIn, inputs.realTokens ?? inputs.rows),
  };
  return { identity, sha256: identityHash(identity) };
}

/** Train and record one run unless it is already complete. Returns false when skipped. */
export function runOne(root: string, inputs: RunInputs): boolean {
  const dir = runDir(root, inputs.condition, inputs.seed);
  const state = runState(dir, inputs.identity);
  if (state.state === "complete") return false;
  if (state.state === "other") throw new Error(`${dir} holds a finished run made with other settings (${state.differences.join("; ")}); delete it or train into another --out`);
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (name !== CHECKPOINT_FILE && name !== CLAIM_FILE) rmSync(join(dir, name), { recursive: true, force: true });
  trainAndRecord(dir, inputs);
  return true;
}

/** Leave failed.json in a run directory: what stopped the run, where and when (cleared when the run is retried). */
export function recordFailure(dir: string, error: Error): void {
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, FAILED_FILE), { error: error.message, host: hostname(), pid: process.pid, at: new Date().toISOString() });
}

function trainAndRecord(dir: string, inputs: RunInputs): void {
  const { spec, condition, seed, rows } = inputs;
  // The identity's resolved config is the one trained (so identity.json says exactly what ran).
  const config = inputs.identity.identity.train;
  const checkpointPath = join(dir, CHECKPOINT_FILE);
  const store = fileCheckpointStore(checkpointPath);
  const hook = hookFor(spec, condition.layer);
  const start = performance.now();
  // A checkpoint left by a killed run is resumed only if it was made with exactly these settings.
  if (existsSync(checkpointPath)) {
    let compatible = false;
    try {
      compatible = JSON.stringify(store.load()?.config) === JSON.stringify(config);
    } catch {
      compatible = false; // unreadable (e.g. cut short): start over
    }
    if (!compatible) rmSync(checkpointPath, { force: true });
  }
  let result;
  try {
    result = trainSAE({
      config, data: rows, checkpoints: store,
      onProgress: (p) => inputs.onProgress?.(p.tokensSeen, p.totalTokens, `fvu ${p.stats.fvu.toFixed(3)}`),
    });
  } catch (e) {
    if (!(e as Error).name.includes("Divergence")) rmSync(checkpointPath, { force: true });
    throw e;
  }
  const seconds = (performance.now() - start) / 1000;
  const analysis = analyseFeatures(result.sae, rows, { describe: inputs.describeRow, topN: 5 });
  const final: HistoryEntry = result.history.at(-1)!;
  const heldOut = inputs.evaluate?.(result.sae);
  const metrics: RunMetrics = {
    condition: conditionId(condition), seed, fvu: final.fvu, mse: final.mse, l0: final.l0,
    deadFraction: analysis.deadFraction, deadCount: analysis.deadCount, trainingRows: rows.rows,
    realTokens: inputs.realTokens, tokensSeen: result.tokensSeen, passes: result.tokensSeen / rows.rows, seconds,
    convergence: convergenceOf(result.curve, result.steps),
    ...(heldOut ? { quality: heldOut.quality } : {}),
  };
  saveSAELens(join(dir, "sae"), result.sae, {
    hookName: hook, modelName: spec.model, contextSize: spec.seqLen, datasetPath: spec.corpus, prependBos: true,
    ...(typeof inputs.receipts.model === "string" ? { modelLabel: inputs.receipts.model } : {}),
    extra: { seed, condition: conditionId(condition), config },
  });
  writeJsonAtomic(join(dir, "spec.json"), { sweep: spec.name, condition, seed, hook, config, spec });
  writeJsonAtomic(join(dir, "history.json"), result.history);
  writeJsonAtomic(join(dir, TRAINING_CURVE_FILE), { steps: result.steps, points: result.curve });
  if (heldOut) {
    const file: HeldOutFrequencyFile = { tokens: heldOut.quality.tokens, frequency: Array.from(heldOut.frequency, (f) => Number(f.toPrecision(6))) };
    writeJsonAtomic(join(dir, HELD_OUT_FREQUENCY_FILE), file);
  }
  writeJsonAtomic(join(dir, "metrics.json"), metrics);
  writeJsonAtomic(join(dir, "feature_analysis.json"), analysis);
  writeJsonAtomic(join(dir, "environment.json"), environmentRecord({ seed, ...inputs.receipts }, { threads: inputs.threads, matmulKernel: matmulKernelName() }));
  writeJsonAtomic(join(dir, IDENTITY_FILE), inputs.identity);
  rmSync(checkpointPath, { force: true });
  writeManifest(dir, [CLAIM_FILE]);
}
