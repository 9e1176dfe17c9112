/**
 * The language-model training loop over token streams: batches, forward/backward, NaN/Inf guard, clipping,
 * the schedule, AdamW, periodic evaluation and checkpoints.
 *
 * Data: the training stream is cut into W = ⌊(N − 1)/T⌋ windows of T + 1 tokens (window i starts at i·T; inputs
 * are its first T tokens, targets its last T). Epoch e visits the windows in the order of
 * `Rng.stream(seed, "lm/order/epoch-e").permutation(W)`; step s takes the B windows at global positions s·B …
 * s·B + B − 1 of that sequence of epochs. So the batch of any step is a function of (seed, step): resuming needs
 * only the step number, and a resumed run sees exactly the data an uninterrupted one would.
 *
 * Initialisation: GPT-2's (../random_model.ts) from `seed`. Everything is deterministic: the same spec and
 * streams give bit-identical parameters at any thread count (tested with sha256).
 */
import { randomGPT2Weights } from "../random_model.ts";
import { Rng } from "../../tensor/rng.ts";
import { EOT_ID } from "../tokenizer.ts";
import { flatten, hashParams, paramLayout, type ParamLayout } from "./params.ts";
import { GPT2TrainModel, type TokenBatch } from "./gpt2_train.ts";
import { AdamWState, adamwUpdate, clipGradients, gradNorm, learningRate } from "./adamw.ts";
import type { TrainState, TrainStateStore } from "./train_state.ts";
import type { LMTrainSpec, TrainingRecord } from "./train_spec.ts";

export type { LMTrainSpec, TrainingRecord } from "./train_spec.ts";

/** A training loss or gradient that became NaN or infinite. */
export class TrainingDivergedError extends Error {
  override name = "TrainingDivergedError";
}

/** Windows of T + 1 tokens starting every T tokens (the last, partial one padded with target −1 when `pad`). */
export function windowCount(streamLength: number, seq: number, pad = false): number {
  return pad ? Math.ceil((streamLength - 1) / seq) : Math.floor((streamLength - 1) / seq);
}

/** Write window `w` of `stream` into row `row` of a batch (targets −1 past the end of the stream). */
export function fillWindow(tokens: Int32Array, targets: Int32Array, row: number, stream: Int32Array, w: number, seq: number): void {
  const o = row * seq, s = w * seq;
  for (let i = 0; i < seq; i++) {
    const has = s + i + 1 < stream.length;
    tokens[o + i] = s + i < stream.length ? stream[s + i]! : EOT_ID;
    targets[o + i] = has ? stream[s + i + 1]! : -1;
  }
}

/** The training batch of step `step` (see the header). */
export class BatchSchedule {
  private readonly windows: number;
  private epoch = -1;
  private order: Uint32Array = new Uint32Array(0);
  readonly tokens: Int32Array;
  readonly targets: Int32Array;

  constructor(private readonly stream: Int32Array, private readonly spec: LMTrainSpec) {
    const seq = spec.model.nPositions;
    this.windows = windowCount(stream.length, seq);
    if (this.windows < 1) throw new Error(`the training text has ${stream.length} tokens, fewer than one window of ${seq + 1}: use a larger corpus or a smaller --context`);
    this.tokens = new Int32Array(spec.batchSize * seq);
    this.targets = new Int32Array(spec.batchSize * seq);
  }

  /** The batch of `step` (a function of the seed and the step alone). */
  batch(step: number): TokenBatch {
    const { batchSize } = this.spec, seq = this.spec.model.nPositions;
    for (let b = 0; b < batchSize; b++) {
      const p = step * batchSize + b;
      const epoch = Math.floor(p / this.windows);
      if (epoch !== this.epoch) {
        this.order = Rng.stream(this.spec.seed, `lm/order/epoch-${epoch}`).permutation(this.windows);
        this.epoch = epoch;
      }
      fillWindow(this.tokens, this.targets, b, this.stream, this.order[p % this.windows]!, seq);
    }
    return { batch: batchSize, seq, tokens: this.tokens, targets: this.targets };
  }
}

/** Mean loss over the first `maxWindows` windows of a stream (all of it by default): every target scored once. */
export function evaluateStream(model: GPT2TrainModel, stream: Int32Array, batchSize: number, maxWindows = Infinity): { loss: number; targets: number } {
  const seq = model.config.nPositions;
  const n = Math.min(windowCount(stream.length, seq, true), maxWindows);
  const tokens = new Int32Array(batchSize * seq), targets = new Int32Array(batchSize * seq);
  let sum = 0, count = 0;
  for (let w0 = 0; w0 < n; w0 += batchSize) {
    for (let b = 0; b < batchSize; b++) {
      if (w0 + b < n) fillWindow(tokens, targets, b, stream, w0 + b, seq);
      else {
        tokens.fill(EOT_ID, b * seq, (b + 1) * seq);
        targets.fill(-1, b * seq, (b + 1) * seq);
      }
    }
    const r = model.loss({ batch: batchSize, seq, tokens, targets });
    sum += r.lossSum;
    count += r.count;
  }
  return { loss: sum / Math.max(count, 1), targets: count };
}

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  evalLoss?: number;
}

