/** Rendering a StabilityReport as Markdown (the seed report's table, extended) and as self-contained HTML. */
import type { ConditionReport, ModeReport, StabilityReport, StatWithUncertainty } from "./model.ts";
import { barSvg, cdfSvg, groupedBarSvg, histogramSvg, logLineSvg, type BandSeries } from "./svg.ts";

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
  /** Paulo & Belrose's shared fraction (decoder and encoder matches both above the threshold), its CI and null. */
  sharedPB: string;
  sharedPBCi: string;
  sharedPBNull: string;
  /** The two matchings pick the same partner. */
  samePartner: string;
  /** Both (the stricter definition). */
  sharedSamePartner: string;
  nullMedian: string;
  pValue: string;
  dead: string;
  fvu: string;
  /** "yes", or "no (3 of 5 runs)" when runs failed the convergence rule, or "—" when not recorded. */
  converged: string;
}

function convergedText(c: ConditionReport): string {
  const v = c.training?.convergence;
  if (!v) return "—";
  return v.converged === v.runs ? "yes" : `no (${v.runs - v.converged} of ${v.runs} runs not)`;
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
        sharedPB: m.shared ? pct(m.shared.sharedPB.value) : "—",
        sharedPBCi: m.shared ? ciText(m.shared.sharedPB, pct) : "—",
        sharedPBNull: m.shared && m.shared.sharedPB.nullMean !== null ? pct(m.shared.sharedPB.nullMean) : "—",
        samePartner: m.shared ? withCi(m.shared.samePartner, pct) : "—",
        sharedSamePartner: m.shared ? withCi(m.shared.sharedSamePartner, pct) : "—",
        nullMedian: m.median.nullMean === null ? "—" : num(m.median.nullMean),
        pValue: pText(m.median.pValue),
        dead: pct(meanDead),
        fvu: num(meanFvu),
        converged: convergedText(c),
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
  return c.label ?? `layer ${c.layer}, ${c.features} features, k ${c.k}, ${c.recipe}${c.tokens !== undefined ? `, ${c.tokens} tokens` : ""}`;
}

/** The full matching where computed (live-only otherwise): what the summary tables show. */
function mainMode(c: ConditionReport): ModeReport {
  return c.modes.find((x) => x.mode === "full") ?? c.modes[0]!;
}

export interface TokenAxisRow {
  group: string;
  tokensPerPass: string;
  tokensSeen: string;
  passes: string;
  steps: string;
  converged: string;
  median: string;
  nullMedian: string;
  pwmcc: string;
  sharedPB: string;
  sharedPBNull: string;
  explainedVariance: string;
}

/** The token axes: conditions that differ only in their tokens, in token order, with the budget and convergence beside each. */
export function tokenAxes(report: StabilityReport): Map<string, ConditionReport[]> {
  const axes = new Map<string, ConditionReport[]>();
  for (const c of report.conditions) {
    if (c.tokens === undefined) continue;
    const key = `layer ${c.layer}, ${c.features} features, k ${c.k}, ${c.recipe}`;
    axes.set(key, [...(axes.get(key) ?? []), c]);
  }
  for (const [key, cs] of axes) {
    if (cs.length < 2) axes.delete(key);
    else cs.sort((a, b) => a.tokens! - b.tokens!);
  }
  return axes;
}

/** One row per condition on a token axis. */
export function tokenAxisRows(report: StabilityReport): TokenAxisRow[] {
  return [...tokenAxes(report)].flatMap(([group, cs]) => cs.map((c) => {
    const m = mainMode(c);
    const conv = c.training?.convergence;
    return {
      group, tokensPerPass: String(c.tokens), tokensSeen: c.training ? c.training.tokensSeen.toFixed(0) : "—",
      passes: c.training ? c.training.passes.toFixed(2) : "—", steps: conv ? conv.meanSteps.toFixed(0) : "—", converged: convergedText(c),
      median: withCi(m.median, num), nullMedian: m.median.nullMean === null ? "—" : num(m.median.nullMean), pwmcc: withCi(m.pwmcc, num),
      sharedPB: m.shared ? withCi(m.shared.sharedPB, pct) : "—", sharedPBNull: m.shared && m.shared.sharedPB.nullMean !== null ? pct(m.shared.sharedPB.nullMean) : "—",
      explainedVariance: c.quality ? withCi(c.quality.explainedVariance, num) : "—",
    };
  }));
}

