/** Rendering a StabilityReport as Markdown (the seed report's table, extended) and as self-contained HTML. */
import type { ConditionReport, ModeReport, StabilityReport, StatWithUncertainty } from "./model.ts";
import { barSvg, cdfSvg, histogramSvg } from "./svg.ts";

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const num = (v: number) => v.toFixed(3);
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

export function tableRows(report: StabilityReport): TableRow[] {
  const rows: TableRow[] = [];
  for (const c of report.conditions) {
    const meanDead = c.runs.reduce((s, r) => s + r.deadFraction, 0) / Math.max(1, c.runs.length);
    const meanFvu = c.runs.reduce((s, r) => s + r.fvu, 0) / Math.max(1, c.runs.length);
    for (const m of c.modes) {
      rows.push({
        condition: `layer ${c.layer}, ${c.features} features, k ${c.k}, ${c.recipe}`,
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

function sharedLabel(report: StabilityReport): string {
  return report.sharedThreshold === null ? "" : ` (enc+dec > ${report.sharedThreshold})`;
}

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
    "## Method",
    "",
    report.method,
    "",
  ];
  return lines.join("\n");
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

export function renderHtml(report: StabilityReport): string {
  const rows = tableRows(report).map((r) => `<tr><td>${esc(r.condition)}</td><td>${r.mode}</td><td>${r.median}</td><td>${r.medianCi}</td><td>${r.fraction}</td><td>${r.fractionCi}</td><td>${r.pwmcc}</td><td>${r.shared}</td><td>${r.sharedCi}</td><td>${r.nullMedian}</td><td>${r.pValue}</td><td>${r.dead}</td><td>${r.fvu}</td></tr>`).join("");
  const conditions = report.conditions.map((c) => `<section><h3>Layer ${c.layer} · ${c.features} features · k ${c.k} · ${esc(c.recipe)} <small>(${esc(c.hook)}, seeds ${c.seeds.join(", ")})</small></h3>
<div class="charts">${barSvg(c.runs.map((r) => `s${r.seed}`), c.runs.map((r) => r.deadFraction), { yLabel: "dead fraction", max: 1, color: "#c74" })}${barSvg(c.runs.map((r) => `s${r.seed}`), c.runs.map((r) => r.fvu), { yLabel: "FVU", color: "#4a7" })}</div>
${c.modes.map((m) => modeSection(m, report.threshold)).join("")}
${examplesSection(c)}</section>`).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(report.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;vertical-align:top}th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:12px}.warn{background:#fff3cd;border:1px solid #e0c36b;padding:8px}section{border-top:2px solid #ddd;margin-top:18px}ul{margin:2px 0;padding-left:16px}small{color:#666;font-weight:normal}</style></head>
<body><h1>${esc(report.title)}</h1>
${report.modelIsRandomControl ? '<p class="warn"><b>Random-weight control.</b> These SAEs were trained on a seeded random GPT-2, not on trained GPT-2 weights.</p>' : ""}
<p>Model: ${esc(report.model)}<br>Corpus: ${esc(report.corpus)}<br>Bootstrap: ${report.bootstrap} seed resamples · null: ${report.nullDraws} random-dictionary draws (smallest possible p ${(1 / (report.nullDraws + 1)).toFixed(3)}) · generated ${esc(report.createdAt)}</p>
<table><tr><th>condition</th><th>matching</th><th>median cosine</th><th>95% CI</th><th>≥ ${report.threshold}</th><th>95% CI</th><th>PW-MCC</th><th>shared${esc(sharedLabel(report))}</th><th>95% CI</th><th>null median</th><th>p</th><th>dead</th><th>FVU</th></tr>${rows}</table>
<h2>Method</h2><p>${esc(report.method).replace(/\n\n/g, "</p><p>")}</p>
${conditions}
</body></html>`;
}
