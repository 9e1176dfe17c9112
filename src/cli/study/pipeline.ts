/**
 * A sweep end to end: model → corpus → token windows → activation cache (all layers in one pass) → one run per
 * (condition, seed), skipping runs whose manifest verifies → ready for the stability report.
 */
import { join } from "node:path";
import { loadModel, type LoadedModel } from "../../gpt2/loader.ts";
import { loadCorpus, type Corpus } from "../../data/corpus.ts";
import { makeWindows, faithfulSeedStudyWindows, selectTrainingRows, describeRow, type TokenWindows, KIND_REAL } from "../../data/windows.ts";
import { buildActivationCache, type ActivationCache } from "../../data/activation_cache.ts";
import { selectRows } from "../../sae/rows.ts";
import { createProgress, silentProgress, type ProgressBar } from "../progress.ts";
import { writeJsonAtomic } from "../receipts.ts";
import { mkdirSync } from "node:fs";
import type { SweepSpec } from "./spec.ts";
import { conditionId, hookFor } from "./spec.ts";
import { runOne, isComplete } from "./run_one.ts";

export interface PipelineOptions {
  outDir: string;
  cacheDir: string;
  threads: number;
  quiet?: boolean;
  log?: (line: string) => void;
  /** Reuse an already loaded model (replicate runs several sweeps on one model). */
  model?: LoadedModel;
}

export interface PipelineResult {
  model: LoadedModel;
  corpus: Corpus;
  windows: TokenWindows;
  cache: ActivationCache;
  trained: number;
  skipped: number;
}

export function windowsFor(spec: SweepSpec, corpus: Corpus): TokenWindows {
  return spec.windowing === "faithful"
    ? faithfulSeedStudyWindows(corpus.documents, { seqLen: spec.seqLen, maxTokens: spec.maxTokens })
    : makeWindows(corpus.documents, { seqLen: spec.seqLen, maxTokens: spec.maxTokens });
}

function bar(options: PipelineOptions, label: string, total: number, unit: string): ProgressBar {
  return options.quiet ? silentProgress : createProgress(label, total, unit);
}

export async function runSweep(spec: SweepSpec, options: PipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const model = options.model ?? (await loadModel({ model: spec.model, weightsDir: spec.weights }));
  log(`model: ${model.label} (sha256 ${model.sha256.slice(0, 16)}…)`);
  const corpus = loadCorpus(spec.corpus);
  const windows = windowsFor(spec, corpus);
  log(`corpus: ${corpus.name} (${corpus.documents.length} documents, sha256 ${corpus.sha256.slice(0, 16)}…); ${windows.nWindows} windows of ${spec.seqLen}: ${windows.realTokens} real tokens, ${windows.bosTokens} BOS, ${windows.padTokens} padding`);
  const hooks = [...new Set(spec.conditions.map((c) => hookFor(spec, c.layer)))].sort();
  const cacheBar = bar(options, "activations", windows.nWindows * spec.seqLen, "tok");
  const cache = buildActivationCache(options.cacheDir, {
    model, corpus: { name: corpus.name, sha256: corpus.sha256, documents: corpus.documents.length, documentIds: corpus.documents.map((d) => d.id) }, windows,
    windowing: { mode: spec.windowing, seqLen: spec.seqLen, maxTokens: spec.maxTokens }, hooks, residual: spec.residual,
    onProgress: (done, total) => cacheBar.update(done, `of ${total}`),
  });
  cacheBar.done(`cache ${cache.dir}`);
  const trainingRowIds = selectTrainingRows(windows, { includeSpecial: spec.includeSpecial });
  let realInTraining = 0;
  for (const r of trainingRowIds) if (windows.kind[r] === KIND_REAL) realInTraining++;
  log(`training rows: ${trainingRowIds.length} (${realInTraining} real tokens${spec.includeSpecial ? `, ${trainingRowIds.length - realInTraining} BOS/padding rows included as the seed study did` : ", BOS and padding excluded"})`);
  mkdirSync(options.outDir, { recursive: true });
  writeJsonAtomic(join(options.outDir, "sweep.json"), spec);
  const documentIds = corpus.documents.map((d) => d.id);
  let trained = 0, skipped = 0;
  const total = spec.conditions.length * spec.seeds.length;
  for (const condition of spec.conditions) {
    const hookRows = cache.rows(hookFor(spec, condition.layer));
    const rows = selectRows(hookRows, trainingRowIds);
    for (const seed of spec.seeds) {
      if (isComplete(options.outDir, condition, seed)) {
        skipped++;
        continue;
      }
      const label = `${conditionId(condition)} seed ${seed} (${trained + skipped + 1}/${total})`;
      const progress = bar(options, label, spec.epochs * rows.rows, "rows");
      runOne(options.outDir, {
        spec, condition, seed, rows, realTokens: realInTraining, threads: options.threads,
        describeRow: (row) => describeRow(windows, trainingRowIds[row]!, documentIds),
        receipts: {
          model: model.label, modelKind: model.kind, weightsSha256: model.sha256, corpus: corpus.name, corpusSha256: corpus.sha256,
          activationCache: cache.dir, activationCacheKey: cache.manifest.key, hook: hookFor(spec, condition.layer),
        },
        onProgress: (done, _t, extra) => progress.update(done, extra),
      });
      progress.done();
      trained++;
    }
  }
  log(`runs: ${trained} trained, ${skipped} already complete (manifest verified)`);
  return { model, corpus, windows, cache, trained, skipped };
}
