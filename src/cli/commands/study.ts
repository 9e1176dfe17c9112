/** `sweep`, `plan` and `stability`: running a grid of SAEs, pricing it first, and reporting how stable it is. */
import { join } from "node:path";
import type { Command } from "../command.ts";
import { MODEL_FLAGS } from "../command.ts";
import { UsageError, type FlagSpec, type FlagValues } from "../args.ts";
import { createProgress } from "../progress.ts";
import { applyThreads, processCount, threadCount } from "../../study/threads.ts";
import { applyFlagSettings, DEFAULT_SPEC, readSpecFile, SWEEP_SETTINGS, validateSpec, type SweepSpec } from "../../study/spec.ts";
import { PRESETS } from "../../study/presets.ts";
import { parseShard } from "../../study/shards.ts";
import { formatStatus, sweepStatus } from "../../study/status.ts";
import { runSweep } from "../../study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../../study/stability.ts";
import { buildForeignStabilityReport, DEFAULT_FOREIGN_ROWS } from "../../study/foreign_saes.ts";
import { cacheForActs, specForActs } from "../../study/acts_sweep.ts";
import { qualityRows, renderMarkdown, tableRows } from "../../study/report/render.ts";
import { writeReport } from "../../study/report/write.ts";
import { estimatePlan, formatPlan } from "../../study/plan.ts";

export const SWEEP_FLAGS: Record<string, FlagSpec> = {
  threads: MODEL_FLAGS.threads!,
  preset: { type: "string", choices: Object.keys(PRESETS), description: "start from a named sweep" },
  config: { type: "string", description: "sweep spec file, .json or .yaml (keys of SweepSpec; layers/features/k/recipes expand to a grid)" },
  ...SWEEP_SETTINGS,
  out: { type: "string", description: "output directory (default runs/<name>)" },
  cache: { type: "string", description: "activation cache root", default: "cache" },
  quiet: { type: "boolean", description: "no progress bars" },
  processes: { type: "int", min: 1, description: "runs trained at once, in worker processes (default: one per thread)" },
  shard: { type: "string", description: "train only shard I of N of the runs: I/N (0-based), auto (Slurm array task) or auto/N (Kubernetes Indexed Job)" },
  "cache-only": { type: "boolean", description: "build the activation cache and stop (a cluster sweep's first job)" },
  status: { type: "boolean", description: "list complete, failed, running and missing runs, then stop (trains nothing)" },
  json: { type: "boolean", description: "with --status: JSON output" },
  "require-complete": { type: "boolean", description: "with --status: fail (exit 1) unless every run is complete" },
};

/**
 * The sweep a command line asks for. Precedence, each layer over the ones before it: the defaults (DEFAULT_SPEC), a
 * --preset, a --config file, then flags. Every value is checked by the same rules whichever layer gives it.
 */
export function specFromFlags(flags: FlagValues): SweepSpec {
  let spec: SweepSpec = { ...DEFAULT_SPEC };
  if (flags.preset !== undefined) spec = PRESETS[flags.preset as string]!(flags.corpus as string | undefined);
  if (flags.config !== undefined) spec = readSpecFile(flags.config as string, spec);
  return validateSpec(applyFlagSettings(spec, flags));
}

export const sweepCommand: Command = {
  name: "sweep",
  summary: "Train SAEs over layers × sizes × k × recipes × seeds (resumable: finished runs are skipped; several processes may share one sweep).",
  flags: SWEEP_FLAGS,
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    let spec = specFromFlags(flags);
    // On an activation cache (or activations to import into one): the cache's manifest completes the spec.
    if (spec.acts !== undefined) spec = specForActs(spec, cacheForActs(spec.acts, flags.cache as string, {}, (line) => console.error(line)));
    const out = (flags.out as string) ?? join("runs", spec.name);
    if (flags.status) {
      const statuses = sweepStatus(spec, out);
      console.log(flags.json ? JSON.stringify({ sweep: out, runs: statuses }) : formatStatus(statuses));
      const notDone = statuses.filter((s) => s.state !== "complete").length;
      if (flags["require-complete"] && notDone) throw new Error(`${notDone} of ${statuses.length} runs in ${out} are not complete (listed above); rerun the sweep (or resubmit its jobs) to finish them`);
      return;
    }
    if (flags.json || flags["require-complete"]) throw new UsageError("--json and --require-complete go with --status");
    const shard = flags.shard !== undefined ? parseShard(flags.shard as string) : undefined;
    if (shard && flags["cache-only"]) throw new UsageError("--cache-only builds the whole cache; leave out --shard");
    await runSweep(spec, {
      outDir: out, cacheDir: flags.cache as string, threads: threadCount(), quiet: Boolean(flags.quiet), progress: createProgress,
      processes: processCount(flags.processes as number | undefined), shard, cacheOnly: Boolean(flags["cache-only"]),
    });
    if (flags["cache-only"]) console.log(`activation cache ready in ${flags.cache as string}`);
    else console.log(`runs in ${out}; next: npx tsx src/cli/main.ts stability ${out}`);
  },
};

const { shard: _shard, "cache-only": _cacheOnly, status: _status, json: _json, "require-complete": _requireComplete, ...PLAN_BASE_FLAGS } = SWEEP_FLAGS;

