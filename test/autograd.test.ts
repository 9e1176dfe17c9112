/**
 * Gradient checks: every differentiable op's autograd gradient (computed in float32) against central finite
 * differences of an independent float64 re-implementation of the same function, on random small inputs.
 * The loss is Σ op(x)·w with a fixed random w, so every output element's gradient path is exercised.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  Tensor, add, sub, mul, div, neg, exp, log, sqrt, tanh, square, relu, gelu, sum, mean, max, variance,
  softmax, logSoftmax, layerNorm, matmul, reshape, transpose, slice, concat, gatherRows, topk, scatter,
  backward, noGrad,
} from "../src/tensor/index.ts";
import { Rng } from "../src/tensor/rng.ts";

type F64 = number[];
type Fn64 = (inputs: F64[]) => F64;

function randArray(rng: Rng, n: number, positive = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = positive ? 0.5 + rng.uniform() * 2 : rng.normal();
  return a;
}

/** Check d(Σ op(x)·w)/dx from autograd against float64 central differences of `reference`. */
function gradCheck(shapes: number[][], op: (xs: Tensor[]) => Tensor, reference: Fn64, seed: number, options: { positive?: boolean; h?: number } = {}): void {
  const rng = Rng.stream(seed, "gradcheck");
  const inputs = shapes.map((s) => new Tensor(randArray(rng, s.reduce((a, b) => a * b, 1), options.positive), s, true));
  const out = op(inputs);
  const w = randArray(rng, out.size);
  const loss = sum(mul(out, new Tensor(w, out.shape)));
  backward(loss);
  // The forward itself must agree with the float64 reference too.
  const ref = reference(inputs.map((t) => Array.from(t.data)));
  expect(ref.length).toBe(out.size);
  ref.forEach((v, i) => expect(Math.abs(out.data[i]! - v)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v))));
  const h = options.h ?? 1e-6;
  inputs.forEach((t, which) => {
    const base = inputs.map((x) => Array.from(x.data));
    for (let i = 0; i < t.size; i++) {
      const plus = base.map((a) => a.slice());
      const minus = base.map((a) => a.slice());
      plus[which]![i]! += h;
      minus[which]![i]! -= h;
      const lp = reference(plus).reduce((s, v, j) => s + v * w[j]!, 0);
      const lm = reference(minus).reduce((s, v, j) => s + v * w[j]!, 0);
      const numeric = (lp - lm) / (2 * h);
      const analytic = t.grad!.data[i]!;
      if (Math.abs(analytic - numeric) > 2e-5 + 1e-4 * Math.abs(numeric)) {
        throw new Error(`input ${which} element ${i}: autograd ${analytic} vs finite difference ${numeric}`);
      }
    }
  });
}

// ---- float64 references, written independently of src/tensor

function bcastIndex(outIdx: number, outShape: number[], inShape: number[]): number {
  let rem = outIdx, flat = 0, stride = 1;
  const coords: number[] = [];
  for (let d = outShape.length - 1; d >= 0; d--) { coords[d] = rem % outShape[d]!; rem = Math.floor(rem / outShape[d]!); }
  for (let d = inShape.length - 1; d >= 0; d--) {
    const od = outShape.length - inShape.length + d;
    const c = inShape[d] === 1 ? 0 : coords[od]!;
    flat += c * stride; stride *= inShape[d]!;
  }
  return flat;
}
function bshape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => Math.max(a[a.length - r + i] ?? 1, b[b.length - r + i] ?? 1));
}
const binRef = (sa: number[], sb: number[], f: (x: number, y: number) => number): Fn64 => ([a, b]) => {
  const so = bshape(sa, sb);
  const n = so.reduce((p, d) => p * d, 1);
  return Array.from({ length: n }, (_, i) => f(a![bcastIndex(i, so, sa)]!, b![bcastIndex(i, so, sb)]!));
};
const axisRef = (shape: number[], axis: number, f: (vals: number[]) => number): Fn64 => ([x]) => {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1), size = shape[axis]!, inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) out.push(f(Array.from({ length: size }, (_, i) => x![(o * size + i) * inner + j]!)));
  return out;
};
const rowsRef = (cols: number, f: (row: number[]) => number[]): Fn64 => ([x]) => {
  const out: number[] = [];
  for (let r = 0; r < x!.length / cols; r++) out.push(...f(x!.slice(r * cols, (r + 1) * cols)));
  return out;
};
function mm64(a: F64, b: F64, m: number, n: number, k: number, tA: boolean, tB: boolean): F64 {
  const c: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += (tA ? a[p * m + i]! : a[i * k + p]!) * (tB ? b[j * k + p]! : b[p * n + j]!);
    c.push(s);
  }
  return c;
}
const GC = Math.sqrt(2 / Math.PI);

