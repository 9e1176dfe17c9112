/**
 * The training loop, shared by every architecture: epochs of shuffled mini-batches, dead-latent bookkeeping for
 * AuxK, the sparsity coefficient's schedule (./sparsity_control.ts), a history per epoch, divergence detection,
 * and resumable checkpoints. Every random number comes from streams keyed by the run's seed — the
 * initialisation streams and one shuffle stream per epoch — so a run resumed from any checkpoint, or repeated,
 * produces bit-identical weights.
 *
 * Divergence: a step whose loss or FVU is not finite, whose squared error per row exceeds DIVERGENCE_FVU (10⁶)
 * times a yardstick, or which ends a run of DIVERGENCE_PATIENCE (50) consecutive steps above SUSTAINED_FVU (1000)
 * times it, stops the run with a DivergenceError. (Why so far out: SAEs come back from spikes of tens to hundreds of
 * times their starting error — measured: seed-report at lr 1 from 61× to 0.31× within 20 epochs, TopK at lr 3 from
 * 190× to 2× — and a fresh SAE of a degenerate shape, d_in 1 with k 15, starts near 1000×; what never comes back is
 * the blow-up of a too-large learning rate, which leaves these bounds within a step or two or turns non-finite.) The yardstick is the larger of the training data's variance per row
 * (predicting the mean gives 1× it; a fresh SAE of the usual shapes starts between 0.5× and ~10×) and the first
 * step's error per row (recorded in the state, so a resumed run uses the same one): divergence is an error that grows
 * far beyond where the run started, not a run that starts badly and stays so. Not the batch's own variance: a
 * partial last batch of two rows can have almost none, so its FVU is huge while its error is ordinary; and not the
 * variance alone: a fresh SAE with more active latents than input dimensions (k ≫ d_in) legitimately starts at
 * hundreds of times it. Both once stopped healthy runs as "diverged" (found by `npm run fuzz`). No checkpoint is
 * written while the last step is above SUSTAINED_FVU, so the one on disk is the last good state; the caller does not
 * mark the run complete.
 */
import { Rng } from "../tensor/rng.ts";
import type { SAETrainConfig } from "./config.ts";
import { validateTrainConfig } from "./config.ts";
import { architectureOf, initialiseParams, type SAE } from "./sae.ts";
import { cloneParams, namedTensors, type SAEParams } from "./params.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace, type StepStats } from "./train_step.ts";
import { DivergedForward } from "./step.ts";
import { initialControl, coefficientAt, updateControl, type SparsityControlState } from "./sparsity_control.ts";
import type { RowSource } from "../data/rows.ts";
import { compareWithReference, type ReferenceCheckOptions } from "./reference_check.ts";
import { addStep, newCurve, type CurveAccumulator, type CurvePoint } from "./training_curve.ts";

export const DIVERGENCE_FVU = 1e6;
export const SUSTAINED_FVU = 1000;
export const DIVERGENCE_PATIENCE = 50;

export interface HistoryEntry {
  epoch: number;
  step: number;
  tokens: number;
  loss: number;
  fvu: number;
  mse: number;
  auxLoss: number;
  l0: number;
  /** Fraction of latents dead for AuxK (not fired within deadAfterTokens) at the end of the epoch. */
  deadFraction: number;
  tokensPerSecond: number;
  /** Penalty recipes: the target L0 (k) and the sparsity coefficient λ at the end of the epoch. */
  targetL0?: number;
  sparsityCoefficient?: number;
  /** Mean sparsity penalty (before λ) over the epoch's rows. */
  sparsityLoss?: number;
}

/** Everything needed to continue a run exactly where it stopped. */
export interface TrainingState {
  config: SAETrainConfig;
  params: SAEParams;
  optimizer: OptimizerState;
  inputScale: number;
  epoch: number;
  /** Batches of `epoch` already done. */
  stepInEpoch: number;
  tokensSeen: number;
  tokensSinceFired: Float64Array;
  history: HistoryEntry[];
  /** Running sums for the current epoch's history entry. */
  epochSums: EpochSums;
  /** The architecture's training buffers (BatchTopK's running threshold). */
  buffers: Record<string, number>;
  /** The sparsity coefficient's controller (penalty recipes). */
  control: SparsityControlState;
  /** Consecutive steps so far above SUSTAINED_FVU times the divergence yardstick. */
  badSteps: number;
  /** The divergence yardstick (see the header): set at the first step; absent before it. */
  divergenceYardstick?: number;
  /** The training curve so far (./training_curve.ts); absent in checkpoints made before it existed. */
  curve?: CurveAccumulator;
}

