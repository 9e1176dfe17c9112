/**
 * Tensor operations with their gradients side by side (forward, then the backward that undoes it), in the
 * spirit of llm.c: one place to read what an op computes and how its gradient flows.
 *
 * Conventions: every op returns a new contiguous tensor; broadcasting follows NumPy; reductions take an
 * axis (negative counts from the end) and `keepDim`; a shape mismatch throws a ShapeError naming the op and
 * both shapes. Gradients are recorded only when grad mode is on and an input requires grad.
 */
import { geluScalar } from "./det_math.ts";
import { Tensor, isGradEnabled, type GradNode } from "./tensor.ts";
import {
  broadcastShapes, broadcastStrides, formatShape, normaliseAxis, sameShape, sizeOf, splitAtAxis, stridesOf,
  ShapeError, type Shape,
} from "./shape.ts";
import { matmul as matmulKernel } from "./matmul.ts";

// ---------------------------------------------------------------- graph recording

function record(out: Tensor, op: string, inputs: Tensor[], backward: GradNode["backward"]): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradNode = { op, inputs, backward };
  }
  return out;
}

// ---------------------------------------------------------------- broadcasting machinery

/**
 * Visit every element of `outShape`, with the flat offsets into two operands read through broadcast
 * strides. The innermost dimension runs as a plain loop, so the common cases stay tight.
 */
function forEachBroadcast(
  outShape: Shape, stridesA: number[], stridesB: number[],
  visit: (o: number, ia: number, ib: number) => void,
): void {
  const rank = outShape.length;
  const total = sizeOf(outShape);
  if (total === 0) return;
  if (rank === 0) {
    visit(0, 0, 0);
    return;
  }
  const last = outShape[rank - 1]!;
  const sa = stridesA[rank - 1]!;
  const sb = stridesB[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < total; o += last) {
    for (let j = 0; j < last; j++) visit(o + j, ia + j * sa, ib + j * sb);
    // Advance the odometer over the outer dimensions.
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]!++;
      ia += stridesA[d]!;
      ib += stridesB[d]!;
      if (counter[d]! < outShape[d]!) break;
      ia -= stridesA[d]! * outShape[d]!;
      ib -= stridesB[d]! * outShape[d]!;
      counter[d] = 0;
    }
  }
}

/** Sum a gradient of the broadcast shape back down to an operand's own shape. */
export function reduceToShape(grad: Float32Array, outShape: Shape, inShape: Shape): Float32Array {
  if (sameShape(outShape, inShape)) return grad;
  const out = new Float32Array(sizeOf(inShape));
  const strides = broadcastStrides(inShape, outShape);
  const zero = new Array<number>(outShape.length).fill(0);
  forEachBroadcast(outShape, strides, zero, (o, i) => {
    out[i] += grad[o]!;
  });
  return out;
}

function binary(
  a: Tensor, b: Tensor, op: string,
  f: (x: number, y: number) => number,
  grads: (g: Float32Array, outShape: Shape) => [Float32Array | null, Float32Array | null],
): Tensor {
  const outShape = broadcastShapes(a.shape, b.shape, op);
  const out = new Float32Array(sizeOf(outShape));
  const A = a.data;
  const B = b.data;
  if (sameShape(a.shape, b.shape)) {
    for (let i = 0; i < out.length; i++) out[i] = f(A[i]!, B[i]!);
  } else if (b.size === 1 && sameShape(a.shape, outShape)) {
    const y = B[0]!;
    for (let i = 0; i < out.length; i++) out[i] = f(A[i]!, y);
  } else {
    forEachBroadcast(outShape, broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape), (o, ia, ib) => {
      out[o] = f(A[ia]!, B[ib]!);
    });
  }
  const result = new Tensor(out, outShape);
  return record(result, op, [a, b], (g) => {
    const [ga, gb] = grads(g, outShape);
    return [
      ga && a.requiresGrad ? reduceToShape(ga, outShape, a.shape) : null,
      gb && b.requiresGrad ? reduceToShape(gb, outShape, b.shape) : null,
    ];
  });
}

/** Read an operand at every position of the broadcast output shape (for gradients that need the other side). */
function expandTo(t: Tensor, outShape: Shape): Float32Array {
  if (sameShape(t.shape, outShape)) return t.data;
  const out = new Float32Array(sizeOf(outShape));
  const zero = new Array<number>(outShape.length).fill(0);
  forEachBroadcast(outShape, broadcastStrides(t.shape, outShape), zero, (o, i) => {
    out[o] = t.data[i]!;
  });
  return out;
}

