/**
 * The baselines a trained language model has to beat, computed on token streams (train and validation split
 * by document), scored on exactly the validation targets the transformer is scored on: every token of the
 * validation stream after the first, predicted from what precedes it.
 *
 *   unigram  p(w) = (c(w) + 1) / (N + V)                                     (add-one over the whole vocabulary)
 *   bigram   p(w | v) = max(c(v,w) − D, 0) / c(v) + D · T(v) / c(v) · p_uni(w)   (interpolated absolute
 *            discounting, D = 0.75, T(v) = number of distinct successors of v; p_uni(w) when v was never seen)
 *
 * The bigram is the standard strong smoothed bigram (Ney, Essen & Kneser 1994); it needs no tuning on the
 * validation set. Losses are mean negative log-likelihoods in nats, summed in float64 in stream order, with the
 * deterministic detLog.
 */
import { detLog } from "../../tensor/rng.ts";

export const BIGRAM_DISCOUNT = 0.75;

export interface NgramBaselines {
  unigram: number;
  bigram: number;
  /** Validation targets scored. */
  targets: number;
}

/** Validation loss of an add-one unigram and an interpolated absolute-discounting bigram of the training tokens: what a language model must beat. */
export function ngramBaselines(train: Int32Array, validation: Int32Array, vocab: number): NgramBaselines {
  const uni = new Float64Array(vocab);
  for (let i = 0; i < train.length; i++) uni[train[i]!]++;
  const n = train.length;
  const pUni = (w: number) => (uni[w]! + 1) / (n + vocab);
  // Bigram counts keyed by v·vocab + w; context counts and distinct-successor counts per v.
  const pairs = new Map<number, number>();
  const context = new Float64Array(vocab);
  const types = new Float64Array(vocab);
  for (let i = 1; i < train.length; i++) {
    const v = train[i - 1]!, key = v * vocab + train[i]!;
    const c = pairs.get(key) ?? 0;
    if (c === 0) types[v]++;
    pairs.set(key, c + 1);
    context[v]++;
  }
  let uniSum = 0, biSum = 0;
  for (let i = 1; i < validation.length; i++) {
    const v = validation[i - 1]!, w = validation[i]!;
    const pu = pUni(w);
    uniSum -= detLog(pu);
    const cv = context[v]!;
    const p = cv === 0 ? pu : Math.max((pairs.get(v * vocab + w) ?? 0) - BIGRAM_DISCOUNT, 0) / cv + ((BIGRAM_DISCOUNT * types[v]!) / cv) * pu;
    biSum -= detLog(p);
  }
  const targets = Math.max(validation.length - 1, 0);
  return { unigram: uniSum / Math.max(targets, 1), bigram: biSum / Math.max(targets, 1), targets };
}
