/**
 * The SAE's hand-derived sparse backward against (a) the dense autograd engine computing the same loss and
 * (b) float64 finite differences, for both recipes, including AuxK with dead latents.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { Tensor, add, sub, mul, div, sum, square, relu, matmul, topk, scatter, backward, reshape, mean } from "../src/tensor/index.ts";
import { Rng } from "../src/tensor/rng.ts";
import { defaultTrainConfig, type Recipe } from "../src/sae/config.ts";
import { allocateParams, normaliseRows, initialiseParams, type SAEParams } from "../src/sae/sae.ts";
import { lossAndGradients, StepWorkspace } from "../src/sae/train_step.ts";
import { LatentCode } from "../src/sae/latent_code.ts";
import { selectBatchTopK } from "../src/sae/selection.ts";

function randomSetup(recipe: Recipe, dIn: number, dSae: number, k: number, rows: number, seed: number, kAux: number) {
  const rng = Rng.stream(seed, "sae-step-test");
  const p = allocateParams(dIn, dSae);
  rng.fillNormal(p.wEnc, 0, 0.5);
  rng.fillNormal(p.wDec, 0, 0.5);
  if (recipe === "topk") normaliseRows(p.wDec, dSae, dIn);
  rng.fillNormal(p.bEnc, 0, 0.1);
  rng.fillNormal(p.bDec, 0, 0.1);
  const x = rng.fillNormal(new Float32Array(rows * dIn)) as Float32Array;
  const dead = new Uint8Array(dSae);
  for (let j = 0; j < dSae; j += 3) dead[j] = 1;
  const cfg = defaultTrainConfig(recipe, { dIn, dSae, k, seed }, recipe === "topk" ? { kAux, auxCoefficient: 1 / 32 } : {});
  return { p, x, dead, cfg };
}

/** The same objective through the dense autograd engine. */
function denseLoss(recipe: Recipe, p: SAEParams, x: Float32Array, rows: number, k: number, dead: Uint8Array, kAux: number) {
  const { dIn, dSae } = p;
  const wEnc = new Tensor(p.wEnc.slice(), [dSae, dIn], true);
  const bEnc = new Tensor(p.bEnc.slice(), [dSae], true);
  const wDec = new Tensor(p.wDec.slice(), [dSae, dIn], true);
  const bDec = new Tensor(p.bDec.slice(), [dIn], true);
  const X = new Tensor(x.slice(0, rows * dIn), [rows, dIn]);
  const input = recipe === "topk" ? sub(X, bDec) : X;
  const pre = add(matmul(input, wEnc, { transB: true }), bEnc);
  const t = topk(pre, k);
  const z = scatter(recipe === "topk" ? relu(t.values) : t.values, t.indices, dSae);
  const xhat = add(matmul(z, wDec), bDec);
  const colVar = (m: Tensor) => sum(square(sub(m, mean(m, 0, true))));
  let loss = recipe === "topk" ? div(sum(square(sub(xhat, X))), colVar(X).item()) : mean(square(sub(xhat, X)));
  const nDead = dead.reduce((a, b) => a + b, 0);
  const kA = Math.min(kAux, nDead);
  if (recipe === "topk" && kA > 0) {
    const maskData = new Float32Array(rows * dSae);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dSae; j++) maskData[r * dSae + j] = dead[j] ? 0 : -Infinity;
    const auxPre = add(pre, new Tensor(maskData, [rows, dSae]));
    const ta = topk(auxPre, kA);
    const ehat = matmul(scatter(relu(ta.values), ta.indices, dSae), wDec);
    const e = new Tensor(sub(X, xhat).data.slice(), [rows, dIn]); // detached residual
    const auxLoss = div(sum(square(sub(e, ehat))), colVar(e).item());
    loss = add(loss, mul(auxLoss, 1 / 32));
  }
  backward(reshape(loss, [1]));
  return { loss: loss.item(), grads: { wEnc: wEnc.grad!.data, bEnc: bEnc.grad!.data, wDec: wDec.grad!.data, bDec: bDec.grad!.data } };
}

function expectArraysClose(a: Float32Array, b: Float32Array, what: string) {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i]! - b[i]!) > 1e-5 * Math.max(scale, 1e-3)) throw new Error(`${what}[${i}]: sparse ${a[i]} vs dense ${b[i]} (scale ${scale})`);
  }
}