function asTensor(x: Tensor | number): Tensor {
  return typeof x === "number" ? new Tensor(new Float32Array([x]), []) : x;
}

// ---------------------------------------------------------------- elementwise binary

/** a + b, broadcasting. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  return binary(a, asTensor(b), "add", (x, y) => x + y, (g) => [g, g]);
}

/** a − b, broadcasting. */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  return binary(a, asTensor(b), "sub", (x, y) => x - y, (g) => [g, negate(g)]);
}

/** a · b elementwise, broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(b);
  return binary(a, bt, "mul", (x, y) => x * y, (g, shape) => {
    const av = expandTo(a, shape);
    const bv = expandTo(bt, shape);
    const ga = new Float32Array(g.length);
    const gb = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      ga[i] = g[i]! * bv[i]!;
      gb[i] = g[i]! * av[i]!;
    }
    return [ga, gb];
  });
}

/** a / b, broadcasting. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(b);
  return binary(a, bt, "div", (x, y) => x / y, (g, shape) => {
    const av = expandTo(a, shape);
    const bv = expandTo(bt, shape);
    const ga = new Float32Array(g.length);
    const gb = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      ga[i] = g[i]! / bv[i]!;
      gb[i] = (-g[i]! * av[i]!) / (bv[i]! * bv[i]!);
    }
    return [ga, gb];
  });
}

function negate(g: Float32Array): Float32Array {
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = -g[i]!;
  return out;
}

// ---------------------------------------------------------------- elementwise unary

/** Unary op whose derivative is expressed through the input x and the output y. */
function unary(x: Tensor, op: string, f: (v: number) => number, dfdx: (x: number, y: number) => number): Tensor {
  const out = new Float32Array(x.size);
  const X = x.data;
  for (let i = 0; i < out.length; i++) out[i] = f(X[i]!);
  const result = new Tensor(out, x.shape);
  return record(result, op, [x], (g) => {
    const gx = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) gx[i] = g[i]! * dfdx(X[i]!, out[i]!);
    return [gx];
  });
}

/** −x elementwise. */
export const neg = (x: Tensor): Tensor => unary(x, "neg", (v) => -v, () => -1);
/** eˣ elementwise. */
export const exp = (x: Tensor): Tensor => unary(x, "exp", Math.exp, (_x, y) => y);
/** Natural logarithm elementwise. */
export const log = (x: Tensor): Tensor => unary(x, "log", Math.log, (v) => 1 / v);
/** √x elementwise. */
export const sqrt = (x: Tensor): Tensor => unary(x, "sqrt", Math.sqrt, (_x, y) => 0.5 / y);
/** tanh elementwise. */
export const tanh = (x: Tensor): Tensor => unary(x, "tanh", Math.tanh, (_x, y) => 1 - y * y);
/** x² elementwise. */
export const square = (x: Tensor): Tensor => unary(x, "square", (v) => v * v, (v) => 2 * v);
/** ReLU; the derivative at exactly 0 is taken as 0, as in PyTorch. */
export const relu = (x: Tensor): Tensor => unary(x, "relu", (v) => (v > 0 ? v : 0), (v) => (v > 0 ? 1 : 0));

const GELU_C = Math.sqrt(2 / Math.PI);
export { geluScalar };
function geluGradScalar(v: number): number {
  const inner = GELU_C * (v + 0.044715 * v * v * v);
  const t = Math.tanh(inner);
  const dInner = GELU_C * (1 + 3 * 0.044715 * v * v);
  return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * dInner;
}
/** GELU (GPT-2's tanh approximation) elementwise. */
export const gelu = (x: Tensor): Tensor => unary(x, "gelu", geluScalar, geluGradScalar);

// ---------------------------------------------------------------- reductions

function reduceShape(shape: Shape, axis: number, keepDim: boolean): number[] {
  const out = [...shape];
  if (keepDim) out[axis] = 1;
  else out.splice(axis, 1);
  return out;
}

