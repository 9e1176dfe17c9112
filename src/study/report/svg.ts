/** Small, dependency-free SVG charts for the HTML report: overlaid histograms, CDFs and bar charts. */

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export interface Series {
  label: string;
  values: number[];
  color: string;
}

function axisFrame(width: number, height: number, pad: number, xLabel: string, yLabel: string, xTicks: number[], fmtX = (v: number) => v.toFixed(1)): string {
  const ticks = xTicks.map((t) => {
    const x = pad + ((t - xTicks[0]!) / (xTicks.at(-1)! - xTicks[0]!)) * (width - 2 * pad);
    return `<line x1="${x}" y1="${height - pad}" x2="${x}" y2="${height - pad + 4}" stroke="#555"/><text x="${x}" y="${height - pad + 16}" font-size="10" text-anchor="middle">${fmtX(t)}</text>`;
  }).join("");
  return `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#555"/>` +
    `<line x1="${pad}" y1="${pad / 2}" x2="${pad}" y2="${height - pad}" stroke="#555"/>${ticks}` +
    `<text x="${width / 2}" y="${height - 4}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text x="12" y="${height / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${height / 2})">${esc(yLabel)}</text>`;
}

function legend(series: Series[], x: number, y: number): string {
  return series.map((s, i) => `<rect x="${x}" y="${y + i * 14}" width="10" height="10" fill="${s.color}" opacity="0.7"/><text x="${x + 14}" y="${y + i * 14 + 9}" font-size="10">${esc(s.label)}</text>`).join("");
}

/** Histograms of several series on [lo, hi] as densities, drawn as translucent step areas. */
export function histogramSvg(series: Series[], opts: { lo?: number; hi?: number; bins?: number; width?: number; height?: number; xLabel?: string; threshold?: number } = {}): string {
  const { lo = -0.2, hi = 1, bins = 40, width = 420, height = 220, xLabel = "matched cosine", threshold } = opts;
  const pad = 34;
  const binWidth = (hi - lo) / bins;
  const densities = series.map((s) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of s.values) {
      const b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / binWidth)));
      counts[b]!++;
    }
    return counts.map((c) => (s.values.length ? c / s.values.length / binWidth : 0));
  });
  const maxD = Math.max(1e-9, ...densities.flat());
  const X = (v: number) => pad + ((v - lo) / (hi - lo)) * (width - 2 * pad);
  const Y = (d: number) => height - pad - (d / maxD) * (height - 1.5 * pad);
  const paths = densities.map((ds, si) => {
    let path = `M ${X(lo)} ${Y(0)}`;
    ds.forEach((d, b) => (path += ` L ${X(lo + b * binWidth)} ${Y(d)} L ${X(lo + (b + 1) * binWidth)} ${Y(d)}`));
    path += ` L ${X(hi)} ${Y(0)} Z`;
    return `<path d="${path}" fill="${series[si]!.color}" fill-opacity="0.45" stroke="${series[si]!.color}" stroke-width="1"/>`;
  }).join("");
  const ticks = [lo, ...Array.from({ length: 6 }, (_, i) => Math.round((lo + ((i + 1) * (hi - lo)) / 6) * 10) / 10)];
  const thresholdLine = threshold !== undefined ? `<line x1="${X(threshold)}" y1="${pad / 2}" x2="${X(threshold)}" y2="${height - pad}" stroke="#c00" stroke-dasharray="4 3"/>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="histogram">${axisFrame(width, height, pad, xLabel, "density", ticks)}${paths}${thresholdLine}${legend(series, width - pad - 130, pad / 2)}</svg>`;
}

