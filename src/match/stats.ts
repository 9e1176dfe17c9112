/**
 * Statistics of one condition across seeds: all seed pairs matched, their similarities pooled, and every
 * headline number put beside what chance gives and how much it could move.
 *
 * Statistics. median of the pooled matched similarities; fraction ≥ threshold of the pooled values; PW-MCC, the
 * mean over seed pairs of each pair's mean matched similarity; and, when the dictionaries carry their encoders, the
 * shared fraction of Paulo & Belrose (shared_latents.ts): shared latents over matched pairs, pooled over pairs.
 *
 * Null model. R draws; in each, every seed gets a random dictionary of the same shape (and, live-only, the same
 * number of live features): i.i.d. Gaussian directions, L2-normalised. The random dictionaries are matched in
 * exactly the same way, giving a null distribution of each statistic. Monte-Carlo p-value (one-sided, observed
 * at least as large): (1 + #{null ≥ observed}) / (1 + R). Effect size: (observed − null mean) / null sd.
 *
 * Uncertainty. Pairs that share a seed are not independent, so the bootstrap resamples seeds, not features or
 * pairs: draw S seeds with replacement from the S seeds; the resample's pairs are all (p, q), p < q, of its
 * positions whose seeds differ (a seed drawn twice contributes its pairs twice; a pair of a seed with itself is
 * skipped, since a dictionary matched to itself says nothing about seed stability). The statistic is recomputed
 * on those pairs; a draw with a single distinct seed has no pairs and is redrawn. The 95% interval is the 2.5th
 * and 97.5th percentiles of B such draws (percentile bootstrap). Pooled quantiles inside the bootstrap are read
 * from per-pair histograms with 20,000 bins on [−1, 1] (resolution 1e-4); the observed values are exact.
 *
 * All randomness comes from named streams of the project RNG keyed by `rngSeed`, so a report is reproducible to
 * the digit.
 */
import { Rng } from "../tensor/rng.ts";
import { alignDictionaries, type Dictionary, type PairMatch } from "./align.ts";
import { fractionAtLeast, mean, median, quantile } from "./summary.ts";
import { sharedLatents } from "./shared_latents.ts";

export interface SeedDictionary {
  seed: number;
  dict: Dictionary;
}

export interface StabilityOptions {
  mode: "full" | "live-only";
  threshold: number;
  bootstrap: number;
  nullDraws: number;
  rngSeed: number;
  /** Compute Paulo & Belrose's shared fraction at this cosine threshold (needs every dictionary's encoder). */
  sharedThreshold?: number;
}

export interface StatResult {
  value: number;
  ci: { lo: number; hi: number } | null;
  nullMean: number | null;
  nullSd: number | null;
  pValue: number | null;
  effectSize: number | null;
}

export interface PairResult {
  seedA: number;
  seedB: number;
  match: PairMatch;
  /** Shared latents (Paulo & Belrose) of the pair, when computed. */
  shared?: { count: number; matched: number };
}

export interface ConditionStability {
  mode: "full" | "live-only";
  seeds: number[];
  pairs: PairResult[];
  pooled: Float64Array;
  median: StatResult;
  fractionAboveThreshold: StatResult;
  pwmcc: StatResult;
  /** Paulo & Belrose's shared fraction; null when not asked for or an encoder is missing. */
  sharedFraction: StatResult | null;
  /** Null similarities of the first null draw, pooled over its pairs (for plots). */
  nullPooled: Float64Array;
  /** Largest dual-feasibility or slackness violation over every matching done (observed and null). */
  optimalityMaxViolation: number;
  allOptimal: boolean;
}

const BINS = 20_000;

function binOf(v: number): number {
  return Math.min(BINS - 1, Math.max(0, Math.floor(((v + 1) / 2) * BINS)));
}

interface PairStats {
  /** cumulative[b] = number of values in bins 0..b. */
  cumulative: Float64Array;
  n: number;
  mean: number;
  above: number;
  shared: number;
  matched: number;
}

