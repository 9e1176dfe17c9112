/**
 * A sweep end to end: model → corpus → token windows → activation cache (all layers in one pass) → one run per
 * (condition, seed) → ready for the stability report.
 *
 * Several processes may work on one sweep directory at once — two sweeps started together, or the shards of a
 * cluster sweep on several machines sharing the directory. Each run is claimed before it is trained (claim.json,
 * see data/file_lock.ts), so no run is trained twice; a process that finds runs claimed by live others waits for
 * them (and takes over any whose owner died), so a sweep that returns is a sweep whose runs are all complete.
 * Finished runs are reused only when their recorded identity (run_identity.ts) is what this sweep would produce; a
 * directory holding runs made with other settings is refused in one line that names the differences.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { loadModel, type LoadedModel } from "../gpt2/loader.ts";
import { asDecoder } from "../gpt2/model.ts";
import { GPT2_TOKENIZER, type ModelTokenizer } from "../gpt2/model_tokenizer.ts";
import type { GPT2Config } from "../gpt2/config.ts";
import type { HeldOutWindows } from "../sae/quality.ts";
import { defaultTrainConfig } from "../sae/config.ts";
import { loadCorpus, type Corpus } from "../data/corpus.ts";
import { makeWindows, faithfulSeedStudyWindows, type TokenWindows } from "../data/windows.ts";
import { buildActivationCache, type ActivationCache } from "../data/activation_cache.ts";
import { tryClaim, withLock, describeOwner, type ClaimOwner } from "../data/file_lock.ts";
import { removeStaleTemporaries } from "../data/json_files.ts";
import { SettingsError } from "./value_rules.ts";
import { progressBar, type ProgressBar, type ProgressFactory } from "./progress.ts";
import { writeJsonAtomic } from "./receipts.ts";
import type { Condition, SweepSpec } from "./spec.ts";
import { conditionId, conditionTokens, hookFor, runBudget } from "./spec.ts";
import { CLAIM_FILE, runDir, runState } from "./run_one.ts";
import { identityDifferences, readIdentity } from "./run_identity.ts";
import { shardRuns, type RunJob, type Shard } from "./shards.ts";
import { identityIn, makeEvaluation, trainingContext, trainRun, type TrainingContext } from "./training_run.ts";
import { sweepWorkerEntry, trainInProcesses, type ClaimedJob, type JobSource, type WorkerEntry, type WorkerInit } from "./run_pool.ts";
import { actsEvaluation, actsReceipts, cacheForActs, specForActs } from "./acts_sweep.ts";

export interface PipelineOptions {
  outDir: string;
  cacheDir: string;
  threads: number;
  /** No progress bars even when `progress` is given. */
  quiet?: boolean;
  /** Progress bars for the activation cache and each run trained in this process (the CLI passes its terminal bars; default: none). */
  progress?: ProgressFactory;
  /** Where the sweep's log lines go (default: stderr). */
  log?: (line: string) => void;
  /** Reuse an already loaded model (replicate runs several sweeps on one model). */
  model?: LoadedModel;
  /** Train up to this many runs at once in forked worker processes (default 1 = in this process). */
  processes?: number;
  /** How to start a worker (default: this layer's own worker module, ./sweep_worker.ts, see run_pool.ts). */
  workerEntry?: WorkerEntry;
  /** Train only this shard of the runs (see shards.ts). */
  shard?: Shard;
  /** Build the activation cache and stop (a cluster sweep's cache job). */
  cacheOnly?: boolean;
  /** How long to wait between looks at runs other processes are training (ms). */
  pollMs?: number;
}

export interface PipelineResult {
  /** null for a sweep on an activation cache (spec.acts): no model was loaded, no corpus read. */
  model: LoadedModel | null;
  corpus: Corpus | null;
  windows: TokenWindows;
  cache: ActivationCache;
  /** Runs this process trained. */
  trained: number;
  /** Runs already complete when this process started. */
  skipped: number;
  /** Runs other processes finished while this one ran. */
  trainedElsewhere: number;
}

/**
 * The held-out windows for quality metrics: standard windows over the documents after the last one training used,
 * as many real tokens as spec.evalTokens (null when it is 0). A corpus without enough of them is said in one line.
 */