/** Sum along an axis, or over everything when axis is undefined (giving a scalar of shape []). */
export function sum(x: Tensor, axis?: number, keepDim = false): Tensor {
  if (axis === undefined) {
    let s = 0;
    for (let i = 0; i < x.size; i++) s += x.data[i]!;
    const result = new Tensor(new Float32Array([s]), keepDim ? x.shape.map(() => 1) : []);
    return record(result, "sum", [x], (g) => [new Float32Array(x.size).fill(g[0]!)]);
  }
  const ax = normaliseAxis(axis, x.rank, "sum");
  const { outer, size, inner } = splitAtAxis(x.shape, ax);
  const out = new Float32Array(outer * inner);
  const X = x.data;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let s = 0;
      for (let i = 0; i < size; i++) s += X[(o * size + i) * inner + j]!;
      out[o * inner + j] = s;
    }
  }
  const result = new Tensor(out, reduceShape(x.shape, ax, keepDim));
  return record(result, "sum", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < size; i++) {
        for (let j = 0; j < inner; j++) gx[(o * size + i) * inner + j] = g[o * inner + j]!;
      }
    }
    return [gx];
  });
}

/** The mean over one axis (or all elements), optionally keeping the axis. */
export function mean(x: Tensor, axis?: number, keepDim = false): Tensor {
  const count = axis === undefined ? x.size : x.shape[normaliseAxis(axis, x.rank, "mean")]!;
  return mul(sum(x, axis, keepDim), 1 / count);
}

/** Maximum along an axis (values only); the gradient goes to the first maximal element. */
export function max(x: Tensor, axis: number, keepDim = false): Tensor {
  const ax = normaliseAxis(axis, x.rank, "max");
  const { outer, size, inner } = splitAtAxis(x.shape, ax);
  if (size === 0) throw new ShapeError(`max: cannot reduce an empty axis of ${formatShape(x.shape)}`);
  const out = new Float32Array(outer * inner);
  const argmax = new Int32Array(outer * inner);
  const X = x.data;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = -Infinity;
      let bestI = 0;
      for (let i = 0; i < size; i++) {
        const v = X[(o * size + i) * inner + j]!;
        if (i === 0 || v > best) {
          best = v;
          bestI = i;
        }
      }
      out[o * inner + j] = best;
      argmax[o * inner + j] = bestI;
    }
  }
  const result = new Tensor(out, reduceShape(x.shape, ax, keepDim));
  return record(result, "max", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) gx[(o * size + argmax[o * inner + j]!) * inner + j] = g[o * inner + j]!;
    }
    return [gx];
  });
}

/** Population variance (divide by N, NumPy's default ddof=0) along an axis. */
export function variance(x: Tensor, axis: number, keepDim = false): Tensor {
  const m = mean(x, axis, true);
  return mean(square(sub(x, m)), axis, keepDim);
}

// ---------------------------------------------------------------- softmax family (last axis)

function lastAxis(x: Tensor, op: string): { rows: number; cols: number } {
  if (x.rank === 0) throw new ShapeError(`${op}: needs at least one axis, got a scalar`);
  const cols = x.shape[x.rank - 1]!;
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

/** Softmax over the last axis, shifted by the row max so exp never overflows. */
export function softmax(x: Tensor): Tensor {
  const { rows, cols } = lastAxis(x, "softmax");
  const out = new Float32Array(x.size);
  const X = x.data;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, X[o + j]!);
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(X[o + j]! - m);
      out[o + j] = e;
      s += e;
    }
    for (let j = 0; j < cols; j++) out[o + j] /= s;
  }
  const result = new Tensor(out, x.shape);
  return record(result, "softmax", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += g[o + j]! * out[o + j]!;
      for (let j = 0; j < cols; j++) gx[o + j] = out[o + j]! * (g[o + j]! - dot);
    }
    return [gx];
  });
}

/** log-softmax over the last axis: x − max − log Σ exp(x − max). */
export function logSoftmax(x: Tensor): Tensor {
  const { rows, cols } = lastAxis(x, "logSoftmax");
  const out = new Float32Array(x.size);
  const X = x.data;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, X[o + j]!);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(X[o + j]! - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < cols; j++) out[o + j] = X[o + j]! - lse;
  }
  const result = new Tensor(out, x.shape);
  return record(result, "logSoftmax", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let gs = 0;
      for (let j = 0; j < cols; j++) gs += g[o + j]!;
      for (let j = 0; j < cols; j++) gx[o + j] = g[o + j]! - Math.exp(out[o + j]!) * gs;
    }
    return [gx];
  });
}

