/** `sweep`, `plan` and `stability`: running a grid of SAEs, pricing it first, and reporting how stable it is. */
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import type { Command } from "../command.ts";
import { MODEL_FLAGS } from "../command.ts";
import { parseIntList, UsageError, type FlagSpec, type FlagValues } from "../args.ts";
import { applyThreads, processCount, threadCount } from "../threads.ts";
import { currentCliEntry } from "../study/run_pool.ts";
import { gridConditions, readSpecFile, validateSpec, type SweepSpec } from "../study/spec.ts";
import { PRESETS } from "../study/presets.ts";
import { runSweep } from "../study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../study/stability.ts";
import { renderHtml, renderMarkdown, tableRows } from "../report/render.ts";
import { writeJsonAtomic } from "../receipts.ts";
import { estimatePlan, formatPlan } from "../study/plan.ts";
import type { Recipe } from "../../sae/config.ts";

export const SWEEP_FLAGS: Record<string, FlagSpec> = {
  ...MODEL_FLAGS,
  preset: { type: "string", description: `start from a named sweep: ${Object.keys(PRESETS).join(", ")}` },
  config: { type: "string", description: "sweep spec file, .json or .yaml (keys of SweepSpec; layers/features/k/recipes expand to a grid)" },
  name: { type: "string", description: "sweep name (output goes to runs/<name>)" },
  corpus: { type: "string", description: "brown, a .jsonl file with a text field, or a text file (one document per line)" },
  "seq-len": { type: "int", description: "tokens per window, BOS included" },
  "max-tokens": { type: "int", description: "real tokens to use" },
  layers: { type: "list", description: "layers, e.g. 0,6" },
  features: { type: "list", description: "dictionary sizes, e.g. 128,512" },
  k: { type: "list", description: "active latents per token, e.g. 8,32" },
  recipes: { type: "list", description: "topk and/or seed-report" },
  seeds: { type: "list", description: "seeds, e.g. 1-5 or 1,2,3" },
  epochs: { type: "int", description: "passes over the training rows" },
  "batch-size": { type: "int", description: "rows per step" },
  lr: { type: "number", description: "Adam learning rate" },
  "include-special": { type: "boolean", description: "train on BOS and padding rows too (the seed study's accident)" },
  residual: { type: "string", description: "centered (TransformerLens convention) or raw (Hugging Face hidden states)" },
  out: { type: "string", description: "output directory (default runs/<name>)" },
  cache: { type: "string", description: "activation cache root", default: "cache" },
  quiet: { type: "boolean", description: "no progress bars" },
  processes: { type: "int", description: "runs trained at once, in worker processes (default: one per thread)" },
};

export const DEFAULT_SPEC: SweepSpec = {
  name: "sweep", model: "gpt2", corpus: "brown", windowing: "standard", seqLen: 64, maxTokens: 2000, includeSpecial: false,
  residual: "centered", hookTemplate: "blocks.{layer}.hook_resid_pre", conditions: gridConditions([6], [128], [8], ["topk"]),
  seeds: [1, 2, 3, 4, 5], epochs: 8,
};

/** Flags override a preset or config file, which override the defaults. */
export function specFromFlags(flags: FlagValues): SweepSpec {
  let spec: SweepSpec = { ...DEFAULT_SPEC };
  if (flags.preset) {
    const make = PRESETS[flags.preset as string];
    if (!make) throw new UsageError(`unknown --preset ${String(flags.preset)}; choose ${Object.keys(PRESETS).join(", ")}`);
    spec = make(flags.corpus as string | undefined);
  }
  if (flags.config) spec = readSpecFile(flags.config as string, spec);
  const ints = (name: string) => (flags[name] ? parseIntList(name, flags[name] as string[]) : undefined);
  const layers = ints("layers"), features = ints("features"), ks = ints("k");
  const recipes = flags.recipes as Recipe[] | undefined;
  if (layers || features || ks || recipes) {
    spec.conditions = gridConditions(
      layers ?? [...new Set(spec.conditions.map((c) => c.layer))],
      features ?? [...new Set(spec.conditions.map((c) => c.features))],
      ks ?? [...new Set(spec.conditions.map((c) => c.k))],
      recipes ?? [...new Set(spec.conditions.map((c) => c.recipe))],
    );
  }
  if (flags.name) spec.name = flags.name as string;
  if (flags.model) spec.model = flags.model as string;
  if (flags.weights) spec.weights = flags.weights as string;
  if (flags.corpus) spec.corpus = flags.corpus as string;
  if (flags["seq-len"]) spec.seqLen = flags["seq-len"] as number;
  if (flags["max-tokens"]) spec.maxTokens = flags["max-tokens"] as number;
  if (flags.seeds) spec.seeds = parseIntList("seeds", flags.seeds as string[]);
  if (flags.epochs) spec.epochs = flags.epochs as number;
  if (flags["batch-size"]) spec.batchSize = flags["batch-size"] as number;
  if (flags.lr) spec.lr = flags.lr as number;
  if (flags["include-special"]) spec.includeSpecial = true;
  if (flags.residual) {
    if (flags.residual !== "centered" && flags.residual !== "raw") throw new UsageError("--residual must be centered or raw");
    spec.residual = flags.residual;
  }
  return validateSpec(spec);
}