const small = fc.integer({ min: 1, max: 4 });
const seedArb = fc.nat(10_000);

describe("autograd gradient checks (float32 autograd vs float64 finite differences)", () => {
  it("broadcast add / sub / mul / div", () => {
    fc.assert(fc.property(small, small, small, fc.constantFrom(0, 1, 2, 3), seedArb, (p, q, r, variant, seed) => {
      const sa = [p, q, r];
      const sb = [[p, q, r], [r], [q, 1], [1, 1, 1]][variant]!;
      gradCheck([sa, sb], ([a, b]) => add(a!, b!), binRef(sa, sb, (x, y) => x + y), seed);
      gradCheck([sa, sb], ([a, b]) => sub(a!, b!), binRef(sa, sb, (x, y) => x - y), seed);
      gradCheck([sa, sb], ([a, b]) => mul(a!, b!), binRef(sa, sb, (x, y) => x * y), seed);
      gradCheck([sa, sb], ([a, b]) => div(a!, b!), binRef(sa, sb, (x, y) => x / y), seed, { positive: true });
      gradCheck([sb, sa], ([a, b]) => mul(a!, b!), binRef(sb, sa, (x, y) => x * y), seed); // broadcast on the left
    }), { numRuns: 25 });
  });

  it("unary ops", () => {
    fc.assert(fc.property(small, small, seedArb, (p, q, seed) => {
      const s = [p, q];
      const un = (f: (v: number) => number): Fn64 => ([x]) => x!.map(f);
      gradCheck([s], ([x]) => neg(x!), un((v) => -v), seed);
      gradCheck([s], ([x]) => exp(x!), un(Math.exp), seed);
      gradCheck([s], ([x]) => log(x!), un(Math.log), seed, { positive: true });
      gradCheck([s], ([x]) => sqrt(x!), un(Math.sqrt), seed, { positive: true });
      gradCheck([s], ([x]) => tanh(x!), un(Math.tanh), seed);
      gradCheck([s], ([x]) => square(x!), un((v) => v * v), seed);
      gradCheck([s], ([x]) => relu(x!), un((v) => Math.max(v, 0)), seed);
      gradCheck([s], ([x]) => gelu(x!), un((v) => 0.5 * v * (1 + Math.tanh(GC * (v + 0.044715 * v ** 3)))), seed);
    }), { numRuns: 20 });
  });

  it("reductions along an axis: sum, mean, max, variance", () => {
    fc.assert(fc.property(small, small, small, fc.integer({ min: -3, max: 2 }), fc.boolean(), seedArb, (p, q, r, axis, keep, seed) => {
      const s = [p, q, r];
      const ax = axis < 0 ? axis + 3 : axis;
      gradCheck([s], ([x]) => sum(x!, axis, keep), axisRef(s, ax, (v) => v.reduce((a, b) => a + b, 0)), seed);
      gradCheck([s], ([x]) => mean(x!, axis, keep), axisRef(s, ax, (v) => v.reduce((a, b) => a + b, 0) / v.length), seed);
      gradCheck([s], ([x]) => max(x!, axis, keep), axisRef(s, ax, (v) => Math.max(...v)), seed, { h: 1e-7 });
      gradCheck([s], ([x]) => variance(x!, axis, keep), axisRef(s, ax, (v) => {
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        return v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
      }), seed);
      gradCheck([s], ([x]) => mean(x!), ([x]) => [x!.reduce((a, b) => a + b, 0) / x!.length], seed);
    }), { numRuns: 20 });
  });

  it("softmax, log-softmax and layer norm over the last axis", () => {
    fc.assert(fc.property(small, fc.integer({ min: 2, max: 6 }), seedArb, (rows, cols, seed) => {
      const s = [rows, cols];
      const sm = (row: number[]) => { const m = Math.max(...row); const e = row.map((v) => Math.exp(v - m)); const z = e.reduce((a, b) => a + b, 0); return e.map((v) => v / z); };
      gradCheck([s], ([x]) => softmax(x!), rowsRef(cols, sm), seed);
      gradCheck([s], ([x]) => logSoftmax(x!), rowsRef(cols, (row) => sm(row).map(Math.log)), seed);
      gradCheck([s, [cols], [cols]], ([x, w, b]) => layerNorm(x!, w!, b!, 1e-5), ([x, w, b]) => {
        const out: number[] = [];
        for (let r = 0; r < rows; r++) {
          const row = x!.slice(r * cols, (r + 1) * cols);
          const m = row.reduce((a, c) => a + c, 0) / cols;
          const v = row.reduce((a, c) => a + (c - m) ** 2, 0) / cols;
          row.forEach((c, j) => out.push(((c - m) / Math.sqrt(v + 1e-5)) * w![j]! + b![j]!));
        }
        return out;
      }, seed);
    }), { numRuns: 20 });
  });

  it("matmul, 2-D and batched, with every transpose variant", () => {
    fc.assert(fc.property(small, small, small, fc.boolean(), fc.boolean(), fc.constantFrom(0, 2), fc.boolean(), seedArb, (m, n, k, tA, tB, batch, sharedB, seed) => {
      const sa = tA ? [k, m] : [m, k];
      const sb = tB ? [n, k] : [k, n];
      if (batch === 0) {
        gradCheck([sa, sb], ([a, b]) => matmul(a!, b!, { transA: tA, transB: tB }), ([a, b]) => mm64(a!, b!, m, n, k, tA, tB), seed);
      } else {
        const bsa = [batch, ...sa];
        const bsb = sharedB ? sb : [batch, ...sb];
        gradCheck([bsa, bsb], ([a, b]) => matmul(a!, b!, { transA: tA, transB: tB }), ([a, b]) => {
          const out: number[] = [];
          for (let i = 0; i < batch; i++) out.push(...mm64(a!.slice(i * m * k, (i + 1) * m * k), sharedB ? b! : b!.slice(i * k * n, (i + 1) * k * n), m, n, k, tA, tB));
          return out;
        }, seed);
      }
    }), { numRuns: 40 });
  });

  it("shape ops: reshape, transpose, slice, concat, gatherRows", () => {
    fc.assert(fc.property(small, small, small, seedArb, (p, q, r, seed) => {
      gradCheck([[p, q * r]], ([x]) => reshape(x!, [p, q, r]), ([x]) => x!, seed);
      gradCheck([[p, q, r]], ([x]) => transpose(x!), ([x]) => {
        const out: number[] = [];
        for (let a = 0; a < p; a++) for (let j = 0; j < r; j++) for (let i = 0; i < q; i++) out.push(x![(a * q + i) * r + j]!);
        return out;
      }, seed);
      gradCheck([[p, q + 1, r]], ([x]) => slice(x!, 1, 1, q + 1), ([x]) => {
        const out: number[] = [];
        for (let a = 0; a < p; a++) for (let i = 1; i <= q; i++) for (let j = 0; j < r; j++) out.push(x![(a * (q + 1) + i) * r + j]!);
        return out;
      }, seed);
      gradCheck([[p, q], [p, r]], ([a, b]) => concat([a!, b!], 1), ([a, b]) => {
        const out: number[] = [];
        for (let i = 0; i < p; i++) out.push(...a!.slice(i * q, (i + 1) * q), ...b!.slice(i * r, (i + 1) * r));
        return out;
      }, seed);
      const idx = [0, p - 1, 0, Math.floor(p / 2)];
      gradCheck([[p, q]], ([x]) => gatherRows(x!, idx), ([x]) => idx.flatMap((i) => x!.slice(i * q, (i + 1) * q)), seed);
    }), { numRuns: 20 });
  });

  it("top-k selection followed by scatter (the SAE's sparse code)", () => {
    fc.assert(fc.property(small, fc.integer({ min: 2, max: 9 }), seedArb, (rows, cols, seed) => {
      const k = Math.max(1, cols >> 1);
      gradCheck([[rows, cols]], ([x]) => { const t = topk(x!, k); return scatter(relu(t.values), t.indices, cols); }, rowsRef(cols, (row) => {
        const order = row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
        const out = new Array(cols).fill(0);
        for (const [v, i] of order) out[i] = Math.max(v, 0);
        return out;
      }), seed, { h: 1e-7 });
    }), { numRuns: 30 });
  });

  it("a two-layer MLP loss", () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const [B, D, H, O] = [3, 4, 5, 2];
      gradCheck([[B, D], [D, H], [H], [H, O], [O], [B, O]], ([x, w1, b1, w2, b2, t]) => {
        const y = add(matmul(relu(add(matmul(x!, w1!), b1!)), w2!), b2!);
        return mean(square(sub(y, t!)));
      }, ([x, w1, b1, w2, b2, t]) => {
        const h = mm64(x!, w1!, B, H, D, false, false).map((v, i) => Math.max(v + b1![i % H]!, 0));
        const y = mm64(h, w2!, B, O, H, false, false).map((v, i) => v + b2![i % O]!);
        return [y.reduce((s, v, i) => s + (v - t![i]!) ** 2, 0) / y.length];
      }, seed);
    }), { numRuns: 15 });
  });
});

