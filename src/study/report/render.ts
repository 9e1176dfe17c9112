/** Rendering a StabilityReport as Markdown (the seed report's table, extended) and as self-contained HTML. */
import type { ConditionReport, ModeReport, StabilityReport, StatWithUncertainty } from "./model.ts";
import { barSvg, cdfSvg, histogramSvg } from "./svg.ts";

// Non-finite numbers (an SAE given without activations has no FVU or dead fraction) print as "—".
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : "—");
const num = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "—");
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function ciText(s: StatWithUncertainty, f: (v: number) => string): string {
  return s.ci ? `[${f(s.ci.lo)}, ${f(s.ci.hi)}]` : "—";
}

function pText(p: number | null): string {
  if (p === null) return "—";
  return p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

export interface TableRow {
  condition: string;
  mode: string;
  median: string;
  medianCi: string;
  fraction: string;
  fractionCi: string;
  pwmcc: string;
  shared: string;
  sharedCi: string;
  nullMedian: string;
  pValue: string;
  dead: string;
  fvu: string;
}

/** The report's main table: one row per condition and matching mode, numbers formatted. */
export function tableRows(report: StabilityReport): TableRow[] {
  const rows: TableRow[] = [];
  for (const c of report.conditions) {
    const meanDead = c.runs.reduce((s, r) => s + r.deadFraction, 0) / Math.max(1, c.runs.length);
    const meanFvu = c.runs.reduce((s, r) => s + r.fvu, 0) / Math.max(1, c.runs.length);
    for (const m of c.modes) {
      rows.push({
        condition: conditionLabel(c),
        mode: m.mode,
        median: num(m.median.value),
        medianCi: ciText(m.median, num),
        fraction: pct(m.fractionAboveThreshold.value),
        fractionCi: ciText(m.fractionAboveThreshold, pct),
        pwmcc: num(m.pwmcc.value),
        shared: m.sharedFraction ? pct(m.sharedFraction.value) : "—",
        sharedCi: m.sharedFraction ? ciText(m.sharedFraction, pct) : "—",
        nullMedian: m.median.nullMean === null ? "—" : num(m.median.nullMean),
        pValue: pText(m.median.pValue),
        dead: pct(meanDead),
        fvu: num(meanFvu),
      });
    }
  }
  return rows;
}

const withCi = (s: StatWithUncertainty | null, f: (v: number) => string) => (s === null ? "unavailable" : `${f(s.value)} ${ciText(s, f)}`);

export interface QualityRow {
  condition: string;
  tokens: string;
  explainedVariance: string;
  fvu: string;
  ceLossScore: string;
  klScore: string;
  l0: string;
  dead: string;
  dense1: string;
  dense10: string;
}

/** One row per condition with quality metrics: means over seeds on held-out tokens, with 95% intervals. */
export function qualityRows(report: StabilityReport): QualityRow[] {
  return report.conditions.filter((c) => c.quality).map((c) => {
    const q = c.quality!;
    return {
      condition: conditionLabel(c), tokens: String(q.tokens), explainedVariance: withCi(q.explainedVariance, num), fvu: withCi(q.fvu, num),
      ceLossScore: withCi(q.ceLossScore, num), klScore: withCi(q.klScore, num), l0: withCi(q.l0, (v) => v.toFixed(1)),
      dead: withCi(q.deadFraction, pct), dense1: pct(q.denseAbove1Percent.value), dense10: pct(q.denseAbove10Percent.value),
    };
  });
}

/** Per-seed dead fraction and FVU bars; none for what the runs do not have (SAEs given without activations). */
function perSeedBars(c: ConditionReport): string {
  const labels = c.runs.map((r) => `s${r.seed}`);
  const dead = c.runs.map((r) => r.deadFraction), fvu = c.runs.map((r) => r.fvu);
  return (dead.every(Number.isFinite) ? barSvg(labels, dead, { yLabel: "dead fraction", max: 1, color: "#c74" }) : "")
    + (fvu.every(Number.isFinite) ? barSvg(labels, fvu, { yLabel: "FVU", color: "#4a7" }) : "");
}

function conditionLabel(c: ConditionReport): string {
  return c.label ?? `layer ${c.layer}, ${c.features} features, k ${c.k}, ${c.recipe}`;
}

export interface ArchitectureRow {
  group: string;
  recipe: string;
  median: string;
  pwmcc: string;
  shared: string;
  nullMedian: string;
  explainedVariance: string;
  ceLossScore: string;
  l0: string;
  dead: string;
}

/**
 * Architectures side by side: for every (layer, size, k) trained with two or more recipes, one row per recipe with
 * the full matching's stability (live-only where full was not computed) and the quality at that sparsity. For the
 * penalty recipes k is their target L0, so the rows compare architectures at matched sparsity (their achieved L0 is
 * in the row).
 */
export function architectureRows(report: StabilityReport): ArchitectureRow[] {
  const groups = new Map<string, ConditionReport[]>();
  for (const c of report.conditions) {
    const key = `layer ${c.layer}, ${c.features} features, k / target L0 ${c.k}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const rows: ArchitectureRow[] = [];
  for (const [group, cs] of groups) {
    if (new Set(cs.map((c) => c.recipe)).size < 2) continue;
    for (const c of cs) {
      const m = c.modes.find((x) => x.mode === "full") ?? c.modes[0]!;
      const q = c.quality;
      rows.push({
        group, recipe: c.recipe, median: withCi(m.median, num), pwmcc: withCi(m.pwmcc, num),
        shared: m.sharedFraction ? withCi(m.sharedFraction, pct) : "—", nullMedian: m.median.nullMean === null ? "—" : num(m.median.nullMean),
        explainedVariance: q ? withCi(q.explainedVariance, num) : "—", ceLossScore: q ? withCi(q.ceLossScore, num) : "—",
        l0: q ? withCi(q.l0, (v) => v.toFixed(1)) : (c.runs.reduce((s, r) => s + r.l0, 0) / c.runs.length).toFixed(1),
        dead: q ? withCi(q.deadFraction, pct) : pct(c.runs.reduce((s, r) => s + r.deadFraction, 0) / c.runs.length),
      });
    }
  }
  return rows;
}

function sharedLabel(report: StabilityReport): string {
  return report.sharedThreshold === null ? "" : ` (enc+dec > ${report.sharedThreshold})`;
}

/** The report as Markdown. */
export function renderMarkdown(report: StabilityReport): string {
  const t = report.threshold;
  const lines = [
    `# ${report.title}`,
    "",
    `Model: ${report.model}${report.modelIsRandomControl ? " — **random-weight control, not trained GPT-2**" : ""}  `,
    `Corpus: ${report.corpus}  `,
    `Bootstrap: ${report.bootstrap} resamples of seeds · null model: ${report.nullDraws} random-dictionary draws (smallest possible p-value ${(1 / (report.nullDraws + 1)).toFixed(3)})`,
    "",
    `| condition | matching | median best-match cosine | 95% CI | fraction ≥ ${t} | 95% CI | PW-MCC | shared${sharedLabel(report)} | 95% CI | null median | p (median) | dead | FVU |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...tableRows(report).map((r) => `| ${r.condition} | ${r.mode} | ${r.median} | ${r.medianCi} | ${r.fraction} | ${r.fractionCi} | ${r.pwmcc} | ${r.shared} | ${r.sharedCi} | ${r.nullMedian} | ${r.pValue} | ${r.dead} | ${r.fvu} |`),
    "",
    ...markdownTable("Architectures at matched sparsity (full matching; mean over seeds, 95% CI)",
      ["layer, size, k / target L0", "recipe", "median matched cosine", "PW-MCC", `shared${sharedLabel(report)}`, "null median", "explained variance", "CE-loss score", "L0 (held-out)", "dead (held-out)"],
      architectureRows(report).map((r) => [r.group, r.recipe, r.median, r.pwmcc, r.shared, r.nullMedian, r.explainedVariance, r.ceLossScore, r.l0, r.dead])),
    ...markdownTable("Quality on held-out tokens (mean over seeds, 95% CI)",
      ["condition", "tokens", "explained variance", "FVU", "CE-loss score", "KL score", "L0", "dead", "dense > 1%", "dense > 10%"],
      qualityRows(report).map((r) => [r.condition, r.tokens, r.explainedVariance, r.fvu, r.ceLossScore, r.klScore, r.l0, r.dead, r.dense1, r.dense10])),
    "## Method",
    "",
    report.method,
    "",
  ];
  return lines.join("\n");
}

function markdownTable(title: string, header: string[], rows: string[][]): string[] {
  if (!rows.length) return [];
  return [`## ${title}`, "", `| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`), ""];
}

function htmlTable(title: string, header: string[], rows: string[][]): string {
  if (!rows.length) return "";
  return `<h2>${esc(title)}</h2><table><tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</table>`;
}

function modeSection(m: ModeReport, threshold: number): string {
  const series = [
    { label: `observed (${m.pooled.length})`, values: m.pooled, color: "#2a6fdb" },
    { label: "null (random dictionaries)", values: m.nullPooled, color: "#999" },
  ];
  const pairs = m.pairs.map((p) => `<tr><td>${p.seedA}–${p.seedB}</td><td>${p.n}</td><td>${num(p.median)}</td><td>${num(p.mean)}</td><td>${pct(p.fractionAbove[String(threshold)] ?? 0)}</td></tr>`).join("");
  return `<div class="mode"><h4>${esc(m.mode)} matching</h4>
<p>median ${num(m.median.value)} ${ciText(m.median, num)} · fraction ≥ ${threshold}: ${pct(m.fractionAboveThreshold.value)} ${ciText(m.fractionAboveThreshold, pct)} · PW-MCC ${num(m.pwmcc.value)}${m.sharedFraction ? ` · shared (encoder and decoder) ${pct(m.sharedFraction.value)} ${ciText(m.sharedFraction, pct)}, null ${m.sharedFraction.nullMean === null ? "—" : pct(m.sharedFraction.nullMean)}` : ""} · null median ${m.median.nullMean === null ? "—" : num(m.median.nullMean)} · p = ${pText(m.median.pValue)} · optimality check max violation ${m.optimalityMaxViolation.toExponential(1)}</p>
<div class="charts">${histogramSvg(series, { threshold })}${cdfSvg(series)}</div>
<details><summary>per seed pair</summary><table><tr><th>pair</th><th>n</th><th>median</th><th>mean</th><th>≥ ${threshold}</th></tr>${pairs}</table></details></div>`;
}

function examplesSection(c: ConditionReport): string {
  if (!c.examples.length) return "";
  const rows = c.examples.map((e) => `<tr><td>${e.band}</td><td>${num(e.cosine)}</td><td>seed ${e.seedA} #${e.featureA}<ul>${e.contextsA.map((t) => `<li>${esc(t)}</li>`).join("")}</ul></td><td>seed ${e.seedB} #${e.featureB}<ul>${e.contextsB.map((t) => `<li>${esc(t)}</li>`).join("")}</ul></td></tr>`).join("");
  return `<h4>Example matched pairs (live-only matching, first seed pair)</h4><table class="examples"><tr><th>band</th><th>cosine</th><th>feature A: top contexts</th><th>feature B: top contexts</th></tr>${rows}</table>`;
}

/** The report as one self-contained HTML page (tables and inline SVG figures). */
export function renderHtml(report: StabilityReport): string {
  const rows = tableRows(report).map((r) => `<tr><td>${esc(r.condition)}</td><td>${r.mode}</td><td>${r.median}</td><td>${r.medianCi}</td><td>${r.fraction}</td><td>${r.fractionCi}</td><td>${r.pwmcc}</td><td>${r.shared}</td><td>${r.sharedCi}</td><td>${r.nullMedian}</td><td>${r.pValue}</td><td>${r.dead}</td><td>${r.fvu}</td></tr>`).join("");
  const conditions = report.conditions.map((c) => `<section><h3>${c.label ? esc(c.label) : `Layer ${c.layer} · ${c.features} features · k ${c.k} · ${esc(c.recipe)}`} <small>(${esc(c.hook)}, seeds ${c.seeds.join(", ")})</small></h3>
<div class="charts">${perSeedBars(c)}</div>
${c.modes.map((m) => modeSection(m, report.threshold)).join("")}
${examplesSection(c)}</section>`).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(report.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;vertical-align:top}th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:12px}.warn{background:#fff3cd;border:1px solid #e0c36b;padding:8px}section{border-top:2px solid #ddd;margin-top:18px}ul{margin:2px 0;padding-left:16px}small{color:#666;font-weight:normal}</style></head>
<body><h1>${esc(report.title)}</h1>
${report.modelIsRandomControl ? '<p class="warn"><b>Random-weight control.</b> These SAEs were trained on a seeded random GPT-2, not on trained GPT-2 weights.</p>' : ""}
<p>Model: ${esc(report.model)}<br>Corpus: ${esc(report.corpus)}<br>Bootstrap: ${report.bootstrap} seed resamples · null: ${report.nullDraws} random-dictionary draws (smallest possible p ${(1 / (report.nullDraws + 1)).toFixed(3)}) · generated ${esc(report.createdAt)}</p>
<table><tr><th>condition</th><th>matching</th><th>median cosine</th><th>95% CI</th><th>≥ ${report.threshold}</th><th>95% CI</th><th>PW-MCC</th><th>shared${esc(sharedLabel(report))}</th><th>95% CI</th><th>null median</th><th>p</th><th>dead</th><th>FVU</th></tr>${rows}</table>
${htmlTable("Architectures at matched sparsity (full matching; mean over seeds, 95% CI)",
    ["layer, size, k / target L0", "recipe", "median matched cosine", "PW-MCC", `shared${sharedLabel(report)}`, "null median", "explained variance", "CE-loss score", "L0 (held-out)", "dead (held-out)"],
    architectureRows(report).map((r) => [r.group, r.recipe, r.median, r.pwmcc, r.shared, r.nullMedian, r.explainedVariance, r.ceLossScore, r.l0, r.dead]))}
${htmlTable("Quality on held-out tokens (mean over seeds, 95% CI)",
    ["condition", "tokens", "explained variance", "FVU", "CE-loss score", "KL score", "L0", "dead", "dense > 1%", "dense > 10%"],
    qualityRows(report).map((r) => [r.condition, r.tokens, r.explainedVariance, r.fvu, r.ceLossScore, r.klScore, r.l0, r.dead, r.dense1, r.dense10]))}
<h2>Method</h2><p>${esc(report.method).replace(/\n\n/g, "</p><p>")}</p>
${conditions}
</body></html>`;
}