/** The statistics of a set of pairs: median, fraction ≥ threshold, PW-MCC, shared fraction (NaN when not computed). */
type Stats = [number, number, number, number];

function pairStats(pair: PairResult, threshold: number): PairStats {
  const values = pair.match.values;
  const cumulative = new Float64Array(BINS);
  let above = 0;
  for (const v of values) {
    cumulative[binOf(v)]!++;
    if (v >= threshold) above++;
  }
  for (let b = 1; b < BINS; b++) cumulative[b] += cumulative[b - 1]!;
  return { cumulative, n: values.length, mean: mean(values), above, shared: pair.shared?.count ?? NaN, matched: pair.shared?.matched ?? NaN };
}

/**
 * Statistics of a weighted set of pairs (weight = how often the bootstrap drew that pair). The pooled median is
 * found by binary search over bins on the weighted cumulative counts — O(log BINS · pairs), not O(BINS · pairs) —
 * then interpolated uniformly within its bin.
 */
function statsOfPairs(pairs: PairStats[], weights: Float64Array): Stats {
  let total = 0, above = 0, meanSum = 0, weightSum = 0, shared = 0, matched = 0;
  const used: number[] = [];
  for (let t = 0; t < pairs.length; t++) {
    const w = weights[t]!;
    if (w === 0) continue;
    used.push(t);
    total += w * pairs[t]!.n;
    above += w * pairs[t]!.above;
    meanSum += w * pairs[t]!.mean;
    weightSum += w;
    shared += w * pairs[t]!.shared;
    matched += w * pairs[t]!.matched;
  }
  const countUpTo = (b: number) => {
    if (b < 0) return 0;
    let c = 0;
    for (const t of used) c += weights[t]! * pairs[t]!.cumulative[b]!;
    return c;
  };
  const target = 0.5 * total;
  let lo = 0, hi = BINS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (countUpTo(mid) >= target) hi = mid;
    else lo = mid + 1;
  }
  const before = countUpTo(lo - 1);
  const inBin = countUpTo(lo) - before;
  const within = inBin > 0 ? (target - before) / inBin : 0;
  return [-1 + ((lo + within) / BINS) * 2, above / total, meanSum / weightSum, shared / matched];
}

function exactStats(pairs: PairResult[], threshold: number): Stats {
  const values = pairs.map((p) => p.match.values);
  const pooled = Float64Array.from(values.flatMap((v) => Array.from(v)));
  const shared = pairs.reduce((s, p) => s + (p.shared?.count ?? NaN), 0) / pairs.reduce((s, p) => s + (p.shared?.matched ?? NaN), 0);
  return [median(pooled), fractionAtLeast(pooled, threshold), mean(values.map((v) => mean(v))), shared];
}

function randomDictionary(n: number, d: number, rng: Rng): Float32Array {
  const m = new Float32Array(n * d);
  rng.fillNormal(m);
  return m; // cosineMatrix normalises rows itself
}

function matchAllPairs(dicts: SeedDictionary[], mode: "full" | "live-only", threshold: number, sharedThreshold?: number): PairResult[] {
  const out: PairResult[] = [];
  for (let i = 0; i < dicts.length; i++) {
    for (let j = i + 1; j < dicts.length; j++) {
      const [a, b] = [dicts[i]!, dicts[j]!];
      if (sharedThreshold === undefined) {
        out.push({ seedA: a.seed, seedB: b.seed, match: alignDictionaries(a.dict, b.dict, mode, { threshold }) });
        continue;
      }
      // The decoder matching of the shared criterion is the pair's matching: done once.
      const s = sharedLatents(a.dict, b.dict, mode, sharedThreshold);
      out.push({ seedA: a.seed, seedB: b.seed, match: s.decoderMatch, shared: { count: s.shared, matched: s.matched } });
    }
  }
  return out;
}

function liveCount(d: Dictionary): number {
  return d.live ? d.live.reduce((a, b) => a + b, 0) : d.n;
}

