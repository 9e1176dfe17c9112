/**
 * Statistics of one condition across seeds: all seed pairs matched, their similarities pooled, and every
 * headline number put beside what chance gives and how much it could move.
 *
 * Statistics. median of the pooled matched similarities; fraction ≥ threshold of the pooled values; PW-MCC as Song
 * et al. define it (arXiv 2505.20254): the mean signed cosine over the decoder assignment, averaged over seed pairs;
 * and, when the dictionaries carry their encoders, the three shared-latent fractions of shared_latents.ts —
 * "shared (P&B)" (decoder and encoder matches both above the shared threshold, Paulo & Belrose's count), "same
 * partner" (both matchings agree) and "shared, same partner" (both) — each over matched latents, pooled over pairs.
 * Beside them: the cross-seed presence histogram (cross_seed.ts), the subspace overlap of the latents each pair
 * leaves unmatched (subspace.ts), and, when firing frequencies are given, the rank correlation of a latent's mean
 * matched cosine with its frequency (rank_correlation.ts).
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
import { crossSeedPresence, type PresenceHistogram } from "./cross_seed.ts";
import { principalBasis, subspaceOverlap, type SubspaceOverlap } from "./subspace.ts";
import { spearman } from "./rank_correlation.ts";

/** Cosine threshold of "has a partner" in the presence histogram and "unmatched" in the subspace view, when not given. */
export const DEFAULT_PARTNER_THRESHOLD = 0.7;

export interface SeedDictionary {
  seed: number;
  dict: Dictionary;
  /** Each latent's firing frequency on held-out tokens (fraction of tokens), for the frequency correlation. */
  frequency?: Float64Array;
}

export interface StabilityOptions {
  mode: "full" | "live-only";
  threshold: number;
  bootstrap: number;
  nullDraws: number;
  rngSeed: number;
  /** Compute the shared-latent fractions at this cosine threshold (needs every dictionary's encoder). */
  sharedThreshold?: number;
  /**
   * "Has a partner" (presence histogram) and "did not match" (subspace view) mean a matched cosine ≥ / < this
   * (default: sharedThreshold, else DEFAULT_PARTNER_THRESHOLD, Paulo & Belrose's 0.7).
   */
  partnerThreshold?: number;
  /** The subspace view's energy rule (default 0.9; see subspace.ts). */
  subspaceEnergy?: number;
  /** How many seed pairs the subspace view covers (default DEFAULT_SUBSPACE_PAIRS; it costs two d × d eigenproblems per pair). */
  subspacePairs?: number;
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
  /** The pair's shared-latent counts (shared_latents.ts), when computed. */
  shared?: { sharedPB: number; samePartner: number; sharedSamePartner: number; matched: number };
  /** Principal subspaces of the latents this pair left unmatched (cosine < partner threshold), and of the matched ones. */
  subspace?: { unmatched: SubspaceOverlap; matched: SubspaceOverlap; unmatchedCounts: [number, number] };
}

/** The subspace view of one condition: mean over pairs, against random subspaces of the same ranks. */
export interface SubspaceSummary {
  threshold: number;
  energy: number;
  /** Mean over pairs of the unmatched latents' overlap (mean squared cosine of principal angles), with seed CI and null. */
  unmatched: StatResult;
  /** The same for the matched latents (a reference: what agreeing latents give). */
  matched: StatResult;
  /** Seed pairs the view covers (the first ones in pair order; StabilityOptions.subspacePairs). */
  pairs: number;
  /** Mean rank compared. */
  meanRank: number;
  /** Mean over pairs of r/d: the expectation for two random r-dimensional subspaces. */
  randomExpectation: number;
}

/** Matched cosine against firing frequency: Spearman's ρ over latents (pooled over seeds). */
export interface FrequencyCorrelation {
  /** ρ(mean matched cosine, held-out firing frequency) over latents that fired at least once there. */
  rho: StatResult;
  latents: number;
  /** For plotting: per frequency decile (by rank), the mean log10 frequency and mean matched cosine. */
  deciles: { logFrequency: number; meanCosine: number; latents: number }[];
}

