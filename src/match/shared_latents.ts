/**
 * Paulo & Belrose's criterion for a latent two SAEs share (arXiv 2501.16615): match the encoders and the decoders
 * separately, each one-to-one by the Hungarian algorithm on cosine similarity; a latent of A is *shared* when both
 * matchings give it the same partner in B and both cosines exceed a threshold (0.7 in the paper). Stricter than a
 * decoder-only match: a decoder direction can agree while the encoder — which decides when the latent fires — does not.
 *
 * The shared fraction is the number of shared latents over the number of matched pairs (min(n_A, n_B), or the live
 * counts in live-only mode, the same features the decoder matching uses).
 */
import { alignDictionaries, type Dictionary, type PairMatch } from "./align.ts";
import { MatchShapeError } from "./cosine.ts";

export interface SharedLatents {
  shared: number;
  /** Matched pairs (the denominator). */
  matched: number;
  fraction: number;
  /** Both matchings, for inspection. */
  decoderMatch: PairMatch;
  encoderMatch: PairMatch;
  /** Original ids in A of the shared latents, with their partners in B. */
  pairs: { a: number; b: number; decoderCosine: number; encoderCosine: number }[];
}

/** `a.encoder` and `b.encoder` are the encoder directions [n, d], latent-major (row i: latent i's encoder). */
export function sharedLatents(a: Dictionary, b: Dictionary, mode: "full" | "live-only", threshold = 0.7): SharedLatents {
  if (!a.encoder || !b.encoder) throw new MatchShapeError("the shared-latent criterion needs both SAEs' encoders; load them with their encoder weights");
  const decoderMatch = alignDictionaries(a, b, mode);
  const encoderMatch = alignDictionaries({ ...a, decoder: a.encoder }, { ...b, decoder: b.encoder }, mode);
  const encoderPartner = new Map<number, { b: number; value: number }>();
  for (let t = 0; t < encoderMatch.indexA.length; t++) encoderPartner.set(encoderMatch.indexA[t]!, { b: encoderMatch.indexB[t]!, value: encoderMatch.values[t]! });
  const pairs: SharedLatents["pairs"] = [];
  for (let t = 0; t < decoderMatch.indexA.length; t++) {
    const i = decoderMatch.indexA[t]!;
    const enc = encoderPartner.get(i);
    if (enc && enc.b === decoderMatch.indexB[t] && decoderMatch.values[t]! > threshold && enc.value > threshold) {
      pairs.push({ a: i, b: enc.b, decoderCosine: decoderMatch.values[t]!, encoderCosine: enc.value });
    }
  }
  const matched = decoderMatch.values.length;
  return { shared: pairs.length, matched, fraction: matched ? pairs.length / matched : 0, decoderMatch, encoderMatch, pairs };
}
