/**
 * GPT-2 forward tokens/s (batch 32 × 64 tokens, to layer 6 and the full model with logits), SAE training rows/s,
 * and Hungarian seconds on random decoder-cosine matrices — keys as in tools/reference/bench_torch.py.
 */
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";
import { GPT2_PRESETS } from "../src/gpt2/config.ts";
import { forward } from "../src/gpt2/model.ts";
import { defaultTrainConfig, type Recipe } from "../src/sae/config.ts";
import { initialiseParams } from "../src/sae/sae.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace } from "../src/sae/train_step.ts";
import { matmul } from "../src/tensor/matmul.ts";
import { getThreads, setThreads } from "../src/tensor/wasm/index.ts";
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

/**
 * (recipe, n, k, batch, threads) to time — the same list as tools/reference/bench_torch.py's sae_cases. Threads
 * null: every thread (the matmul default); 1: one thread, as each worker process of a sweep runs.
 */
export function saeCases(quick: boolean): [Recipe, number, number, number, 1 | null][] {
  const cases: [Recipe, number, number, number, 1 | null][] = [];
  for (const recipe of ["topk", "seed-report"] as Recipe[]) {
    for (const batch of [4096, 64]) {
      for (const n of quick ? [512, 2048] : [128, 512, 2048, 8192, 32768]) for (const k of quick ? [32] : [8, 32]) cases.push([recipe, n, k, batch, null]);
    }
  }
  const added: Recipe[] = ["relu-l1", "jumprelu", "batchtopk", "matryoshka-batchtopk", "gated"];
  for (const recipe of added) for (const n of quick ? [512, 2048] : [512, 2048, 8192]) cases.push([recipe, n, 32, 4096, null]);
  for (const recipe of ["topk", "seed-report", ...added] as Recipe[]) for (const n of quick ? [2048] : [2048, 8192]) cases.push([recipe, n, 32, 4096, 1]);
  return cases;
}

/**
 * Training-step throughput from a fresh SAE (its recipe's initialisation; no dead latents yet, so no AuxK — as the
 * PyTorch reference), and beside it the ceiling the matmul kernel sets: rows per second of the encoder product
 * alone (batch × 768 by 768 × n, the call the step makes) — `sae.ceiling.n<N>.b<B>[.t1].rows_per_s` — and the
 * step's distance from it, `sae.over_ceiling.<recipe>…` = ceiling / step rows per second (1 would be a step
 * costing no more than its encoder product).
 */
export async function benchSAE(quick = false): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const d = 768;
  const threadsBefore = getThreads();
  const inputs = new Map<number, Float32Array>();
  const ceilings = new Map<string, number>();
  try {
    for (const [recipe, n, k, batch, threads] of saeCases(quick)) {
      setThreads(threads ?? threadsBefore);
      const suffix = threads === 1 ? ".t1" : "";
      let x = inputs.get(batch);
      if (!x) inputs.set(batch, (x = Rng.stream(0, `bench/sae/${batch}`).fillNormal(new Float32Array(batch * d)) as Float32Array));
      const ceilingKey = `sae.ceiling.n${n}.b${batch}${suffix}.rows_per_s`;
      if (!ceilings.has(ceilingKey)) {
        const w = Rng.stream(0, "bench/sae/w").fillNormal(new Float32Array(n * d)) as Float32Array;
        const c = new Float32Array(batch * n);
        const seconds = await bestSeconds(`encoder n${n} b${batch}`, () => matmul({ a: x!, b: w, c, m: batch, n, k: d, transB: true }), { iterations: 3 });
        ceilings.set(ceilingKey, batch / seconds);
        out[ceilingKey] = Number((batch / seconds).toFixed(1));
      }
      const cfg = defaultTrainConfig(recipe, { dIn: d, dSae: n, k, seed: 0 }, { deadAfterTokens: Number.MAX_SAFE_INTEGER });
      const p = initialiseParams(cfg, x, Math.min(batch, 1024));
      const ws = new StepWorkspace(cfg, batch);
      const opt = new OptimizerState(d, n);
      const seconds = await bestSeconds(`sae ${recipe} n${n} k${k} b${batch}${suffix}`, () => {
        lossAndGradients(p, cfg, ws, x!, batch, null);
        applyUpdate(p, cfg, ws, opt);
      }, { iterations: batch * n > 4096 * 8192 ? 1 : 3 });
      const rows = batch / seconds;
      out[`sae.train.${recipe}.n${n}.k${k}.b${batch}${suffix}.rows_per_s`] = Number(rows.toFixed(1));
      out[`sae.over_ceiling.${recipe}.n${n}.k${k}.b${batch}${suffix}`] = Number((ceilings.get(ceilingKey)! / rows).toFixed(2));
    }
  } finally {
    setThreads(threadsBefore);
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
