/**
 * What a sweep will cost, priced from throughput measured on this machine right now: a forward pass through
 * one GPT-2 small block, and a few training steps at each condition's size. Estimates, clearly labelled.
 */
import { forward } from "../../gpt2/model.ts";
import { randomGPT2Weights } from "../../gpt2/random_model.ts";
import { defaultTrainConfig } from "../../sae/config.ts";
import { allocateParams } from "../../sae/sae.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace } from "../../sae/train_step.ts";
import { Rng } from "../../tensor/rng.ts";
import type { SweepSpec } from "./spec.ts";
import { conditionId, hookFor } from "./spec.ts";
import { blocksNeededFor } from "../../gpt2/hooks.ts";
import { GPT2_PRESETS } from "../../gpt2/config.ts";

export interface PlanEstimate {
  runs: number;
  tokensThroughModel: number;
  blocksNeeded: number;
  secondsPerTokenBlock: number;
  cacheSeconds: number;
  cacheBytes: number;
  perCondition: { id: string; rowsPerSecond: number; rowEpochsPerRun: number; secondsPerRun: number }[];
  trainSeconds: number;
  totalSeconds: number;
}

function time(fn: () => void, repeats = 2): number {
  fn(); // warm-up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return (performance.now() - start) / 1000 / repeats;
}

export async function estimatePlan(spec: SweepSpec): Promise<PlanEstimate> {
  const d = 768;
  // Real tokens requested, plus one BOS per window: the rows GPT-2 will see (padding aside).
  const tokens = spec.maxTokens + Math.ceil(spec.maxTokens / (spec.seqLen - 1));
  const gpt2 = GPT2_PRESETS.gpt2!;
  const blocksNeeded = Math.max(...spec.conditions.map((c) => blocksNeededFor(hookFor(spec, c.layer), gpt2)));
  const oneBlock = randomGPT2Weights({ ...gpt2, nLayer: 1, vocabSize: 512 }, 0);
  const probe = new Int32Array(4 * spec.seqLen).map((_, i) => i % 512);
  const secondsPerTokenBlock = time(() => forward(oneBlock, probe, 4, spec.seqLen, { hooks: ["blocks.0.hook_resid_post"] }), 1) / probe.length;
  const cacheSeconds = secondsPerTokenBlock * tokens * blocksNeeded;
  const trainRows = spec.includeSpecial ? tokens : spec.maxTokens;
  const perCondition = spec.conditions.map((c) => {
    const batch = Math.min(spec.batchSize ?? (c.recipe === "topk" ? 4096 : 64), trainRows);
    const probeRows = Math.min(batch, 1024);
    const cfg = defaultTrainConfig(c.recipe, { dIn: d, dSae: c.features, k: c.k, seed: 0 });
    const p = allocateParams(d, c.features);
    const rng = Rng.stream(0, "plan");
    rng.fillNormal(p.wEnc, 0, 0.05);
    rng.fillNormal(p.wDec, 0, 0.05);
    const x = rng.fillNormal(new Float32Array(probeRows * d)) as Float32Array;
    const ws = new StepWorkspace(cfg, probeRows);
    const opt = new OptimizerState(d, c.features);
    const step = time(() => {
      lossAndGradients(p, cfg, ws, x, probeRows, null);
      applyUpdate(p, cfg, ws, opt);
    }, 1);
    // Adam is per step, the rest per row: split the measured time accordingly.
    const rowsPerSecond = probeRows / step;
    const rowEpochsPerRun = trainRows * spec.epochs;
    return { id: conditionId(c), rowsPerSecond, rowEpochsPerRun, secondsPerRun: rowEpochsPerRun / rowsPerSecond };
  });
  const trainSeconds = perCondition.reduce((s, c) => s + c.secondsPerRun * spec.seeds.length, 0);
  const hooks = new Set(spec.conditions.map((c) => hookFor(spec, c.layer))).size;
  return {
    runs: spec.conditions.length * spec.seeds.length, tokensThroughModel: tokens, blocksNeeded, secondsPerTokenBlock,
    cacheSeconds, cacheBytes: tokens * d * 4 * hooks, perCondition, trainSeconds, totalSeconds: cacheSeconds + trainSeconds,
  };
}

function duration(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function formatPlan(spec: SweepSpec, e: PlanEstimate): string {
  const lines = [
    `sweep "${spec.name}": ${spec.conditions.length} conditions × ${spec.seeds.length} seeds = ${e.runs} runs`,
    `data: ${spec.corpus}, ${spec.maxTokens} real tokens, seq_len ${spec.seqLen}, ${spec.includeSpecial ? "BOS/padding rows included" : "BOS/padding excluded"}`,
    `activation cache: ~${e.tokensThroughModel} tokens × ${e.blocksNeeded} blocks ≈ ${duration(e.cacheSeconds)}, ~${(e.cacheBytes / 2 ** 20).toFixed(0)} MiB on disk`,
    "training (estimated from steps timed just now):",
    ...e.perCondition.map((c) => `  ${c.id.padEnd(28)} ${c.rowsPerSecond.toFixed(0).padStart(8)} rows/s  ${duration(c.secondsPerRun).padStart(9)} per run`),
    `total ≈ ${duration(e.totalSeconds)} (${duration(e.trainSeconds)} training). Runs are resumable: rerunning skips finished ones.`,
  ];
  return lines.join("\n");
}
