/**
 * The optimiser side of a training step: global gradient-norm clipping, the warmup + cosine learning-rate
 * schedule, and AdamW exactly as torch.optim.AdamW applies it (decoupled weight decay):
 *
 *   p ← p·(1 − lr·wd)                     (only tensors with decay: matrices, see ./params.ts)
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 *
 * Arithmetic per element in float64, stored as float32; one pass over the flat buffers. The clip follows
 * torch.nn.utils.clip_grad_norm_: norm = √Σg² (float64, in parameter order), and when norm > max the gradient
 * is multiplied by max / (norm + 1e-6). The schedule's cosine is a series of exactly rounded operations
 * (Math.cos is not required to be correctly rounded), so the learning rate has the same bits everywhere.
 */
import type { ParamLayout } from "./params.ts";

export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface ScheduleSpec {
  maxLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** cos(x) for x in [0, π] from + − × ÷ only: the Taylor series on [0, π/2] and cos x = −cos(π − x) beyond. */
export function detCos(x: number): number {
  if (!(x >= 0 && x <= Math.PI)) throw new RangeError(`detCos: ${x} is outside [0, π]`);
  if (x > Math.PI / 2) return -detCos(Math.PI - x);
  const x2 = x * x;
  let term = 1;
  let sum = 1;
  for (let n = 1; n <= 14; n++) {
    term *= -x2 / ((2 * n - 1) * (2 * n)); // (π/2)^28 / 28! ≈ 1e-24: far below a double's precision
    sum += term;
  }
  return sum;
}

/** Learning rate of step `step` (0-based): linear warmup to maxLr, then cosine decay to minLr at totalSteps. */
export function learningRate(step: number, s: ScheduleSpec): number {
  if (step < s.warmupSteps) return (s.maxLr * (step + 1)) / s.warmupSteps;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  return s.minLr + 0.5 * (s.maxLr - s.minLr) * (1 + detCos(Math.PI * progress));
}

/** √(Σ g²) in float64, in buffer order. */
export function gradNorm(grads: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < grads.length; i++) sum += grads[i]! * grads[i]!;
  return Math.sqrt(sum);
}

/** Scale the gradient to norm `maxNorm` when it is larger (torch's clip_grad_norm_); returns the factor used. */
export function clipGradients(grads: Float32Array, norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return 1;
  for (let i = 0; i < grads.length; i++) grads[i] *= coef;
  return coef;
}

/** AdamW's two moment vectors and its step count, over one flat parameter vector. */
export class AdamWState {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Updates applied so far (the t of the next update is step + 1). */
  step = 0;
  constructor(size: number) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }
}

/** One AdamW update of every tensor of the layout at learning rate lr. */
export function adamwUpdate(layout: ParamLayout, params: Float32Array, grads: Float32Array, state: AdamWState, lr: number, h: AdamWHyper): void {
  state.step++;
  const t = state.step;
  const { m, v } = state;
  const b1 = h.beta1, b2 = h.beta2, oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2, eps = h.eps;
  const stepSize = lr / (1 - b1 ** t);
  const sqrtBias2 = Math.sqrt(1 - b2 ** t);
  for (const tensor of layout.tensors) {
    const shrink = tensor.decay ? 1 - lr * h.weightDecay : 1;
    const end = tensor.offset + tensor.size;
    for (let i = tensor.offset; i < end; i++) {
      const g = grads[i]!;
      const mi = Math.fround(b1 * m[i]! + oneMinusB1 * g);
      const vi = Math.fround(b2 * v[i]! + oneMinusB2 * g * g);
      m[i] = mi;
      v[i] = vi;
      params[i] = params[i]! * shrink - (stepSize * mi) / (Math.sqrt(vi) / sqrtBias2 + eps);
    }
  }
}