/** Each token axis as a figure: median matched cosine, PW-MCC and shared (P&B) against tokens seen, with CIs and nulls. */
function tokenAxisFigures(report: StabilityReport): string {
  return [...tokenAxes(report)].map(([group, cs]) => {
    const x = (c: ConditionReport) => c.training?.tokensSeen ?? c.tokens!;
    const stat = (f: (m: ModeReport) => StatWithUncertainty | null | undefined, label: string, color: string): BandSeries[] => {
      const points = cs.map((c) => ({ c, s: f(mainMode(c)) })).filter((p) => p.s);
      return [
        { label, color, points: points.map(({ c, s }) => ({ x: x(c), y: s!.value, lo: s!.ci?.lo ?? null, hi: s!.ci?.hi ?? null })) },
        { label: `${label}, null`, color, dashed: true, points: points.filter(({ s }) => s!.nullMean !== null).map(({ c, s }) => ({ x: x(c), y: s!.nullMean! })) },
      ];
    };
    return `<h3>${esc(group)}: against training tokens</h3><div class="charts">${logLineSvg([...stat((m) => m.median, "median cosine", "#2a6fdb"), ...stat((m) => m.pwmcc, "PW-MCC", "#d2691e")], { yLabel: "cosine" })}${logLineSvg(stat((m) => m.shared?.sharedPB, "shared (P&B)", "#2e8b57"), { yLabel: "fraction of latents", yLo: 0 })}</div>`;
  }).join("");
}

export interface FindingsRow {
  condition: string;
  presenceOnlyOne: string;
  presenceNullOnlyOne: string;
  presenceInAll: string;
  subspaceUnmatched: string;
  subspaceNull: string;
  subspaceMatched: string;
  subspaceRank: string;
  frequencyRho: string;
}

/** Per condition (full matching): the presence histogram's ends, the unmatched latents' subspace overlap, and ρ(cosine, frequency). */
export function findingsRows(report: StabilityReport): FindingsRow[] {
  return report.conditions.map((c) => {
    const m = mainMode(c);
    return {
      condition: conditionLabel(c),
      presenceOnlyOne: pct(m.presence.onlyOne), presenceNullOnlyOne: m.presence.nullFractions ? pct(m.presence.nullFractions[0]!) : "—",
      presenceInAll: pct(m.presence.inAll),
      subspaceUnmatched: withCi(m.subspace.unmatched, num), subspaceNull: m.subspace.unmatched.nullMean === null ? "—" : num(m.subspace.unmatched.nullMean),
      subspaceMatched: withCi(m.subspace.matched, num), subspaceRank: Number.isFinite(m.subspace.meanRank) ? m.subspace.meanRank.toFixed(1) : "—",
      frequencyRho: m.frequency ? `${withCi(m.frequency.rho, num)} (${m.frequency.latents} latents)` : "—",
    };
  });
}

const DEFINITIONS = [
  "**shared (P&B)**: Paulo & Belrose's definition — the latent's decoder match and its encoder match (two separate Hungarian matchings) both have cosine above the threshold, whichever partners they pick.",
  "**same partner**: the decoder and encoder matchings give the latent the same partner (reported separately in their code).",
  "**shared, same partner**: both at once — the stricter definition.",
  "**PW-MCC**: Song et al.'s pairwise mean correlation coefficient — the mean signed cosine over the decoder assignment, averaged over seed pairs.",
];

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
        shared: m.shared ? withCi(m.shared.sharedPB, pct) : "—", nullMedian: m.median.nullMean === null ? "—" : num(m.median.nullMean),
        explainedVariance: q ? withCi(q.explainedVariance, num) : "—", ceLossScore: q ? withCi(q.ceLossScore, num) : "—",
        l0: q ? withCi(q.l0, (v) => v.toFixed(1)) : (c.runs.reduce((s, r) => s + r.l0, 0) / c.runs.length).toFixed(1),
        dead: q ? withCi(q.deadFraction, pct) : pct(c.runs.reduce((s, r) => s + r.deadFraction, 0) / c.runs.length),
      });
    }
  }
  return rows;
}

function sharedLabel(report: StabilityReport): string {
  return report.sharedThreshold === null ? "" : ` (> ${report.sharedThreshold})`;
}