export function heldOutWindowsFor(spec: SweepSpec, corpus: Corpus, training: TokenWindows, tokenizer: ModelTokenizer = GPT2_TOKENIZER): HeldOutWindows | null {
  if (spec.evalTokens === 0) return null;
  let last = -1;
  for (const d of training.docIndex) if (d > last) last = d;
  const w = makeWindows(corpus.documents.slice(last + 1), { seqLen: spec.seqLen, maxTokens: spec.evalTokens, tokenizer });
  if (w.realTokens < spec.evalTokens) {
    throw new SettingsError(`corpus ${corpus.name} has ${w.realTokens} tokens after the ${last + 1} documents training uses, fewer than --eval-tokens ${spec.evalTokens} for the held-out quality metrics; lower --eval-tokens (0 skips them), lower --max-tokens, or use a larger corpus`);
  }
  return { seqLen: w.seqLen, nWindows: w.nWindows, tokens: w.tokens, mask: w.mask, kind: w.kind };
}

/**
 * The documents training may use. All of them, except when a repeated corpus (repeatCorpus) would consume every
 * document: then the last documents holding spec.evalTokens real tokens are kept back for the held-out metrics.
 */
export function trainingDocuments(spec: SweepSpec, corpus: Corpus): Corpus["documents"] {
  const docs = corpus.documents;
  if (!spec.repeatCorpus || spec.evalTokens === 0) return docs;
  // The fewest tail documents that hold evalTokens real tokens (found by doubling, then halving).
  const enough = (tail: number) => makeWindows(docs.slice(docs.length - tail), { seqLen: spec.seqLen, maxTokens: spec.evalTokens }).realTokens >= spec.evalTokens;
  let hi = 1;
  while (hi < docs.length && !enough(hi)) hi = Math.min(docs.length, 2 * hi);
  if (!enough(hi) || hi >= docs.length) throw new SettingsError(`corpus ${corpus.name} is too short to keep ${spec.evalTokens} held-out tokens back and still train on some: lower --eval-tokens or use a larger corpus`);
  let lo = 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (enough(mid)) hi = mid;
    else lo = mid + 1;
  }
  return docs.slice(0, docs.length - hi);
}

/** What determines the sweep's windows (part of the cache key): with a repeated corpus, also the documents it trains on. */
export function cacheWindowing(spec: SweepSpec, corpus: Corpus): Record<string, unknown> {
  const base = { mode: spec.windowing, seqLen: spec.seqLen, maxTokens: spec.maxTokens };
  return spec.repeatCorpus ? { ...base, trainingDocuments: trainingDocuments(spec, corpus).length } : base;
}

/** The sweep's token windows: the study's faithful ones (one truncated, padded window per document) or standard ones. */
export function windowsFor(spec: SweepSpec, corpus: Corpus, tokenizer: ModelTokenizer = GPT2_TOKENIZER): TokenWindows {
  const documents = trainingDocuments(spec, corpus);
  return spec.windowing === "faithful"
    ? faithfulSeedStudyWindows(documents, { seqLen: spec.seqLen, maxTokens: spec.maxTokens, tokenizer })
    : makeWindows(documents, { seqLen: spec.seqLen, maxTokens: spec.maxTokens, tokenizer });
}

/** The tokenizer a study of this model uses: its own, GPT-2's for GPT-2 models, or a one-line refusal. */
export function studyTokenizer(model: LoadedModel): ModelTokenizer {
  if (model.tokenizer) return model.tokenizer;
  if (model.tokenizer === undefined && asDecoder(model.weights).config.family === "gpt2") return GPT2_TOKENIZER;
  throw new SettingsError(`${model.label} has no tokenizer.json: a study needs its text turned into the model's tokens; add the model's tokenizer.json (and tokenizer_config.json) to its directory`);
}

function bar(options: PipelineOptions, label: string, total: number, unit: string): ProgressBar {
  return progressBar(options.progress, options.quiet, label, total, unit);
}

/** Bytes one run of a condition holds while training: parameters, their gradients and Adam's two moments, and the batch's latent buffers. */
export function runMemoryBytes(condition: Condition, dIn: number, batchRows: number): number {
  const params = 2 * condition.features * dIn + condition.features + dIn;
  return 4 * (4 * params + 4 * batchRows * condition.features + 4 * batchRows * dIn);
}

