/**
 * GPT-2's layers for training, each forward beside its backward (the layout of llm.c's train_gpt2.c): the
 * encoder (token + position embedding), layer norm, the linear (HF Conv1D) layers, GELU (tanh form) and the
 * residual add. Attention is in ./attention.ts and the tied unembedding with softmax cross-entropy in ./xent.ts.
 *
 * Conventions: activations are row-major [rows, width] Float32Arrays with rows = batch·seq. Backward functions
 * ADD into parameter gradients (a buffer zeroed once per step) and write or add into input gradients as named.
 * Every product goes through `matmul` (threaded WebAssembly SIMD, bit-identical at any thread count); column
 * sums over rows (bias and layer-norm gradients) accumulate in float64 in row order, so results do not depend on
 * how work is split. Only exactly rounded operations and detExp are used: the same bits on every engine.
 */
import { matmul } from "../../tensor/matmul.ts";
import { detExp } from "../../tensor/det_math.ts";
import { layerNormRows } from "../model.ts";

// ── encoder: x = wte[token] + wpe[position] ──────────────────────────────────────────────────────────────

export function encoderForward(out: Float32Array, tokens: ArrayLike<number>, wte: Float32Array, wpe: Float32Array, rows: number, seq: number, d: number): void {
  for (let r = 0; r < rows; r++) {
    const t = tokens[r]! * d;
    const p = (r % seq) * d;
    const o = r * d;
    for (let j = 0; j < d; j++) out[o + j] = wte[t + j]! + wpe[p + j]!;
  }
}

/** dwte[token] += dout, dwpe[position] += dout, rows in order. */
export function encoderBackward(dwte: Float32Array, dwpe: Float32Array, dout: Float32Array, tokens: ArrayLike<number>, rows: number, seq: number, d: number): void {
  for (let r = 0; r < rows; r++) {
    const t = tokens[r]! * d;
    const p = (r % seq) * d;
    const o = r * d;
    for (let j = 0; j < d; j++) {
      dwte[t + j] += dout[o + j]!;
      dwpe[p + j] += dout[o + j]!;
    }
  }
}

// ── layer norm: y = (x − mean)·rstd·w + b,  rstd = 1/√(biased variance + eps) ─────────────────────────────

/** The inference forward's layer norm (bit for bit), also recording each row's mean and rstd for the backward. */
export function layerNormForward(out: Float32Array, mean: Float64Array, rstd: Float64Array, x: Float32Array, w: Float32Array, b: Float32Array, rows: number, d: number, eps: number): void {
  layerNormRows(x, rows, d, w, b, eps, out, true, { mean, rstd });
}

/**
 * With n̂ = (x − mean)·rstd and g = w ⊙ dout:  dx += rstd·(g − mean(g) − n̂·mean(g ⊙ n̂)),  dw += Σ_rows n̂ ⊙ dout,
 * db += Σ_rows dout. dx is ADDED to (it is the residual stream's gradient).
 */
export function layerNormBackward(dx: Float32Array, dw: Float32Array, db: Float32Array, dout: Float32Array, x: Float32Array, w: Float32Array, mean: Float64Array, rstd: Float64Array, rows: number, d: number): void {
  const sumW = new Float64Array(d);
  const sumB = new Float64Array(d);
  const norm = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const mu = mean[r]!, s = rstd[r]!;
    let gMean = 0, gNormMean = 0;
    for (let j = 0; j < d; j++) {
      const n = (x[o + j]! - mu) * s;
      norm[j] = n;
      const g = w[j]! * dout[o + j]!;
      gMean += g;
      gNormMean += g * n;
      sumW[j] += n * dout[o + j]!;
      sumB[j] += dout[o + j]!;
    }
    gMean /= d;
    gNormMean /= d;
    for (let j = 0; j < d; j++) dx[o + j] += s * (w[j]! * dout[o + j]! - gMean - norm[j]! * gNormMean);
  }
  for (let j = 0; j < d; j++) {
    dw[j] += sumW[j]!;
    db[j] += sumB[j]!;
  }
}

// ── linear (HF Conv1D): y = x·W + b, W stored [in, out] ───────────────────────────────────────────────────

export function linearForward(out: Float32Array, x: Float32Array, w: Float32Array, b: Float32Array, rows: number, inDim: number, outDim: number): void {
  for (let r = 0; r < rows; r++) out.set(b, r * outDim);
  matmul({ a: x, b: w, c: out, m: rows, n: outDim, k: inDim, accumulate: true });
}

/** dx = dout·Wᵀ (overwritten; skipped when dx is null), dW += xᵀ·dout, db += Σ_rows dout. */
export function linearBackward(dx: Float32Array | null, dw: Float32Array, db: Float32Array, dout: Float32Array, x: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number): void {
  if (dx) matmul({ a: dout, b: w, c: dx, m: rows, n: inDim, k: outDim, transB: true });
  matmul({ a: x, b: dout, c: dw, m: inDim, n: outDim, k: rows, transA: true, accumulate: true });
  columnSumsInto(db, dout, rows, outDim);
}

/** db[j] += Σ_r m[r, j], in float64, rows in order. */
export function columnSumsInto(db: Float32Array, m: Float32Array, rows: number, cols: number): void {
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) sums[j] += m[o + j]!;
  }
  for (let j = 0; j < cols; j++) db[j] += sums[j]!;
}

// ── GELU, tanh form (GPT-2's gelu_new) ─────────────────────────────────────────────────────────────────
//   gelu(x) = 0.5·x·(1 + tanh u), u = c·(x + 0.044715·x³), c = √(2/π)
//   With σ = 0.5·(1 + tanh u) = 1/(1 + e^(−2u)):  gelu = x·σ,  gelu' = σ + 2·x·σ·(1 − σ)·c·(1 + 3·0.044715·x²)
// (the same function as tensor/det_math.ts's geluScalar, and as GPT-2's tanh formula: 1 − tanh² u = 4σ(1 − σ)).

const GELU_C = Math.sqrt(2 / Math.PI);

export function geluForward(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    out[i] = v / (1 + detExp(-2 * GELU_C * (v + 0.044715 * v * v * v)));
  }
}

/** dx = gelu'(x) ⊙ dout (overwritten). */
export function geluBackward(dx: Float32Array, x: Float32Array, dout: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const sig = 1 / (1 + detExp(-2 * GELU_C * (v + 0.044715 * v * v * v)));
    const grad = sig + 2 * v * sig * (1 - sig) * GELU_C * (1 + 3 * 0.044715 * v * v);
    dx[i] = grad * dout[i]!;
  }
}

// ── residual: out = x + branch (its backward passes the gradient to both sides unchanged) ────────────────

export function residualForward(out: Float32Array, x: Float32Array, branch: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i]! + branch[i]!;
}
