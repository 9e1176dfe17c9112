/**
 * `train-lm`: train a GPT-2 from scratch on a corpus (Brown by default) in TypeScript, and write it in the Hugging
 * Face layout (config.json + model.safetensors, wte tied to the unembedding) with a training receipt.
 *
 *   <out>/config.json, <out>/model.safetensors    the model (F32 or F16), loadable by every command and by HF
 *   <out>/training.json                           the receipt: spec, corpus and split, environment, loss curve,
 *                                                 evaluations beside unigram/bigram baselines, samples, hashes
 *   <out>/train_state.safetensors                 the resumable state while training (deleted when done)
 *
 * Rerunning the same command resumes from train_state.safetensors (bit-identical to an uninterrupted run); a
 * finished directory is reported, not retrained. `--receipt FILE` takes every setting from a receipt, and with
 * `--stop-after N` checks that the first N steps reproduce the receipt's recorded parameter hashes.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "../command.ts";
import { UsageError } from "../args.ts";
import { applyThreads, threadCount } from "../../study/threads.ts";
import { createProgress } from "../progress.ts";
import { environmentRecord, sha256OfFile, writeJsonAtomic } from "../../study/receipts.ts";
import { loadCorpus } from "../../data/corpus.ts";
import { splitByDocument, tokenStream } from "../../data/lm_split.ts";
import { VOCAB_SIZE, encode, decode } from "../../gpt2/tokenizer.ts";
import { writeCheckpoint } from "../../gpt2/checkpoint_writer.ts";
import { loadCheckpoint } from "../../gpt2/loader.ts";
import { matmulKernelName } from "../../tensor/matmul.ts";
import { Rng } from "../../tensor/rng.ts";
import { flatten, hashParams, paramLayout } from "../../gpt2/train/params.ts";
import { GPT2TrainModel } from "../../gpt2/train/gpt2_train.ts";
import { evaluateStream, trainLM, type LMTrainSpec, type TrainingRecord } from "../../gpt2/train/trainer.ts";
import { fileTrainStateStore } from "../../gpt2/train/train_state.ts";
import { ngramBaselines } from "../../gpt2/train/ngram.ts";
import { sampleContinuation } from "../../gpt2/train/sample.ts";

export const RECEIPT_FILE = "training.json";
export const STATE_FILE = "train_state.safetensors";
const SAMPLE_PROMPTS = ["The", "In the morning", "He said that"];

interface DataSpec {
  corpus: string;
  validationFraction: number;
  splitSeed: number;
  /** A model directory the run starts from (continued training), when not from GPT-2's random initialisation. */
  init?: string;
}

interface OutputSpec {
  dtype: "F32" | "F16";
}

export interface TrainingReceipt {
  spec: LMTrainSpec;
  data: DataSpec;
  output: OutputSpec;
  corpus: Record<string, unknown>;
  evaluation: Record<string, unknown>;
  weights: { paramsSha256: string; file: string; fileSha256: string; bytes: number; dtype: string };
  timing: Record<string, number>;
  samples: { prompt: string; continuation: string }[];
  record: TrainingRecord;
  environment: Record<string, unknown>;
}

function positive(name: string, v: unknown, allowZero = false): number {
  const n = v as number;
  if (!Number.isFinite(n) || (allowZero ? n < 0 : n <= 0)) throw new UsageError(`--${name} must be ${allowZero ? "≥ 0" : "> 0"}, got ${n}`);
  return n;
}

