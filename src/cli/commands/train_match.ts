/** `cache`, `train` and `match`: the pipeline's stages one at a time. */
import { join } from "node:path";
import type { Command } from "../command.ts";
import { MODEL_FLAGS } from "../command.ts";
import { UsageError } from "../args.ts";
import { applyThreads, threadCount } from "../../study/threads.ts";
import { loadModel } from "../../gpt2/loader.ts";
import { loadCorpus } from "../../data/corpus.ts";
import { buildActivationCache, loadActivationCache } from "../../data/activation_cache.ts";
import { actsEvaluation, actsReceipts, cacheForActs, specForActs } from "../../study/acts_sweep.ts";
import { RECIPES, type Recipe } from "../../sae/config.ts";
import { detectSAEFormat, loadDecoder, loadSAE } from "../../sae/io.ts";
import { alignDictionaries, MATCH_MODES, type MatchMode } from "../../match/align.ts";
import { createProgress } from "../progress.ts";
import { runDir } from "../../study/run_one.ts";
import { windowsFor } from "../../study/pipeline.ts";
import { trainingContext, trainRun } from "../../study/training_run.ts";
import { DEFAULT_SPEC, validateSpec, type SweepSpec } from "../../study/spec.ts";
import type { FeatureAnalysis } from "../../sae/analysis.ts";
import { readFileSync, existsSync } from "node:fs";

export const cacheCommand: Command = {
  name: "cache",
  summary: "Run a corpus through GPT-2 and cache residual-stream activations for the given layers.",
  flags: {
    ...MODEL_FLAGS,
    layers: { type: "ints", min: 0, unique: true, description: "layers whose blocks.{L}.hook_resid_pre to cache", default: [6] },
    corpus: { type: "string", description: "brown, a .jsonl file or a text file", default: "brown" },
    "seq-len": { type: "int", min: 2, description: "tokens per window, BOS included", default: 64 },
    "max-tokens": { type: "int", min: 1, description: "real tokens to use", default: 2000 },
    faithful: { type: "boolean", description: "the seed study's windowing (one truncated, padded window per document)" },
    residual: { type: "string", choices: ["centered", "raw"], description: "centered or raw", default: "centered" },
    out: { type: "string", description: "cache root", default: "cache" },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const model = await loadModel({ model: flags.model as string, weightsDir: flags.weights as string | undefined });
    const corpus = loadCorpus(flags.corpus as string);
    const spec = { windowing: flags.faithful ? "faithful" : "standard", seqLen: flags["seq-len"], maxTokens: flags["max-tokens"] } as SweepSpec;
    const windows = windowsFor(spec, corpus);
    const hooks = (flags.layers as number[]).map((l) => `blocks.${l}.hook_resid_pre`);
    const bar = createProgress("activations", windows.nWindows * windows.seqLen, "tok");
    const cache = buildActivationCache(flags.out as string, {
      model, corpus: { name: corpus.name, sha256: corpus.sha256, documents: corpus.documents.length, documentIds: corpus.documents.map((d) => d.id) },
      windows, windowing: { mode: spec.windowing, seqLen: spec.seqLen, maxTokens: spec.maxTokens }, hooks,
      residual: flags.residual === "raw" ? "raw" : "centered", onProgress: (d, t) => bar.update(d, `of ${t}`),
    });
    bar.done();
    console.log(cache.dir);
  },
};