export interface ConditionStability {
  mode: "full" | "live-only";
  seeds: number[];
  pairs: PairResult[];
  pooled: Float64Array;
  median: StatResult;
  fractionAboveThreshold: StatResult;
  /** PW-MCC (Song et al.): mean signed cosine over the decoder assignment, averaged over seed pairs. */
  pwmcc: StatResult;
  /** The three shared-latent fractions; null when not asked for or an encoder is missing. */
  shared: { threshold: number; sharedPB: StatResult; samePartner: StatResult; sharedSamePartner: StatResult } | null;
  /** Per latent, in how many other seeds it has a partner; with the same histogram for random dictionaries. */
  presence: PresenceHistogram & { nullFractions: number[] | null };
  subspace: SubspaceSummary;
  /** Null unless every dictionary carries firing frequencies. */
  frequency: FrequencyCorrelation | null;
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
  sharedPB: number;
  samePartner: number;
  sharedSamePartner: number;
  matched: number;
  overlapUnmatched: number;
  overlapMatched: number;
}

/**
 * The statistics of a set of pairs, in this order: median, fraction ≥ threshold, PW-MCC, shared (P&B), same partner,
 * shared with the same partner (NaN when not computed), unmatched and matched subspace overlap (means over pairs).
 */
type Stats = [number, number, number, number, number, number, number, number];

function pairStats(pair: PairResult, threshold: number): PairStats {
  const values = pair.match.values;
  const cumulative = new Float64Array(BINS);
  let above = 0;
  for (const v of values) {
    cumulative[binOf(v)]!++;
    if (v >= threshold) above++;
  }
  for (let b = 1; b < BINS; b++) cumulative[b] += cumulative[b - 1]!;
  const sh = pair.shared;
  return {
    cumulative, n: values.length, mean: mean(values), above,
    sharedPB: sh?.sharedPB ?? NaN, samePartner: sh?.samePartner ?? NaN, sharedSamePartner: sh?.sharedSamePartner ?? NaN, matched: sh?.matched ?? NaN,
    overlapUnmatched: pair.subspace?.unmatched.overlap ?? NaN, overlapMatched: pair.subspace?.matched.overlap ?? NaN,
  };
}

/**
 * Statistics of a weighted set of pairs (weight = how often the bootstrap drew that pair). The pooled median is
 * found by binary search over bins on the weighted cumulative counts — O(log BINS · pairs), not O(BINS · pairs) —
 * then interpolated uniformly within its bin.
 */
