/**
 * Descriptive statistics of a set of matched similarities.
 *
 * Quantile definition (NumPy's default, `method="linear"`, Hyndman & Fan type 7): for n sorted values x[0..n−1]
 * and q in [0, 1], h = (n − 1)·q and Q(q) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋ + 1] − x[⌊h⌋]). The median is Q(0.5) and the
 * quartiles Q(0.25), Q(0.75). Statistics of an empty set are NaN.
 */

/** The thresholds every summary reports: fraction of matches with similarity ≥ 0.5, 0.7, 0.9. */
export const THRESHOLDS = [0.5, 0.7, 0.9] as const;

/** Linear-interpolation quantile of already sorted values (see the module comment). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** The values sorted ascending, as a new float64 array. */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** The median (linear interpolation between the middle two). */
export function median(values: ArrayLike<number>): number {
  return quantile(sortedCopy(values), 0.5);
}

/** The arithmetic mean (NaN when there are no values). */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let k = 0; k < values.length; k++) sum += values[k]!;
  return values.length ? sum / values.length : NaN;
}

/** How many values are at least the threshold. */
export function countAtLeast(values: ArrayLike<number>, threshold: number): number {
  let count = 0;
  for (let k = 0; k < values.length; k++) if (values[k]! >= threshold) count++;
  return count;
}

/** The fraction of values at least the threshold (NaN when there are none). */
export function fractionAtLeast(values: ArrayLike<number>, threshold: number): number {
  return values.length ? countAtLeast(values, threshold) / values.length : NaN;
}

export interface MatchSummary {
  n: number;
  median: number;
  mean: number;
  /** First and third quartiles. */
  q1: number;
  q3: number;
  min: number;
  max: number;
  /** Fraction of values ≥ t, keyed by String(t): "0.5", "0.7", "0.9" and any extra threshold asked for. */
  fractionAbove: Record<string, number>;
  /** Count of values ≥ t, same keys. */
  countAbove: Record<string, number>;
}

/** The summary of one set of matched values; `extraThreshold` adds one more key to the threshold tables. */
export function summarise(values: ArrayLike<number>, extraThreshold?: number): MatchSummary {
  const sorted = sortedCopy(values);
  const thresholds = new Set<number>([...THRESHOLDS, ...(extraThreshold !== undefined ? [extraThreshold] : [])]);
  const fractionAbove: Record<string, number> = {};
  const countAbove: Record<string, number> = {};
  for (const t of thresholds) {
    const count = countAtLeast(sorted, t);
    countAbove[String(t)] = count;
    fractionAbove[String(t)] = sorted.length ? count / sorted.length : NaN;
  }
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    mean: mean(values),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    min: sorted.length ? sorted[0]! : NaN,
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    fractionAbove,
    countAbove,
  };
}
