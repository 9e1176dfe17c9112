/**
 * What a sweep will cost, priced from throughput measured on this machine right now: a forward pass through
 * one GPT-2 small block, and a few training steps at each condition's size. Estimates, clearly labelled.
 */
import { forward } from "../gpt2/model.ts";
import { randomGPT2Weights } from "../gpt2/random_model.ts";
import { architectureOf, initialiseParams } from "../sae/sae.ts";
import { trainConfigFor } from "./run_one.ts";
import { lossAndGradients, applyUpdate, OptimizerState, StepWorkspace } from "../sae/train_step.ts";
import { Rng } from "../tensor/rng.ts";
import type { SweepSpec } from "./spec.ts";
import { conditionId, conditionTokens, hookFor, runBudget } from "./spec.ts";
import { shardRuns } from "./shards.ts";
import { blocksNeededFor } from "../gpt2/hooks.ts";
import { GPT2_PRESETS } from "../gpt2/config.ts";
import { getThreads, setThreads } from "../tensor/wasm/index.ts";

export interface PlanEstimate {
  runs: number;
  tokensThroughModel: number;
  blocksNeeded: number;
  secondsPerTokenBlock: number;
  cacheSeconds: number;
  cacheBytes: number;
  perCondition: { id: string; rowsPerSecond: number; rowEpochsPerRun: number; secondsPerRun: number }[];
  /** Runs trained at once (worker processes) and matmul threads each, as the sweep would use them. */
  processes: number;
  threadsPerProcess: number;
  /** Sum of the runs' training times, and the wall time with `processes` runs at once. */
  trainSeconds: number;
  trainWallSeconds: number;
  totalSeconds: number;
  /** Parallel tasks (cluster array tasks, each like this machine), and the training seconds of each task's shard. */
  tasks: number;
  shardSeconds: number[];
  /** Cache, then the slowest shard (each task trains `processes` runs at once): the wall time on `tasks` tasks. */
  tasksWallSeconds: number;
}

function time(fn: () => void, repeats = 2): number {
  fn(); // warm-up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return (performance.now() - start) / 1000 / repeats;
}

export interface PlanResources {
  /** Matmul threads in force (the sweep's --threads). */
  threads: number;
  /** Runs at once (the sweep's --processes). */
  processes: number;
  /** Parallel tasks the runs are sharded over (default 1: this machine alone). */
  tasks?: number;
  /** A sweep on an existing activation cache (spec.acts, resolved): its row width; nothing runs through the model. */
  cachedDIn?: number;
}

