/**
 * The findings on brown-gpt2-mini (issue 21), end to end and resumable:
 *
 *   npx tsx tools/findings.ts [--only mini,random-mini,tokens,reports] [--processes 2] [--threads 2]
 *
 * trains the sweeps of results/brown-gpt2-mini/specs/ into runs/findings/<part>/ (a rerun skips every finished run,
 * so the command can be stopped and started again, across sessions), then writes each part's stability report and
 * its runs' receipts into results/brown-gpt2-mini/<part>/ and the summary the README quotes
 * (results/brown-gpt2-mini/SUMMARY.md, with its figures). Parts:
 *
 *   mini         the grid (6 layers × 4 widths × 5 seeds), the headline condition with 20 seeds, every architecture
 *                and the k axis at the headline condition — on brown-gpt2-mini
 *   random-mini  the grid and the headline condition on its random-weight control
 *   tokens       the training-token axis (2·10³ … 5·10⁶) at the headline condition
 *   reports      the reports and the summary from whatever runs are finished
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { DEFAULT_SPEC, readSpecFile, validateSpec, type SweepSpec } from "../src/study/spec.ts";
import { runSweep } from "../src/study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../src/study/stability.ts";
import { writeReport } from "../src/study/report/write.ts";
import { setThreads } from "../src/tensor/wasm/index.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SPECS = join(ROOT, "results/brown-gpt2-mini/specs");
const RESULTS = join(ROOT, "results/brown-gpt2-mini");
const RUNS = join(ROOT, "runs/findings");

interface Part {
  model: string;
  specs: string[];
  title: string;
}

const PARTS: Record<string, Part> = {
  mini: { model: "mini", specs: ["grid", "headline", "architectures", "k"], title: "brown-gpt2-mini: the grid, the headline condition (20 seeds), architectures and k" },
  "random-mini": { model: "random-mini", specs: ["grid", "headline"], title: "random-mini (random-weight control of brown-gpt2-mini): the grid and the headline condition" },
  tokens: { model: "mini", specs: ["tokens"], title: "brown-gpt2-mini: the training-token axis at the headline condition" },
};

/**
 * Statistics settings of every report: 20 null draws (5 above 2048 latents, where one draw is 2 × 10 exact matchings of
 * 8192 × 8192 matrices — random 64-d dictionaries that wide vary little from draw to draw), 1000 seed resamples.
 */
export const REPORT_SETTINGS = { threshold: 0.9, sharedThreshold: 0.7, bootstrap: 1000, nullDraws: 20, rngSeed: 0, nullDrawsAbove: { features: 2048, draws: 5 } };

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

function specOf(part: Part, name: string): SweepSpec {
  return validateSpec(readSpecFile(join(SPECS, `${name}.yaml`), { ...DEFAULT_SPEC, model: part.model }));
}

/** The receipts of every run (identity, environment, metrics, manifest: small files; the weights stay out). */
function copyReceipts(runsDir: string, into: string): number {
  let copied = 0;
  for (const condition of readdirSync(runsDir, { withFileTypes: true })) {
    if (!condition.isDirectory() || condition.name === "cache") continue;
    for (const run of readdirSync(join(runsDir, condition.name), { withFileTypes: true })) {
      const dir = join(runsDir, condition.name, run.name);
      if (!run.isDirectory() || !existsSync(join(dir, "manifest.json"))) continue;
      const target = join(into, condition.name, run.name);
      mkdirSync(target, { recursive: true });
      for (const file of ["identity.json", "environment.json", "metrics.json", "manifest.json"]) if (existsSync(join(dir, file))) copyFileSync(join(dir, file), join(target, file));
      copied++;
    }
  }
  return copied;
}

async function main(): Promise<void> {
  const only = flag("only", "mini,random-mini,tokens,reports").split(",");
  for (const p of only) if (!(p in PARTS) && p !== "reports") throw new Error(`unknown part "${p}"; parts: ${[...Object.keys(PARTS), "reports"].join(", ")}`);
  const processes = Number(flag("processes", "2")), threads = Number(flag("threads", "2"));
  setThreads(threads);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  for (const [name, part] of Object.entries(PARTS)) {
    if (!only.includes(name)) continue;
    for (const specName of part.specs) {
      const spec = specOf(part, specName);
      log(`${name}/${specName}: ${spec.conditions.length} conditions × ${spec.seeds.length} seeds`);
      await runSweep(spec, { outDir: join(RUNS, name), cacheDir: join(RUNS, "cache"), threads, processes, log });
    }
  }
  if (!only.includes("reports")) return;
  for (const [name, part] of Object.entries(PARTS)) {
    const runsDir = join(RUNS, name);
    if (!existsSync(runsDir)) continue;
    const report = buildStabilityReport(findRuns([runsDir]), REPORT_SETTINGS, part.title, log);
    writeReport(join(RESULTS, name), report);
    log(`${name}: report in ${relative(ROOT, join(RESULTS, name))}, receipts of ${copyReceipts(runsDir, join(RESULTS, name, "receipts"))} runs`);
  }
  const { writeSummary } = await import("./findings_summary.ts");
  writeSummary(RESULTS);
  log(`summary: ${relative(ROOT, join(RESULTS, "SUMMARY.md"))}`);
}

await main();