function specFromFlags(flags: Record<string, unknown>): { spec: LMTrainSpec; data: DataSpec; output: OutputSpec } {
  const layers = positive("layers", flags.layers), d = positive("d-model", flags["d-model"]), heads = positive("heads", flags.heads);
  const context = positive("context", flags.context);
  if (d % heads !== 0) throw new UsageError(`--d-model ${d} is not divisible by --heads ${heads}: pick heads that divide it (e.g. ${d / 32 >= 1 ? d / 32 : 1})`);
  if (context < 2) throw new UsageError("--context must be at least 2");
  const steps = positive("steps", flags.steps);
  const warmup = positive("warmup", flags.warmup, true);
  const maxLr = positive("lr", flags.lr), minLr = maxLr * positive("min-lr-ratio", flags["min-lr-ratio"], true);
  const dtype = String(flags.dtype).toUpperCase();
  if (dtype !== "F32" && dtype !== "F16") throw new UsageError(`--dtype must be f32 or f16, got ${String(flags.dtype)}`);
  const valFraction = flags["val-fraction"] as number;
  if (!(valFraction > 0 && valFraction < 1)) throw new UsageError(`--val-fraction must be between 0 and 1, got ${valFraction}`);
  return {
    spec: {
      model: { nLayer: layers, nHead: heads, nEmbd: d, nPositions: context, vocabSize: VOCAB_SIZE, layerNormEpsilon: 1e-5 },
      seed: flags.seed as number, batchSize: positive("batch", flags.batch), steps, maxLr, minLr, warmupSteps: warmup,
      weightDecay: positive("weight-decay", flags["weight-decay"], true), gradClip: positive("grad-clip", flags["grad-clip"], true),
      beta1: flags.beta1 as number, beta2: flags.beta2 as number, eps: 1e-8,
      evalEvery: positive("eval-every", flags["eval-every"], true), evalWindows: positive("eval-windows", flags["eval-windows"]),
      chunkRows: positive("chunk-rows", flags["chunk-rows"]),
    },
    data: { corpus: flags.corpus as string, validationFraction: valFraction, splitSeed: flags["split-seed"] as number, ...(flags.init ? { init: flags.init as string } : {}) },
    output: { dtype },
  };
}

function readReceipt(path: string): TrainingReceipt {
  if (!existsSync(path)) throw new UsageError(`--receipt ${path} does not exist`);
  try {
    const r = JSON.parse(readFileSync(path, "utf8")) as TrainingReceipt;
    if (!r.spec || !r.data || !r.output) throw new Error("no spec/data/output fields");
    return r;
  } catch (e) {
    throw new UsageError(`--receipt ${path} is not a train-lm receipt (${(e as Error).message})`);
  }
}

const perplexity = (loss: number) => Number(Math.exp(loss).toFixed(2));