export interface EpochSums {
  rows: number;
  loss: number;
  fvu: number;
  mse: number;
  auxLoss: number;
  l0: number;
  sparsityLoss: number;
  seconds: number;
}

const emptySums = (): EpochSums => ({ rows: 0, loss: 0, fvu: 0, mse: 0, auxLoss: 0, l0: 0, sparsityLoss: 0, seconds: 0 });

export interface CheckpointStore {
  /** Save the state (whole or not at all). */
  save(state: TrainingState): void;
  /** The saved state, or null when there is none. */
  load(): TrainingState | null;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  tokensSeen: number;
  totalTokens: number;
  stats: StepStats;
  tokensPerSecond: number;
}

export interface TrainOptions {
  config: SAETrainConfig;
  data: RowSource;
  checkpoints?: CheckpointStore;
  /** Called after every step with tokens seen and the step's statistics. */
  onProgress?: (p: TrainProgress) => void;
  /** Stop after this many steps in this call (for tests of resume; the state is checkpointed first). */
  stopAfterSteps?: number;
  /**
   * Audit mode: compute every step a second time on the dense reference path and fail on disagreement
   * (./reference_check.ts). Training itself follows the fast path, so the weights are those of a normal run.
   */
  referenceCheck?: ReferenceCheckOptions;
}

export interface TrainResult {
  sae: SAE;
  history: HistoryEntry[];
  /** At most CURVE_POINTS points of FVU and L0 over the run's steps (./training_curve.ts). */
  curve: CurvePoint[];
  /** Optimizer steps taken. */
  steps: number;
  tokensSeen: number;
  /** False when stopAfterSteps interrupted the run. */
  finished: boolean;
}

/** A training loss that became NaN or infinite (the message says at which step). */
export class DivergenceError extends Error {
  override name = "DivergenceError";
}

/** E‖x‖² over all rows → the factor that makes it d_in. */
export function normalisationScale(data: RowSource): number {
  const row = new Float32Array(data.dIn);
  let total = 0;
  for (let i = 0; i < data.rows; i++) {
    data.copyRow(i, row, 0);
    for (let j = 0; j < data.dIn; j++) total += row[j]! * row[j]!;
  }
  const meanSq = total / Math.max(1, data.rows);
  return meanSq > 0 ? Math.sqrt(data.dIn / meanSq) : 1;
}

/** Σ‖x − x̄‖² / rows over every training row, times scale² (the rows as the SAE sees them): the divergence yardstick. */
export function dataVariancePerRow(data: RowSource, scale: number): number {
  const row = new Float32Array(data.dIn);
  const mean = new Float64Array(data.dIn);
  for (let i = 0; i < data.rows; i++) {
    data.copyRow(i, row, 0);
    for (let j = 0; j < data.dIn; j++) mean[j] += row[j]!;
  }
  for (let j = 0; j < data.dIn; j++) mean[j] /= Math.max(1, data.rows);
  let total = 0;
  for (let i = 0; i < data.rows; i++) {
    data.copyRow(i, row, 0);
    for (let j = 0; j < data.dIn; j++) total += (row[j]! - mean[j]!) ** 2;
  }
  return (scale * scale * total) / Math.max(1, data.rows);
}

function epochPermutation(seed: number, epoch: number, rows: number): Uint32Array {
  return Rng.stream(seed, `sae/shuffle/epoch-${epoch}`).permutation(rows);
}