/** The report as Markdown. */
export function renderMarkdown(report: StabilityReport): string {
  const t = report.threshold;
  const lines = [
    `# ${report.title}`,
    "",
    `Model: ${report.model}${report.modelIsRandomControl ? " — **random-weight control, not trained GPT-2**" : ""}  `,
    `Corpus: ${report.corpus}  `,
    `Bootstrap: ${report.bootstrap} resamples of seeds · null model: ${report.nullDraws} random-dictionary draws (smallest possible p-value ${(1 / (report.nullDraws + 1)).toFixed(3)})${fewerDraws(report)}`,
    "",
    `| condition | matching | median best-match cosine | 95% CI | fraction ≥ ${t} | 95% CI | PW-MCC | shared (P&B)${sharedLabel(report)} | 95% CI | null | same partner | shared, same partner | null median | p (median) | dead | FVU | converged |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...tableRows(report).map((r) => `| ${r.condition} | ${r.mode} | ${r.median} | ${r.medianCi} | ${r.fraction} | ${r.fractionCi} | ${r.pwmcc} | ${r.sharedPB} | ${r.sharedPBCi} | ${r.sharedPBNull} | ${r.samePartner} | ${r.sharedSamePartner} | ${r.nullMedian} | ${r.pValue} | ${r.dead} | ${r.fvu} | ${r.converged} |`),
    "",
    ...(report.sharedThreshold !== null ? ["Which shared fraction is which:", "", ...DEFINITIONS.map((d) => `- ${d}`), ""] : []),
    ...convergenceNote(report),
    ...markdownTable("Training tokens (token axis; full matching; 95% CI)",
      ["condition", "tokens per pass", "tokens seen", "passes", "steps", "converged", "median cosine", "null", "PW-MCC", "shared (P&B)", "null", "explained variance"],
      tokenAxisRows(report).map((r) => [r.group, r.tokensPerPass, r.tokensSeen, r.passes, r.steps, r.converged, r.median, r.nullMedian, r.pwmcc, r.sharedPB, r.sharedPBNull, r.explainedVariance])),
    ...markdownTable("Across seeds, subspaces, and which latents are stable (full matching; 95% CI)",
      ["condition", "found in one SAE only", "null", "found in every seed", "unmatched latents' subspace overlap", "null (random subspaces)", "matched latents' overlap", "rank", "ρ(matched cosine, held-out frequency)"],
      findingsRows(report).map((r) => [r.condition, r.presenceOnlyOne, r.presenceNullOnlyOne, r.presenceInAll, r.subspaceUnmatched, r.subspaceNull, r.subspaceMatched, r.subspaceRank, r.frequencyRho])),
    ...markdownTable("Architectures at matched sparsity (full matching; mean over seeds, 95% CI)",
      ["layer, size, k / target L0", "recipe", "median matched cosine", "PW-MCC", `shared (P&B)${sharedLabel(report)}`, "null median", "explained variance", "CE-loss score", "L0 (held-out)", "dead (held-out)"],
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

/** Where some conditions used fewer null draws than the report's (wide dictionaries), which and how many. */
function fewerDraws(report: StabilityReport): string {
  const fewer = report.conditions.filter((c) => c.nullDraws !== undefined && c.nullDraws !== report.nullDraws);
  if (!fewer.length) return "";
  const draws = [...new Set(fewer.map((c) => c.nullDraws))].join("/");
  return `; ${fewer.length} condition${fewer.length > 1 ? "s" : ""} (${[...new Set(fewer.map((c) => c.features))].sort((a, b) => a - b).join(", ")} latents) used ${draws} draws (smallest p ${(1 / (Number(draws.split("/")[0]) + 1)).toFixed(3)})`;
}

/** The conditions whose runs did not all pass the convergence rule, named, with the rule. */
function convergenceNote(report: StabilityReport): string[] {
  const flagged = report.conditions.filter((c) => c.training?.convergence && c.training.convergence.converged < c.training.convergence.runs);
  const rule = report.conditions.find((c) => c.training?.convergence)?.training.convergence?.rule;
  if (!rule) return [];
  return [
    flagged.length ? `**Not converged** (${flagged.length} of ${report.conditions.length} conditions): ${flagged.map((c) => `${c.id} (${c.training.convergence!.runs - c.training.convergence!.converged} of ${c.training.convergence!.runs} runs; mean ${c.training.convergence!.meanSteps.toFixed(0)} steps, last-fifth FVU drop ${(100 * c.training.convergence!.meanEndDrop).toFixed(1)}%)`).join("; ")}. Their stability may still be moving; do not read it as a finding.` : "Every condition's runs passed the convergence rule.",
    "",
    `Rule — ${rule}.`,
    "",
  ];
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
<p>median ${num(m.median.value)} ${ciText(m.median, num)} · fraction ≥ ${threshold}: ${pct(m.fractionAboveThreshold.value)} ${ciText(m.fractionAboveThreshold, pct)} · PW-MCC ${num(m.pwmcc.value)}${m.shared ? ` · shared (P&B) ${pct(m.shared.sharedPB.value)} ${ciText(m.shared.sharedPB, pct)}, null ${m.shared.sharedPB.nullMean === null ? "—" : pct(m.shared.sharedPB.nullMean)} · same partner ${withCi(m.shared.samePartner, pct)} · shared, same partner ${withCi(m.shared.sharedSamePartner, pct)}` : ""} · null median ${m.median.nullMean === null ? "—" : num(m.median.nullMean)} · p = ${pText(m.median.pValue)} · optimality check max violation ${m.optimalityMaxViolation.toExponential(1)}</p>
<p>found in one SAE only ${pct(m.presence.onlyOne)} (null ${m.presence.nullFractions ? pct(m.presence.nullFractions[0]!) : "—"}) · in every seed ${pct(m.presence.inAll)} · unmatched latents' subspace overlap ${withCi(m.subspace.unmatched, num)} against ${m.subspace.unmatched.nullMean === null ? "—" : num(m.subspace.unmatched.nullMean)} for random subspaces (rank ${Number.isFinite(m.subspace.meanRank) ? m.subspace.meanRank.toFixed(1) : "—"}, ${m.subspace.pairs} pairs), matched latents' ${withCi(m.subspace.matched, num)}${m.frequency ? ` · ρ(matched cosine, held-out frequency) ${withCi(m.frequency.rho, num)} over ${m.frequency.latents} latents` : ""}</p>
<div class="charts">${histogramSvg(series, { threshold })}${cdfSvg(series)}${presenceSvg(m)}${frequencySvg(m)}</div>
<details><summary>per seed pair</summary><table><tr><th>pair</th><th>n</th><th>median</th><th>mean</th><th>≥ ${threshold}</th></tr>${pairs}</table></details></div>`;
}

/** The presence histogram, observed beside random dictionaries. */
function presenceSvg(m: ModeReport): string {
  const labels = m.presence.fractions.map((_, k) => String(k));
  return groupedBarSvg(labels, [
    { label: "observed", values: m.presence.fractions, color: "#2a6fdb" },
    ...(m.presence.nullFractions ? [{ label: "random dictionaries", values: m.presence.nullFractions, color: "#999" }] : []),
  ], { xLabel: `other seeds with a partner ≥ ${m.presence.threshold}`, yLabel: "fraction of latents" });
}

/** Mean matched cosine per held-out frequency decile. */
function frequencySvg(m: ModeReport): string {
  if (!m.frequency || m.frequency.deciles.length < 2) return "";
  const points = m.frequency.deciles.map((d) => ({ x: 10 ** d.logFrequency, y: d.meanCosine }));
  return logLineSvg([{ label: "mean matched cosine per frequency decile", color: "#8a2be2", points }], { xLabel: "held-out firing frequency (log scale)", yLabel: "matched cosine" });
}

function examplesSection(c: ConditionReport): string {
  if (!c.examples.length) return "";
  const rows = c.examples.map((e) => `<tr><td>${e.band}</td><td>${num(e.cosine)}</td><td>seed ${e.seedA} #${e.featureA}<ul>${e.contextsA.map((t) => `<li>${esc(t)}</li>`).join("")}</ul></td><td>seed ${e.seedB} #${e.featureB}<ul>${e.contextsB.map((t) => `<li>${esc(t)}</li>`).join("")}</ul></td></tr>`).join("");
  return `<h4>Example matched pairs (live-only matching, first seed pair)</h4><table class="examples"><tr><th>band</th><th>cosine</th><th>feature A: top contexts</th><th>feature B: top contexts</th></tr>${rows}</table>`;
}

/** The report as one self-contained HTML page (tables and inline SVG figures). */
export function renderHtml(report: StabilityReport): string {
  const rows = tableRows(report).map((r) => `<tr><td>${esc(r.condition)}</td><td>${r.mode}</td><td>${r.median}</td><td>${r.medianCi}</td><td>${r.fraction}</td><td>${r.fractionCi}</td><td>${r.pwmcc}</td><td>${r.sharedPB}</td><td>${r.sharedPBCi}</td><td>${r.sharedPBNull}</td><td>${r.samePartner}</td><td>${r.sharedSamePartner}</td><td>${r.nullMedian}</td><td>${r.pValue}</td><td>${r.dead}</td><td>${r.fvu}</td><td>${esc(r.converged)}</td></tr>`).join("");
  const conditions = report.conditions.map((c) => `<section><h3>${c.label ? esc(c.label) : `Layer ${c.layer} · ${c.features} features · k ${c.k} · ${esc(c.recipe)}`} <small>(${esc(c.hook)}, seeds ${c.seeds.join(", ")})</small></h3>
<div class="charts">${perSeedBars(c)}</div>
${c.modes.map((m) => modeSection(m, report.threshold)).join("")}
${examplesSection(c)}</section>`).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(report.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;vertical-align:top}th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:12px}.warn{background:#fff3cd;border:1px solid #e0c36b;padding:8px}section{border-top:2px solid #ddd;margin-top:18px}ul{margin:2px 0;padding-left:16px}small{color:#666;font-weight:normal}</style></head>
<body><h1>${esc(report.title)}</h1>
${report.modelIsRandomControl ? '<p class="warn"><b>Random-weight control.</b> These SAEs were trained on a seeded random GPT-2, not on trained GPT-2 weights.</p>' : ""}
<p>Model: ${esc(report.model)}<br>Corpus: ${esc(report.corpus)}<br>Bootstrap: ${report.bootstrap} seed resamples · null: ${report.nullDraws} random-dictionary draws (smallest possible p ${(1 / (report.nullDraws + 1)).toFixed(3)}) · generated ${esc(report.createdAt)}</p>
<table><tr><th>condition</th><th>matching</th><th>median cosine</th><th>95% CI</th><th>≥ ${report.threshold}</th><th>95% CI</th><th>PW-MCC</th><th>shared (P&amp;B)${esc(sharedLabel(report))}</th><th>95% CI</th><th>null</th><th>same partner</th><th>shared, same partner</th><th>null median</th><th>p</th><th>dead</th><th>FVU</th><th>converged</th></tr>${rows}</table>
${report.sharedThreshold !== null ? `<ul>${DEFINITIONS.map((d) => `<li>${esc(d).replace(/\*\*(.+?)\*\*/g, "<b>$1</b>")}</li>`).join("")}</ul>` : ""}
${convergenceNote(report).filter((l) => l).map((l) => `<p>${esc(l).replace(/\*\*(.+?)\*\*/g, "<b>$1</b>")}</p>`).join("")}
${htmlTable("Training tokens (token axis; full matching; 95% CI)",
    ["condition", "tokens per pass", "tokens seen", "passes", "steps", "converged", "median cosine", "null", "PW-MCC", "shared (P&B)", "null", "explained variance"],
    tokenAxisRows(report).map((r) => [r.group, r.tokensPerPass, r.tokensSeen, r.passes, r.steps, r.converged, r.median, r.nullMedian, r.pwmcc, r.sharedPB, r.sharedPBNull, r.explainedVariance]))}
${tokenAxisFigures(report)}
${htmlTable("Across seeds, subspaces, and which latents are stable (full matching; 95% CI)",
    ["condition", "found in one SAE only", "null", "found in every seed", "unmatched latents' subspace overlap", "null (random subspaces)", "matched latents' overlap", "rank", "ρ(matched cosine, held-out frequency)"],
    findingsRows(report).map((r) => [r.condition, r.presenceOnlyOne, r.presenceNullOnlyOne, r.presenceInAll, r.subspaceUnmatched, r.subspaceNull, r.subspaceMatched, r.subspaceRank, r.frequencyRho]))}
${htmlTable("Architectures at matched sparsity (full matching; mean over seeds, 95% CI)",
    ["layer, size, k / target L0", "recipe", "median matched cosine", "PW-MCC", `shared (P&B)${sharedLabel(report)}`, "null median", "explained variance", "CE-loss score", "L0 (held-out)", "dead (held-out)"],
    architectureRows(report).map((r) => [r.group, r.recipe, r.median, r.pwmcc, r.shared, r.nullMedian, r.explainedVariance, r.ceLossScore, r.l0, r.dead]))}
${htmlTable("Quality on held-out tokens (mean over seeds, 95% CI)",
    ["condition", "tokens", "explained variance", "FVU", "CE-loss score", "KL score", "L0", "dead", "dense > 1%", "dense > 10%"],
    qualityRows(report).map((r) => [r.condition, r.tokens, r.explainedVariance, r.fvu, r.ceLossScore, r.klScore, r.l0, r.dead, r.dense1, r.dense10]))}
<h2>Method</h2><p>${esc(report.method).replace(/\n\n/g, "</p><p>")}</p>
${conditions}
</body></html>`;
}
