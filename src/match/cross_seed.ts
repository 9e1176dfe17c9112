/**
 * Across many seeds, per latent: in how many of the other seeds' SAEs does it have a partner above the threshold?
 * (Paulo & Belrose's nine-seed view; Gerasimov et al.'s per-feature "probability that a similar feature reappears".)
 *
 * From the pairwise one-to-one decoder matchings of S seeds: latent i of seed s has a partner in seed t when the
 * (s, t) matching pairs it with a latent at cosine ≥ τ. presence(s, i) ∈ {0, …, S − 1}; the histogram pools every
 * latent of every seed that took part in the matchings (all latents in full mode, live ones in live-only), and
 * `onlyOne` is the share found in only one SAE (presence 0). A latent a rectangular matching left unpaired has no
 * partner in that seed.
 */
import type { PairMatch } from "./align.ts";

export interface SeedPairMatch {
  seedA: number;
  seedB: number;
  match: PairMatch;
}

export interface LatentPresence {
  seed: number;
  latent: number;
  /** Other seeds in which it has a partner with cosine ≥ τ. */
  presence: number;
  /** Mean of its matched cosines over the other seeds (over the pairs that matched it). */
  meanCosine: number;
}

export interface PresenceHistogram {
  threshold: number;
  seeds: number;
  /** counts[k] = latents with a partner in exactly k other seeds. */
  counts: number[];
  /** counts / total. */
  fractions: number[];
  /** fractions[0]: found in one SAE only. */
  onlyOne: number;
  /** found in every other seed. */
  inAll: number;
  latents: LatentPresence[];
}

/**
 * `seeds` in the order used for `pairs`; every pair (s, t) with s before t must be present. `participants(seed)`
 * lists the latents of a seed that took part (its live latents in live-only mode); without it, every latent some
 * matching paired is counted — which misses a live latent that no rectangular matching paired.
 */
export function crossSeedPresence(
  seeds: readonly number[], pairs: readonly SeedPairMatch[], threshold: number, participants?: (seed: number) => ArrayLike<number>,
): PresenceHistogram {
  const S = seeds.length;
  if (S < 2) throw new RangeError(`cross-seed presence needs at least two seeds, got ${S}`);
  // Per seed: latent → [partners found, cosine sum, pairs that matched it].
  const tallies = new Map<number, Map<number, [number, number, number]>>(seeds.map((s) => [s, new Map()]));
  const note = (seed: number, latent: number, value: number) => {
    const t = tallies.get(seed)!;
    const row = t.get(latent) ?? [0, 0, 0];
    if (value >= threshold) row[0]++;
    row[1] += value;
    row[2]++;
    t.set(latent, row);
  };
  const seen = new Set<string>();
  for (const { seedA, seedB, match } of pairs) {
    if (!tallies.has(seedA) || !tallies.has(seedB)) throw new RangeError(`cross-seed presence: pair (${seedA}, ${seedB}) names a seed not in [${seeds.join(", ")}]`);
    seen.add(`${Math.min(seedA, seedB)},${Math.max(seedA, seedB)}`);
    for (let t = 0; t < match.values.length; t++) {
      note(seedA, match.indexA[t]!, match.values[t]!);
      note(seedB, match.indexB[t]!, match.values[t]!);
    }
  }
  // Latents that took part but no matching paired (the larger side of rectangular matchings): no partner anywhere.
  if (participants) {
    for (const seed of seeds) {
      const t = tallies.get(seed)!;
      const ids = participants(seed);
      for (let k = 0; k < ids.length; k++) if (!t.has(ids[k]!)) t.set(ids[k]!, [0, 0, 0]);
    }
  }
  if (seen.size !== (S * (S - 1)) / 2) throw new RangeError(`cross-seed presence: ${seen.size} distinct seed pairs given, ${S} seeds need ${(S * (S - 1)) / 2}`);
  const latents: LatentPresence[] = [];
  const counts = new Array<number>(S).fill(0);
  for (const seed of seeds) {
    const t = tallies.get(seed)!;
    for (const latent of [...t.keys()].sort((a, b) => a - b)) {
      const [found, sum, matched] = t.get(latent)!;
      counts[found]!++;
      latents.push({ seed, latent, presence: found, meanCosine: matched ? sum / matched : NaN });
    }
  }
  const total = latents.length;
  const fractions = counts.map((c) => (total ? c / total : NaN));
  return { threshold, seeds: S, counts, fractions, onlyOne: fractions[0]!, inAll: fractions[S - 1]!, latents };
}
