/** Descriptive statistics of a set of matched similarities. Quantiles interpolate linearly (NumPy's default). */

export const THRESHOLDS = [0.5, 0.7, 0.9] as const;

export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export function median(values: ArrayLike<number>): number {
  return quantile(sortedCopy(values), 0.5);
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length ? s / values.length : NaN;
}

export function fractionAtLeast(values: ArrayLike<number>, threshold: number): number {
  let c = 0;
  for (let i = 0; i < values.length; i++) if (values[i]! >= threshold) c++;
  return values.length ? c / values.length : NaN;
}

export interface MatchSummary {
  n: number;
  median: number;
  mean: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
  /** Keys "0.5", "0.7", "0.9" (and any extra threshold asked for). */
  fractionAbove: Record<string, number>;
  countAbove: Record<string, number>;
}

export function summarise(values: ArrayLike<number>, extraThreshold?: number): MatchSummary {
  const s = sortedCopy(values);
  const thresholds = new Set<number>([...THRESHOLDS, ...(extraThreshold !== undefined ? [extraThreshold] : [])]);
  const fractionAbove: Record<string, number> = {};
  const countAbove: Record<string, number> = {};
  for (const t of thresholds) {
    const f = fractionAtLeast(s, t);
    fractionAbove[String(t)] = f;
    countAbove[String(t)] = Math.round(f * s.length);
  }
  return { n: s.length, median: quantile(s, 0.5), mean: mean(s), q1: quantile(s, 0.25), q3: quantile(s, 0.75), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, fractionAbove, countAbove };
}