function freshState(config: SAETrainConfig, data: RowSource): TrainingState {
  const inputScale = config.normalizeActivations ? normalisationScale(data) : 1;
  // b_dec's initial value is estimated on up to 4096 rows drawn by the run's own stream.
  const sampleRows = Math.min(4096, data.rows);
  const order = Rng.stream(config.seed, "sae/init/b_dec-sample").permutation(data.rows);
  const sample = new Float32Array(sampleRows * config.dIn);
  for (let i = 0; i < sampleRows; i++) data.copyRow(order[i]!, sample, i * config.dIn);
  if (inputScale !== 1) for (let i = 0; i < sample.length; i++) sample[i] *= inputScale;
  const arch = architectureOf(config.recipe);
  return {
    config,
    params: initialiseParams(config, sample, sampleRows),
    optimizer: new OptimizerState(config.dIn, config.dSae, arch.extraParams.map((e) => e.name)),
    inputScale,
    epoch: 0,
    stepInEpoch: 0,
    tokensSeen: 0,
    tokensSinceFired: new Float64Array(config.dSae),
    history: [],
    epochSums: emptySums(),
    buffers: { ...arch.buffers },
    control: initialControl(config),
    badSteps: 0,
  };
}

function sameConfig(a: SAETrainConfig, b: SAETrainConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function assertFinite(params: SAEParams, where: string): void {
  for (const [name, arr] of namedTensors(params)) {
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]!)) throw new DivergenceError(`SAE training diverged ${where}: ${name}[${i}] is ${arr[i]}`);
    }
  }
}

