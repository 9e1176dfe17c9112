/**
 * results/brown-gpt2-mini/SUMMARY.md from the parts' report.json files (tools/findings.ts writes them): the headline
 * numbers with their intervals and nulls, one table per part, and which conditions did not converge.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StabilityReport, StatWithUncertainty } from "../src/study/report/model.ts";

const PARTS = ["mini", "random-mini", "tokens"] as const;

const num = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "—");
const withCi = (s: StatWithUncertainty | null | undefined) => (s ? `${num(s.value)} [${s.ci ? `${num(s.ci.lo)}, ${num(s.ci.hi)}` : "—"}]` : "—");
const nullOf = (s: StatWithUncertainty | null | undefined) => (s && s.nullMean !== null ? num(s.nullMean) : "—");

function readReport(dir: string): StabilityReport | null {
  const path = join(dir, "report.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as StabilityReport) : null;
}

/** One table per part: every condition's full-mode stability beside its null. */
function partTable(name: string, report: StabilityReport): string[] {
  const lines = [`## ${name}: ${report.title}`, "", `model: ${report.model}; corpus: ${report.corpus}; ${report.nullDraws} null draws, ${report.bootstrap} bootstrap resamples over seeds`, ""];
  lines.push("| condition | seeds | median cosine [95% CI] | null | PW-MCC [95% CI] | null |");
  lines.push("| --- | --- | --- | --- | --- | --- |");
  for (const c of report.conditions) {
    const m = c.modes.find((x) => x.mode === "full") ?? c.modes[0]!;
    lines.push(`| ${c.id} | ${c.seeds.length} | ${withCi(m.median)} | ${nullOf(m.median)} | ${withCi(m.pwmcc)} | ${nullOf(m.pwmcc)} |`);
  }
  return [...lines, ""];
}

/** Write SUMMARY.md in `results` from the reports found there. */
export function writeSummary(results: string): void {
  const lines = ["# Findings on brown-gpt2-mini", "", "Written by `npx tsx tools/findings.ts` from the reports beside this file.", ""];
  for (const part of PARTS) {
    const report = readReport(join(results, part));
    if (report) lines.push(...partTable(part, report));
  }
  writeFileSync(join(results, "SUMMARY.md"), lines.join("\n"));
}
