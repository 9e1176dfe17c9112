import { describe, it, expect } from "vitest";
import {
  Tensor, zeros, ones, full, fromArray, arange, randn, uniform, add, mul, sum, mean, max, variance, softmax,
  logSoftmax, layerNorm, matmul, reshape, transpose, slice, concat, gatherRows, topk, scatter, ShapeError,
} from "../src/tensor/index.ts";
import { Rng } from "../src/tensor/rng.ts";

describe("tensor creation", () => {
  it("zeros / ones / full / fromArray / arange", () => {
    expect(Array.from(zeros([2, 2]).data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(ones([3]).data)).toEqual([1, 1, 1]);
    expect(Array.from(full([2], 7).data)).toEqual([7, 7]);
    const t = fromArray([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.get(1, 2)).toBe(6);
    expect(Array.from(arange(4).data)).toEqual([0, 1, 2, 3]);
    expect(Array.from(arange(1, 2, 0.25).data)).toEqual([1, 1.25, 1.5, 1.75]);
  });

  it("randn and uniform are reproducible from the seeded RNG", () => {
    const a = randn([4, 4], Rng.stream(1, "t"));
    const b = randn([4, 4], Rng.stream(1, "t"));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    const u = uniform([1000], Rng.stream(2, "u"), -1, 1);
    expect(Math.min(...u.data)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u.data)).toBeLessThan(1);
  });

  it("rejects data that does not fit the shape, naming both", () => {
    expect(() => new Tensor(new Float32Array(5), [2, 3])).toThrow(/5 elements but shape \[2, 3\] needs 6/);
    expect(() => zeros([2, -1])).toThrow(ShapeError);
  });
});

describe("ops", () => {
  it("broadcasts like NumPy and names the op and both shapes on mismatch", () => {
    const a = fromArray([[1, 2, 3], [4, 5, 6]]);
    expect(Array.from(add(a, fromArray([10, 20, 30])).data)).toEqual([11, 22, 33, 14, 25, 36]);
    expect(Array.from(mul(a, fromArray([[2], [3]])).data)).toEqual([2, 4, 6, 12, 15, 18]);
    expect(() => add(a, fromArray([1, 2]))).toThrow("add: shapes [2, 3] and [2] cannot be broadcast together");
    expect(() => matmul(a, a)).toThrow("matmul: shapes [2, 3] and [2, 3] have inner dimensions 3 and 2");
  });

  it("reductions with keepDim", () => {
    const a = fromArray([[1, 2, 3], [4, 5, 9]]);
    expect(sum(a, 1).shape).toEqual([2]);
    expect(sum(a, 1, true).shape).toEqual([2, 1]);
    expect(Array.from(sum(a, 0).data)).toEqual([5, 7, 12]);
    expect(Array.from(mean(a, -1).data)).toEqual([2, 6]);
    expect(Array.from(max(a, 1).data)).toEqual([3, 9]);
    expect(variance(a, 1).data[0]).toBeCloseTo(2 / 3, 6);
    expect(sum(a).item()).toBe(24);
  });

  it("softmax is stable for huge logits and log-softmax matches log(softmax)", () => {
    const x = fromArray([[1000, 1001, 1002], [-1e4, 0, 1e4]]);
    const s = softmax(x);
    expect(s.data.every(Number.isFinite)).toBe(true);
    expect(s.data[0]! + s.data[1]! + s.data[2]!).toBeCloseTo(1, 6);
    const ls = logSoftmax(x);
    for (let i = 0; i < 3; i++) expect(ls.data[i]).toBeCloseTo(Math.log(s.data[i]!), 5);
  });

  it("layer norm gives zero mean and unit variance rows before the affine part", () => {
    const x = randn([5, 16], Rng.stream(3, "ln"), 3);
    const y = layerNorm(x, ones([16]), zeros([16]));
    for (let r = 0; r < 5; r++) {
      const row = Array.from(y.data.subarray(r * 16, (r + 1) * 16));
      const m = row.reduce((a, b) => a + b, 0) / 16;
      const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / 16;
      expect(Math.abs(m)).toBeLessThan(1e-6);
      expect(v).toBeCloseTo(1, 3);
    }
  });

  it("batched matmul with a shared right operand and transposes", () => {
    const a = fromArray([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]); // [2,2,2]
    const b = fromArray([[1, 0], [0, 2]]);
    expect(Array.from(matmul(a, b).data)).toEqual([1, 4, 3, 8, 5, 12, 7, 16]);
    expect(Array.from(matmul(a, a, { transB: true }).data)).toEqual([5, 11, 11, 25, 61, 83, 83, 113]);
    expect(Array.from(matmul(a, a, { transA: true }).data)).toEqual([10, 14, 14, 20, 74, 86, 86, 100]);
  });

  it("reshape (with -1), transpose, slice, concat, gatherRows", () => {
    const x = arange(6);
    expect(reshape(x, [2, -1]).shape).toEqual([2, 3]);
    expect(() => reshape(x, [4, 2])).toThrow(/cannot reshape \[6\]/);
    expect(Array.from(transpose(reshape(x, [2, 3])).data)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(slice(reshape(x, [2, 3]), 1, 1, 3).data)).toEqual([1, 2, 4, 5]);
    expect(() => slice(x, 0, 2, 9)).toThrow(/out of bounds/);
    expect(Array.from(concat([reshape(x, [2, 3]), reshape(x, [2, 3])], 0).data)).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    expect(Array.from(gatherRows(reshape(x, [3, 2]), [2, 0]).data)).toEqual([4, 5, 0, 1]);
    expect(() => gatherRows(reshape(x, [3, 2]), [3])).toThrow(/index 3 out of range/);
  });

  it("topk returns descending values, breaks ties toward the lower index, and rejects NaN", () => {
    const x = fromArray([[3, 1, 3, 2, 3], [0, -1, 5, 5, 4]]);
    const { values, indices } = topk(x, 3);
    expect(Array.from(values.data)).toEqual([3, 3, 3, 5, 5, 4]);
    expect(Array.from(indices)).toEqual([0, 2, 4, 2, 3, 4]);
    const t2 = topk(fromArray([[1, 1, 1, 1]]), 2);
    expect(Array.from(t2.indices)).toEqual([0, 1]);
    expect(() => topk(fromArray([[1, NaN]]), 1)).toThrow(/NaN at row 0, column 1/);
    const z = scatter(values, indices, 5);
    expect(Array.from(z.data)).toEqual([3, 0, 3, 0, 3, 0, 0, 5, 5, 4]);
  });

  it("topk agrees with a full sort on random rows", () => {
    const rng = Rng.stream(9, "topk");
    for (let trial = 0; trial < 50; trial++) {
      const cols = 1 + rng.int(100), k = rng.int(cols + 1);
      const row = new Float32Array(cols).map(() => Math.round(rng.normal() * 4) / 4); // many ties
      const { indices } = topk(new Tensor(row, [1, cols]), k);
      const expected = Array.from(row, (v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map((p) => p[1]);
      expect(Array.from(indices)).toEqual(expected);
    }
  });
});
