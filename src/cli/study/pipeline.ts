/**
 * A sweep end to end: model → corpus → token windows → activation cache (all layers in one pass) → one run per
 * (condition, seed), skipping runs whose manifest verifies → ready for the stability report.
 */
import { join } from "node:path";
import { loadModel, type LoadedModel } from "../../gpt2/loader.ts";
import { loadCorpus, type Corpus } from "../../data/corpus.ts";
import { makeWindows, faithfulSeedStudyWindows, selectTrainingRows, describeRow, type TokenWindows, KIND_REAL } from "../../data/windows.ts";
import { buildActivationCache, type ActivationCache } from "../../data/activation_cache.ts";
import { selectRows, type RowSource } from "../../data/rows.ts";
import { createProgress, silentProgress, type ProgressBar } from "../progress.ts";
import { writeJsonAtomic } from "../receipts.ts";
import { mkdirSync } from "node:fs";
import type { Condition, SweepSpec } from "./spec.ts";
import { conditionId, hookFor } from "./spec.ts";
import { runOne, isComplete } from "./run_one.ts";
import { trainInProcesses, type PoolJob, type WorkerEntry } from "./run_pool.ts";

export interface PipelineOptions {
  outDir: string;
  cacheDir: string;
  threads: number;
  quiet?: boolean;
  log?: (line: string) => void;
  /** Reuse an already loaded model (replicate runs several sweeps on one model). */
  model?: LoadedModel;
  /** Train up to this many runs at once in forked worker processes (needs workerEntry; default 1 = in this process). */
  processes?: number;
  /** How to start a worker: the CLI passes its own entry (see run_pool.ts); library callers may leave it out. */
  workerEntry?: WorkerEntry;
}

export interface PipelineResult {
  model: LoadedModel;
  corpus: Corpus;
  windows: TokenWindows;
  cache: ActivationCache;
  trained: number;
  skipped: number;
}

/** Everything a run needs besides its condition and seed; built from the activation cache alone. */
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
}

export function trainingContext(spec: SweepSpec, outDir: string, cache: ActivationCache, receipts: Record<string, unknown>, threads: number): TrainingContext {
  const trainingRowIds = selectTrainingRows(cache.windows, { includeSpecial: spec.includeSpecial });
  let realTokens = 0;
  for (const r of trainingRowIds) if (cache.windows.kind[r] === KIND_REAL) realTokens++;
  return { spec, outDir, cache, trainingRowIds, realTokens, documentIds: cache.manifest.corpus.documentIds, receipts, threads };
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
  const hook = hookFor(ctx.spec, condition.layer);
  const rows = rowsForHook(ctx, hook);
  runOne(ctx.outDir, {
    spec: ctx.spec, condition, seed, rows, realTokens: ctx.realTokens, threads: ctx.threads,
    describeRow: (row) => describeRow(ctx.cache.windows, ctx.trainingRowIds[row]!, ctx.documentIds),
    receipts: { ...ctx.receipts, hook },
    onProgress: (done, _total, extra) => onProgress?.(done, extra),
  });
}

export function windowsFor(spec: SweepSpec, corpus: Corpus): TokenWindows {
  return spec.windowing === "faithful"
    ? faithfulSeedStudyWindows(corpus.documents, { seqLen: spec.seqLen, maxTokens: spec.maxTokens })
    : makeWindows(corpus.documents, { seqLen: spec.seqLen, maxTokens: spec.maxTokens });
}

function bar(options: PipelineOptions, label: string, total: number, unit: string): ProgressBar {
  return options.quiet ? silentProgress : createProgress(label, total, unit);
}

export async function runSweep(spec: SweepSpec, options: PipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const model = options.model ?? (await loadModel({ model: spec.model, weightsDir: spec.weights }));
  log(`model: ${model.label} (sha256 ${model.sha256.slice(0, 16)}…)`);
  const corpus = loadCorpus(spec.corpus);
  const windows = windowsFor(spec, corpus);
  log(`corpus: ${corpus.name} (${corpus.documents.length} documents, sha256 ${corpus.sha256.slice(0, 16)}…); ${windows.nWindows} windows of ${spec.seqLen}: ${windows.realTokens} real tokens, ${windows.bosTokens} BOS, ${windows.padTokens} padding`);
  const hooks = [...new Set(spec.conditions.map((c) => hookFor(spec, c.layer)))].sort();
  const cacheBar = bar(options, "activations", windows.nWindows * spec.seqLen, "tok");
  const cache = buildActivationCache(options.cacheDir, {
    model, corpus: { name: corpus.name, sha256: corpus.sha256, documents: corpus.documents.length, documentIds: corpus.documents.map((d) => d.id) }, windows,
    windowing: { mode: spec.windowing, seqLen: spec.seqLen, maxTokens: spec.maxTokens }, hooks, residual: spec.residual,
    onProgress: (done, total) => cacheBar.update(done, `of ${total}`),
  });
  cacheBar.done(`cache ${cache.dir}`);
  const receipts = {
    model: model.label, modelKind: model.kind, weightsSha256: model.sha256, corpus: corpus.name, corpusSha256: corpus.sha256,
    activationCache: cache.dir, activationCacheKey: cache.manifest.key,
  };
  const context = trainingContext(spec, options.outDir, cache, receipts, options.threads);
  log(`training rows: ${context.trainingRowIds.length} (${context.realTokens} real tokens${spec.includeSpecial ? `, ${context.trainingRowIds.length - context.realTokens} BOS/padding rows included as the seed study did` : ", BOS and padding excluded"})`);
  mkdirSync(options.outDir, { recursive: true });
  writeJsonAtomic(join(options.outDir, "sweep.json"), spec);
  const total = spec.conditions.length * spec.seeds.length;
  const pending: PoolJob[] = [];
  for (const condition of spec.conditions) for (const seed of spec.seeds) if (!isComplete(options.outDir, condition, seed)) pending.push({ condition, seed });
  const skipped = total - pending.length;
  const processes = Math.min(options.processes ?? 1, pending.length);
  if (processes > 1 && options.workerEntry) {
    // Each worker gets an equal share of the threads; results do not depend on it (see run_pool.ts).
    const threadsEach = Math.max(1, Math.floor(options.threads / processes));
    log(`training ${pending.length} runs in ${processes} processes (${threadsEach} matmul thread${threadsEach > 1 ? "s" : ""} each)${skipped ? `; ${skipped} already complete` : ""}`);
    await trainInProcesses(pending, {
      processes, entry: options.workerEntry, log,
      init: { spec, outDir: options.outDir, cacheDir: cache.dir, cacheKey: cache.manifest.key, receipts, threads: threadsEach },
    });
  } else {
    let done = 0;
    for (const { condition, seed } of pending) {
      const label = `${conditionId(condition)} seed ${seed} (${skipped + ++done}/${total})`;
      const progress = bar(options, label, spec.epochs * context.trainingRowIds.length, "rows");
      trainRun(context, condition, seed, (d, extra) => progress.update(d, extra));
      progress.done();
    }
  }
  const trained = pending.length;
  log(`runs: ${trained} trained, ${skipped} already complete (manifest verified)`);
  return { model, corpus, windows, cache, trained, skipped };
}