describe("sparse SAE backward", () => {
  it.each([
    ["topk", "sparse"], ["topk", "dense"], ["seed-report", "sparse"], ["seed-report", "dense"],
  ] as const)("%s, %s latent path: equals the dense autograd gradient (with AuxK dead latents for topk)", (recipe, path) => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 3, max: 24 }), fc.integer({ min: 2, max: 9 }), fc.nat(1000), (dIn, dSae, rows, seed) => {
      const k = 1 + (seed % Math.min(4, dSae));
      const kAux = 1 + (seed % 5);
      const { p, x, dead, cfg } = randomSetup(recipe, dIn, dSae, k, rows, seed, kAux);
      const ws = new StepWorkspace(cfg, rows, path);
      const stats = lossAndGradients(p, cfg, ws, x, rows, dead);
      const dense = denseLoss(recipe, p, x, rows, k, dead, kAux);
      expect(Math.abs(stats.loss - dense.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(dense.loss)));
      for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) expectArraysClose(ws.grads[key], dense.grads[key], key);
    }), { numRuns: 40 });
  });

  it("the sparse and dense latent paths agree at the study's sizes (d 768, n 512, k 32, batch 64), both recipes", () => {
    for (const recipe of ["topk", "seed-report"] as const) {
      const { p, x, dead, cfg } = randomSetup(recipe, 768, 512, 32, 64, 11, 64);
      const sparse = new StepWorkspace(cfg, 64, "sparse");
      const dense = new StepWorkspace(cfg, 64, "dense");
      const a = lossAndGradients(p, cfg, sparse, x, 64, dead);
      const b = lossAndGradients(p, cfg, dense, x, 64, dead);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5 * Math.abs(a.loss));
      expect(a.l0).toBe(b.l0);
      for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) expectArraysClose(dense.grads[key], sparse.grads[key], key);
    }
  });

  it("matches float64 central finite differences on a tiny SAE (topk recipe with AuxK)", () => {
    const dIn = 3, dSae = 6, k = 2, rows = 4;
    const { p, x, dead, cfg } = randomSetup("topk", dIn, dSae, k, rows, 7, 2);
    const ws = new StepWorkspace(cfg, rows);
    lossAndGradients(p, cfg, ws, x, rows, dead);
    // float64 loss written from the definition, independent of the implementation.
    const loss64 = (q: { wEnc: number[]; bEnc: number[]; wDec: number[]; bDec: number[] }) => {
      let sse = 0, varX = 0, auxSse = 0, varE = 0;
      const e: number[][] = [];
      const pres: number[][] = [];
      for (let r = 0; r < rows; r++) {
        const xr = Array.from(x.subarray(r * dIn, (r + 1) * dIn));
        const pre = Array.from({ length: dSae }, (_, j) => q.bEnc[j]! + xr.reduce((s, v, c) => s + (v - q.bDec[c]!) * q.wEnc[j * dIn + c]!, 0));
        pres.push(pre);
        const kept = pre.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
        const xhat = q.bDec.slice();
        for (const [v, j] of kept) for (let c = 0; c < dIn; c++) xhat[c] += Math.max(v, 0) * q.wDec[j * dIn + c]!;
        e.push(xr.map((v, c) => v - xhat[c]!));
        sse += xr.reduce((s, v, c) => s + (xhat[c]! - v) ** 2, 0);
      }
      for (let c = 0; c < dIn; c++) {
        const col = Array.from({ length: rows }, (_, r) => x[r * dIn + c]!);
        const m = col.reduce((a, b) => a + b, 0) / rows;
        varX += col.reduce((s, v) => s + (v - m) ** 2, 0);
        const ecol = e.map((row) => row[c]!);
        const em = ecol.reduce((a, b) => a + b, 0) / rows;
        varE += ecol.reduce((s, v) => s + (v - em) ** 2, 0);
      }
      for (let r = 0; r < rows; r++) {
        const kept = pres[r]!.map((v, j) => [v, j] as const).filter(([, j]) => dead[j]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 2);
        const ehat = new Array(dIn).fill(0);
        for (const [v, j] of kept) for (let c = 0; c < dIn; c++) ehat[c] += Math.max(v, 0) * q.wDec[j * dIn + c]!;
        // e is detached: in the finite difference it must be held fixed at the unperturbed value.
        auxSse += E0[r]!.reduce((s, v, c) => s + (v - ehat[c]!) ** 2, 0);
      }
      return { main: sse / varX, aux: auxSse, varE };
    };
    const base = { wEnc: Array.from(p.wEnc), bEnc: Array.from(p.bEnc), wDec: Array.from(p.wDec), bDec: Array.from(p.bDec) };
    // The unperturbed residual e: AuxK's detached target, held fixed under perturbation.
    const E0 = (() => {
      const out: number[][] = [];
      for (let r = 0; r < rows; r++) {
        const xr = Array.from(x.subarray(r * dIn, (r + 1) * dIn));
        const pre = Array.from({ length: dSae }, (_, j) => base.bEnc[j]! + xr.reduce((s, v, c) => s + (v - base.bDec[c]!) * base.wEnc[j * dIn + c]!, 0));
        const kept = pre.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
        const xhat = base.bDec.slice();
        for (const [v, j] of kept) for (let c = 0; c < dIn; c++) xhat[c] += Math.max(v, 0) * base.wDec[j * dIn + c]!;
        out.push(xr.map((v, c) => v - xhat[c]!));
      }
      return out;
    })();
    const varE0 = loss64(base).varE;
    const total = (q: typeof base) => { const l = loss64(q); return l.main + (l.aux / varE0) / 32; };
    const h = 1e-6;
    for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) {
      base[key].forEach((_, i) => {
        const plus = { ...base, [key]: base[key].slice() };
        const minus = { ...base, [key]: base[key].slice() };
        plus[key][i]! += h;
        minus[key][i]! -= h;
        const numeric = (total(plus) - total(minus)) / (2 * h);
        const analytic = ws.grads[key][i]!;
        if (Math.abs(analytic - numeric) > 2e-5 + 1e-4 * Math.abs(numeric)) throw new Error(`${key}[${i}]: sparse ${analytic} vs finite difference ${numeric}`);
      });
    }
  });
});