export const trainLmCommand: Command = {
  name: "train-lm",
  summary: "Train a GPT-2 from scratch (TypeScript, CPU) and write it in the Hugging Face layout with a training receipt.",
  usage: "--out DIR [flags]",
  flags: {
    out: { type: "string", description: "output directory (config.json, model.safetensors, training.json)" },
    corpus: { type: "string", description: "brown, a .jsonl file ({\"text\": …} per line) or a text file (one document per line)", default: "brown" },
    "val-fraction": { type: "number", description: "fraction of DOCUMENTS held out for validation", default: 0.1 },
    "split-seed": { type: "int", description: "seed of the train/validation document split", default: 0 },
    layers: { type: "int", description: "transformer blocks", default: 4 },
    "d-model": { type: "int", description: "residual width", default: 128 },
    heads: { type: "int", description: "attention heads (must divide d-model)", default: 4 },
    context: { type: "int", description: "context length (n_positions) = training sequence length", default: 128 },
    batch: { type: "int", description: "sequences per step", default: 16 },
    steps: { type: "int", description: "optimiser steps", default: 1000 },
    lr: { type: "number", description: "peak learning rate", default: 3e-3 },
    "min-lr-ratio": { type: "number", description: "final learning rate as a fraction of the peak (cosine decay)", default: 0.1 },
    warmup: { type: "int", description: "linear warmup steps", default: 100 },
    "weight-decay": { type: "number", description: "AdamW weight decay (matrices only)", default: 0.1 },
    "grad-clip": { type: "number", description: "clip the gradient to this global norm (0: off)", default: 1.0 },
    beta1: { type: "number", description: "AdamW β1", default: 0.9 },
    beta2: { type: "number", description: "AdamW β2", default: 0.95 },
    seed: { type: "int", description: "initialisation and data-order seed", default: 0 },
    "eval-every": { type: "int", description: "validation loss (on --eval-windows windows) every N steps; 0: only at the end", default: 100 },
    "eval-windows": { type: "int", description: "validation windows in the periodic evaluation", default: 32 },
    "chunk-rows": { type: "int", description: "logit rows computed at once (memory: rows × 50257 × 4 bytes)", default: 256 },
    dtype: { type: "string", description: "model.safetensors dtype: f32 or f16", default: "f32" },
    "checkpoint-every": { type: "int", description: "save the resumable state every N steps", default: 100 },
    "stop-after": { type: "int", description: "stop after N steps (state saved; rerun to continue); with --receipt, check them against it" },
    receipt: { type: "string", description: "take every setting from this training.json (reproduce a run)" },
    init: { type: "string", description: "start from this model directory's weights (continued training; same shape) instead of a random initialisation" },
    samples: { type: "int", description: "continuations sampled at the end", default: 3 },
    "sample-tokens": { type: "int", description: "tokens per sampled continuation", default: 40 },
    threads: { type: "int", description: "matmul threads (default: all cores, or SAE_SEEDS_THREADS)" },
    json: { type: "boolean", description: "print the receipt's summary as JSON on stdout" },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const out = flags.out as string | undefined;
    if (!out) throw new UsageError("--out DIR is required (where config.json, model.safetensors and training.json go)");
    const fromReceipt = flags.receipt ? readReceipt(flags.receipt as string) : null;
    const { spec, data, output } = fromReceipt ? { spec: fromReceipt.spec, data: { ...fromReceipt.data }, output: fromReceipt.output } : specFromFlags(flags);
    // With --receipt, --init may say where the starting model is now (its hash must still match the receipt's).
    if (fromReceipt && flags.init !== undefined) data.init = flags.init as string;
    let initParams: Float32Array | undefined;
    if (data.init !== undefined) {
      const init = await loadCheckpoint(data.init);
      const c = init.weights.config, m = spec.model;
      if (c.nLayer !== m.nLayer || c.nEmbd !== m.nEmbd || c.nHead !== m.nHead || c.nPositions !== m.nPositions || c.vocabSize !== m.vocabSize) {
        throw new UsageError(`--init ${data.init} is a ${c.nLayer}-layer, d ${c.nEmbd}, ${c.nHead}-head, context ${c.nPositions} model; give the same --layers, --d-model, --heads and --context`);
      }
      initParams = flatten(paramLayout(m), init.weights);
      const sha = hashParams(initParams);
      if (fromReceipt && spec.initParamsSha256 !== sha) throw new UsageError(`--init ${data.init} holds weights with sha256 ${sha}, the receipt started from ${spec.initParamsSha256}`);
      spec.initParamsSha256 = sha;
    }
    const stopAfter = flags["stop-after"] as number | undefined;
    if (stopAfter !== undefined && stopAfter < 1) throw new UsageError("--stop-after must be ≥ 1");
    // Say before training, not after it, when the prefix asked for ends before the receipt's first hash.
    const firstHash = fromReceipt?.record.evals[0]?.step;
    if (fromReceipt && stopAfter !== undefined && stopAfter < spec.steps && (firstHash === undefined || stopAfter < firstHash)) {
      throw new UsageError(`--stop-after ${stopAfter} ends before the receipt's first parameter hash (${firstHash === undefined ? "it records none" : `step ${firstHash}`}); use --stop-after ${firstHash ?? spec.steps} or more`);
    }
    const log = (line: string) => process.stderr.write(line + "\n");

    const receiptPath = join(out, RECEIPT_FILE);
    if (existsSync(receiptPath)) {
      const done = readReceipt(receiptPath);
      if (JSON.stringify(done.spec) !== JSON.stringify(spec) || JSON.stringify(done.data) !== JSON.stringify(data)) {
        throw new UsageError(`${out} already holds a model trained with different settings; choose another --out or delete ${out}`);
      }
      log(`${out} is already trained (params sha256 ${done.weights.paramsSha256}); delete it to train again`);
      if (flags.json) console.log(JSON.stringify(summary(done)));
      return;
    }

    // Data: split by document, then token streams.
    const corpus = loadCorpus(data.corpus);
    if (fromReceipt && corpus.sha256 !== (fromReceipt.corpus as { sha256: string }).sha256) {
      throw new UsageError(`corpus ${data.corpus} has sha256 ${corpus.sha256}, the receipt was trained on ${(fromReceipt.corpus as { sha256: string }).sha256}`);
    }
    const split = splitByDocument(corpus, data.validationFraction, data.splitSeed);
    const train = tokenStream(split.train), validation = tokenStream(split.validation);
    log(`corpus ${corpus.name}: ${split.train.length} training documents (${train.length} tokens), ${split.validation.length} validation documents (${validation.length} tokens)`);
    const tokensPerStep = spec.batchSize * spec.model.nPositions;
    log(`model: ${spec.model.nLayer} layers, d ${spec.model.nEmbd}, ${spec.model.nHead} heads, context ${spec.model.nPositions}; ${spec.steps} steps × ${tokensPerStep} tokens = ${(spec.steps * tokensPerStep / train.length).toFixed(2)} epochs`);

    mkdirSync(out, { recursive: true });
    const store = fileTrainStateStore(join(out, STATE_FILE));
    const started = performance.now();
    const firstStep = store.load()?.step ?? 0;
    if (firstStep > 0) log(`resuming from ${store.path} at step ${firstStep}`);
    const end = Math.min(spec.steps, stopAfter ?? Infinity);
    const bar = createProgress("train-lm", Math.max(0, end - firstStep) * tokensPerStep, "tok");
    let lastVal = "";
    const result = trainLM({
      spec, train, validation, store, checkpointEvery: flags["checkpoint-every"] as number, stopAfter, initParams,
      onStep: ({ step, loss, evalLoss }) => {
        if (evalLoss !== undefined) lastVal = ` val ${evalLoss.toFixed(3)}`;
        bar.update((step - firstStep) * tokensPerStep, `step ${step}/${spec.steps} loss ${loss.toFixed(3)}${lastVal}`);
      },
    });
    const trainSeconds = (performance.now() - started) / 1000;
    const tokensPerSecond = ((result.stepsDone - firstStep) * tokensPerStep) / trainSeconds;
    bar.done(`${(tokensPerSecond).toFixed(0)} tokens/s`);

    if (result.stepsDone < spec.steps) {
      log(`stopped after step ${result.stepsDone} of ${spec.steps}; the state is in ${store.path} (rerun without --stop-after to continue)`);
      if (fromReceipt) checkAgainstReceipt(result.record, fromReceipt.record, result.stepsDone, flags.json ? log : console.log);
      return;
    }

    // The model, in the Hugging Face layout, then its evaluation from the file as written (F16 rounding included).
    const dtype = output.dtype;
    const paramsSha256 = hashParams(result.model.params);
    writeCheckpoint(out, result.model.weights, dtype, { sae_seeds_params_sha256: paramsSha256 });
    const modelPath = join(out, "model.safetensors");
    const shipped = await loadCheckpoint(out);
    log("evaluating on the whole validation split…");
    const valTrained = evaluateStream(result.model, validation, spec.batchSize);
    const fileModel = new GPT2TrainModel(result.layout, flatten(result.layout, shipped.weights));
    fileModel.chunkRows = spec.chunkRows;
    const valFile = dtype === "F32" ? valTrained : evaluateStream(fileModel, validation, spec.batchSize);
    const baselines = ngramBaselines(train, validation, VOCAB_SIZE);
    const rng = Rng.stream(spec.seed, "lm/samples");
    const nSamples = Math.max(0, flags.samples as number);
    const samples = SAMPLE_PROMPTS.slice(0, nSamples).map((prompt) => ({
      prompt, continuation: decode(sampleContinuation(shipped.weights, encode(prompt), rng, { tokens: flags["sample-tokens"] as number, temperature: 0.8, topK: 40 })),
    }));
    const receipt: TrainingReceipt = {
      spec, data, output,
      corpus: {
        name: corpus.name, sha256: corpus.sha256, documents: corpus.documents.length,
        trainDocuments: split.train.length, validationDocuments: split.validation.length,
        validationIds: split.validationIds, validationIdsSha256: split.validationIdsSha256,
        trainTokens: train.length, validationTokens: validation.length,
        epochs: Number(((spec.steps * tokensPerStep) / train.length).toFixed(3)),
      },
      evaluation: {
        validationTargets: valTrained.targets,
        model: { loss: valFile.loss, perplexity: perplexity(valFile.loss), weights: `model.safetensors (${dtype})` },
        modelFloat32: { loss: valTrained.loss, perplexity: perplexity(valTrained.loss) },
        unigram: { loss: baselines.unigram, perplexity: perplexity(baselines.unigram), smoothing: "add-one" },
        bigram: { loss: baselines.bigram, perplexity: perplexity(baselines.bigram), smoothing: "interpolated absolute discounting, D = 0.75" },
      },
      weights: { paramsSha256, file: "model.safetensors", fileSha256: sha256OfFile(modelPath), bytes: statSync(modelPath).size, dtype },
      timing: {
        secondsThisRun: Number(trainSeconds.toFixed(1)), tokensPerSecondThisRun: Number(tokensPerSecond.toFixed(1)),
        resumedFromStep: firstStep, tokensTrained: spec.steps * tokensPerStep,
      },
      samples,
      record: result.record,
      environment: environmentRecord({ command: "train-lm" }, { threads: threadCount(), matmulKernel: matmulKernelName() }),
    };
    writeJsonAtomic(receiptPath, receipt);
    rmSync(store.path, { force: true });
    // A whole run from a receipt ends by checking itself against it: every step, then the final weights and file.
    if (fromReceipt) checkFinalAgainstReceipt(receipt, fromReceipt, flags.json ? log : console.log);
    if (flags.json) {
      console.log(JSON.stringify(summary(receipt)));
      return;
    }
    const row = (name: string, loss: number) => console.log(`  ${name.padEnd(26)} ${loss.toFixed(4)}   ${perplexity(loss).toFixed(1).padStart(9)}`);
    console.log(`validation (${split.validation.length} held-out documents, ${valTrained.targets} tokens)   loss (nats)   perplexity`);
    row(`GPT-2 (${dtype} file)`, valFile.loss);
    row("smoothed bigram", baselines.bigram);
    row("unigram", baselines.unigram);
    for (const s of samples) console.log(`sample: ${JSON.stringify(s.prompt + s.continuation)}`);
    console.log(`wrote ${out}/{config.json,model.safetensors,${RECEIPT_FILE}} (params sha256 ${paramsSha256})`);
  },
};