interface NullModel {
  /** The statistics of each draw, pooled over the draw's pairs. */
  nulls: Stats[];
  nullPooled: Float64Array;
  maxViolation: number;
  allOptimal: boolean;
}

/**
 * The null model depends only on the shapes, the number of draws, the RNG seed and the threshold — the draws come
 * from streams named by (draw, seed slot) — so conditions and modes with the same shapes (e.g. live-only when no
 * feature is dead, or two layers with the same dictionary size) get the same draws. Remembering them saves
 * recomputing identical numbers; it changes no result.
 */
const nullModelMemo = new Map<string, NullModel>();
/** Few entries: one null model holds every pair's matched values of its first draw (MBs at n = 8192, 20 seeds). */
const NULL_MEMO_LIMIT = 8;

function randomDictionaryNull(shapes: { n: number; d: number }[], seeds: number[], draws: number, rngSeed: number, threshold: number, sharedThreshold?: number): NullModel {
  const key = JSON.stringify({ shapes, draws, rngSeed, threshold, sharedThreshold }); // seeds only label pairs
  const known = nullModelMemo.get(key);
  if (known) return known;
  const nulls: Stats[] = [];
  let nullPooled = new Float64Array(0);
  let maxViolation = 0;
  let allOptimal = true;
  for (let r = 0; r < draws; r++) {
    // Random encoders too, independent of the decoders, when the shared criterion is asked for.
    const randomDicts: SeedDictionary[] = shapes.map(({ n, d }, k) => ({
      seed: seeds[k]!, dict: {
        decoder: randomDictionary(n, d, Rng.stream(rngSeed, `null/draw-${r}/seed-${k}`)), n, d,
        ...(sharedThreshold !== undefined ? { encoder: randomDictionary(n, d, Rng.stream(rngSeed, `null/draw-${r}/seed-${k}/encoder`)) } : {}),
      },
    }));
    const nullPairs = matchAllPairs(randomDicts, "full", threshold, sharedThreshold);
    for (const p of nullPairs) {
      if (!p.match.audit) continue;
      maxViolation = Math.max(maxViolation, p.match.audit.maxDualViolation, p.match.audit.maxSlacknessViolation);
      allOptimal &&= p.match.audit.optimal;
    }
    nulls.push(exactStats(nullPairs, threshold));
    if (r === 0) nullPooled = Float64Array.from(nullPairs.flatMap((p) => Array.from(p.match.values)));
  }
  const model = { nulls, nullPooled, maxViolation, allOptimal };
  if (nullModelMemo.size >= NULL_MEMO_LIMIT) nullModelMemo.delete(nullModelMemo.keys().next().value!);
  nullModelMemo.set(key, model);
  return model;
}

