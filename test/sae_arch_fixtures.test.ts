/**
 * Every architecture beyond topk/seed-report against PyTorch (tools/reference/sae_arch_reference.py): two
 * training steps from the same weights and batches — loss terms, each parameter's gradient, and the parameters
 * after the update (clipping, decoder projection and renormalisation where the recipe has them, Adam) — within
 * 1e-5 of each tensor's largest magnitude; BatchTopK's running inference threshold too.
 */
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { openSafetensors, type SafetensorsFile } from "../src/gpt2/safetensors.ts";
import { defaultTrainConfig, type Recipe } from "../src/sae/config.ts";
import { allocateParams, type SAEParams } from "../src/sae/params.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace } from "../src/sae/train_step.ts";
import { transposeMatrix } from "../src/sae/io.ts";

const FIX = join(import.meta.dirname, "fixtures", "sae_arch");
const params = JSON.parse(readFileSync(join(FIX, "params.json"), "utf8")) as {
  d_in: number; d_sae: number; k: number; batch: number; lr: number; bandwidth: number; k_aux: number; aux_coefficient: number;
  matryoshka_widths: number[]; threshold_rate: number;
  recipes: Record<string, { file: string; lambda: number; eps: number; grad_clip: number }>;
};

/** Our parameter names → the fixture's (SAELens layout; W_enc transposed on the way). */
const EXTRA_NAMES: Record<string, Record<string, string>> = {
  "jumprelu": { logThreshold: "log_threshold" },
  "gated": { rMag: "r_mag", bMag: "b_mag" },
};

export function maxRelativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 0, worst = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst / Math.max(scale, 1e-12);
}

function expectClose(actual: Float32Array, expected: Float32Array, what: string, rel = 1e-5): void {
  expect(actual.length, what).toBe(expected.length);
  const err = maxRelativeError(actual, expected);
  if (!(err <= rel)) throw new Error(`${what}: max difference ${err.toExponential(2)} of the largest magnitude (tolerance ${rel})`);
}

function load(f: SafetensorsFile, prefix: string, recipe: string, p: SAEParams): void {
  const { dIn, dSae } = p;
  p.wEnc.set(transposeMatrix(f.readFloat32(`${prefix}.W_enc`), dIn, dSae));
  p.bEnc.set(f.readFloat32(`${prefix}.b_enc`));
  p.wDec.set(f.readFloat32(`${prefix}.W_dec`));
  p.bDec.set(f.readFloat32(`${prefix}.b_dec`));
  for (const [ours, theirs] of Object.entries(EXTRA_NAMES[recipe] ?? {})) p.extra![ours]!.set(f.readFloat32(`${prefix}.${theirs}`));
}

function compare(f: SafetensorsFile, prefix: string, recipe: string, tensors: { wEnc: Float32Array; bEnc: Float32Array; wDec: Float32Array; bDec: Float32Array; extra: Record<string, Float32Array> }, dIn: number, dSae: number): void {
  expectClose(transposeMatrix(tensors.wEnc, dSae, dIn), f.readFloat32(`${prefix}.W_enc`), `${prefix}.W_enc`);
  expectClose(tensors.bEnc, f.readFloat32(`${prefix}.b_enc`), `${prefix}.b_enc`);
  expectClose(tensors.wDec, f.readFloat32(`${prefix}.W_dec`), `${prefix}.W_dec`);
  expectClose(tensors.bDec, f.readFloat32(`${prefix}.b_dec`), `${prefix}.b_dec`);
  for (const [ours, theirs] of Object.entries(EXTRA_NAMES[recipe] ?? {})) expectClose(tensors.extra[ours]!, f.readFloat32(`${prefix}.${theirs}`), `${prefix}.${theirs}`);
}

describe("SAE architectures vs PyTorch: two steps each", () => {
  it.each(["relu-l1", "jumprelu", "batchtopk", "matryoshka-batchtopk", "gated"] as const)("%s: loss terms, gradients, updated weights", (recipe: Recipe) => {
    const h = params.recipes[recipe]!;
    const { d_in: dIn, d_sae: dSae, batch } = params;
    const f = openSafetensors(join(FIX, h.file));
    const cfg = defaultTrainConfig(recipe, { dIn, dSae, k: params.k, seed: 0 }, {
      lr: params.lr, eps: h.eps, gradClipNorm: h.grad_clip, kAux: params.k_aux, auxCoefficient: params.aux_coefficient,
      thresholdBandwidth: params.bandwidth, thresholdRate: params.threshold_rate,
      ...(recipe === "matryoshka-batchtopk" ? { matryoshkaWidths: params.matryoshka_widths } : {}),
      ...(h.lambda > 0 ? { sparsityCoefficient: h.lambda, sparsityControl: "fixed" as const } : {}),
    });
    const p = allocateParams(dIn, dSae, Object.keys(EXTRA_NAMES[recipe] ?? {}));
    load(f, "init", recipe, p);
    const ws = new StepWorkspace(cfg, batch);
    const opt = new OptimizerState(dIn, dSae);
    const dead = f.names().includes("dead_mask") ? (f.readTensor("dead_mask").data as Uint8Array) : null;
    const buffers: Record<string, number> = { threshold: -1 };
    for (const s of [1, 2]) {
      const stats = lossAndGradients(p, cfg, ws, f.readFloat32(`step${s}.x`), batch, dead, undefined, { coefficient: h.lambda, buffers });
      const scalar = (name: string) => f.readFloat32(`step${s}.loss.${name}`)[0]!;
      expect(Math.abs(stats.loss - scalar("total")), "total loss").toBeLessThan(1e-5 * Math.abs(scalar("total")));
      expect(Math.abs(stats.fvu - scalar("fvu")), "fvu").toBeLessThan(1e-5 * Math.abs(scalar("fvu")));
      expect(Math.abs(stats.auxLoss - scalar("aux")), "aux").toBeLessThanOrEqual(1e-5 * Math.abs(scalar("aux")));
      expect(Math.abs(stats.sparsityLoss - scalar("sparsity")), "sparsity").toBeLessThanOrEqual(1e-5 * Math.abs(scalar("sparsity")));
      compare(f, `step${s}.grad`, recipe, ws.grads, dIn, dSae);
      if (f.names().includes(`step${s}.threshold`)) expect(buffers.threshold).toBeCloseTo(f.readFloat64(`step${s}.threshold`)[0]!, 6);
      applyUpdate(p, cfg, ws, opt);
      compare(f, `step${s}.after`, recipe, { ...p, extra: p.extra ?? {} }, dIn, dSae);
    }
    f.close();
  });
});
