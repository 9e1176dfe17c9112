/**
 * The sparsity coefficient λ of the penalty recipes (relu-l1, jumprelu, gated), step by step.
 *
 * "fixed": λ_t = λ·min(1, t / W), a linear warm-up over the first W = ⌈sparsityWarmupFraction·T⌉ of the T steps
 *   (Anthropic's April-2024 recipe warms the L1 coefficient up over the first 5%).
 * "target-l0": matched sparsity — λ is steered so that the batch L0 (mean active latents per row, measured in each
 *   step's forward pass) approaches the target k. During the first C = ⌈sparsityControlFraction·T⌉ steps (75% by
 *   default), after every step:   ln λ ← ln λ + GAIN · clamp(ln(L0 / k), −1, 1),   GAIN = 0.02
 *   an integral controller on ln λ: too many active latents raise λ, too few lower it, by at most a factor
 *   e^GAIN ≈ 1.02 per step — slower than the weights respond, which keeps it from overshooting (gains of 0.05 and
 *   more swung L0 between 0 and 8× the target on synthetic data). Architectures whose sparsity is set by a
 *   threshold that Adam moves too slowly for a short run (jumprelu's log-thresholds, gated's gate biases) apply the
 *   same step to it (Architecture.steerSparsity). From step C + 1 on λ is frozen, so the rest of training optimises
 *   one fixed objective and the L0 it settles at is what the run reports. The starting point helps as much:
 *   sparsityInit "target-l0" puts the initial L0 at k. Everything is a function of the run's own statistics,
 *   computed with exactly rounded operations only (detLog, detExp), so it is as deterministic as the rest of
 *   training; the history records the target, λ and L0 per epoch.
 */
import type { SAETrainConfig } from "./config.ts";
import { detExp } from "../tensor/det_math.ts";
import { detLog } from "../tensor/rng.ts";

export const CONTROL_GAIN = 0.02;

export interface SparsityControlState {
  /** λ in force (the controller's current value; before warm-up for "fixed"). */
  coefficient: number;
  /** Steps the controller has adapted λ on. */
  adaptedSteps: number;
}

export function initialControl(cfg: SAETrainConfig): SparsityControlState {
  return { coefficient: cfg.sparsityControl === "none" ? 0 : cfg.sparsityCoefficient, adaptedSteps: 0 };
}

/** λ for step `step` (1-based) of `totalSteps`. */
export function coefficientAt(cfg: SAETrainConfig, state: SparsityControlState, step: number, totalSteps: number): number {
  if (cfg.sparsityControl !== "fixed") return state.coefficient;
  const warmup = Math.ceil(cfg.sparsityWarmupFraction * totalSteps);
  return warmup > 0 ? state.coefficient * Math.min(1, step / warmup) : state.coefficient;
}

/** The number of steps during which "target-l0" adapts λ. */
export function controlSteps(cfg: SAETrainConfig, totalSteps: number): number {
  return cfg.sparsityControl === "target-l0" ? Math.ceil(cfg.sparsityControlFraction * totalSteps) : 0;
}

/**
 * After step `step` with batch L0 `l0`: while the control phase lasts, adapt λ toward L0 = k and return the step
 * of ln λ taken (GAIN · the clamped log error), which architectures may also apply to what sets their sparsity
 * directly (JumpReLU's log-thresholds); null once λ is frozen.
 */
export function updateControl(cfg: SAETrainConfig, state: SparsityControlState, step: number, totalSteps: number, l0: number): number | null {
  if (step > controlSteps(cfg, totalSteps)) return null;
  const move = CONTROL_GAIN * Math.min(1, Math.max(-1, detLog(l0 / cfg.k)));
  state.coefficient *= detExp(move);
  state.adaptedSteps++;
  return move;
}