export const trainCommand: Command = {
  name: "train",
  summary: "Train one SAE on cached activations and write a SAELens-compatible run directory.",
  flags: {
    acts: { type: "string", description: "activation cache directory (from `cache`, `import-acts` or a sweep), or activations to import (.npy, .safetensors, a folder of shards)" },
    cache: { type: "string", description: "cache root that --acts files are imported into", default: "cache" },
    "eval-tokens": { type: "int", min: 0, description: "imported activations: held-out rows for the run's quality metrics (explained variance, FVU, …; no CE-loss without the model)", default: 0 },
    hook: { type: "string", description: "which cached hook (default: the only one)" },
    features: { type: "int", min: 1, description: "dictionary size" },
    k: { type: "int", min: 1, description: "active latents per token" },
    seed: { type: "int", min: 0, description: "run seed", default: 1 },
    recipe: { type: "string", choices: RECIPES, description: "training recipe", default: "topk" },
    epochs: { type: "int", min: 1, description: "passes over the rows", default: 8 },
    "batch-size": { type: "int", min: 1, description: "rows per step" },
    lr: { type: "number", above: 0, description: "Adam learning rate" },
    "include-special": { type: "boolean", description: "also train on BOS and padding rows" },
    out: { type: "string", description: "output directory" },
    threads: MODEL_FLAGS.threads!,
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    for (const f of ["acts", "features", "k", "out"]) if (flags[f] === undefined) throw new UsageError(`--${f} is required`);
    const recipe = flags.recipe as Recipe;
    const cache = cacheForActs(flags.acts as string, flags.cache as string, {}, (line) => console.error(line));
    const hook = (flags.hook as string | undefined) ?? (cache.manifest.hooks.length === 1 ? cache.manifest.hooks[0]! : undefined);
    if (!hook) throw new UsageError(`the cache holds ${cache.manifest.hooks.join(", ")}; choose one with --hook`);
    if (!cache.manifest.hooks.includes(hook)) throw new UsageError(`--hook ${hook} is not in ${cache.dir}; it holds ${cache.manifest.hooks.join(", ")}`);
    const layer = cache.manifest.imported ? 0 : Number(/^blocks\.(\d+)\./.exec(hook)?.[1] ?? 0);
    const condition = { layer, features: flags.features as number, k: flags.k as number, recipe };
    const m = cache.manifest;
    if (m.imported) {
      // Imported activations: the manifest says what they are; quality, if asked for, on the import's held-out rows.
      const spec = specForActs({
        ...DEFAULT_SPEC, name: "train", conditions: [condition], seeds: [flags.seed as number], epochs: flags.epochs as number, evalTokens: flags["eval-tokens"] as number,
        ...(flags["batch-size"] !== undefined ? { batchSize: flags["batch-size"] as number } : {}), ...(flags.lr !== undefined ? { lr: flags.lr as number } : {}),
      }, cache);
      if (flags["include-special"]) throw new UsageError("--include-special: imported activations have no BOS or padding rows");
      const evaluation = actsEvaluation(spec, cache);
      const ctx = trainingContext(spec, flags.out as string, cache, actsReceipts(cache), threadCount(), evaluation ?? undefined);
      const bar = createProgress(`train ${hook}`, spec.epochs * ctx.trainingRowIds.length, "rows");
      trainRun(ctx, condition, flags.seed as number, (d, extra) => bar.update(d, extra));
      bar.done();
      const dir = runDir(flags.out as string, condition, flags.seed as number);
      const metrics = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as { fvu: number; l0: number; deadFraction: number; quality?: { explainedVariance: number; fvu: number; tokens: number } };
      const q = metrics.quality ? `; held-out ${metrics.quality.tokens} rows: EV ${metrics.quality.explainedVariance.toFixed(4)}, FVU ${metrics.quality.fvu.toFixed(4)} (CE-loss unavailable: no model)` : "";
      console.log(`${dir}: FVU ${metrics.fvu.toFixed(4)}, L0 ${metrics.l0.toFixed(2)}, dead ${(100 * metrics.deadFraction).toFixed(1)}%${q}`);
      return;
    }
    if (flags["eval-tokens"] !== 0) throw new UsageError("--eval-tokens is for imported activations; a cache built from a corpus gets quality metrics from `sweep`, which has the model and corpus");
    const windowing = m.windowing as { mode?: string; maxTokens?: number };
    // The cache says how its rows were made; the flags say how to train on them. Together, a one-run sweep.
    const spec = validateSpec({
      name: "train", model: m.model.name, corpus: m.corpus.name, windowing: windowing.mode === "faithful" ? "faithful" : "standard",
      seqLen: m.seqLen, maxTokens: windowing.maxTokens ?? m.realTokens, includeSpecial: Boolean(flags["include-special"]), residual: m.residual,
      hookTemplate: hook.replace(/^blocks\.\d+\./, "blocks.{layer}."), conditions: [condition], seeds: [flags.seed as number], epochs: flags.epochs as number,
      evalTokens: 0, // a cache holds the training windows only: quality metrics come with `sweep`, which has the corpus
      ...(flags["batch-size"] !== undefined ? { batchSize: flags["batch-size"] as number } : {}), ...(flags.lr !== undefined ? { lr: flags.lr as number } : {}),
    });
    const receipts = {
      model: m.model.label, modelKind: m.model.kind, weightsSha256: m.model.sha256, corpus: m.corpus.name, corpusSha256: m.corpus.sha256,
      activationCache: cache.dir, activationCacheKey: m.key, activationCacheSha256: m.contentSha256,
    };
    const ctx = trainingContext(spec, flags.out as string, cache, receipts, threadCount());
    const bar = createProgress(`train ${hook}`, spec.epochs * ctx.trainingRowIds.length, "rows");
    trainRun(ctx, condition, flags.seed as number, (d, extra) => bar.update(d, extra));
    bar.done();
    const dir = runDir(flags.out as string, condition, flags.seed as number);
    const metrics = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as { fvu: number; l0: number; deadFraction: number };
    console.log(`${dir}: FVU ${metrics.fvu.toFixed(4)}, L0 ${metrics.l0.toFixed(2)}, dead ${(100 * metrics.deadFraction).toFixed(1)}%`);
  },
};