/** What the model can do: its layers, positions, and whether each run fits in this machine's memory. */
export function checkSpecAgainstModel(spec: SweepSpec, config: GPT2Config, memoryBytes = totalmem()): void {
  const fail = (m: string): never => {
    throw new SettingsError(`sweep "${spec.name}": ${m}`);
  };
  for (const c of spec.conditions) {
    if (c.layer >= config.nLayer) fail(`layer ${c.layer} does not exist: the model has ${config.nLayer} layers (0–${config.nLayer - 1})`);
  }
  if (spec.seqLen > config.nPositions) fail(`seq-len ${spec.seqLen} exceeds the model's ${config.nPositions} positions`);
  for (const c of spec.conditions) {
    const batch = defaultTrainConfig(c.recipe, { dIn: config.nEmbd, dSae: c.features, k: c.k, seed: 0 }, spec.batchSize !== undefined ? { batchSize: spec.batchSize } : {}).batchSize;
    const bytes = runMemoryBytes(c, config.nEmbd, Math.min(batch, spec.maxTokens + spec.maxTokens / (spec.seqLen - 1)));
    if (bytes > 0.8 * memoryBytes) {
      fail(`a dictionary of ${c.features} features × d_in ${config.nEmbd} needs about ${(bytes / 2 ** 30).toFixed(1)} GiB to train (weights, gradients, Adam moments, batch buffers), more than this machine's ${(memoryBytes / 2 ** 30).toFixed(0)} GiB allows; use fewer features or a smaller --batch-size`);
    }
  }
}

/** Whether the corpus gave what the spec asked for (a short corpus is said, not silently used). */
export function checkCorpusYield(spec: SweepSpec, corpus: Corpus, windows: TokenWindows): void {
  if (spec.windowing === "faithful") {
    const wanted = Math.floor(spec.maxTokens / spec.seqLen);
    if (windows.documentsUsed < wanted) {
      throw new SettingsError(`corpus ${corpus.name} has ${windows.documentsUsed} documents, fewer than the ${wanted} windows of ${spec.seqLen} that --max-tokens ${spec.maxTokens} asks for; lower --max-tokens or use a larger corpus`);
    }
  } else if (windows.realTokens < spec.maxTokens && !spec.repeatCorpus) {
    throw new SettingsError(`corpus ${corpus.name} yields ${windows.realTokens} tokens, fewer than --max-tokens ${spec.maxTokens}; lower --max-tokens, use a larger corpus, or give --repeat-corpus to train on it more than once`);
  }
  if (spec.repeatCorpus && spec.includeSpecial) throw new SettingsError(`sweep "${spec.name}": --repeat-corpus counts real tokens and cannot be combined with --include-special`);
}

/** One line per condition whose tokens per pass exceed what the corpus yields: how many passes it makes instead. */
export function describeRepetition(spec: SweepSpec, realTokens: number): string[] {
  const out: string[] = [];
  for (const c of spec.conditions) {
    const b = runBudget(spec, c, realTokens);
    if (b.rows < conditionTokens(spec, c)) out.push(`${conditionId(c)}: ${conditionTokens(spec, c)} tokens per pass asked, the corpus yields ${realTokens}: it is repeated, ${(b.tokensSeen / b.rows).toFixed(2)} passes (${b.tokensSeen} tokens seen)`);
  }
  return out;
}

/** Every finished run directory under a sweep directory, with the (condition, seed) its spec.json names. */
function finishedRuns(outDir: string): { dir: string; condition: Condition; seed: number }[] {
  if (!existsSync(outDir)) return [];
  const out: { dir: string; condition: Condition; seed: number }[] = [];
  for (const c of readdirSync(outDir).sort()) {
    const cdir = join(outDir, c);
    if (!statSync(cdir).isDirectory()) continue;
    for (const r of readdirSync(cdir).sort()) {
      const dir = join(cdir, r);
      if (!existsSync(join(dir, "manifest.json")) || !existsSync(join(dir, "spec.json"))) continue;
      try {
        const spec = JSON.parse(readFileSync(join(dir, "spec.json"), "utf8")) as { condition: Condition; seed: number };
        out.push({ dir, condition: spec.condition, seed: spec.seed });
      } catch {
        // an unreadable spec.json: the manifest check in runState will refuse it when it matters
      }
    }
  }
  return out;
}

/**
 * Refuse, before anything is trained, a sweep directory holding finished runs made with other settings: runs this
 * sweep asks for are compared in full; other runs there (another seed, another layer) on every key but the rows
 * they read when this cache does not hold their hook — a sweep directory is one set of settings.
 */