/** Layer normalisation over the last axis: (x − μ)/√(σ² + eps) · weight + bias (σ² with ddof=0). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  const { rows, cols } = lastAxis(x, "layerNorm");
  if (weight.size !== cols || bias.size !== cols) {
    throw new ShapeError(`layerNorm: weight ${formatShape(weight.shape)} and bias ${formatShape(bias.shape)} must have ${cols} elements for input ${formatShape(x.shape)}`);
  }
  const out = new Float32Array(x.size);
  const xhat = new Float32Array(x.size);
  const rstd = new Float32Array(rows);
  const X = x.data, W = weight.data, B = bias.data;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = 0;
    for (let j = 0; j < cols; j++) m += X[o + j]!;
    m /= cols;
    let v = 0;
    for (let j = 0; j < cols; j++) {
      const d = X[o + j]! - m;
      v += d * d;
    }
    v /= cols;
    const s = 1 / Math.sqrt(v + eps);
    rstd[r] = s;
    for (let j = 0; j < cols; j++) {
      const h = (X[o + j]! - m) * s;
      xhat[o + j] = h;
      out[o + j] = h * W[j]! + B[j]!;
    }
  }
  const result = new Tensor(out, x.shape);
  return record(result, "layerNorm", [x, weight, bias], (g) => {
    const gx = new Float32Array(x.size);
    const gw = new Float32Array(cols);
    const gb = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let meanDh = 0;
      let meanDhH = 0;
      for (let j = 0; j < cols; j++) {
        const dh = g[o + j]! * W[j]!;
        meanDh += dh;
        meanDhH += dh * xhat[o + j]!;
        gw[j] += g[o + j]! * xhat[o + j]!;
        gb[j] += g[o + j]!;
      }
      meanDh /= cols;
      meanDhH /= cols;
      for (let j = 0; j < cols; j++) {
        const dh = g[o + j]! * W[j]!;
        gx[o + j] = rstd[r]! * (dh - meanDh - xhat[o + j]! * meanDhH);
      }
    }
    return [gx, gw, gb];
  });
}

// ---------------------------------------------------------------- matmul

export interface MatmulOptions {
  /** Use Aᵀ: A's last two axes are stored [k, m]. */
  transA?: boolean;
  /** Use Bᵀ: B's last two axes are stored [n, k]. */
  transB?: boolean;
}