function liveMaskFor(dir: string): Uint8Array | undefined {
  for (const p of [join(dir, "feature_analysis.json"), join(dir, "..", "feature_analysis.json")]) {
    if (existsSync(p)) return Uint8Array.from((JSON.parse(readFileSync(p, "utf8")) as FeatureAnalysis).features, (f) => (f.dead ? 0 : 1));
  }
  return undefined;
}

/** Accepts a run directory (with sae/ inside) or an SAE directory. */
function saeDir(dir: string): string {
  return existsSync(join(dir, "sae")) ? join(dir, "sae") : dir;
}

export const matchCommand: Command = {
  name: "match",
  usage: "A B",
  summary: "Match two SAEs' dictionaries (SAELens, sparsify, dictionary_learning or seed-platform files; widths may differ) and print the per-pair numbers.",
  flags: {
    mode: { type: "string", choices: MATCH_MODES, description: "which features to match, and by what", default: "full" },
    json: { type: "boolean", description: "JSON output" },
    k: { type: "int", min: 1, description: "--mode activation: k for TopK files that carry none (seed-platform files)" },
    threshold: { type: "number", above: -1, max: 1, description: "extra 'survives' threshold on matched cosine", default: 0.9 },
    acts: { type: "string", description: "activation cache for --mode activation (held-out tokens)" },
    hook: { type: "string", description: "hook in --acts" },
    tokens: { type: "int", min: 1, description: "tokens of --acts to use for --mode activation", default: 4096 },
    hookpoint: { type: "string", description: "the hookpoint folder to use of a sparsify repository (A or B given as the repository)" },
  },
  async run({ flags, positionals }) {
    if (positionals.length !== 2) throw new UsageError("give exactly two SAE directories: match A B");
    const mode = flags.mode as MatchMode;
    if (!MATCH_MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MATCH_MODES.join(", ")}`);
    // Matching directions needs only the decoder (any architecture, no k); activation matching runs the SAEs, so it
    // needs each one whole (and k for a TopK file that does not carry it).
    // --hookpoint picks the folder of a sparsify repository (one folder per hookpoint), on whichever side is one.
    const hook = (dir: string) => (flags.hookpoint !== undefined && detectSAEFormat(dir).format === "sparsify" ? { hookpoint: flags.hookpoint as string } : {});
    const load = (dir: string) => (mode === "activation" ? loadSAE(dir, { ...hook(dir), ...(flags.k !== undefined ? { k: flags.k as number } : {}) }) : loadDecoder(dir, hook(dir)));
    if (mode !== "activation" && flags.k !== undefined) throw new UsageError("--k is for --mode activation (running TopK SAEs whose files carry no k); matching directions needs no k");
    const [a, b] = positionals.map((p) => ({ dir: p, loaded: load(saeDir(p)), live: liveMaskFor(saeDir(p)) }));
    const dictFor = (x: typeof a) => ({ decoder: x!.loaded.sae.params.wDec, n: x!.loaded.sae.params.dSae, d: x!.loaded.sae.params.dIn, live: x!.live });
    const A = dictFor(a), B = dictFor(b);
    if (mode === "live-only" && (!A.live || !B.live)) throw new UsageError("live-only needs feature_analysis.json beside each SAE (run directories from `train` or `sweep` have it)");
    if (mode === "activation") {
      if (!flags.acts) throw new UsageError("--mode activation needs --acts CACHE_DIR (held-out tokens to run both SAEs on)");
      const cache = loadActivationCache(flags.acts as string);
      const hook = (flags.hook as string | undefined) ?? cache.manifest.hooks[0]!;
      const src = cache.rows(hook);
      const T = Math.min(flags.tokens as number, src.rows);
      const x = new Float32Array(T * src.dIn);
      for (let i = 0; i < T; i++) src.copyRow(i, x, i * src.dIn);
      const { encode } = await import("../../sae/sae.ts");
      const dense = (sae: typeof a.loaded.sae) => {
        const code = encode(sae, x, T);
        const out = new Float32Array(T * sae.params.dSae);
        for (let r = 0; r < T; r++) for (let s = 0; s < code.k; s++) out[r * sae.params.dSae + code.indices[r * code.k + s]!] = code.values[r * code.k + s]!;
        return out;
      };
      Object.assign(A, { activations: dense(a!.loaded.sae) });
      Object.assign(B, { activations: dense(b!.loaded.sae) });
    }
    const m = alignDictionaries(A, B, mode, { threshold: flags.threshold as number });
    if (flags.json) {
      console.log(JSON.stringify({ a: a!.dir, b: b!.dir, mode, summary: m.summary, reverseSummary: m.reverseSummary, optimality: m.audit, best: m.best, liveCounts: m.liveCounts, degenerateA: m.degenerateA, degenerateB: m.degenerateB, values: Array.from(m.values), formats: [a!.loaded.format, b!.loaded.format], unmatched: m.unmatched ? { side: m.unmatched.side, ids: Array.from(m.unmatched.ids), bestValues: Array.from(m.unmatched.bestValues), summary: m.unmatched.summary } : null }));
      return;
    }
    const s = m.summary;
    console.log(`${mode} matching of ${a!.dir} (${a!.loaded.format}, ${A.n} features) and ${b!.dir} (${b!.loaded.format}, ${B.n})${mode === "live-only" || mode === "activation" ? `, live ${m.liveCounts[0]} and ${m.liveCounts[1]}` : ""}`);
    console.log(`  pairs ${s.n}  median ${s.median.toFixed(4)}  mean ${s.mean.toFixed(4)}  quartiles ${s.q1.toFixed(4)}–${s.q3.toFixed(4)}`);
    console.log(`  fraction ≥ ${Object.entries(s.fractionAbove).map(([t, f]) => `${t}: ${(100 * f).toFixed(2)}% (${s.countAbove[t]})`).join(", ")}`);
    if (m.reverseSummary) console.log(`  B→A best partners: median ${m.reverseSummary.median.toFixed(4)}, mean ${m.reverseSummary.mean.toFixed(4)}`);
    if (m.audit) console.log(`  optimality check: ${m.audit.optimal ? "certified optimal" : "FAILED"} (max dual violation ${m.audit.maxDualViolation.toExponential(2)}, slackness ${m.audit.maxSlacknessViolation.toExponential(2)}, gap ${m.audit.dualityGap.toExponential(2)})`);
    if (m.degenerateA.length || m.degenerateB.length) console.log(`  zero-norm/constant features: A ${m.degenerateA.join(",") || "none"}, B ${m.degenerateB.join(",") || "none"}`);
    console.log(`  best: ${m.best.slice(0, 5).map((p) => `${p.a}↔${p.b} ${p.value.toFixed(3)}`).join(", ")}`);
    const u = m.unmatched;
    if (u?.side) {
      console.log(`  unmatched: ${u.ids.length} features of ${u.side} (the wider side) have no partner; their best cosine to any feature of ${u.side === "A" ? "B" : "A"}: median ${u.summary.median.toFixed(4)}, max ${u.summary.max.toFixed(4)}, ≥ 0.9: ${u.summary.countAbove["0.9"]}`);
    }
  },
};
