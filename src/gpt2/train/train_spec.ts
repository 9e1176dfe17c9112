/**
 * What a language-model training run is (its spec) and what it records (its loss curve and evaluations): shared by
 * the training loop (./trainer.ts) and the checkpoint file that resumes it (./train_state.ts), which import it
 * rather than each other.
 */
import type { GPT2Config } from "../config.ts";

export interface LMTrainSpec {
  model: GPT2Config;
  seed: number;
  batchSize: number;
  steps: number;
  maxLr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  gradClip: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Evaluate on the first `evalWindows` validation windows every `evalEvery` steps (0: never during training). */
  evalEvery: number;
  evalWindows: number;
  /** Logit rows per chunk in the fused classifier; part of the spec because it sets the summation order of dwte. */
  chunkRows: number;
  /** Start from these weights (sha256 of their float32 parameters) instead of GPT-2's random initialisation. */
  initParamsSha256?: string;
}

export interface TrainingRecord {
  /** Per step: training loss (before the update), gradient norm (before clipping), learning rate. */
  loss: number[];
  gradNorm: number[];
  lr: number[];
  /** Validation loss on the fixed evaluation subset after `step` steps, and the sha256 of the parameters then. */
  evals: { step: number; loss: number; paramsSha256: string }[];
}
