/**
 * Job scripts that run a sweep on a Slurm cluster — an existing scheduler, not a home-made one:
 *
 *   cache.sbatch    one job: builds the activation cache (`sweep --cache-only`)
 *   train.sbatch    an array of N tasks, at most M at once: task i trains shard i of N (`sweep --shard auto/N`)
 *   report.sbatch   one job after the whole array succeeded: checks every run is complete, writes the report
 *   submit.sh       submits the three with afterok dependencies (and --kill-on-invalid-dep, so a failed task cancels
 *                   the report instead of leaving it pending); prints the job ids
 *   spec.json       the resolved sweep, so every job runs exactly the same spec
 *
 * Every job runs the same CLI with the same Node and loader flags as the command that wrote the scripts, from the same
 * working directory (--chdir). Resubmitting is safe: the cache job finds the cache, array tasks skip finished runs
 * (their identity verified) and redo only what is missing or failed.
 */
import type { SweepSpec } from "./spec.ts";

export interface SlurmOptions {
  spec: SweepSpec;
  /** Absolute paths: the sweep's run directory, the activation cache root, the scripts' directory, the working directory. */
  outDir: string;
  cacheDir: string;
  scriptsDir: string;
  workDir: string;
  /** How to run this CLI: node, its flags (e.g. tsx's loader), the entry script. */
  node: string;
  nodeArgs: string[];
  entry: string;
  tasks: number;
  maxParallel: number;
  /** Per task: CPUs (= matmul threads), runs at once, memory (MiB). */
  cpusPerTask: number;
  processesPerTask: number;
  memoryMiB: { cache: number; train: number; report: number };
  /** Slurm time limits ([D-]HH:MM:SS). */
  time: { cache: string; train: string; report: string };
  partition?: string;
  account?: string;
}

export interface SlurmScripts {
  "spec.json": string;
  "cache.sbatch": string;
  "train.sbatch": string;
  "report.sbatch": string;
  "submit.sh": string;
}

/** Quote for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Seconds → Slurm's [D-]HH:MM:SS. */
export function slurmTime(seconds: number): string {
  const s = Math.max(60, Math.ceil(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const hms = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
  return d > 0 ? `${d}-${hms}` : hms;
}

/** The Slurm job files of a sweep (cache job, training array, report, submit script, resolved spec). */
export function slurmScripts(o: SlurmOptions): SlurmScripts {
  const cli = [o.node, ...o.nodeArgs, o.entry].map(shellQuote).join(" ");
  const spec = shellQuote(`${o.scriptsDir}/spec.json`);
  const common = `--config ${spec} --out ${shellQuote(o.outDir)} --cache ${shellQuote(o.cacheDir)}`;
  const name = `sae-${o.spec.name}`;
  const header = (job: string, cpus: number, mem: number, time: string, extra: string[] = []) => [
    "#!/usr/bin/env bash",
    `#SBATCH --job-name=${name}-${job}`,
    `#SBATCH --chdir=${shellQuote(o.workDir)}`,
    `#SBATCH --output=${shellQuote(`${o.scriptsDir}/logs/%x-${job === "train" ? "%A_%a" : "%j"}.out`)}`,
    "#SBATCH --ntasks=1",
    `#SBATCH --cpus-per-task=${cpus}`,
    `#SBATCH --mem=${mem}M`,
    `#SBATCH --time=${time}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
    ...extra,
    "set -euo pipefail",
  ].join("\n");
  const runs = o.spec.conditions.length * o.spec.seeds.length;
  return {
    "spec.json": JSON.stringify(o.spec, null, 2) + "\n",
    "cache.sbatch": `${header("cache", o.cpusPerTask, o.memoryMiB.cache, o.time.cache)}
# The activation cache for every layer of the sweep, built once before the training array starts.
exec ${cli} sweep ${common} --cache-only --threads ${o.cpusPerTask} --quiet
`,
    "train.sbatch": `${header("train", o.cpusPerTask, o.memoryMiB.train, o.time.train, [`#SBATCH --array=0-${o.tasks - 1}%${o.maxParallel}`])}
# Task i trains shard i of ${o.tasks} (${runs} runs in all, balanced by cost; see src/study/shards.ts). A run's
# result does not depend on the task, node or process that trains it. Resubmit one task with: sbatch --array=i train.sbatch
exec ${cli} sweep ${common} --shard auto/${o.tasks} --processes ${o.processesPerTask} --threads ${o.cpusPerTask} --quiet
`,
    "report.sbatch": `${header("report", 1, o.memoryMiB.report, o.time.report)}
# Only after every training task succeeded (afterok): check that all ${runs} runs are complete, then report.
${cli} sweep ${common} --status --require-complete
exec ${cli} stability ${shellQuote(o.outDir)} --out ${shellQuote(o.outDir)} --title ${shellQuote(`${o.spec.name}: seed stability`)}
`,
    "submit.sh": `#!/usr/bin/env bash
# Submit the sweep "${o.spec.name}": cache, then the training array, then the report, each after the previous succeeded.
# Safe to run again after a failure: finished runs are skipped, only missing or failed ones are trained.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p logs
cache=$(sbatch --parsable cache.sbatch)
train=$(sbatch --parsable --dependency=afterok:\${cache%%;*} --kill-on-invalid-dep=yes train.sbatch)
report=$(sbatch --parsable --dependency=afterok:\${train%%;*} --kill-on-invalid-dep=yes report.sbatch)
echo "cache job \${cache%%;*}"
echo "training array \${train%%;*} (${o.tasks} tasks, at most ${o.maxParallel} at once)"
echo "report job \${report%%;*}"
`,
  };
}
