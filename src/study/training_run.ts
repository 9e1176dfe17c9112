/**
 * Training one run of a sweep from what every run shares: the training context (the sweep's spec, the activation
 * cache, the rows training reads, the receipts, and — when the sweep computes quality metrics — the model and its
 * held-out windows), the identity a run must have to be reused, and `trainRun`. The sweep (./pipeline.ts) trains
 * runs with it in its own process, and so does every worker process (./sweep_worker.ts).
 */
import { createHash } from "node:crypto";
import type { ModelWeights } from "../gpt2/model.ts";
import { GPT2_TOKENIZER, type ModelTokenizer } from "../gpt2/model_tokenizer.ts";
import { hookBaseline, rowsQuality, saeQuality, type HeldOutWindows, type HookBaseline } from "../sae/quality.ts";
import type { SAE } from "../sae/sae.ts";
import { selectTrainingRows, describeRow, KIND_REAL } from "../data/windows.ts";
import type { ActivationCache } from "../data/activation_cache.ts";
import { selectRows, type RowSource } from "../data/rows.ts";
import type { Condition, SweepSpec } from "./spec.ts";
import { conditionTokens, hookFor } from "./spec.ts";
import { recordFailure, runDir, runIdentityFor, runOne } from "./run_one.ts";
import type { RecordedIdentity } from "./run_identity.ts";
import type { HeldOutEvaluation } from "./run_one.ts";
import { heldOutFrequencies, latentFrequencies } from "../sae/held_out_frequency.ts";

/**
 * What a run's quality metrics need: the model, the held-out windows, and each hook's baseline (made once) — or,
 * for imported activations (no model), the held-out rows themselves (CE-loss and KL then unavailable).
 */
export interface Evaluation {
  weights?: ModelWeights;
  windows?: HeldOutWindows;
  /** Imported activations: held-out rows [T, d] of the one hook, scored by rowsQuality. */
  rows?: { hook: string; x: Float32Array; T: number };
  sha256: string;
  baselines: Map<string, HookBaseline>;
}

/** Everything a run needs besides its condition and seed; built from the activation cache (and, for quality, the model). */
export interface TrainingContext {
  spec: SweepSpec;
  outDir: string;
  cache: ActivationCache;
  trainingRowIds: Int32Array;
  realTokens: number;
  documentIds: readonly string[];
  receipts: Record<string, unknown>;
  threads: number;
  /** The rows of the hook read last (see rowsForHook). */
  lastHookRows?: { hook: string; rows: RowSource };
  /** Present when the sweep computes quality metrics (spec.evalTokens > 0). */
  evaluation?: Evaluation;
  /** The model's tokenizer (shows the context of a row). */
  tokenizer: ModelTokenizer;
}

/** The training context of a sweep: its training rows (real tokens unless includeSpecial), their count, and the evaluation. */
export function trainingContext(spec: SweepSpec, outDir: string, cache: ActivationCache, receipts: Record<string, unknown>, threads: number, evaluation?: Evaluation, tokenizer: ModelTokenizer = GPT2_TOKENIZER): TrainingContext {
  if (spec.evalTokens > 0 && !evaluation) throw new Error(`sweep "${spec.name}" asks for quality metrics on ${spec.evalTokens} held-out tokens, but no model and held-out windows were given`);
  const trainingRowIds = selectTrainingRows(cache.windows, { includeSpecial: spec.includeSpecial });
  let realTokens = 0;
  for (const r of trainingRowIds) if (cache.windows.kind[r] === KIND_REAL) realTokens++;
  return { spec, outDir, cache, trainingRowIds, realTokens, documentIds: cache.manifest.corpus.documentIds, receipts, threads, tokenizer, ...(evaluation ? { evaluation } : {}) };
}