/** Empirical CDFs of several series. */
export function cdfSvg(series: Series[], opts: { lo?: number; hi?: number; width?: number; height?: number; xLabel?: string } = {}): string {
  const { lo = -0.2, hi = 1, width = 420, height = 220, xLabel = "matched cosine" } = opts;
  const pad = 34;
  const X = (v: number) => pad + ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (width - 2 * pad);
  const Y = (p: number) => height - pad - p * (height - 1.5 * pad);
  const lines = series.map((s) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    const step = Math.max(1, Math.floor(sorted.length / 400));
    let path = `M ${X(lo)} ${Y(0)}`;
    for (let i = 0; i < sorted.length; i += step) path += ` L ${X(sorted[i]!)} ${Y(i / sorted.length)}`;
    path += ` L ${X(sorted.at(-1) ?? lo)} ${Y(1)} L ${X(hi)} ${Y(1)}`;
    return `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
  }).join("");
  const ticks = [lo, ...Array.from({ length: 6 }, (_, i) => Math.round((lo + ((i + 1) * (hi - lo)) / 6) * 10) / 10)];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="cdf">${axisFrame(width, height, pad, xLabel, "fraction ≤ x", ticks)}${lines}${legend(series, pad + 8, pad / 2)}</svg>`;
}

/** A simple vertical bar chart (e.g. dead fraction or FVU per seed). */
export function barSvg(labels: string[], values: number[], opts: { width?: number; height?: number; yLabel?: string; color?: string; max?: number } = {}): string {
  const { width = 260, height = 160, yLabel = "", color = "#4a7", max } = opts;
  const pad = 30;
  const top = max ?? Math.max(1e-9, ...values);
  const bw = (width - 2 * pad) / Math.max(1, values.length);
  const bars = values.map((v, i) => {
    const h = (Math.max(0, v) / top) * (height - 1.5 * pad);
    const x = pad + i * bw + 2;
    return `<rect x="${x}" y="${height - pad - h}" width="${bw - 4}" height="${h}" fill="${color}"/><text x="${x + (bw - 4) / 2}" y="${height - pad + 12}" font-size="9" text-anchor="middle">${esc(labels[i]!)}</text><text x="${x + (bw - 4) / 2}" y="${height - pad - h - 2}" font-size="9" text-anchor="middle">${v.toFixed(2)}</text>`;
  }).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="bars"><line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#555"/><text x="10" y="${height / 2}" font-size="10" text-anchor="middle" transform="rotate(-90 10 ${height / 2})">${esc(yLabel)}</text>${bars}</svg>`;
}

export interface BandSeries {
  label: string;
  color: string;
  /** One point per x: the value and its interval (null: no interval). */
  points: { x: number; y: number; lo?: number | null; hi?: number | null }[];
  /** Draw as a dashed line (e.g. the null). */
  dashed?: boolean;
}

/**
 * Lines over a logarithmic x axis (e.g. a statistic against training tokens), each with a shaded interval band —
 * the observed statistics with their bootstrap intervals beside the null's mean.
 */
export function logLineSvg(series: BandSeries[], opts: { width?: number; height?: number; xLabel?: string; yLabel?: string; yLo?: number; yHi?: number } = {}): string {
  const { width = 460, height = 260, xLabel = "training tokens (log scale)", yLabel = "" } = opts;
  const pad = 40;
  const xs = series.flatMap((s) => s.points.map((p) => p.x)).filter((x) => x > 0);
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y])).filter(Number.isFinite);
  if (!xs.length || !ys.length) return "";
  const lx0 = Math.floor(Math.log10(Math.min(...xs))), lx1 = Math.ceil(Math.log10(Math.max(...xs)));
  const y0 = opts.yLo ?? Math.min(0, ...ys), y1 = opts.yHi ?? Math.max(...ys) * 1.05 + 1e-9;
  const X = (x: number) => pad + ((Math.log10(x) - lx0) / Math.max(1e-9, lx1 - lx0)) * (width - 2 * pad);
  const Y = (y: number) => height - pad - ((y - y0) / Math.max(1e-12, y1 - y0)) * (height - 1.5 * pad);
  const xTicks = Array.from({ length: lx1 - lx0 + 1 }, (_, i) => lx0 + i).map((e) => {
    const x = X(10 ** e);
    return `<line x1="${x}" y1="${height - pad}" x2="${x}" y2="${height - pad + 4}" stroke="#555"/><text x="${x}" y="${height - pad + 16}" font-size="10" text-anchor="middle">10^${e}</text>`;
  }).join("");
  const yTicks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4).map((v) => `<text x="${pad - 4}" y="${Y(v) + 3}" font-size="9" text-anchor="end">${v.toFixed(2)}</text><line x1="${pad}" y1="${Y(v)}" x2="${width - pad}" y2="${Y(v)}" stroke="#eee"/>`).join("");
  const drawn = series.map((s) => {
    const pts = [...s.points].filter((p) => p.x > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (!pts.length) return "";
    const band = pts.every((p) => p.lo != null && p.hi != null)
      ? `<path d="M ${pts.map((p) => `${X(p.x)} ${Y(p.hi!)}`).join(" L ")} L ${[...pts].reverse().map((p) => `${X(p.x)} ${Y(p.lo!)}`).join(" L ")} Z" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`
      : "";
    const line = `<path d="M ${pts.map((p) => `${X(p.x)} ${Y(p.y)}`).join(" L ")}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ""}/>`;
    const dots = pts.map((p) => `<circle cx="${X(p.x)}" cy="${Y(p.y)}" r="2.5" fill="${s.color}"/>`).join("");
    return band + line + dots;
  }).join("");
  const legendSeries = series.map((s) => ({ label: s.label, values: [], color: s.color }));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="statistic against tokens">${yTicks}<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#555"/><line x1="${pad}" y1="${pad / 2}" x2="${pad}" y2="${height - pad}" stroke="#555"/>${xTicks}<text x="${width / 2}" y="${height - 4}" font-size="11" text-anchor="middle">${esc(xLabel)}</text><text x="11" y="${height / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 11 ${height / 2})">${esc(yLabel)}</text>${drawn}${legend(legendSeries, pad + 8, pad / 2)}</svg>`;
}

/** Bars for several series side by side per label (e.g. the presence histogram, observed beside the null). */
export function groupedBarSvg(labels: string[], series: { label: string; values: number[]; color: string }[], opts: { width?: number; height?: number; xLabel?: string; yLabel?: string } = {}): string {
  const { width = 420, height = 200, xLabel = "", yLabel = "" } = opts;
  const pad = 34;
  const top = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const group = (width - 2 * pad) / Math.max(1, labels.length);
  const bw = Math.max(1, (group - 4) / Math.max(1, series.length));
  const bars = labels.map((label, i) => series.map((s, k) => {
    const v = s.values[i] ?? 0;
    const h = (Math.max(0, v) / top) * (height - 1.6 * pad);
    return `<rect x="${pad + i * group + 2 + k * bw}" y="${height - pad - h}" width="${bw - 1}" height="${h}" fill="${s.color}" opacity="0.8"/>`;
  }).join("") + `<text x="${pad + i * group + group / 2}" y="${height - pad + 12}" font-size="9" text-anchor="middle">${esc(label)}</text>`).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="grouped bars"><line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#555"/><text x="${width / 2}" y="${height - 4}" font-size="11" text-anchor="middle">${esc(xLabel)}</text><text x="10" y="${height / 2}" font-size="10" text-anchor="middle" transform="rotate(-90 10 ${height / 2})">${esc(yLabel)}</text>${bars}${legend(series.map((s) => ({ ...s, values: [] })), width - pad - 150, pad / 2)}</svg>`;
}