/**
 * Matrix product over the last two axes. 2-D × 2-D, batched × batched (equal batch dims), or batched × 2-D
 * (B shared by every batch). Transposed operands are read in place: no copy is ever made to transpose.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false } = options;
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`matmul: operands need rank ≥ 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const [ar, ac] = [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [br, bc] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const describe = () => `matmul${transA ? "(Aᵀ)" : ""}${transB ? "(Bᵀ)" : ""}: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`;
  if (k !== kb) throw new ShapeError(`${describe()} have inner dimensions ${k} and ${kb}`);
  const sharedB = b.rank === 2;
  if (!sharedB && !sameShape(batchA, batchB)) throw new ShapeError(`${describe()} have different batch dimensions`);
  const batch = sizeOf(batchA);
  const outShape = [...batchA, m, n];
  const out = new Float32Array(batch * m * n);
  if (sharedB && !transA) {
    // Fold the batch into the rows: one big GEMM is faster than many small ones.
    matmulKernel({ a: a.data, b: b.data, c: out, m: batch * m, n, k, transA: false, transB });
  } else {
    for (let i = 0; i < batch; i++) {
      matmulKernel({
        a: a.data.subarray(i * m * k, (i + 1) * m * k),
        b: sharedB ? b.data : b.data.subarray(i * k * n, (i + 1) * k * n),
        c: out.subarray(i * m * n, (i + 1) * m * n),
        m, n, k, transA, transB,
      });
    }
  }
  const result = new Tensor(out, outShape);
  return record(result, "matmul", [a, b], (g) => {
    let ga: Float32Array | null = null;
    let gb: Float32Array | null = null;
    if (a.requiresGrad) {
      ga = new Float32Array(a.size);
      for (let i = 0; i < batch; i++) {
        const gi = g.subarray(i * m * n, (i + 1) * m * n);
        const bi = sharedB ? b.data : b.data.subarray(i * k * n, (i + 1) * k * n);
        const dst = ga.subarray(i * m * k, (i + 1) * m * k);
        // dA = dC·op(B)ᵀ, written in A's storage orientation.
        if (!transA) matmulKernel({ a: gi, b: bi, c: dst, m, n: k, k: n, transB: !transB });
        else matmulKernel({ a: bi, b: gi, c: dst, m: k, n: m, k: n, transA: transB, transB: true });
      }
    }
    if (b.requiresGrad) {
      gb = new Float32Array(b.size);
      for (let i = 0; i < batch; i++) {
        const gi = g.subarray(i * m * n, (i + 1) * m * n);
        const ai = a.data.subarray(i * m * k, (i + 1) * m * k);
        const dst = sharedB ? gb : gb.subarray(i * k * n, (i + 1) * k * n);
        // dB = op(A)ᵀ·dC, written in B's storage orientation; a shared B sums over the batch.
        if (!transB) matmulKernel({ a: ai, b: gi, c: dst, m: k, n, k: m, transA: !transA, accumulate: sharedB && i > 0 });
        else matmulKernel({ a: gi, b: ai, c: dst, m: n, n: k, k: m, transA: true, transB: transA, accumulate: sharedB && i > 0 });
      }
    }
    return [ga, gb];
  });
}

// ---------------------------------------------------------------- shape ops

/** The same elements in another shape of the same size (one dimension may be −1). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = [...shape];
  const inferIndex = resolved.indexOf(-1);
  if (inferIndex >= 0) {
    const known = resolved.reduce((p, d, i) => (i === inferIndex ? p : p * d), 1);
    resolved[inferIndex] = known === 0 ? 0 : x.size / known;
  }
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) to ${formatShape(shape)}`);
  }
  const result = new Tensor(x.data, resolved); // same storage: reshape of contiguous data is free
  return record(result, "reshape", [x], (g) => [g]);
}

/** Swap the last two axes (a real copy: every tensor stays contiguous). */
export function transpose(x: Tensor): Tensor {
  if (x.rank < 2) throw new ShapeError(`transpose: needs rank ≥ 2, got ${formatShape(x.shape)}`);
  const r = x.shape[x.rank - 2]!;
  const c = x.shape[x.rank - 1]!;
  const batch = x.size / (r * c || 1);
  const swap = (src: Float32Array, rows: number, cols: number): Float32Array => {
    const dst = new Float32Array(src.length);
    for (let b = 0; b < batch; b++) {
      const o = b * rows * cols;
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[o + j * rows + i] = src[o + i * cols + j]!;
    }
    return dst;
  };
  const result = new Tensor(r * c === 0 ? new Float32Array(0) : swap(x.data, r, c), [...x.shape.slice(0, -2), c, r]);
  return record(result, "transpose", [x], (g) => [r * c === 0 ? g : swap(g, c, r)]);
}

/** x[..., start:end, ...] along one axis. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normaliseAxis(axis, x.rank, "slice");
  const dim = x.shape[ax]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > dim || start > end) {
    throw new ShapeError(`slice: range [${start}, ${end}) out of bounds for axis ${ax} of ${formatShape(x.shape)}`);
  }
  const { outer, inner } = splitAtAxis(x.shape, ax);
  const len = end - start;
  const out = new Float32Array(outer * len * inner);
  for (let o = 0; o < outer; o++) {
    out.set(x.data.subarray((o * dim + start) * inner, (o * dim + end) * inner), o * len * inner);
  }
  const shape = [...x.shape];
  shape[ax] = len;
  const result = new Tensor(out, shape);
  return record(result, "slice", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) gx.set(g.subarray(o * len * inner, (o + 1) * len * inner), (o * dim + start) * inner);
    return [gx];
  });
}

/** Concatenate along an axis; all other dimensions must agree. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new ShapeError("concat: needs at least one tensor");
  const first = tensors[0]!;
  const ax = normaliseAxis(axis, first.rank, "concat");
  for (const t of tensors) {
    const ok = t.rank === first.rank && t.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!ok) throw new ShapeError(`concat: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside axis ${ax}`);
  }
  const { outer, inner } = splitAtAxis(first.shape, ax);
  const total = tensors.reduce((s, t) => s + t.shape[ax]!, 0);
  const out = new Float32Array(outer * total * inner);
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const len = t.shape[ax]!;
    offsets.push(offset);
    for (let o = 0; o < outer; o++) out.set(t.data.subarray(o * len * inner, (o + 1) * len * inner), (o * total + offset) * inner);
    offset += len;
  }
  const shape = [...first.shape];
  shape[ax] = total;
  const result = new Tensor(out, shape);
  return record(result, "concat", [...tensors], (g) => tensors.map((t, idx) => {
    const len = t.shape[ax]!;
    const gt = new Float32Array(t.size);
    for (let o = 0; o < outer; o++) gt.set(g.subarray((o * total + offsets[idx]!) * inner, (o * total + offsets[idx]! + len) * inner), o * len * inner);
    return gt;
  }));
}

/** Rows of x (first axis) at the given indices: an embedding lookup. */
export function gatherRows(x: Tensor, indices: ArrayLike<number>): Tensor {
  if (x.rank < 1) throw new ShapeError("gatherRows: needs rank ≥ 1");
  const rows = x.shape[0]!;
  const width = rows === 0 ? 0 : x.size / rows;
  const out = new Float32Array(indices.length * width);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= rows) throw new ShapeError(`gatherRows: index ${r} out of range for ${rows} rows`);
    out.set(x.data.subarray(r * width, (r + 1) * width), i * width);
  }
  const result = new Tensor(out, [indices.length, ...x.shape.slice(1)]);
  return record(result, "gatherRows", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let i = 0; i < indices.length; i++) {
      const o = indices[i]! * width;
      for (let j = 0; j < width; j++) gx[o + j] += g[i * width + j]!;
    }
    return [gx];
  });
}

