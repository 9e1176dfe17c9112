/** A stability report on disk: report.json (the model), report.md and report.html (its renderings), each written whole. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { removeStaleTemporaries, writeFileAtomic, writeJsonAtomic } from "../../data/json_files.ts";
import type { StabilityReport } from "./model.ts";
import { renderHtml, renderMarkdown } from "./render.ts";

/** Write report.json, report.md and report.html into `dir` (each to a temporary name, then renamed). */
export function writeReport(dir: string, report: StabilityReport): void {
  mkdirSync(dir, { recursive: true });
  removeStaleTemporaries(dir); // of a report write that was killed
  writeJsonAtomic(join(dir, "report.json"), report);
  writeFileAtomic(join(dir, "report.md"), renderMarkdown(report));
  writeFileAtomic(join(dir, "report.html"), renderHtml(report));
}