export const planCommand: Command = {
  name: "plan",
  summary: "Print what a sweep will cost (runs, tokens, estimated hours from throughput measured now; --tasks N for a cluster).",
  flags: { ...PLAN_BASE_FLAGS, tasks: { type: "int", min: 1, description: "price the sweep sharded over N parallel tasks (each like this machine)", default: 1 } },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    let spec = specFromFlags(flags);
    let cachedDIn: number | undefined;
    if (spec.acts !== undefined) {
      const cache = cacheForActs(spec.acts, flags.cache as string, {}, (line) => console.error(line));
      spec = specForActs(spec, cache);
      cachedDIn = cache.manifest.dIn;
    }
    console.log(formatPlan(spec, await estimatePlan(spec, { threads: threadCount(), processes: processCount(flags.processes as number | undefined), tasks: flags.tasks as number, ...(cachedDIn !== undefined ? { cachedDIn } : {}) })));
  },
};

export const STABILITY_FLAGS: Record<string, FlagSpec> = {
  "live-only": { type: "boolean", description: "only the live-only matching" },
  threshold: { type: "number", above: -1, max: 1, description: "the 'survives' threshold on matched cosine", default: 0.9 },
  "shared-threshold": { type: "number", above: -1, max: 1, description: "shared latents: decoder and encoder matches both above this cosine (Paulo & Belrose), reported beside 'same partner' and both; also the 'has a partner' threshold of the presence and subspace views", default: 0.7 },
  bootstrap: { type: "int", min: 0, description: "bootstrap resamples of seeds", default: 2000 },
  null: { type: "int", min: 0, description: "random-dictionary null draws", default: 200 },
  seed: { type: "int", min: 0, description: "RNG seed for bootstrap and null", default: 0 },
  json: { type: "boolean", description: "print report.json to stdout" },
  md: { type: "boolean", description: "print report.md to stdout" },
  out: { type: "string", description: "where report.json/.md/.html go (default: the first directory given)" },
  title: { type: "string", description: "report title", default: "SAE feature stability across seeds" },
  saes: { type: "boolean", description: "the arguments are SAEs (SAELens, sparsify, dictionary_learning or seed-platform files, same d_in) to compare as seeds, not run directories" },
  acts: { type: "string", description: "with --saes: activations for live latents and quality (an activation cache, or a .npy / .safetensors file or folder of shards)" },
  hook: { type: "string", description: "with --saes --acts: the cache's hook or the safetensors tensor" },
  tokens: { type: "int", min: 1, description: `with --saes --acts: rows used (default ${DEFAULT_FOREIGN_ROWS})` },
  hookpoint: { type: "string", description: "with --saes: the hookpoint folder of sparsify repositories among the SAEs" },
  k: { type: "int", min: 1, description: "with --saes --acts: k for TopK files that carry none (seed-platform files)" },
};

export const stabilityCommand: Command = {
  name: "stability",
  usage: "<run dirs or sweep dir>…  |  --saes SAE SAE …",
  summary: "Match every seed pair per condition and report stability with null baselines and bootstrap CIs.",
  flags: STABILITY_FLAGS,
  async run({ flags, positionals }) {
    if (!positionals.length) throw new UsageError("give one or more run directories or a sweep directory, e.g. runs/sweep (or SAE files with --saes)");
    const threshold = flags.threshold as number;
    const settings = {
      threshold, bootstrap: flags.bootstrap as number, nullDraws: flags.null as number, rngSeed: flags.seed as number, liveOnly: Boolean(flags["live-only"]),
      sharedThreshold: flags["shared-threshold"] as number,
    };
    const log = (s: string) => process.stderr.write(s + "\n");
    const foreignOnly = ["acts", "hook", "tokens", "hookpoint", "k"].filter((f) => flags[f] !== undefined);
    if (!flags.saes && foreignOnly.length) throw new UsageError(`--${foreignOnly[0]} goes with --saes (SAE files compared as seeds)`);
    if (flags.saes && flags.acts === undefined && (flags.hook !== undefined || flags.tokens !== undefined || flags.k !== undefined)) throw new UsageError("--hook, --tokens and --k go with --acts");
    if (flags.saes && flags.out === undefined) throw new UsageError("with --saes, say where the report goes: --out DIR");
    const report = flags.saes
      ? buildForeignStabilityReport(positionals, {
        ...settings, hookpoint: flags.hookpoint as string | undefined, k: flags.k as number | undefined,
        ...(flags.acts !== undefined ? { acts: { path: flags.acts as string, hook: flags.hook as string | undefined, maxRows: flags.tokens as number | undefined } } : {}),
      }, flags.title as string, log)
      : buildStabilityReport(findRuns(positionals), settings, flags.title as string, log);
    const out = (flags.out as string) ?? positionals[0]!;
    writeReport(out, report);
    if (flags.json) console.log(JSON.stringify(report));
    else if (flags.md) console.log(renderMarkdown(report));
    else {
      for (const r of tableRows(report)) console.log(`${r.condition.padEnd(44)} ${r.mode.padEnd(9)} median ${r.median} ${r.medianCi}  ≥${report.threshold}: ${r.fraction} ${r.fractionCi}  shared (P&B) ${r.sharedPB} ${r.sharedPBCi}  null median ${r.nullMedian}  p ${r.pValue}  dead ${r.dead}`);
      for (const q of qualityRows(report)) console.log(`${q.condition.padEnd(44)} quality   EV ${q.explainedVariance}  CE-loss score ${q.ceLossScore}  KL score ${q.klScore}  L0 ${q.l0}  dead ${q.dead}`);
      console.log(`report: ${join(out, "report.html")} (also report.md, report.json)`);
    }
  },
};