describe("autograd engine behaviour", () => {
  it("accumulates into .grad across backward calls until zeroGrad, and sums shared uses", () => {
    const x = new Tensor(new Float32Array([1, 2, 3]), [3], true);
    const y = sum(add(mul(x, x), x)); // d/dx = 2x + 1
    backward(y);
    expect(Array.from(x.grad!.data)).toEqual([3, 5, 7]);
    backward(sum(add(x, x))); // +2 each
    expect(Array.from(x.grad!.data)).toEqual([5, 7, 9]);
    x.zeroGrad();
    expect(Array.from(x.grad!.data)).toEqual([0, 0, 0]);
  });

  it("a gradient passed through to two inputs is not corrupted when one of them gets more", () => {
    const a = new Tensor(new Float32Array([1, 1]), [2], true);
    const b = new Tensor(new Float32Array([1, 1]), [2], true);
    const s = add(a, b); // passes g to both
    const loss = sum(add(s, mul(a, 3))); // a gets 1 + 3, b gets 1
    backward(loss);
    expect(Array.from(a.grad!.data)).toEqual([4, 4]);
    expect(Array.from(b.grad!.data)).toEqual([1, 1]);
  });

  it("noGrad records nothing, and backward on an untracked tensor explains why it cannot run", () => {
    const x = new Tensor(new Float32Array([1, 2]), [2], true);
    const y = noGrad(() => sum(mul(x, x)));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradNode).toBeNull();
    expect(() => backward(y)).toThrow(/does not require grad/);
    expect(() => backward(mul(x, 2))).toThrow(/not a scalar/);
  });

  it("deep chains do not overflow the stack", () => {
    let x = new Tensor(new Float32Array([1]), [1], true);
    const leaf = x;
    for (let i = 0; i < 20_000; i++) x = add(x, 0);
    backward(sum(x));
    expect(leaf.grad!.data[0]).toBe(1);
  });
});
