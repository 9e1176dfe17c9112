/**
 * Splitting a sweep's runs into N shards, so N tasks on a cluster (a Slurm array, a Kubernetes Indexed Job) each train
 * a part. The assignment depends only on the spec and the model's width: the same spec gives every task the same
 * answer, with no coordination. Shards are balanced by estimated cost, not by count — a run of 8192 latents costs
 * ~60 runs of 128 — using longest-processing-time-first: runs sorted by cost (ties in grid order), each given to the
 * shard with the least cost so far (ties to the lowest shard number).
 *
 * Which shard trains a run never changes the run's result (see run_pool.ts): shards are only a division of labour.
 */
import { SettingsError } from "./value_rules.ts";
import type { Condition, SweepSpec } from "./spec.ts";
import { conditionTokens } from "./spec.ts";

export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

export interface RunJob {
  condition: Condition;
  seed: number;
}

/** Every (condition, seed) of a spec, in grid order. */
export function allRuns(spec: SweepSpec): RunJob[] {
  return spec.conditions.flatMap((condition) => spec.seeds.map((seed) => ({ condition, seed })));
}

/**
 * A run's relative cost: multiply-adds per training row (encoder forward and its two backward products, d_in × d_sae
 * each, plus the decoder's k active rows three times), times rows and epochs. The same model `plan` prices in seconds.
 */
export function runCost(spec: SweepSpec, condition: Condition, dIn: number): number {
  return spec.epochs * conditionTokens(spec, condition) * dIn * (3 * condition.features + 3 * condition.k);
}

/** The shard of every run in allRuns(spec) order. */
export function assignShards(spec: SweepSpec, dIn: number, count: number): number[] {
  const runs = allRuns(spec);
  const order = runs.map((r, i) => ({ i, cost: runCost(spec, r.condition, dIn) })).sort((a, b) => b.cost - a.cost || a.i - b.i);
  const load = new Array<number>(count).fill(0);
  const shardOf = new Array<number>(runs.length);
  for (const { i, cost } of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s]! < load[best]!) best = s;
    shardOf[i] = best;
    load[best]! += cost;
  }
  return shardOf;
}

/** The runs shard `shard` trains (all runs without a shard). */
export function shardRuns(spec: SweepSpec, dIn: number, shard?: Shard): RunJob[] {
  const runs = allRuns(spec);
  if (!shard) return runs;
  const shardOf = assignShards(spec, dIn, shard.count);
  return runs.filter((_, i) => shardOf[i] === shard.index);
}

/**
 * `--shard` text: "I/N" (0-based I), "auto" (Slurm: SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of
 * SLURM_ARRAY_TASK_COUNT), or "auto/N" (Kubernetes Indexed Job: JOB_COMPLETION_INDEX of N; Slurm's id if set).
 */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const check = (index: number, count: number, from: string): Shard => {
    const source = from ? ` ${from}` : "";
    if (!Number.isSafeInteger(count) || count < 1) throw new SettingsError(`--shard ${text}: the shard count${source} must be a positive integer`);
    if (!Number.isSafeInteger(index) || index < 0 || index >= count) throw new SettingsError(`--shard ${text}: shard ${index}${source} is not in 0..${count - 1}`);
    return { index, count };
  };
  const explicit = /^(\d+)\/(\d+)$/.exec(text);
  if (explicit) return check(Number(explicit[1]), Number(explicit[2]), "");
  const auto = /^auto(?:\/(\d+))?$/.exec(text);
  if (!auto) throw new SettingsError(`--shard must be I/N (e.g. 0/8), auto (in a Slurm array job) or auto/N (Kubernetes Indexed Job), got "${text}"`);
  const intOf = (name: string) => (/^\d+$/.test(env[name] ?? "") ? Number(env[name]) : NaN);
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const min = env.SLURM_ARRAY_TASK_MIN !== undefined ? intOf("SLURM_ARRAY_TASK_MIN") : 0;
    const count = auto[1] !== undefined ? Number(auto[1]) : intOf("SLURM_ARRAY_TASK_COUNT");
    return check(intOf("SLURM_ARRAY_TASK_ID") - min, count, "(from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_MIN/SLURM_ARRAY_TASK_COUNT)");
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (auto[1] === undefined) throw new SettingsError(`--shard auto: JOB_COMPLETION_INDEX is set but the shard count is not; give --shard auto/N (N = the Job's completions)`);
    return check(intOf("JOB_COMPLETION_INDEX"), Number(auto[1]), "(from JOB_COMPLETION_INDEX)");
  }
  throw new SettingsError(`--shard ${text}: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set (not inside an array/indexed job); give --shard I/N`);
}
