/**
 * Cross-checks against PyTorch fixtures (tools/reference/autograd_reference.py and sae_reference.py):
 * a tiny MLP's loss and gradients through our autograd, and full Adam steps of both SAE recipes from identical
 * initial weights and batches — updated weights equal within 1e-5 relative.
 */
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { openSafetensors, type SafetensorsFile } from "../src/gpt2/safetensors.ts";
import { Tensor, add, sub, matmul, relu, square, mean, backward } from "../src/tensor/index.ts";
import { defaultTrainConfig, type Recipe } from "../src/sae/config.ts";
import { allocateParams, type SAEParams } from "../src/sae/sae.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace } from "../src/sae/train_step.ts";
import { transposeMatrix } from "../src/sae/io.ts";

const FIX = join(import.meta.dirname, "fixtures");

function expectRelClose(actual: Float32Array, expected: Float32Array, what: string, rel = 1e-5): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i]! - expected[i]!) > rel * Math.max(scale, 1e-12)) throw new Error(`${what}[${i}]: ${actual[i]} vs PyTorch ${expected[i]} (scale ${scale})`);
  }
}

describe("autograd vs PyTorch: two-layer MLP", () => {
  it("loss and all four gradients match within 1e-5 relative", () => {
    const f = openSafetensors(join(FIX, "autograd_mlp", "mlp.safetensors"));
    const t = (name: string, grad = false) => new Tensor(f.readFloat32(name), f.info(name).shape, grad);
    const [W1, b1, W2, b2] = [t("W1", true), t("b1", true), t("W2", true), t("b2", true)];
    const y = add(matmul(relu(add(matmul(t("x"), W1), b1)), W2), b2);
    const loss = mean(square(sub(y, t("t"))));
    backward(loss);
    expectRelClose(loss.data, f.readFloat32("loss"), "loss");
    expectRelClose(W1.grad!.data, f.readFloat32("dW1"), "dW1");
    expectRelClose(b1.grad!.data, f.readFloat32("db1"), "db1");
    expectRelClose(W2.grad!.data, f.readFloat32("dW2"), "dW2");
    expectRelClose(b2.grad!.data, f.readFloat32("db2"), "db2");
    f.close();
  });
});

/** Fixture tensors use SAELens layout (W_enc [d_in, d_sae]); ours keeps W_enc latent-major. */
function paramsFrom(f: SafetensorsFile, prefix: string, dIn: number, dSae: number): SAEParams {
  const p = allocateParams(dIn, dSae);
  p.wEnc.set(transposeMatrix(f.readFloat32(`${prefix}.W_enc`), dIn, dSae));
  p.bEnc.set(f.readFloat32(`${prefix}.b_enc`));
  p.wDec.set(f.readFloat32(`${prefix}.W_dec`));
  p.bDec.set(f.readFloat32(`${prefix}.b_dec`));
  return p;
}

function expectParams(p: SAEParams, f: SafetensorsFile, prefix: string, dIn: number, dSae: number): void {
  expectRelClose(transposeMatrix(p.wEnc, dSae, dIn), f.readFloat32(`${prefix}.W_enc`), `${prefix}.W_enc`);
  expectRelClose(p.bEnc, f.readFloat32(`${prefix}.b_enc`), `${prefix}.b_enc`);
  expectRelClose(p.wDec, f.readFloat32(`${prefix}.W_dec`), `${prefix}.W_dec`);
  expectRelClose(p.bDec, f.readFloat32(`${prefix}.b_dec`), `${prefix}.b_dec`);
}

describe("SAE Adam steps vs PyTorch", () => {
  const params = JSON.parse(readFileSync(join(FIX, "sae_step", "params.json"), "utf8")) as Record<string, { d_in: number; d_sae: number; k: number; batch: number; k_aux?: number; lr: number; eps: number; steps: number }>;

  it.each([["topk", "topk"], ["seed-report", "seed_report"]] as const)("%s: loss, gradients and updated weights", (recipe: Recipe, file) => {
    const h = params[recipe]!;
    const f = openSafetensors(join(FIX, "sae_step", `${file}.safetensors`));
    const cfg = defaultTrainConfig(recipe, { dIn: h.d_in, dSae: h.d_sae, k: h.k, seed: 0 }, { lr: h.lr, eps: h.eps, ...(recipe === "topk" ? { kAux: h.k_aux, auxCoefficient: 1 / 32 } : {}) });
    const p = paramsFrom(f, "init", h.d_in, h.d_sae);
    const ws = new StepWorkspace(cfg, h.batch);
    const opt = new OptimizerState(h.d_in, h.d_sae);
    const dead = recipe === "topk" ? (f.readTensor("dead_mask").data as Uint8Array) : null;
    for (let s = 1; s <= h.steps; s++) {
      const stats = lossAndGradients(p, cfg, ws, f.readFloat32(`step${s}.x`), h.batch, dead);
      if (recipe === "topk") {
        expect(Math.abs(stats.fvu - f.readFloat32("step1.loss.fvu")[0]!)).toBeLessThan(1e-5);
        expect(Math.abs(stats.auxLoss - f.readFloat32("step1.loss.aux")[0]!)).toBeLessThan(1e-5 * 3);
        expect(Math.abs(stats.loss - f.readFloat32("step1.loss.total")[0]!)).toBeLessThan(1e-5);
      } else {
        expect(Math.abs(stats.loss - f.readFloat32(`step${s}.loss`)[0]!)).toBeLessThan(1e-5);
      }
      expectRelClose(transposeMatrix(ws.grads.wEnc, h.d_sae, h.d_in), f.readFloat32(`step${s}.grad.W_enc`), `step${s} dW_enc`);
      expectRelClose(ws.grads.bEnc, f.readFloat32(`step${s}.grad.b_enc`), `step${s} db_enc`);
      expectRelClose(ws.grads.wDec, f.readFloat32(`step${s}.grad.W_dec`), `step${s} dW_dec`);
      expectRelClose(ws.grads.bDec, f.readFloat32(`step${s}.grad.b_dec`), `step${s} db_dec`);
      applyUpdate(p, cfg, ws, opt);
      expectParams(p, f, `step${s}.after`, h.d_in, h.d_sae);
    }
    f.close();
  });
});
