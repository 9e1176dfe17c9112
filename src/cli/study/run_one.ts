/**
 * One run = one (condition, seed): train the SAE on the condition's hook, analyse its features, and write the
 * run directory with its receipts. A directory whose manifest verifies is complete and is skipped; anything
 * else in the directory is cleared first (a run killed mid-way leaves no trace in the result), except a
 * training checkpoint made with the same settings, which is resumed.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { defaultTrainConfig, type SAETrainConfig } from "../../sae/config.ts";
import { trainSAE, type HistoryEntry } from "../../sae/trainer.ts";
import { analyseFeatures, type RowContext } from "../../sae/analysis.ts";
import { saveSAELens } from "../../sae/io.ts";
import { fileCheckpointStore } from "../../sae/checkpoint.ts";
import type { RowSource } from "../../data/rows.ts";
import { matmulKernelName } from "../../tensor/matmul.ts";
import { environmentRecord, verifyManifest, writeJsonAtomic, writeManifest } from "../receipts.ts";
import type { Condition, SweepSpec } from "./spec.ts";
import { conditionId, hookFor } from "./spec.ts";

export const CHECKPOINT_FILE = "training-state.safetensors";

export interface RunInputs {
  spec: SweepSpec;
  condition: Condition;
  seed: number;
  /** Training rows (already restricted to real tokens unless includeSpecial). */
  rows: RowSource;
  /** Real tokens among the rows (what the report counts). */
  realTokens: number;
  describeRow: (row: number) => RowContext;
  receipts: Record<string, unknown>;
  threads: number;
  onProgress?: (done: number, total: number, extra: string) => void;
}

export interface RunMetrics {
  condition: string;
  seed: number;
  fvu: number;
  mse: number;
  l0: number;
  deadFraction: number;
  deadCount: number;
  trainingRows: number;
  realTokens: number;
  tokensSeen: number;
  seconds: number;
}

export function runDir(root: string, condition: Condition, seed: number): string {
  return join(root, conditionId(condition), `seed-${seed}`);
}

export function trainConfigFor(spec: SweepSpec, condition: Condition, seed: number, rows: number, dIn: number): SAETrainConfig {
  return defaultTrainConfig(condition.recipe, { dIn, dSae: condition.features, k: condition.k, seed }, {
    epochs: spec.epochs,
    ...(spec.batchSize ? { batchSize: spec.batchSize } : {}),
    ...(spec.lr ? { lr: spec.lr } : {}),
    ...(condition.recipe === "topk" ? { deadAfterTokens: spec.deadAfterTokens ?? rows } : {}),
  });
}

/** Train and record one run unless it is already complete. Returns false when skipped. */
export function runOne(root: string, inputs: RunInputs): boolean {
  const { spec, condition, seed, rows } = inputs;
  const dir = runDir(root, condition, seed);
  if (verifyManifest(dir).ok) return false;
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (name !== CHECKPOINT_FILE) rmSync(join(dir, name), { recursive: true, force: true });

  const config = trainConfigFor(spec, condition, seed, rows.rows, rows.dIn);
  const checkpointPath = join(dir, CHECKPOINT_FILE);
  const store = fileCheckpointStore(checkpointPath);
  const hook = hookFor(spec, condition.layer);
  const start = performance.now();
  // A checkpoint left by a killed run is resumed only if it was made with exactly these settings.
  if (existsSync(checkpointPath)) {
    let compatible = false;
    try {
      compatible = JSON.stringify(store.load()?.config) === JSON.stringify(config);
    } catch {
      compatible = false; // unreadable (e.g. cut short): start over
    }
    if (!compatible) rmSync(checkpointPath, { force: true });
  }
  let result;
  try {
    result = trainSAE({
      config, data: rows, checkpoints: store,
      onProgress: (p) => inputs.onProgress?.(p.tokensSeen, p.totalTokens, `fvu ${p.stats.fvu.toFixed(3)}`),
    });
  } catch (e) {
    if (!(e as Error).name.includes("Divergence")) rmSync(checkpointPath, { force: true });
    throw e;
  }
  const seconds = (performance.now() - start) / 1000;
  const analysis = analyseFeatures(result.sae, rows, { describe: inputs.describeRow, topN: 5 });
  const final: HistoryEntry = result.history.at(-1)!;
  const metrics: RunMetrics = {
    condition: conditionId(condition), seed, fvu: final.fvu, mse: final.mse, l0: final.l0,
    deadFraction: analysis.deadFraction, deadCount: analysis.deadCount, trainingRows: rows.rows,
    realTokens: inputs.realTokens, tokensSeen: result.tokensSeen, seconds,
  };
  saveSAELens(join(dir, "sae"), result.sae, {
    hookName: hook, modelName: spec.model,
    extra: { seed, condition: conditionId(condition), config },
  });
  writeJsonAtomic(join(dir, "spec.json"), { sweep: spec.name, condition, seed, hook, config, spec });
  writeJsonAtomic(join(dir, "history.json"), result.history);
  writeJsonAtomic(join(dir, "metrics.json"), metrics);
  writeJsonAtomic(join(dir, "feature_analysis.json"), analysis);
  writeJsonAtomic(join(dir, "environment.json"), environmentRecord({ seed, ...inputs.receipts }, { threads: inputs.threads, matmulKernel: matmulKernelName() }));
  rmSync(checkpointPath, { force: true });
  writeManifest(dir);
  return true;
}

export function isComplete(root: string, condition: Condition, seed: number): boolean {
  const dir = runDir(root, condition, seed);
  return existsSync(dir) && verifyManifest(dir).ok;
}
