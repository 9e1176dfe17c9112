/**
 * GPT-2 forward tokens/s (batch 32 × 64 tokens, to layer 6 and the full model with logits), SAE training rows/s,
 * and Hungarian seconds on random decoder-cosine matrices — keys as in tools/reference/bench_torch.py.
 */
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";
import { GPT2_PRESETS } from "../src/gpt2/config.ts";
import { forward } from "../src/gpt2/model.ts";
import { defaultTrainConfig, type Recipe } from "../src/sae/config.ts";
import { allocateParams, normaliseRows } from "../src/sae/sae.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace } from "../src/sae/train_step.ts";
import { cosineMatrix } from "../src/match/cosine.ts";
import { linearSumAssignment } from "../src/match/assignment.ts";
import { Rng } from "../src/tensor/rng.ts";
import { bestSeconds } from "./util.ts";

export async function benchGPT2(): Promise<Record<string, number>> {
  const weights = randomGPT2Weights(GPT2_PRESETS.gpt2!, 0);
  const batch = 32, seq = 64;
  const tokens = new Int32Array(batch * seq).map((_, i) => (i * 7919) % 50257);
  const toLayer6 = await bestSeconds("gpt2 layer 6", () => forward(weights, tokens, batch, seq, { hooks: ["blocks.6.hook_resid_pre"] }), { iterations: 2 });
  const full = await bestSeconds("gpt2 full", () => forward(weights, tokens, batch, seq, { logits: "all" }), { iterations: 1 });
  return {
    "gpt2.forward.layer6.tokens_per_s": Number(((batch * seq) / toLayer6).toFixed(1)),
    "gpt2.forward.full.tokens_per_s": Number(((batch * seq) / full).toFixed(1)),
  };
}

/** Training-step throughput from a fresh SAE (no dead latents, so no AuxK — as the PyTorch reference). */
export async function benchSAE(quick = false): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const d = 768;
  const sizes = quick ? [512, 8192] : [128, 512, 2048, 8192, 32768];
  for (const recipe of ["topk", "seed-report"] as Recipe[]) {
    for (const n of sizes) {
      for (const k of [8, 32]) {
        for (const batch of [4096, 64]) {
          if (quick && k === 8) continue;
          const cfg = defaultTrainConfig(recipe, { dIn: d, dSae: n, k, seed: 0 });
          const rng = Rng.stream(0, "bench/sae");
          const p = allocateParams(d, n);
          rng.fillNormal(p.wDec);
          normaliseRows(p.wDec, n, d);
          p.wEnc.set(p.wDec);
          const x = rng.fillNormal(new Float32Array(batch * d)) as Float32Array;
          const ws = new StepWorkspace(cfg, batch);
          const opt = new OptimizerState(d, n);
          const seconds = await bestSeconds(`sae ${recipe} n${n} k${k} b${batch}`, () => {
            lossAndGradients(p, cfg, ws, x, batch, null);
            applyUpdate(p, cfg, ws, opt);
          }, { iterations: batch * n > 4096 * 8192 ? 1 : 3 });
          out[`sae.train.${recipe}.n${n}.k${k}.b${batch}.rows_per_s`] = Number((batch / seconds).toFixed(1));
        }
      }
    }
  }
  return out;
}

export async function benchHungarian(sizes = [1024, 4096]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of sizes) {
    const d = 768;
    const a = Rng.stream(n, "bench/hungarian/a").fillNormal(new Float32Array(n * d)) as Float32Array;
    const b = Rng.stream(n, "bench/hungarian/b").fillNormal(new Float32Array(n * d)) as Float32Array;
    const sim = cosineMatrix(a, n, b, n, d);
    const seconds = await bestSeconds(`hungarian ${n}`, () => linearSumAssignment(sim.matrix, n, n, { sense: "max" }), { iterations: 1 });
    out[`hungarian.n${n}.seconds`] = Number(seconds.toFixed(3));
  }
  return out;
}