// ---------------------------------------------------------------- top-k and scatter

export interface TopK {
  values: Tensor;
  /** Positions along the last axis, same shape as values. */
  indices: Int32Array;
}

/**
 * The k largest entries along the last axis, in descending order. Ties go to the lower index (a later
 * equal value never displaces an earlier one), so results are deterministic. NaN is an error: it has no
 * place in an order. The gradient flows back to the selected positions only.
 */
export function topk(x: Tensor, k: number): TopK {
  const { rows, cols } = lastAxis(x, "topk");
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new ShapeError(`topk: k = ${k} must be in [0, ${cols}] for shape ${formatShape(x.shape)}`);
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  topkRows(x.data, rows, cols, k, values, indices);
  const result = new Tensor(values, [...x.shape.slice(0, -1), k]);
  record(result, "topk", [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) gx[r * cols + indices[r * k + j]!] += g[r * k + j]!;
    return [gx];
  });
  return { values: result, indices };
}

/**
 * Raw top-k kernel shared with the SAE trainer: per row, keep a descending list of the best k seen so far;
 * a new value enters only if strictly greater than the current k-th, found by insertion from the end.
 */
export function topkRows(data: Float32Array, rows: number, cols: number, k: number, values: Float32Array, indices: Int32Array): void {
  if (k === 0) return;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const vo = r * k;
    let filled = 0;
    for (let j = 0; j < cols; j++) {
      const v = data[base + j]!;
      if (v !== v) throw new RangeError(`topk: NaN at row ${r}, column ${j}`);
      if (filled === k && !(v > values[vo + k - 1]!)) continue;
      let pos = filled === k ? k - 1 : filled++;
      while (pos > 0 && v > values[vo + pos - 1]!) {
        values[vo + pos] = values[vo + pos - 1]!;
        indices[vo + pos] = indices[vo + pos - 1]!;
        pos--;
      }
      values[vo + pos] = v;
      indices[vo + pos] = j;
    }
  }
}

/** Scatter values [..., k] into zeros [..., size] at the given last-axis indices (the inverse of topk's selection). */
export function scatter(values: Tensor, indices: Int32Array, size: number): Tensor {
  const { rows, cols: k } = lastAxis(values, "scatter");
  if (indices.length !== values.size) throw new ShapeError(`scatter: ${indices.length} indices for values of shape ${formatShape(values.shape)}`);
  const out = new Float32Array(rows * size);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      const ix = indices[r * k + j]!;
      if (ix < 0 || ix >= size) throw new ShapeError(`scatter: index ${ix} out of range for size ${size}`);
      out[r * size + ix] = values.data[r * k + j]!;
    }
  }
  const result = new Tensor(out, [...values.shape.slice(0, -1), size]);
  return record(result, "scatter", [values], (g) => {
    const gv = new Float32Array(values.size);
    for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) gv[r * k + j] = g[r * size + indices[r * k + j]!]!;
    return [gv];
  });
}

/** Strides re-exported for callers that index raw data by hand. */
export { stridesOf };
