/**
 * Which latents two SAEs share, by the two definitions in circulation, computed from the same two matchings.
 *
 * Paulo & Belrose (arXiv 2501.16615; their code, SrGonao/sae_overlap) match the encoders and the decoders of two
 * SAEs separately, each one-to-one by the Hungarian algorithm on the cosine similarity of unit-normalised rows. Per
 * latent i of A that gives two partners in B — decoderPartner(i) with cosine dec(i), encoderPartner(i) with cos enc(i):
 *
 *   shared (P&B)           dec(i) > τ and enc(i) > τ  — the two partners may differ (their headline "shared" count)
 *   same partner           decoderPartner(i) = encoderPartner(i)  — reported separately in their code ("aligned")
 *   shared, same partner   both: the stricter definition sae-seeds used before (one partner, both cosines > τ)
 *
 * each as a fraction of the matched latents (min(n_A, n_B), or of the live latents in live-only mode — the latents
 * both matchings take part in). τ = 0.7 in the paper.
 */
import { alignDictionaries, type Dictionary, type PairMatch } from "./align.ts";
import { MatchShapeError } from "./cosine.ts";

/** The three counts over one pair of SAEs, out of `matched`. */
export interface SharedCounts {
  /** Paulo & Belrose: decoder match and encoder match both above τ (partners may differ). */
  sharedPB: number;
  /** The decoder and encoder matchings give the latent the same partner. */
  samePartner: number;
  /** Both: same partner, and both cosines above τ. */
  sharedSamePartner: number;
  /** The denominator: latents of A that both matchings matched. */
  matched: number;
}

export interface SharedLatents extends SharedCounts {
  threshold: number;
  /** Both matchings, for inspection. */
  decoderMatch: PairMatch;
  encoderMatch: PairMatch;
  /** Every latent of A both matchings matched: its two partners and cosines (ids are original feature ids). */
  latents: { a: number; decoderPartner: number; decoderCosine: number; encoderPartner: number; encoderCosine: number }[];
}

/** `a.encoder` and `b.encoder` are the encoder directions [n, d], latent-major (row i: latent i's encoder). */
export function sharedLatents(a: Dictionary, b: Dictionary, mode: "full" | "live-only", threshold = 0.7): SharedLatents {
  if (!a.encoder || !b.encoder) throw new MatchShapeError("the shared-latent criteria need both SAEs' encoders; load them with their encoder weights");
  const decoderMatch = alignDictionaries(a, b, mode);
  const encoderMatch = alignDictionaries({ ...a, decoder: a.encoder }, { ...b, decoder: b.encoder }, mode);
  return sharedFromMatches(decoderMatch, encoderMatch, threshold);
}

/** The three definitions from a decoder matching and an encoder matching of the same two SAEs. */
export function sharedFromMatches(decoderMatch: PairMatch, encoderMatch: PairMatch, threshold: number): SharedLatents {
  const encoder = new Map<number, { b: number; value: number }>();
  for (let t = 0; t < encoderMatch.indexA.length; t++) encoder.set(encoderMatch.indexA[t]!, { b: encoderMatch.indexB[t]!, value: encoderMatch.values[t]! });
  const latents: SharedLatents["latents"] = [];
  let sharedPB = 0, samePartner = 0, sharedSamePartner = 0;
  for (let t = 0; t < decoderMatch.indexA.length; t++) {
    const i = decoderMatch.indexA[t]!;
    const enc = encoder.get(i);
    if (!enc) continue; // matched by one matching only (rectangular, with different live sets): not in the denominator
    const dec = { b: decoderMatch.indexB[t]!, value: decoderMatch.values[t]! };
    const both = dec.value > threshold && enc.value > threshold;
    const same = dec.b === enc.b;
    if (both) sharedPB++;
    if (same) samePartner++;
    if (both && same) sharedSamePartner++;
    latents.push({ a: i, decoderPartner: dec.b, decoderCosine: dec.value, encoderPartner: enc.b, encoderCosine: enc.value });
  }
  return { sharedPB, samePartner, sharedSamePartner, matched: latents.length, threshold, decoderMatch, encoderMatch, latents };
}