export function checkExistingRuns(ctx: TrainingContext): void {
  const problems = new Map<string, string[]>();
  for (const run of finishedRuns(ctx.outDir)) {
    const recorded = readIdentity(run.dir);
    const inThisCache = ctx.cache.manifest.hooks.includes(hookFor(ctx.spec, run.condition.layer));
    const expected = identityIn(ctx, run.condition, run.seed, inThisCache ? undefined : recorded?.identity.activations.sha256 ?? "(not in this cache)");
    if (recorded?.sha256 === expected.sha256) continue;
    const differences = recorded ? identityDifferences(recorded.identity, expected.identity) : ["identity.json absent (made by a sae-seeds without run identities)"];
    for (const d of differences) problems.set(d, [...(problems.get(d) ?? []), run.dir]);
  }
  if (problems.size === 0) return;
  const dirs = [...new Set([...problems.values()].flat())];
  const listed = [...problems.keys()].slice(0, 6).join("; ") + (problems.size > 6 ? `; and ${problems.size - 6} more` : "");
  throw new SettingsError(`${ctx.outDir} already holds ${dirs.length} finished run${dirs.length > 1 ? "s" : ""} made with other settings (${listed}); to keep them, give this sweep another --out or --name; to redo them, delete ${dirs.length > 2 ? `${dirs[0]} and ${dirs.length - 1} other run directories` : dirs.join(" and ")}`);
}

/** sweep.json: the sweep's settings and every run ever asked of this directory (a read-modify-write under a lock). */
export function recordSweep(outDir: string, spec: SweepSpec, runs: RunJob[]): void {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, "sweep.json");
  withLock(`${path}.lock`, "recording the sweep", () => {
    removeStaleTemporaries(outDir);
    let before: { spec?: SweepSpec; runs?: string[] } = {};
    try {
      before = JSON.parse(readFileSync(path, "utf8")) as typeof before;
    } catch {
      // none yet
    }
    const conditions = new Map<string, Condition>();
    for (const c of [...(before.spec?.conditions ?? []), ...spec.conditions]) conditions.set(conditionId(c), c);
    const seeds = [...new Set([...(before.spec?.seeds ?? []), ...spec.seeds])].sort((a, b) => a - b);
    const ids = [...new Set([...(before.runs ?? []), ...runs.map((r) => `${conditionId(r.condition)}/seed-${r.seed}`)])].sort();
    writeJsonAtomic(path, { spec: { ...spec, conditions: [...conditions.values()], seeds }, runs: ids });
  });
}

/**
 * The runs this process may train, handed out one at a time, each claimed first: complete ones are passed over, ones
 * claimed by live processes are waited for ("wait"), null when nothing is left to train or wait for.
 */
class RunQueue implements JobSource {
  private remaining: RunJob[];
  trained = 0;
  skipped = 0;
  trainedElsewhere = 0;
  waitingOn = new Map<string, ClaimOwner | null>();

  constructor(private readonly ctx: TrainingContext, jobs: RunJob[]) {
    this.remaining = jobs.filter((job) => {
      const state = runState(runDir(ctx.outDir, job.condition, job.seed), identityIn(ctx, job.condition, job.seed));
      if (state.state === "complete") this.skipped++;
      return state.state !== "complete";
    });
  }

  next(): ClaimedJob | "wait" | null {
    this.waitingOn.clear();
    for (let i = 0; i < this.remaining.length; i++) {
      const job = this.remaining[i]!;
      const dir = runDir(this.ctx.outDir, job.condition, job.seed);
      const state = runState(dir, identityIn(this.ctx, job.condition, job.seed));
      if (state.state === "other") throw new Error(`${dir} was finished by another process with other settings (${state.differences.join("; ")}) while this sweep ran`);
      if (state.state === "complete") {
        this.remaining.splice(i--, 1);
        this.trainedElsewhere++;
        continue;
      }
      mkdirSync(dir, { recursive: true });
      const got = tryClaim(join(dir, CLAIM_FILE), `training ${conditionId(job.condition)} seed ${job.seed}`);
      if (got.claim) {
        this.remaining.splice(i, 1);
        // Another process may have finished the run between the look above and the claim (it releases its claim
        // after writing the manifest): then it is theirs, not one to train (or count) here.
        if (runState(dir, identityIn(this.ctx, job.condition, job.seed)).state === "complete") {
          got.claim.release();
          this.trainedElsewhere++;
          i--;
          continue;
        }
        this.trained++;
        return { job, claim: got.claim };
      }
      this.waitingOn.set(`${conditionId(job.condition)} seed ${job.seed}`, got.heldBy);
    }
    return this.remaining.length ? "wait" : null;
  }