/** One condition's stability across its seeds: every seed pair matched, pooled, with the random-dictionary null and seed-bootstrap intervals. */
export function conditionStability(dicts: SeedDictionary[], options: StabilityOptions): ConditionStability {
  if (dicts.length < 2) throw new Error(`stability needs at least two seeds, got ${dicts.length}`);
  const { mode, threshold } = options;
  const sharedThreshold = options.sharedThreshold !== undefined && dicts.every((d) => d.dict.encoder) ? options.sharedThreshold : undefined;
  const pairs = matchAllPairs(dicts, mode, threshold, sharedThreshold);
  const values = pairs.map((p) => p.match.values);
  const observed = exactStats(pairs, threshold);
  let maxViolation = 0;
  let allOptimal = true;
  const noteAudit = (m: PairMatch) => {
    if (!m.audit) return;
    maxViolation = Math.max(maxViolation, m.audit.maxDualViolation, m.audit.maxSlacknessViolation);
    allOptimal &&= m.audit.optimal;
  };
  pairs.forEach((p) => noteAudit(p.match));

  // Null model: random dictionaries of the same shapes and live counts, matched the same way.
  const shapes = dicts.map((s) => ({ n: mode === "live-only" ? liveCount(s.dict) : s.dict.n, d: s.dict.d }));
  const nullModel = randomDictionaryNull(shapes, dicts.map((s) => s.seed), options.nullDraws, options.rngSeed, threshold, sharedThreshold);
  const { nulls, nullPooled } = nullModel;
  maxViolation = Math.max(maxViolation, nullModel.maxViolation);
  allOptimal &&= nullModel.allOptimal;

  // Bootstrap over seeds.
  const perPair = pairs.map((p) => pairStats(p, threshold));
  const pairIndex = new Map<string, number>();
  pairs.forEach((_, t) => {
    const [a, b] = pairSlots(t, dicts.length);
    pairIndex.set(`${a},${b}`, t);
  });
  const boots: Stats[] = [];
  const rng = Rng.stream(options.rngSeed, `bootstrap/${mode}`);
  const S = dicts.length;
  const weights = new Float64Array(pairs.length);
  for (let b = 0; b < options.bootstrap; b++) {
    let draw: number[];
    do draw = Array.from({ length: S }, () => rng.int(S));
    while (new Set(draw).size < 2);
    weights.fill(0);
    for (let p = 0; p < S; p++) {
      for (let q = p + 1; q < S; q++) {
        if (draw[p] === draw[q]) continue;
        const lo = Math.min(draw[p]!, draw[q]!), hi = Math.max(draw[p]!, draw[q]!);
        weights[pairIndex.get(`${lo},${hi}`)!]!++;
      }
    }
    boots.push(statsOfPairs(perPair, weights));
  }

  const result = (k: 0 | 1 | 2 | 3): StatResult => {
    const value = observed[k];
    const bootValues = Float64Array.from(boots.map((x) => x[k])).sort();
    const nullValues = nulls.map((x) => x[k]);
    const nullMean = nullValues.length ? mean(nullValues) : null;
    const nullSd = nullValues.length > 1 ? Math.sqrt(nullValues.reduce((s, v) => s + (v - nullMean!) ** 2, 0) / (nullValues.length - 1)) : null;
    return {
      value,
      ci: bootValues.length ? { lo: quantile(bootValues, 0.025), hi: quantile(bootValues, 0.975) } : null,
      nullMean,
      nullSd,
      pValue: nullValues.length ? (1 + nullValues.filter((v) => v >= value).length) / (1 + nullValues.length) : null,
      effectSize: nullMean !== null && nullSd !== null && nullSd > 0 ? (value - nullMean) / nullSd : null,
    };
  };
  return {
    mode, seeds: dicts.map((d) => d.seed), pairs,
    pooled: Float64Array.from(values.flatMap((v) => Array.from(v))),
    median: result(0), fractionAboveThreshold: result(1), pwmcc: result(2), sharedFraction: sharedThreshold !== undefined ? result(3) : null,
    nullPooled, optimalityMaxViolation: maxViolation, allOptimal,
  };
}

/** The (i, j) seed positions of the t-th pair in the order matchAllPairs produces them. */
function pairSlots(t: number, S: number): [number, number] {
  let k = 0;
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) if (k++ === t) return [i, j];
  throw new Error(`pair ${t} out of range for ${S} seeds`);
}

/**
 * The mean of one value per seed (e.g. each run's explained variance) with a percentile-bootstrap 95% interval over
 * seeds: resample the seeds with replacement B times. No null model: these are qualities, not agreements.
 */
export function meanOverSeeds(values: readonly number[], bootstrap: number, rngSeed: number, name: string): StatResult {
  const value = mean(values);
  const rng = Rng.stream(rngSeed, `bootstrap/seed-mean/${name}`);
  const boots = new Float64Array(values.length > 1 ? bootstrap : 0);
  for (let b = 0; b < boots.length; b++) {
    let s = 0;
    for (let i = 0; i < values.length; i++) s += values[rng.int(values.length)]!;
    boots[b] = s / values.length;
  }
  boots.sort();
  return { value, ci: boots.length ? { lo: quantile(boots, 0.025), hi: quantile(boots, 0.975) } : null, nullMean: null, nullSd: null, pValue: null, effectSize: null };
}