/** sha256 of held-out windows (what identities record). */
export function heldOutSha256(w: HeldOutWindows): string {
  const h = createHash("sha256").update(`seq:${w.seqLen};windows:${w.nWindows};`);
  for (const a of [w.tokens, w.mask, w.kind]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest("hex");
}

/** What quality metrics need, from the model and the held-out windows (hook baselines are made when first asked for). */
export function makeEvaluation(weights: ModelWeights, windows: HeldOutWindows): Evaluation {
  return { weights, windows, sha256: heldOutSha256(windows), baselines: new Map() };
}

/** Quality metrics from held-out rows of imported activations (sha256 of the rows' bytes, for identities). */
export function makeRowsEvaluation(hook: string, x: Float32Array, T: number): Evaluation {
  const sha256 = createHash("sha256").update(`rows:${T};hook:${hook};`).update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest("hex");
  return { rows: { hook, x, T }, sha256, baselines: new Map() };
}

/** A run's quality metrics and its latents' held-out firing frequencies, with its hook's baseline computed once per process. */
function evaluatorFor(ctx: TrainingContext, hook: string): ((sae: SAE) => HeldOutEvaluation) | undefined {
  const e = ctx.evaluation;
  if (!e) return undefined;
  if (e.rows) {
    const { x, T } = e.rows;
    if (e.rows.hook !== hook) throw new Error(`held-out rows are of hook ${e.rows.hook}, not ${hook}`);
    return (sae) => ({ quality: rowsQuality(sae, x, T), frequency: latentFrequencies(sae, x, T) });
  }
  const weights = e.weights!, windows = e.windows!;
  return (sae) => {
    let base = e.baselines.get(hook);
    if (!base) {
      base = hookBaseline(weights, windows, hook, ctx.spec.residual);
      e.baselines.clear(); // one hook's baseline at a time (its clean log-probabilities are vocab × tokens floats)
      e.baselines.set(hook, base);
    }
    return { quality: saeQuality(sae, weights, base), frequency: heldOutFrequencies(sae, base) };
  };
}

/**
 * How many of the sweep's training rows a condition reads, and how many real tokens they hold: all of them, or on a
 * token axis the prefix ending at its `tokens`-th real token (smaller budgets are prefixes of larger ones).
 */
export function conditionRows(ctx: TrainingContext, condition: Condition): { rows: number; realTokens: number } {
  const want = conditionTokens(ctx.spec, condition);
  if (want >= ctx.realTokens) return { rows: ctx.trainingRowIds.length, realTokens: ctx.realTokens };
  let real = 0;
  for (let i = 0; i < ctx.trainingRowIds.length; i++) {
    if (ctx.cache.windows.kind[ctx.trainingRowIds[i]!] === KIND_REAL && ++real === want) return { rows: i + 1, realTokens: want };
  }
  return { rows: ctx.trainingRowIds.length, realTokens: real };
}

/** The identity a run of this sweep has (what identity.json must say for the run to be reused). */
export function identityIn(ctx: TrainingContext, condition: Condition, seed: number, activationsSha256?: string): RecordedIdentity {
  const m = ctx.cache.manifest;
  const { rows, realTokens } = conditionRows(ctx, condition);
  return runIdentityFor(ctx.spec, condition, seed, {
    modelSha256: m.model.sha256, corpusSha256: m.corpus.sha256, rows, realTokens, dIn: m.dIn, heldOutSha256: ctx.evaluation?.sha256 ?? null,
    activationsSha256: activationsSha256 ?? ctx.cache.hookSha256(hookFor(ctx.spec, condition.layer)),
  });
}

/**
 * The training rows of one hook. Reading a hook means reading all its chunk files (3 GB at 10⁶ tokens), and runs
 * come condition by condition, so the last hook read is kept for the next run rather than read again per seed.
 */
function rowsForHook(ctx: TrainingContext, hook: string): RowSource {
  if (ctx.lastHookRows?.hook !== hook) ctx.lastHookRows = { hook, rows: selectRows(ctx.cache.rows(hook), ctx.trainingRowIds) };
  return ctx.lastHookRows.rows;
}

/** Train one (condition, seed) into its run directory (skipped when already complete). */
export function trainRun(ctx: TrainingContext, condition: Condition, seed: number, onProgress?: (done: number, extra: string) => void): void {
  try {
    const hook = hookFor(ctx.spec, condition.layer);
    const all = rowsForHook(ctx, hook);
    const { rows: count, realTokens } = conditionRows(ctx, condition);
    const rows: RowSource = count === all.rows ? all : { rows: count, dIn: all.dIn, copyRow: (i, target, offset) => all.copyRow(i, target, offset) };
    const identity = identityIn(ctx, condition, seed);
    const evaluate = evaluatorFor(ctx, hook);
    runOne(ctx.outDir, {
      spec: ctx.spec, condition, seed, rows, realTokens, threads: ctx.threads, identity, ...(evaluate ? { evaluate } : {}),
      // Imported rows have no token ids (−1): their context is their position in the source.
      describeRow: ctx.cache.manifest.imported
        ? (row) => ({ documentId: "imported", position: ctx.trainingRowIds[row]!, text: `row ${ctx.trainingRowIds[row]!} of the import` })
        : (row) => describeRow(ctx.cache.windows, ctx.trainingRowIds[row]!, ctx.documentIds, 8, ctx.tokenizer),
      receipts: { ...ctx.receipts, hook, activationsSha256: identity.identity.activations.sha256 },
      onProgress: (done, _total, extra) => onProgress?.(done, extra),
    });
  } catch (e) {
    recordFailure(runDir(ctx.outDir, condition, seed), e as Error);
    throw e;
  }
}