  /** Runs not complete when last looked at (trained here, by others, or not yet). */
  get pending(): number {
    return this.remaining.length;
  }

  describeWaiting(): string {
    const first = [...this.waitingOn.entries()][0];
    return `${this.waitingOn.size} run${this.waitingOn.size > 1 ? "s are" : " is"} being trained by other processes (e.g. ${first?.[0]}: ${describeOwner(first?.[1] ?? null)}); waiting for them`;
  }
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/**
 * Run a sweep: load the model (unless given), build or reuse the activation cache, then train every run not yet
 * complete — in this process, or in `processes` worker processes — claiming each first. Resolves when all are complete.
 */
export async function runSweep(spec: SweepSpec, options: PipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  if (spec.acts !== undefined) return runSweepOnActs(spec, options, log);
  const model = options.model ?? (await loadModel({ model: spec.model, weightsDir: spec.weights }));
  log(`model: ${model.label} (sha256 ${model.sha256.slice(0, 16)}…)`);
  checkSpecAgainstModel(spec, model.weights.config);
  const corpus = loadCorpus(spec.corpus);
  const tokenizer = studyTokenizer(model);
  const windows = windowsFor(spec, corpus, tokenizer);
  checkCorpusYield(spec, corpus, windows);
  log(`corpus: ${corpus.name} (${corpus.documents.length} documents, sha256 ${corpus.sha256.slice(0, 16)}…); ${windows.nWindows} windows of ${spec.seqLen}: ${windows.realTokens} real tokens, ${windows.bosTokens} BOS, ${windows.padTokens} padding`);
  const hooks = [...new Set(spec.conditions.map((c) => hookFor(spec, c.layer)))].sort();
  const cacheBar = bar(options, "activations", windows.nWindows * spec.seqLen, "tok");
  const cache = buildActivationCache(options.cacheDir, {
    model, corpus: { name: corpus.name, sha256: corpus.sha256, documents: corpus.documents.length, documentIds: corpus.documents.map((d) => d.id) }, windows,
    // The tokenizer is part of the key for every model but GPT-2 (whose keys are unchanged).
    windowing: { ...cacheWindowing(spec, corpus), ...(tokenizer !== GPT2_TOKENIZER ? { tokenizer: tokenizer.sha256 } : {}) }, hooks, residual: spec.residual,
    onProgress: (done, total) => cacheBar.update(done, `of ${total}`),
  }, { log });
  cacheBar.done(`cache ${cache.dir}`);
  const receipts = {
    model: model.label, modelKind: model.kind, weightsSha256: model.sha256, corpus: corpus.name, corpusSha256: corpus.sha256,
    activationCache: cache.dir, activationCacheKey: cache.manifest.key, activationCacheSha256: cache.manifest.contentSha256,
  };
  const heldOut = heldOutWindowsFor(spec, corpus, windows, tokenizer);
  const context = trainingContext(spec, options.outDir, cache, receipts, options.threads, heldOut ? makeEvaluation(model.weights, heldOut) : undefined, tokenizer);
  const result = { model, corpus, windows, cache, trained: 0, skipped: 0, trainedElsewhere: 0 };
  if (options.cacheOnly) return result;
  if (heldOut) log(`quality metrics on ${spec.evalTokens} held-out tokens (${heldOut.nWindows} windows of documents after the training ones)`);
  log(`training rows: ${context.trainingRowIds.length} (${context.realTokens} real tokens${spec.includeSpecial ? `, ${context.trainingRowIds.length - context.realTokens} BOS/padding rows included as the seed study did` : ", BOS and padding excluded"})`);
  for (const line of describeRepetition(spec, context.realTokens)) log(line);
  const workerEvaluation = heldOut ? { windows: { seqLen: heldOut.seqLen, nWindows: heldOut.nWindows, tokens: Array.from(heldOut.tokens), mask: Array.from(heldOut.mask), kind: Array.from(heldOut.kind) }, modelSha256: model.sha256 } : undefined;
  await trainSweepRuns(spec, options, context, receipts, workerEvaluation, log, result);
  return result;
}

/** A sweep on an activation cache (spec.acts): no model, no corpus; the cache's manifest says what the rows are. */
async function runSweepOnActs(input: SweepSpec, options: PipelineOptions, log: (line: string) => void): Promise<PipelineResult> {
  const cache = cacheForActs(input.acts!, options.cacheDir, {}, log);
  const spec = specForActs(input, cache);
  const m = cache.manifest;
  log(`activation cache: ${cache.dir} (${m.model.label}; ${m.corpus.name}; ${m.rows} rows of d_in ${m.dIn}${m.imported ? `, ${m.imported.heldOut.rows} held out` : ""}; content sha256 ${m.contentSha256.slice(0, 16)}…)`);
  const receipts = actsReceipts(cache);
  const evaluation = actsEvaluation(spec, cache);
  const context = trainingContext(spec, options.outDir, cache, receipts, options.threads, evaluation ?? undefined);
  const result: PipelineResult = { model: null, corpus: null, windows: cache.windows, cache, trained: 0, skipped: 0, trainedElsewhere: 0 };
  if (options.cacheOnly) return result;
  if (evaluation) log(`quality metrics on ${evaluation.rows!.T} held-out rows of the import (CE-loss and KL scores unavailable: no model)`);
  log(`training rows: ${context.trainingRowIds.length}`);
  await trainSweepRuns(spec, options, context, receipts, evaluation ? { heldOutRows: { hook: evaluation.rows!.hook, T: evaluation.rows!.T, sha256: evaluation.sha256 } } : undefined, log, result);
  return result;
}

/** Train the sweep's runs (this shard's), in this process or in workers; counts go into `result`. */
async function trainSweepRuns(spec: SweepSpec, options: PipelineOptions, context: TrainingContext, receipts: Record<string, unknown>, workerEvaluation: WorkerInit["evaluation"], log: (line: string) => void, result: PipelineResult): Promise<void> {
  const cache = context.cache;
  checkExistingRuns(context);
  const jobs = shardRuns(spec, cache.manifest.dIn, options.shard);
  if (options.shard) log(`shard ${options.shard.index} of ${options.shard.count} (0-based): ${jobs.length} of ${spec.conditions.length * spec.seeds.length} runs`);
  recordSweep(options.outDir, spec, jobs);
  const queue = new RunQueue(context, jobs);
  const pollMs = options.pollMs ?? 2000;
  let saidWaiting = false;
  const onWait = () => {
    if (!saidWaiting) log(queue.describeWaiting());
    saidWaiting = true;
  };
  // Workers only for runs left to do: a rerun of a finished sweep starts none.
  const processes = Math.min(options.processes ?? 1, queue.pending);
  if (processes > 1) {
    // Each worker gets an equal share of the threads; results do not depend on it (see run_pool.ts).
    const threadsEach = Math.max(1, Math.floor(options.threads / processes));
    log(`training up to ${queue.pending} runs in ${processes} processes (${threadsEach} matmul thread${threadsEach > 1 ? "s" : ""} each)`);
    await trainInProcesses(queue, {
      processes, entry: options.workerEntry ?? sweepWorkerEntry(), log, pollMs, onWait,
      init: {
        spec, outDir: options.outDir, cacheDir: cache.dir, cacheSha256: cache.manifest.contentSha256, receipts, threads: threadsEach,
        ...(workerEvaluation ? { evaluation: workerEvaluation } : {}),
      },
    });
  } else {
    for (;;) {
      const next = queue.next();
      if (next === null) break;
      if (next === "wait") {
        onWait();
        await sleep(pollMs);
        continue;
      }
      const { job, claim } = next;
      const label = `${conditionId(job.condition)} seed ${job.seed}`;
      const progress = bar(options, label, runBudget(spec, job.condition, context.realTokens).tokensSeen, "rows");
      try {
        trainRun(context, job.condition, job.seed, (d, extra) => {
          claim.heartbeat();
          progress.update(d, extra);
        });
      } finally {
        claim.release();
      }
      progress.done();
      // Training a run is one synchronous loop: let the caller's event loop breathe between runs (its timers, IPC,
      // signal handlers), so a script's long in-process sweep does not starve everything else in it.
      await new Promise<void>((ok) => setImmediate(ok));
    }
  }
  Object.assign(result, { trained: queue.trained, skipped: queue.skipped, trainedElsewhere: queue.trainedElsewhere });
  log(`runs: ${queue.trained} trained, ${queue.skipped} already complete (manifest and identity verified)${queue.trainedElsewhere ? `, ${queue.trainedElsewhere} trained by other processes meanwhile` : ""}`);
}
