/**
 * A whole seed-stability study from a script, through the public API alone: a sweep spec (the defaults, overridden and
 * checked by the same rules as the CLI's flags), the sweep (the model's activations cached once, the runs trained in
 * two worker processes, each run's identity recorded), a rerun that reuses every finished run, and the stability
 * report — matched cosines per seed pair, a random-dictionary null, seed-bootstrap intervals — written as HTML.
 *   npx tsx examples/06_study_as_library.ts          (brown-gpt2-mini, 2 layers × 3 seeds, into runs/example-study: about a minute)
 *   npx tsx examples/06_study_as_library.ts --tiny   (1 layer × 2 seeds into a temporary directory: seconds, for the test suite)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_SPEC, gridConditions, validateSpec, runSweep, sweepStatus, formatStatus, buildStabilityReport, findRuns, tableRows, writeReport, type SweepSpec } from "sae-seeds/study";

const tiny = process.argv.includes("--tiny");
const root = tiny ? mkdtempSync(join(tmpdir(), "sae-seeds-example-")) : ".";
const outDir = join(root, "runs", "example-study"), cacheDir = join(root, "cache");

// The spec: every field of a sweep, checked as a whole (a layer the model lacks, k > features, … fail in one line).
const spec: SweepSpec = validateSpec({
  ...DEFAULT_SPEC,
  name: "example-study", model: "mini", seqLen: 64, batchSize: 64, lr: 1e-3,
  conditions: gridConditions(tiny ? [1] : [1, 4], [64], [4], ["topk"]),
  seeds: tiny ? [1, 2] : [1, 2, 3], maxTokens: tiny ? 600 : 6000, epochs: tiny ? 2 : 6, evalTokens: tiny ? 0 : 512,
});

// The sweep: builds the activation cache, then trains every (condition, seed) in two worker processes.
const logs: string[] = [];
const first = await runSweep(spec, { outDir, cacheDir, threads: 1, processes: 2, log: (line) => logs.push(line) });
const model = first.model!; // null only for a sweep on an activation cache (spec.acts); this one ran the model
console.log(`model: ${model.label}`);
console.log(`sweep: ${first.trained} runs trained (${logs.find((l) => /processes/.test(l)) ?? "in this process"})`);

// A rerun finds every run complete with the identity it would produce, and trains nothing.
const again = await runSweep(spec, { outDir, cacheDir, threads: 1, processes: 2, model, log: () => {} });
console.log(`rerun: ${again.trained} trained, ${again.skipped} reused`);
console.log(formatStatus(sweepStatus(spec, outDir)));

// Stability: every seed pair of each condition matched, against random dictionaries and with bootstrap intervals.
const report = buildStabilityReport(findRuns([outDir]), { threshold: 0.9, bootstrap: tiny ? 50 : 1000, nullDraws: tiny ? 5 : 100, rngSeed: 0 }, `example study: ${model.label}`);
for (const r of tableRows(report)) {
  console.log(`${r.condition} ${r.mode}: median matched cosine ${r.median} ${r.medianCi}, ≥ ${report.threshold}: ${r.fraction}; null median ${r.nullMedian} (p ${r.pValue}); dead ${r.dead}`);
}
writeReport(outDir, report);
console.log(`report: ${join(outDir, "report.html")} (also report.md, report.json)`);
if (tiny) rmSync(root, { recursive: true, force: true }); // the test suite's copy