function statsOfPairs(pairs: PairStats[], weights: Float64Array): Stats {
  let total = 0, above = 0, meanSum = 0, weightSum = 0, sharedPB = 0, same = 0, sharedSame = 0, matched = 0;
  let unmatchedOverlap = 0, matchedOverlap = 0, subspaceWeight = 0, matchedWeight = 0;
  const used: number[] = [];
  for (let t = 0; t < pairs.length; t++) {
    const w = weights[t]!;
    if (w === 0) continue;
    const p = pairs[t]!;
    used.push(t);
    total += w * p.n;
    above += w * p.above;
    meanSum += w * p.mean;
    weightSum += w;
    sharedPB += w * p.sharedPB;
    same += w * p.samePartner;
    sharedSame += w * p.sharedSamePartner;
    matched += w * p.matched;
    if (Number.isFinite(p.overlapUnmatched)) { unmatchedOverlap += w * p.overlapUnmatched; subspaceWeight += w; }
    if (Number.isFinite(p.overlapMatched)) { matchedOverlap += w * p.overlapMatched; matchedWeight += w; }
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
  return [-1 + ((lo + within) / BINS) * 2, above / total, meanSum / weightSum, sharedPB / matched, same / matched, sharedSame / matched, unmatchedOverlap / subspaceWeight, matchedOverlap / matchedWeight];
}

function exactStats(pairs: PairResult[], threshold: number): Stats {
  const values = pairs.map((p) => p.match.values);
  const pooled = Float64Array.from(values.flatMap((v) => Array.from(v)));
  const sum = (f: (p: PairResult) => number) => pairs.reduce((s, p) => s + f(p), 0);
  const matched = sum((p) => p.shared?.matched ?? NaN);
  return [
    median(pooled), fractionAtLeast(pooled, threshold), mean(values.map((v) => mean(v))),
    sum((p) => p.shared?.sharedPB ?? NaN) / matched, sum((p) => p.shared?.samePartner ?? NaN) / matched, sum((p) => p.shared?.sharedSamePartner ?? NaN) / matched,
    meanOfDefined(pairs.map((p) => p.subspace?.unmatched.overlap)), meanOfDefined(pairs.map((p) => p.subspace?.matched.overlap)),
  ];
}

/** The mean of the values that are there (NaN when none is). */
function meanOfDefined(values: (number | undefined)[]): number {
  const there = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return there.length ? mean(there) : NaN;
}

function randomDictionary(n: number, d: number, rng: Rng): Float32Array {
  const m = new Float32Array(n * d);
  rng.fillNormal(m);
  return m; // cosineMatrix normalises rows itself
}

interface PairOptions {
  threshold: number;
  sharedThreshold?: number;
  partnerThreshold: number;
  subspaceEnergy: number;
  /** Compute the subspace view for the first this many pairs (0: none — the null model, whose subspaces are analytic). */
  subspacePairs: number;
}

/** The subspace view is computed on at most this many seed pairs (in pair order), unless StabilityOptions says otherwise. */
export const DEFAULT_SUBSPACE_PAIRS = 10;

/**
 * The subspace view of one pair: the principal subspaces of the latents each side left below the partner threshold
 * (in this pair's matching; a latent the matching did not pair counts as unmatched), and of the matched ones.
 */
function pairSubspaces(a: Dictionary, b: Dictionary, match: PairMatch, partnerThreshold: number, energy: number): NonNullable<PairResult["subspace"]> {
  const split = (ids: Int32Array, side: Dictionary): [number[], number[]] => {
    const good = new Set<number>();
    for (let t = 0; t < match.values.length; t++) if (match.values[t]! >= partnerThreshold) good.add(ids[t]!);
    const participants = side.live ? Array.from({ length: side.n }, (_, i) => i).filter((i) => side.live![i]) : Array.from({ length: side.n }, (_, i) => i);
    const matched: number[] = [], unmatched: number[] = [];
    for (const i of match.mode === "live-only" ? participants : Array.from({ length: side.n }, (_, i) => i)) (good.has(i) ? matched : unmatched).push(i);
    return [matched, unmatched];
  };
  const [matchedA, unmatchedA] = split(match.indexA, a);
  const [matchedB, unmatchedB] = split(match.indexB, b);
  return {
    unmatched: subspaceOverlap(principalBasis(a.decoder, a.d, unmatchedA), principalBasis(b.decoder, b.d, unmatchedB), energy),
    matched: subspaceOverlap(principalBasis(a.decoder, a.d, matchedA), principalBasis(b.decoder, b.d, matchedB), energy),
    unmatchedCounts: [unmatchedA.length, unmatchedB.length],
  };
}

function matchAllPairs(dicts: SeedDictionary[], mode: "full" | "live-only", o: PairOptions): PairResult[] {
  const out: PairResult[] = [];
  for (let i = 0; i < dicts.length; i++) {
    for (let j = i + 1; j < dicts.length; j++) {
      const [a, b] = [dicts[i]!, dicts[j]!];
      let pair: PairResult;
      if (o.sharedThreshold === undefined) {
        pair = { seedA: a.seed, seedB: b.seed, match: alignDictionaries(a.dict, b.dict, mode, { threshold: o.threshold }) };
      } else {
        // The decoder matching of the shared criteria is the pair's matching: done once.
        const s = sharedLatents(a.dict, b.dict, mode, o.sharedThreshold);
        pair = { seedA: a.seed, seedB: b.seed, match: s.decoderMatch, shared: { sharedPB: s.sharedPB, samePartner: s.samePartner, sharedSamePartner: s.sharedSamePartner, matched: s.matched } };
      }
      if (out.length < o.subspacePairs) pair.subspace = pairSubspaces(a.dict, b.dict, pair.match, o.partnerThreshold, o.subspaceEnergy);
      out.push(pair);
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
  /** The presence histogram's fractions, averaged over draws. */
  presenceFractions: number[];
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

function randomDictionaryNull(shapes: { n: number; d: number }[], seeds: number[], draws: number, rngSeed: number, o: PairOptions): NullModel {
  const key = JSON.stringify({ shapes, draws, rngSeed, ...o }); // seeds only label pairs
  const known = nullModelMemo.get(key);
  if (known) return known;
  const { sharedThreshold } = o;
  const nulls: Stats[] = [];
  const presenceFractions = new Array<number>(shapes.length).fill(0);
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
    const nullPairs = matchAllPairs(randomDicts, "full", o);
    for (const p of nullPairs) {
      if (!p.match.audit) continue;
      maxViolation = Math.max(maxViolation, p.match.audit.maxDualViolation, p.match.audit.maxSlacknessViolation);
      allOptimal &&= p.match.audit.optimal;
    }
    nulls.push(exactStats(nullPairs, o.threshold));
    const presence = crossSeedPresence(randomDicts.map((x) => x.seed), nullPairs, o.partnerThreshold);
    presence.fractions.forEach((f, k) => { presenceFractions[k]! += f / draws; });
    if (r === 0) nullPooled = Float64Array.from(nullPairs.flatMap((p) => Array.from(p.match.values)));
  }
  const model = { nulls, nullPooled, presenceFractions, maxViolation, allOptimal };
  if (nullModelMemo.size >= NULL_MEMO_LIMIT) nullModelMemo.delete(nullModelMemo.keys().next().value!);
  nullModelMemo.set(key, model);
  return model;
}

/** One condition's stability across its seeds: every seed pair matched, pooled, with the random-dictionary null and seed-bootstrap intervals. */
export function conditionStability(dicts: SeedDictionary[], options: StabilityOptions): ConditionStability {
  if (dicts.length < 2) throw new Error(`stability needs at least two seeds, got ${dicts.length}`);
  const { mode, threshold } = options;
  const sharedThreshold = options.sharedThreshold !== undefined && dicts.every((d) => d.dict.encoder) ? options.sharedThreshold : undefined;
  const pairOptions: PairOptions = {
    threshold, partnerThreshold: options.partnerThreshold ?? options.sharedThreshold ?? DEFAULT_PARTNER_THRESHOLD, subspaceEnergy: options.subspaceEnergy ?? 0.9,
    subspacePairs: options.subspacePairs ?? DEFAULT_SUBSPACE_PAIRS,
    ...(sharedThreshold !== undefined ? { sharedThreshold } : {}),
  };
  const pairs = matchAllPairs(dicts, mode, pairOptions);
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
  const nullModel = randomDictionaryNull(shapes, dicts.map((s) => s.seed), options.nullDraws, options.rngSeed, { ...pairOptions, subspacePairs: 0 });
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

  const result = (k: number, nullOverride?: number[]): StatResult => {
    const value = observed[k]!;
    const bootValues = Float64Array.from(boots.map((x) => x[k]!)).sort();
    const nullValues = nullOverride ?? nulls.map((x) => x[k]!);
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
  // The subspace null: two uniformly random subspaces of each pair's rank (what random dictionaries give by rotation
  // invariance), R draws of the mean over pairs.
  const withSubspace = pairs.filter((p) => p.subspace);
  const ranks = withSubspace.map((p) => [p.subspace!.unmatched.rank, p.subspace!.matched.rank] as const);
  const subspaceNull = (which: 0 | 1): number[] => Array.from({ length: options.nullDraws }, (_, r) => {
    const rng = Rng.stream(options.rngSeed, `null/subspace-${which}/draw-${r}`);
    let s = 0;
    let used = 0;
    for (const rk of ranks) {
      const o = randomSubspaceOverlap(dicts[0]!.dict.d, rk[which], rng);
      if (Number.isFinite(o)) { s += o; used++; }
    }
    return used ? s / used : NaN;
  });
  const presence = crossSeedPresence(dicts.map((x) => x.seed), pairs, pairOptions.partnerThreshold, (seed) => {
    const dict = dicts.find((x) => x.seed === seed)!.dict;
    const all = Array.from({ length: dict.n }, (_, i) => i);
    return mode === "live-only" && dict.live ? all.filter((i) => dict.live![i]) : all;
  });
  return {
    mode, seeds: dicts.map((d) => d.seed), pairs,
    pooled: Float64Array.from(values.flatMap((v) => Array.from(v))),
    median: result(0), fractionAboveThreshold: result(1), pwmcc: result(2),
    shared: sharedThreshold !== undefined ? { threshold: sharedThreshold, sharedPB: result(3), samePartner: result(4), sharedSamePartner: result(5) } : null,
    presence: { ...presence, nullFractions: options.nullDraws > 0 ? nullModel.presenceFractions : null },
    subspace: {
      threshold: pairOptions.partnerThreshold, energy: pairOptions.subspaceEnergy,
      unmatched: result(6, subspaceNull(0)), matched: result(7, subspaceNull(1)),
      pairs: withSubspace.length,
      meanRank: mean(ranks.map((r) => r[0])),
      randomExpectation: meanOfDefined(withSubspace.map((p) => p.subspace!.unmatched.randomExpectation)),
    },
    frequency: frequencyCorrelation(dicts, presence, options),
    nullPooled, optimalityMaxViolation: maxViolation, allOptimal,
  };
}

/** ‖PᵀQ‖²_F / r for two uniformly random r-dimensional subspaces of R^d (Gaussian d × r, orthonormalised). */
function randomSubspaceOverlap(d: number, r: number, rng: Rng): number {
  if (r === 0) return NaN;
  const basis = (): Float64Array => {
    const q = new Float64Array(d * r);
    for (let i = 0; i < d * r; i++) q[i] = rng.normal();
    // Modified Gram–Schmidt on the columns.
    for (let c = 0; c < r; c++) {
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[i * r + c]! * q[i * r + p]!;
        for (let i = 0; i < d; i++) q[i * r + c] -= dot * q[i * r + p]!;
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += q[i * r + c]! ** 2;
      norm = Math.sqrt(norm);
      for (let i = 0; i < d; i++) q[i * r + c] /= norm;
    }
    return q;
  };
  const p = basis(), q = basis();
  let total = 0;
  for (let a = 0; a < r; a++) {
    for (let b = 0; b < r; b++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += p[i * r + a]! * q[i * r + b]!;
      total += dot * dot;
    }
  }
  return total / r;
}

/**
 * Spearman's ρ between a latent's mean matched cosine (over the other seeds) and its held-out firing frequency, over
 * latents that fired there (a latent that never fired has no frequency to rank), pooled over seeds; the interval
 * resamples seeds. Null when a dictionary has no frequencies.
 */
function frequencyCorrelation(dicts: SeedDictionary[], presence: PresenceHistogram, options: StabilityOptions): FrequencyCorrelation | null {
  if (!dicts.every((x) => x.frequency && x.frequency.length === x.dict.n)) return null;
  const bySeed = new Map<number, { cos: number[]; freq: number[] }>(dicts.map((x) => [x.seed, { cos: [], freq: [] }]));
  for (const l of presence.latents) {
    const f = dicts.find((x) => x.seed === l.seed)!.frequency![l.latent]!;
    if (!(f > 0) || !Number.isFinite(l.meanCosine)) continue;
    bySeed.get(l.seed)!.cos.push(l.meanCosine);
    bySeed.get(l.seed)!.freq.push(f);
  }
  const pooled = (seeds: number[]) => {
    const cos: number[] = [], freq: number[] = [];
    for (const s of seeds) { cos.push(...bySeed.get(s)!.cos); freq.push(...bySeed.get(s)!.freq); }
    return { cos, freq };
  };
  const seeds = dicts.map((x) => x.seed);
  const all = pooled(seeds);
  const value = spearman(all.cos, all.freq);
  // Seed bootstrap of ρ (at most 200 draws: each re-ranks every latent).
  const rng = Rng.stream(options.rngSeed, `bootstrap/${options.mode}/frequency`);
  const boots: number[] = [];
  for (let b = 0; b < Math.min(options.bootstrap, 200); b++) {
    const draw = Array.from({ length: seeds.length }, () => seeds[rng.int(seeds.length)]!);
    const x = pooled(draw);
    const rho = spearman(x.cos, x.freq);
    if (Number.isFinite(rho)) boots.push(rho);
  }
  boots.sort((a, b) => a - b);
  // Deciles by frequency rank.
  const order = all.freq.map((_, i) => i).sort((a, b) => all.freq[a]! - all.freq[b]! || a - b);
  const deciles: FrequencyCorrelation["deciles"] = [];
  for (let q = 0; q < 10; q++) {
    const part = order.slice(Math.floor((q * order.length) / 10), Math.floor(((q + 1) * order.length) / 10));
    if (!part.length) continue;
    deciles.push({ logFrequency: mean(part.map((i) => Math.log10(all.freq[i]!))), meanCosine: mean(part.map((i) => all.cos[i]!)), latents: part.length });
  }
  return {
    rho: { value, ci: boots.length ? { lo: quantile(boots, 0.025), hi: quantile(boots, 0.975) } : null, nullMean: null, nullSd: null, pValue: null, effectSize: null },
    latents: all.cos.length, deciles,
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