/** Train an SAE on rows (resuming from the checkpoint store when it holds this config's state); deterministic for a seed. */
export function trainSAE(options: TrainOptions): TrainResult {
  const { config, data, checkpoints } = options;
  validateTrainConfig(config);
  if (data.dIn !== config.dIn) throw new Error(`trainSAE: data rows have d_in ${data.dIn}, config says ${config.dIn}`);
  if (data.rows === 0) throw new Error("trainSAE: no training rows");
  let state = checkpoints?.load() ?? null;
  if (state && !sameConfig(state.config, config)) {
    throw new Error("trainSAE: the checkpoint on disk was made with a different configuration; delete it or use the same settings");
  }
  state ??= freshState(config, data);

  const { dIn, batchSize, epochs } = config;
  // The token budget: every row of every epoch, or trainTokens, the last epoch cut short.
  const totalTokens = config.trainTokens ?? epochs * data.rows;
  if (config.trainTokens !== undefined && epochs !== Math.ceil(config.trainTokens / data.rows)) {
    throw new Error(`trainSAE: trainTokens ${config.trainTokens} over ${data.rows} rows needs epochs = ${Math.ceil(config.trainTokens / data.rows)}, the config says ${epochs}`);
  }
  const rowsInEpoch = (epoch: number) => Math.min(data.rows, totalTokens - epoch * data.rows);
  const stepsInEpoch = (epoch: number) => Math.ceil(rowsInEpoch(epoch) / batchSize);
  const ws = new StepWorkspace(config, Math.min(batchSize, data.rows));
  const reference = options.referenceCheck ? { ws: new StepWorkspace(config, Math.min(batchSize, data.rows), "dense", "scalar"), fired: new Uint8Array(config.dSae) } : null;
  const batch = new Float32Array(Math.min(batchSize, data.rows) * dIn);
  const dead = new Uint8Array(config.dSae);
  const fired = new Uint8Array(config.dSae);
  let totalSteps = 0;
  for (let e = 0; e < epochs; e++) totalSteps += stepsInEpoch(e);
  state.curve ??= newCurve(totalSteps);
  const arch = architectureOf(config.recipe);
  // The data's side of the divergence yardstick (see the header); 1 when every row is the same.
  const variancePerRow = dataVariancePerRow(data, state.inputScale) || 1;
  let stepsThisCall = 0;
  const diverged = (step: number, why: string) => new DivergenceError(`SAE training diverged at step ${step} (epoch ${state!.epoch + 1}): ${why}. The last good checkpoint stays on disk; try a lower learning rate.`);

  for (; state.epoch < epochs; state.epoch++, state.stepInEpoch = 0) {
    const order = epochPermutation(config.seed, state.epoch, data.rows);
    const stepsPerEpoch = stepsInEpoch(state.epoch), epochRows = rowsInEpoch(state.epoch);
    for (; state.stepInEpoch < stepsPerEpoch; ) {
      if (options.stopAfterSteps !== undefined && stepsThisCall >= options.stopAfterSteps) {
        checkpoints?.save(state);
        return { sae: toSAE(state), history: state.history, curve: state.curve?.points ?? [], steps: state.optimizer.step, tokensSeen: state.tokensSeen, finished: false };
      }
      const start = state.stepInEpoch * batchSize;
      const rows = Math.min(batchSize, epochRows - start);
      for (let i = 0; i < rows; i++) data.copyRow(order[start + i]!, batch, i * dIn);
      if (state.inputScale !== 1) for (let i = 0; i < rows * dIn; i++) batch[i] *= state.inputScale;
      for (let i = 0; i < rows * dIn; i++) {
        if (!Number.isFinite(batch[i]!)) throw new Error(`trainSAE: training row ${order[start + Math.floor(i / dIn)]} contains ${batch[i]}; the activation cache is corrupt — rebuild it`);
      }
      for (let j = 0; j < config.dSae; j++) dead[j] = state.tokensSinceFired[j]! >= config.deadAfterTokens ? 1 : 0;
      fired.fill(0);
      const t0 = performance.now();
      const step = state.optimizer.step + 1;
      let stats: StepStats;
      const coefficient = coefficientAt(config, state.control, step, totalSteps);
      try {
        const buffersBefore = reference ? { ...state.buffers } : null;
        stats = lossAndGradients(state.params, config, ws, batch, rows, dead, fired, { coefficient, buffers: state.buffers });
        if (reference && buffersBefore) {
          reference.fired.fill(0);
          const refStats = lossAndGradients(state.params, config, reference.ws, batch, rows, dead, reference.fired, { coefficient, buffers: buffersBefore });
          const report = compareWithReference(step, config, state.params,
            { ws, stats, fired, buffers: state.buffers }, { ws: reference.ws, stats: refStats, fired: reference.fired, buffers: buffersBefore }, options.referenceCheck!);
          options.referenceCheck!.onStep?.(report);
        }
      } catch (e) {
        if (e instanceof DivergedForward) throw diverged(step, e.message);
        throw e;
      }
      if (!Number.isFinite(stats.loss) || !Number.isFinite(stats.fvu)) throw diverged(step, `loss is ${stats.loss}, FVU ${stats.fvu}`);
      // The batch's squared error per row against the yardstick: the data's variance, or the first step's error.
      const errorPerRow = stats.mse * dIn;
      state.divergenceYardstick ??= Math.max(variancePerRow, errorPerRow);
      const yardstick = state.divergenceYardstick;
      const what = yardstick > variancePerRow ? "the first step's error" : "the training data's variance";
      const ratio = errorPerRow / yardstick;
      if (ratio > DIVERGENCE_FVU) throw diverged(step, `the reconstruction error is ${ratio.toPrecision(3)} times ${what} (over ${DIVERGENCE_FVU.toExponential(0)})`);
      state.badSteps = ratio > SUSTAINED_FVU ? state.badSteps + 1 : 0;
      if (state.badSteps >= DIVERGENCE_PATIENCE) throw diverged(step, `the reconstruction error has stayed above ${SUSTAINED_FVU} times ${what} for ${DIVERGENCE_PATIENCE} steps (now ${ratio.toPrecision(3)})`);
      applyUpdate(state.params, config, ws, state.optimizer);
      const move = updateControl(config, state.control, step, totalSteps, stats.l0);
      if (move !== null) arch.steerSparsity?.(state.params, move);
      const seconds = (performance.now() - t0) / 1000;
      for (let j = 0; j < config.dSae; j++) state.tokensSinceFired[j] = fired[j] ? 0 : state.tokensSinceFired[j]! + rows;
      state.tokensSeen += rows;
      state.stepInEpoch++;
      addStep(state.curve, step, rows, stats.fvu, stats.l0);
      stepsThisCall++;
      const s = state.epochSums;
      s.rows += rows; s.loss += stats.loss * rows; s.fvu += stats.fvu * rows; s.mse += stats.mse * rows;
      s.auxLoss += stats.auxLoss * rows; s.l0 += stats.l0 * rows; s.sparsityLoss += stats.sparsityLoss * rows; s.seconds += seconds;
      options.onProgress?.({
        epoch: state.epoch, epochs, step: state.stepInEpoch, stepsPerEpoch, tokensSeen: state.tokensSeen, totalTokens,
        stats, tokensPerSecond: rows / Math.max(seconds, 1e-9),
      });
      if (config.checkpointEvery > 0 && state.optimizer.step % config.checkpointEvery === 0 && state.stepInEpoch < stepsPerEpoch && state.badSteps === 0) {
        assertFinite(state.params, `at step ${state.optimizer.step}`);
        checkpoints?.save(state);
      }
    }
    assertFinite(state.params, `in epoch ${state.epoch + 1}`);
    const s = state.epochSums;
    let deadCount = 0;
    for (let j = 0; j < config.dSae; j++) if (state.tokensSinceFired[j]! >= config.deadAfterTokens) deadCount++;
    state.history.push({
      epoch: state.epoch + 1, step: state.optimizer.step, tokens: state.tokensSeen,
      loss: s.loss / s.rows, fvu: s.fvu / s.rows, mse: s.mse / s.rows, auxLoss: s.auxLoss / s.rows, l0: s.l0 / s.rows,
      deadFraction: deadCount / config.dSae, tokensPerSecond: s.rows / Math.max(s.seconds, 1e-9),
      ...(config.sparsityControl !== "none" ? {
        targetL0: config.k, sparsityCoefficient: coefficientAt(config, state.control, state.optimizer.step, totalSteps), sparsityLoss: s.sparsityLoss / s.rows,
      } : {}),
    });
    state.epochSums = emptySums();
    if (state.epoch + 1 < epochs && state.badSteps === 0) {
      // Save the state as of the start of the next epoch.
      const next = { ...state, epoch: state.epoch + 1, stepInEpoch: 0 };
      checkpoints?.save(next);
    }
  }
  return { sae: toSAE(state), history: state.history, curve: state.curve?.points ?? [], steps: state.optimizer.step, tokensSeen: state.tokensSeen, finished: true };
}