describe("every architecture's step", () => {
  it.each(["topk", "seed-report", "relu-l1", "jumprelu", "batchtopk", "matryoshka-batchtopk", "gated"] as const)("%s: the WebAssembly sparse kernels, the scalar loops and the dense matmul products give the same loss and gradients", (recipe) => {
    const dIn = 24, dSae = 96, k = 6, rows = 48;
    const rng = Rng.stream(5, `paths/${recipe}`);
    const x = rng.fillNormal(new Float32Array(rows * dIn)) as Float32Array;
    const cfg = defaultTrainConfig(recipe, { dIn, dSae, k, seed: 2 }, { kAux: 8, auxCoefficient: 1 / 32, matryoshkaWidths: recipe === "matryoshka-batchtopk" ? [12, 48, 96] : [] });
    const p = initialiseParams(cfg, x, rows);
    for (const a of [p.wEnc, p.bEnc, ...Object.values(p.extra ?? {})]) for (let i = 0; i < a.length; i++) a[i] += 0.05 * rng.normal();
    const dead = new Uint8Array(dSae);
    for (let j = 0; j < dSae; j += 4) dead[j] = 1;
    const results = ([["sparse", "auto"], ["dense", "auto"], ["sparse", "scalar"]] as const).map(([path, kernels]) => {
      const ws = new StepWorkspace(cfg, rows, path, kernels);
      const stats = lossAndGradients(p, cfg, ws, x, rows, dead, undefined, { coefficient: 0.7, buffers: { threshold: -1 } });
      return { stats, grads: ws.grads };
    });
    const [a] = results as [typeof results[0]];
    expect(a.stats.l0).toBeGreaterThan(0);
    for (const b of results.slice(1)) {
      expect(a.stats.l0).toBe(b.stats.l0);
      expect(Math.abs(a.stats.loss - b.stats.loss)).toBeLessThan(1e-5 * Math.abs(a.stats.loss));
      for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) expectArraysClose(b.grads[key], a.grads[key], `${recipe} ${key}`);
      for (const name of Object.keys(a.grads.extra)) expectArraysClose(b.grads.extra[name]!, a.grads.extra[name]!, `${recipe} ${name}`);
    }
  });
});

describe("BatchTopK's batch-wide selection", () => {
  it("keeps exactly the `count` largest positive values (ties: lower flat index), or every positive one when there are fewer", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 60 }), fc.nat(10_000), fc.boolean(), (rows, n, count, seed, fewValues) => {
      const rng = Rng.stream(seed, "batch-topk");
      // Few distinct values force ties (and zeros and negatives, which are never kept).
      const pre = Float32Array.from({ length: rows * n }, () => (fewValues ? rng.int(5) - 1 : rng.normal()));
      const code = new LatentCode(n, rows);
      const smallest = selectBatchTopK(pre, rows, n, count, code);
      const order = [...pre.keys()].filter((i) => pre[i]! > 0).sort((a, b) => pre[b]! - pre[a]! || a - b).slice(0, count).sort((a, b) => a - b);
      const got: number[] = [];
      for (let r = 0; r < rows; r++) for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) got.push(r * n + code.idx[e]!);
      expect(got).toEqual(order);
      expect(smallest).toBe(order.length ? Math.min(...order.map((i) => pre[i]!)) : 0);
    }), { numRuns: 300 });
  });

  it("is exact when the sample it starts from misleads it (the large values sit exactly where it samples)", () => {
    const rows = 256, n = 256, count = 10_000;
    const pre = Float32Array.from({ length: rows * n }, (_, i) => (i % 16 === 0 ? 10 : 1 + (i % 7) / 8));
    const code = new LatentCode(n, rows);
    selectBatchTopK(pre, rows, n, count, code);
    const want = [...pre.keys()].sort((a, b) => pre[b]! - pre[a]! || a - b).slice(0, count).sort((a, b) => a - b);
    const got: number[] = [];
    for (let r = 0; r < rows; r++) for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) got.push(r * n + code.idx[e]!);
    expect(got).toEqual(want);
  });
});
