/** `slurm`: write (and with --submit, submit) the Slurm jobs that run a sweep on a cluster; see study/slurm.ts. */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../command.ts";
import { defaultTrainConfig } from "../../sae/config.ts";
import { UsageError, type FlagSpec } from "../args.ts";
import { applyThreads, threadCount } from "../../study/threads.ts";
import { SWEEP_FLAGS, specFromFlags } from "./study.ts";
import { currentCliEntry } from "../entry.ts";
import { estimatePlan } from "../../study/plan.ts";
import { runMemoryBytes } from "../../study/pipeline.ts";
import { slurmScripts, slurmTime, type SlurmScripts } from "../../study/slurm.ts";
import { writeFileAtomic } from "../../data/json_files.ts";
import { GPT2_PRESETS, countParameters, readGPT2Config, type GPT2Config } from "../../gpt2/config.ts";
import { resolveWeightsDir } from "../../gpt2/weights_location.ts";
import type { SweepSpec } from "../../study/spec.ts";

const { shard: _shard, "cache-only": _cacheOnly, status: _status, json: _json, "require-complete": _requireComplete, quiet: _quiet, ...BASE } = SWEEP_FLAGS;

export const SLURM_FLAGS: Record<string, FlagSpec> = {
  ...BASE,
  tasks: { type: "int", min: 1, description: "array tasks (shards of the runs)", shownDefault: "min(8, runs)" },
  "max-parallel": { type: "int", min: 1, description: "array tasks running at once (%M)", shownDefault: "all" },
  partition: { type: "string", description: "Slurm partition" },
  account: { type: "string", description: "Slurm account" },
  time: { type: "string", description: "time limit per training task, [D-]HH:MM:SS", shownDefault: "3× the plan's slowest shard + 10 min" },
  "cache-time": { type: "string", description: "time limit of the cache job", shownDefault: "3× the plan's estimate + 10 min" },
  "report-time": { type: "string", description: "time limit of the report job", default: "01:00:00" },
  mem: { type: "int", min: 256, description: "memory per training task in MiB", shownDefault: "model + each process's rows and training buffers" },
  scripts: { type: "string", description: "where the job scripts go", shownDefault: "<out>/slurm" },
  submit: { type: "boolean", description: "submit them with sbatch and print the job ids" },
};

const TIME = /^(\d+-)?\d{1,2}:\d{2}:\d{2}$/;
const MiB = 2 ** 20;
const roundMiB = (bytes: number) => Math.ceil(bytes / MiB / 256) * 256;

function modelConfig(spec: SweepSpec): GPT2Config {
  if (spec.model === "random") return GPT2_PRESETS.gpt2!;
  const config = join(resolveWeightsDir(spec.weights), "config.json");
  return existsSync(config) ? readGPT2Config(config) : GPT2_PRESETS.gpt2!;
}

/** Memory per job: the model every job loads, and per training process the rows of one hook and a run's buffers. */
function memoryFor(spec: SweepSpec, config: GPT2Config, processes: number): { cache: number; train: number; report: number } {
  const model = countParameters(config) * 4;
  const node = 256 * MiB; // a Node process and its heap
  const rows = (spec.maxTokens * spec.seqLen) / (spec.seqLen - 1);
  const hookRows = rows * config.nEmbd * 4;
  const hooks = new Set(spec.conditions.map((c) => c.layer)).size;
  const batchOf = (c: SweepSpec["conditions"][number]) => spec.batchSize ?? defaultTrainConfig(c.recipe, { dIn: config.nEmbd, dSae: c.features, k: c.k, seed: 0 }).batchSize;
  const run = Math.max(...spec.conditions.map((c) => runMemoryBytes(c, config.nEmbd, Math.min(batchOf(c), rows))));
  return {
    cache: roundMiB(node + model + 65_536 * config.nEmbd * 4 * (hooks + 1) + 16 * spec.seqLen * config.nEmbd * 4 * 24),
    train: roundMiB(node + model + processes * (node + hookRows + run)),
    report: roundMiB(node + 4 * Math.max(...spec.conditions.map((c) => c.features)) ** 2 * 8 + spec.seeds.length * 2 * hookRows),
  };
}

export const slurmCommand: Command = {
  name: "slurm",
  summary: "Write the Slurm jobs for a sweep (cache job, training array, report after it) and optionally submit them.",
  flags: SLURM_FLAGS,
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const spec = specFromFlags(flags);
    for (const f of ["time", "cache-time", "report-time"]) {
      if (flags[f] !== undefined && !TIME.test(flags[f] as string)) throw new UsageError(`--${f} must be [D-]HH:MM:SS, e.g. 02:00:00 or 1-12:00:00, got "${flags[f] as string}"`);
    }
    const runs = spec.conditions.length * spec.seeds.length;
    const tasks = (flags.tasks as number | undefined) ?? Math.min(8, runs);
    if (tasks > runs) throw new UsageError(`--tasks ${tasks} is more than the sweep's ${runs} runs; use at most ${runs}`);
    const maxParallel = (flags["max-parallel"] as number | undefined) ?? tasks;
    const threads = threadCount();
    const processes = Math.max(1, (flags.processes as number | undefined) ?? threads);
    const outDir = resolve((flags.out as string | undefined) ?? join("runs", spec.name));
    const scriptsDir = resolve((flags.scripts as string | undefined) ?? join(outDir, "slurm"));
    const plan = await estimatePlan(spec, { threads, processes, tasks });
    const memory = memoryFor(spec, modelConfig(spec), processes);
    if (flags.mem !== undefined) memory.train = flags.mem as number;
    const entry = currentCliEntry();
    const scripts = slurmScripts({
      spec, outDir, cacheDir: resolve(flags.cache as string), scriptsDir, workDir: process.cwd(),
      node: process.execPath, nodeArgs: entry.execArgv, entry: resolve(entry.script),
      tasks, maxParallel, cpusPerTask: threads, processesPerTask: processes, memoryMiB: memory,
      time: {
        cache: (flags["cache-time"] as string | undefined) ?? slurmTime(3 * plan.cacheSeconds + 600),
        train: (flags.time as string | undefined) ?? slurmTime(3 * Math.max(...plan.shardSeconds) + 600),
        report: flags["report-time"] as string,
      },
      ...(flags.partition !== undefined ? { partition: flags.partition as string } : {}),
      ...(flags.account !== undefined ? { account: flags.account as string } : {}),
    });
    mkdirSync(join(scriptsDir, "logs"), { recursive: true });
    for (const [name, text] of Object.entries(scripts) as [keyof SlurmScripts, string][]) {
      writeFileAtomic(join(scriptsDir, name), text);
      if (name.endsWith(".sh") || name.endsWith(".sbatch")) chmodSync(join(scriptsDir, name), 0o755);
    }
    console.log(`wrote ${Object.keys(scripts).join(", ")} to ${scriptsDir}: ${runs} runs in ${tasks} array tasks (${threads} CPUs, ${memory.train} MiB each)`);
    if (!flags.submit) {
      console.log(`submit with: bash ${join(scriptsDir, "submit.sh")}   (then: npx tsx src/cli/main.ts sweep --config ${join(scriptsDir, "spec.json")} --out ${outDir} --status)`);
      return;
    }
    let output: string;
    try {
      output = execFileSync("bash", [join(scriptsDir, "submit.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`sbatch failed: ${(err.stderr ?? err.message).trim().split("\n").at(-1)}; is Slurm reachable (sinfo)?`);
    }
    process.stdout.write(output);
  },
};