function toSAE(state: TrainingState): SAE {
  const arch = architectureOf(state.config.recipe);
  const params = arch.inferenceParams?.(state.params, state.buffers) ?? state.params;
  return { recipe: state.config.recipe, k: state.config.k, params, inputScale: state.inputScale };
}

/** A deep copy of a training state (checkpoints must not alias the arrays training keeps mutating). */
export function cloneTrainingState(s: TrainingState): TrainingState {
  const p = s.params;
  const opt = new OptimizerState(p.dIn, p.dSae);
  opt.step = s.optimizer.step;
  for (const [name, t] of namedTensors(p)) {
    const from = s.optimizer.stateFor(name, t.length), to = opt.stateFor(name, t.length);
    to.m.set(from.m);
    to.v.set(from.v);
  }
  return {
    ...s,
    config: { ...s.config, matryoshkaWidths: [...s.config.matryoshkaWidths] },
    params: cloneParams(p),
    optimizer: opt,
    tokensSinceFired: s.tokensSinceFired.slice(),
    history: s.history.map((h) => ({ ...h })),
    epochSums: { ...s.epochSums },
    buffers: { ...s.buffers },
    control: { ...s.control },
    ...(s.curve ? { curve: { ...s.curve, points: s.curve.points.map((p) => ({ ...p })) } } : {}),
  };
}

/** Checkpoints kept in memory (tests, notebooks); files go through the store in sae/checkpoint.ts. */
export function memoryCheckpointStore(): CheckpointStore & { saves: number } {
  let saved: TrainingState | null = null;
  return {
    saves: 0,
    save(state) {
      saved = cloneTrainingState(state);
      this.saves++;
    },
    load() {
      return saved ? cloneTrainingState(saved) : null;
    },
  };
}