export interface TrainLMOptions {
  spec: LMTrainSpec;
  train: Int32Array;
  validation: Int32Array;
  store?: TrainStateStore;
  /** Save the state every this many steps (and never otherwise; the caller saves what it needs at the end). */
  checkpointEvery?: number;
  /** The weights to start from when spec.initParamsSha256 is set (checked against it). */
  initParams?: Float32Array;
  /** Stop after this step (exclusive) even if spec.steps is larger: for tests of interrupted runs. */
  stopAfter?: number;
  /** Called after every step with its loss, learning rate, gradient norm and any evaluation. */
  onStep?: (info: StepInfo) => void;
}

export interface TrainLMResult {
  layout: ParamLayout;
  model: GPT2TrainModel;
  record: TrainingRecord;
  stepsDone: number;
  resumedFrom: number;
}

/** The flat parameter layout of the spec's model. */
export function lmLayout(spec: LMTrainSpec): ParamLayout {
  return paramLayout(spec.model);
}

function initialParams(layout: ParamLayout, spec: LMTrainSpec, init: Float32Array | undefined): Float32Array {
  if (spec.initParamsSha256 === undefined) return flatten(layout, randomGPT2Weights(spec.model, spec.seed));
  if (!init || init.length !== layout.total) throw new Error(`the spec starts from given weights (sha256 ${spec.initParamsSha256}) but ${init ? `${init.length} parameters were given, the model has ${layout.total}` : "none were given"}`);
  const hash = hashParams(init);
  if (hash !== spec.initParamsSha256) throw new Error(`the initial weights hash to ${hash}, the spec expects ${spec.initParamsSha256}`);
  return init.slice();
}

/** Train (or resume from the store's checkpoint) up to spec.steps. */
export function trainLM({ spec, train, validation, store, checkpointEvery = 0, initParams, stopAfter, onStep }: TrainLMOptions): TrainLMResult {
  const layout = lmLayout(spec);
  const saved = store?.load() ?? null;
  if (saved && JSON.stringify(saved.spec) !== JSON.stringify(spec)) {
    throw new Error(`${store!.path} was written by a different training spec; rerun with the same flags to resume it, or delete it to start over`);
  }
  const params = saved ? saved.params : initialParams(layout, spec, initParams);
  const model = new GPT2TrainModel(layout, params);
  model.chunkRows = spec.chunkRows;
  const opt = new AdamWState(layout.total);
  let step = 0;
  const record: TrainingRecord = saved ? saved.record : { loss: [], gradNorm: [], lr: [], evals: [] };
  if (saved) {
    opt.m.set(saved.m);
    opt.v.set(saved.v);
    opt.step = saved.step;
    step = saved.step;
  }
  const resumedFrom = step;
  let lastSaved = saved ? saved.step : -1;
  const schedule = new BatchSchedule(train, spec);
  const end = Math.min(spec.steps, stopAfter ?? Infinity);
  const scheduleSpec = { maxLr: spec.maxLr, minLr: spec.minLr, warmupSteps: spec.warmupSteps, totalSteps: spec.steps };
  const hyper = { beta1: spec.beta1, beta2: spec.beta2, eps: spec.eps, weightDecay: spec.weightDecay };
  const save = () => {
    if (!store) return;
    const state: TrainState = { spec, step, params, m: opt.m, v: opt.v, record };
    store.save(state);
    lastSaved = step;
  };
  for (; step < end; ) {
    const { loss } = model.lossAndGradients(schedule.batch(step));
    const norm = gradNorm(model.grads);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      const kept = store && lastSaved >= 0 ? `the last good checkpoint (after step ${lastSaved}) is intact in ${store.path}` : "no checkpoint had been written";
      throw new TrainingDivergedError(`step ${step + 1}: ${Number.isFinite(loss) ? `gradient norm is ${norm}` : `loss is ${loss}`}; stopped before updating the weights; ${kept}. Lower --lr or lengthen --warmup and rerun.`);
    }
    clipGradients(model.grads, norm, spec.gradClip);
    const lr = learningRate(step, scheduleSpec);
    adamwUpdate(layout, params, model.grads, opt, lr, hyper);
    record.loss.push(loss);
    record.gradNorm.push(norm);
    record.lr.push(lr);
    step++;
    let evalLoss: number | undefined;
    if (spec.evalEvery > 0 && (step % spec.evalEvery === 0 || step === spec.steps)) {
      evalLoss = evaluateStream(model, validation, spec.batchSize, spec.evalWindows).loss;
      record.evals.push({ step, loss: evalLoss, paramsSha256: hashParams(params) });
    }
    onStep?.({ step, loss, lr, gradNorm: norm, evalLoss });
    if (checkpointEvery > 0 && step % checkpointEvery === 0 && step < spec.steps) save();
  }
  if (step < spec.steps && lastSaved !== step) save(); // stopped early (stopAfter): keep the state to resume from
  return { layout, model, record, stepsDone: step, resumedFrom };
}
