/**
 * Spearman's rank correlation: Pearson's correlation of the two samples' ranks, ties given their average rank (the
 * textbook definition, as scipy.stats.spearmanr computes it). NaN for fewer than two points or a constant sample.
 */

/** Ranks 1..n, ties sharing the mean of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]! || a - b);
  const ranks = new Float64Array(n);
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && values[order[end]!] === values[order[start]!]) end++;
    const rank = (start + end + 1) / 2; // the mean of ranks start+1 … end
    for (let t = start; t < end; t++) ranks[order[t]!] = rank;
    start = end;
  }
  return ranks;
}

/** Pearson's correlation coefficient of two equally long samples (NaN for fewer than two points or a constant one). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson: ${n} and ${y.length} values`);
  if (n < 2) return NaN;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]!; my += y[i]!; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman's ρ: Pearson's correlation of the samples' average ranks (see the header). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`spearman: ${x.length} and ${y.length} values`);
  return pearson(averageRanks(x), averageRanks(y));
}