/** What a sweep will cost: runs, tokens and hours, from throughput measured now on this machine. */
export async function estimatePlan(spec: SweepSpec, resources: PlanResources = { threads: getThreads(), processes: 1 }): Promise<PlanEstimate> {
  const cached = resources.cachedDIn !== undefined;
  const d = resources.cachedDIn ?? 768;
  // Real tokens requested, plus one BOS per window: the rows GPT-2 will see (padding aside). None on a cache.
  const tokens = cached ? 0 : spec.maxTokens + Math.ceil(spec.maxTokens / (spec.seqLen - 1));
  const gpt2 = GPT2_PRESETS.gpt2!;
  const blocksNeeded = cached ? 0 : Math.max(...spec.conditions.map((c) => blocksNeededFor(hookFor(spec, c.layer), gpt2)));
  let secondsPerTokenBlock = 0;
  if (!cached) {
    const oneBlock = randomGPT2Weights({ ...gpt2, nLayer: 1, vocabSize: 512 }, 0);
    // 16 windows: enough rows that the matmuls run as efficiently as in the real cache build.
    const probe = new Int32Array(16 * spec.seqLen).map((_, i) => i % 512);
    secondsPerTokenBlock = time(() => forward(oneBlock, probe, 16, spec.seqLen, { hooks: ["blocks.0.hook_resid_post"] }), 1) / probe.length;
  }
  const cacheSeconds = secondsPerTokenBlock * tokens * blocksNeeded;
  const trainRows = spec.includeSpecial && !cached ? tokens : spec.maxTokens;
  const runsAtOnce = Math.max(1, Math.min(resources.processes, spec.conditions.length * spec.seeds.length));
  const threadsPerProcess = runsAtOnce > 1 ? Math.max(1, Math.floor(resources.threads / runsAtOnce)) : resources.threads;
  // Time training steps the way the sweep will run them: with each worker's share of the threads.
  const threadsBefore = getThreads();
  setThreads(threadsPerProcess);
  let perCondition: PlanEstimate["perCondition"];
  try {
    perCondition = spec.conditions.map((c) => {
      // The run's own configuration and initialisation (penalty recipes start at their target L0, not dense).
      const rows = Math.min(trainRows, conditionTokens(spec, c));
      const cfg = trainConfigFor(spec, c, 0, rows, d);
      const batch = Math.min(cfg.batchSize, rows);
      const probeRows = Math.min(batch, 1024);
      const x = Rng.stream(0, "plan").fillNormal(new Float32Array(probeRows * d)) as Float32Array;
      const p = initialiseParams(cfg, x, probeRows);
      const ws = new StepWorkspace(cfg, probeRows);
      const opt = new OptimizerState(d, c.features, architectureOf(c.recipe).extraParams.map((e) => e.name));
      // The forward/backward costs per row; the update (Adam over every parameter) per step, whatever the batch.
      const perProbe = time(() => lossAndGradients(p, cfg, ws, x, probeRows, null), 1);
      const perUpdate = time(() => applyUpdate(p, cfg, ws, opt), 1);
      const secondsPerStep = (perProbe * batch) / probeRows + perUpdate;
      const rowsPerSecond = batch / secondsPerStep;
      // Tokens seen (a token axis prices each condition by its own budget; a repeated corpus by its passes).
      const rowEpochsPerRun = runBudget(spec, c, rows).tokensSeen;
      return { id: conditionId(c), rowsPerSecond, rowEpochsPerRun, secondsPerRun: rowEpochsPerRun / rowsPerSecond };
    });
  } finally {
    setThreads(threadsBefore);
  }
  const trainSeconds = perCondition.reduce((s, c) => s + c.secondsPerRun * spec.seeds.length, 0);
  const trainWallSeconds = trainSeconds / runsAtOnce;
  const hooks = new Set(spec.conditions.map((c) => hookFor(spec, c.layer))).size;
  // On N tasks: the shards the sweep would give them (shards.ts), each priced with the timings above.
  const tasks = resources.tasks ?? 1;
  const secondsOf = new Map(perCondition.map((c) => [c.id, c.secondsPerRun]));
  const shardSeconds = Array.from({ length: tasks }, (_, i) =>
    shardRuns(spec, d, { index: i, count: tasks }).reduce((s, r) => s + secondsOf.get(conditionId(r.condition))!, 0) / runsAtOnce);
  return {
    runs: spec.conditions.length * spec.seeds.length, tokensThroughModel: tokens, blocksNeeded, secondsPerTokenBlock,
    cacheSeconds, cacheBytes: tokens * d * 4 * hooks, perCondition, processes: runsAtOnce, threadsPerProcess, trainSeconds, trainWallSeconds,
    totalSeconds: cacheSeconds + trainWallSeconds, tasks, shardSeconds, tasksWallSeconds: cacheSeconds + Math.max(...shardSeconds),
  };
}

function duration(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A plan estimate in lines for the terminal. */
export function formatPlan(spec: SweepSpec, e: PlanEstimate): string {
  const lines = [
    `sweep "${spec.name}": ${spec.conditions.length} conditions × ${spec.seeds.length} seeds = ${e.runs} runs`,
    `data: ${spec.corpus}, ${spec.maxTokens} real tokens, seq_len ${spec.seqLen}, ${spec.includeSpecial ? "BOS/padding rows included" : "BOS/padding excluded"}`,
    spec.acts !== undefined ? `activation cache: ${spec.acts} (already built; nothing runs through the model)`
      : `activation cache: ~${e.tokensThroughModel} tokens × ${e.blocksNeeded} blocks ≈ ${duration(e.cacheSeconds)}, ~${(e.cacheBytes / 2 ** 20).toFixed(0)} MiB on disk`,
    `training (estimated from steps timed just now, ${e.processes} run${e.processes > 1 ? "s" : ""} at once with ${e.threadsPerProcess} matmul thread${e.threadsPerProcess > 1 ? "s" : ""} each):`,
    ...e.perCondition.map((c) => `  ${c.id.padEnd(28)} ${c.rowsPerSecond.toFixed(0).padStart(8)} rows/s  ${duration(c.secondsPerRun).padStart(9)} per run`),
    `total ≈ ${duration(e.totalSeconds)} (training ${duration(e.trainWallSeconds)}${e.processes > 1 ? ` wall if runs at once never slowed each other — they share caches and memory bandwidth, so expect more, up to ${duration(e.trainSeconds)}` : ""}). Runs are resumable: rerunning skips finished ones.`,
  ];
  if (e.tasks > 1) {
    const min = Math.min(...e.shardSeconds), max = Math.max(...e.shardSeconds);
    lines.push(`on ${e.tasks} parallel tasks like this machine (sweep --shard I/${e.tasks}): cache ${duration(e.cacheSeconds)} once, then shards of ${duration(min)}–${duration(max)} training each ≈ ${duration(e.tasksWallSeconds)} wall`);
  }
  return lines.join("\n");
}