export const sweepCommand: Command = {
  name: "sweep",
  summary: "Train SAEs over layers × sizes × k × recipes × seeds (resumable: finished runs are skipped).",
  flags: SWEEP_FLAGS,
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const spec = specFromFlags(flags);
    const out = (flags.out as string) ?? join("runs", spec.name);
    await runSweep(spec, {
      outDir: out, cacheDir: flags.cache as string, threads: threadCount(), quiet: Boolean(flags.quiet),
      processes: processCount(flags.processes as number | undefined), workerEntry: currentCliEntry(),
    });
    console.log(`runs in ${out}; next: npx tsx src/cli/main.ts stability ${out}`);
  },
};

export const planCommand: Command = {
  name: "plan",
  summary: "Print what a sweep will cost (runs, tokens, estimated hours from throughput measured now).",
  flags: SWEEP_FLAGS,
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const spec = specFromFlags(flags);
    console.log(formatPlan(spec, await estimatePlan(spec, { threads: threadCount(), processes: processCount(flags.processes as number | undefined) })));
  },
};

export const STABILITY_FLAGS: Record<string, FlagSpec> = {
  "live-only": { type: "boolean", description: "only the live-only matching" },
  threshold: { type: "number", description: "the 'survives' threshold on matched cosine", default: 0.9 },
  bootstrap: { type: "int", description: "bootstrap resamples of seeds", default: 2000 },
  null: { type: "int", description: "random-dictionary null draws", default: 200 },
  seed: { type: "int", description: "RNG seed for bootstrap and null", default: 0 },
  json: { type: "boolean", description: "print report.json to stdout" },
  md: { type: "boolean", description: "print report.md to stdout" },
  out: { type: "string", description: "where report.json/.md/.html go (default: the first directory given)" },
  title: { type: "string", description: "report title", default: "SAE feature stability across seeds" },
};

export const stabilityCommand: Command = {
  name: "stability",
  usage: "<run dirs or sweep dir>…",
  summary: "Match every seed pair per condition and report stability with null baselines and bootstrap CIs.",
  flags: STABILITY_FLAGS,
  async run({ flags, positionals }) {
    if (!positionals.length) throw new UsageError("give one or more run directories or a sweep directory, e.g. runs/sweep");
    const threshold = flags.threshold as number;
    if (!(threshold > -1 && threshold <= 1)) throw new UsageError("--threshold must be in (-1, 1]");
    const report = buildStabilityReport(findRuns(positionals), {
      threshold, bootstrap: flags.bootstrap as number, nullDraws: flags.null as number, rngSeed: flags.seed as number, liveOnly: Boolean(flags["live-only"]),
    }, flags.title as string, (s) => process.stderr.write(s + "\n"));
    const out = (flags.out as string) ?? positionals[0]!;
    writeReport(out, report);
    if (flags.json) console.log(JSON.stringify(report));
    else if (flags.md) console.log(renderMarkdown(report));
    else {
      for (const r of tableRows(report)) console.log(`${r.condition.padEnd(44)} ${r.mode.padEnd(9)} median ${r.median} ${r.medianCi}  ≥${report.threshold}: ${r.fraction} ${r.fractionCi}  null ${r.nullMedian}  p ${r.pValue}  dead ${r.dead}`);
      console.log(`report: ${join(out, "report.html")} (also report.md, report.json)`);
    }
  },
};

export function writeReport(dir: string, report: Parameters<typeof renderHtml>[0]): void {
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, "report.json"), report);
  writeFileSync(join(dir, "report.md"), renderMarkdown(report));
  writeFileSync(join(dir, "report.html"), renderHtml(report));
}