/** Every evaluation point (step, validation loss, parameter hash) both runs recorded must agree exactly. */
function checkAgainstReceipt(mine: TrainingRecord, theirs: TrainingRecord, steps: number, say: (line: string) => void): void {
  // A prefix without any recorded hash is refused before training (see --stop-after); a whole run also ends on the final hashes.
  const recorded = theirs.evals.filter((e) => e.step <= steps);
  for (const e of recorded) {
    const m = mine.evals.find((x) => x.step === e.step);
    if (!m || m.paramsSha256 !== e.paramsSha256 || m.loss !== e.loss) {
      throw new Error(`not reproduced: at step ${e.step} the parameters hash to ${m?.paramsSha256 ?? "(none)"}, the receipt says ${e.paramsSha256}`);
    }
  }
  for (let i = 0; i < steps; i++) {
    if (mine.loss[i] !== theirs.loss[i]) throw new Error(`not reproduced: training loss of step ${i + 1} is ${mine.loss[i]}, the receipt says ${theirs.loss[i]}`);
  }
  const hashes = recorded.length === 0 ? "" : `, and the parameter sha256 at step${recorded.length > 1 ? "s" : ""} ${recorded.map((e) => e.step).join(", ")}`;
  say(`reproduced: the first ${steps} steps match the receipt bit for bit (every training loss${hashes})`);
}

/** The whole run against the receipt it was made from: every step's loss and hash, then the final parameters and file. */
function checkFinalAgainstReceipt(mine: TrainingReceipt, theirs: TrainingReceipt, say: (line: string) => void): void {
  checkAgainstReceipt(mine.record, theirs.record, mine.spec.steps, say);
  for (const key of ["paramsSha256", "fileSha256"] as const) {
    if (mine.weights[key] !== theirs.weights[key]) throw new Error(`not reproduced: the final ${key} is ${mine.weights[key]}, the receipt says ${theirs.weights[key]}`);
  }
  say(`reproduced: the final weights match the receipt bit for bit (parameters sha256 ${mine.weights.paramsSha256}, model file sha256 ${mine.weights.fileSha256})`);
}

function summary(r: TrainingReceipt): Record<string, unknown> {
  return { evaluation: r.evaluation, weights: r.weights, timing: r.timing, corpus: { name: r.corpus.name, sha256: r.corpus.sha256 } };
}
