/**
 * The attention softmax: scores [seq, seq] (raw Q·Kᵀ) → each row's scaled, soft-capped, causal, windowed, padding-
 * masked softmax, in place, in float64 with detExp.
 *
 * Row i sees keys j with j ≤ i, i − j < window (when there is one) and mask[maskOffset + j] ≠ 0; a hidden key gets
 * probability exactly 0. A row with no visible key is all zeros (only possible for a padded query whose window holds
 * nothing but padding, or with left padding; Hugging Face returns an arbitrary spread there, which no one reads).
 * With a soft cap the score is cap·tanh(score·scale / cap) (Gemma-2's attn_logit_softcapping), before masking.
 */
import { detExp } from "../../tensor/det_math.ts";
import { detTanh } from "../../tensor/det_special.ts";

/** `row` is float64 scratch of length ≥ seq. */
export function attentionSoftmaxRows(probs: Float32Array, seq: number, scale: number, softcap: number | null, window: number | null, mask: ArrayLike<number> | undefined, maskOffset: number, row: Float64Array): void {
  for (let i = 0; i < seq; i++) {
    const r = i * seq;
    const first = window === null ? 0 : Math.max(0, i - window + 1);
    let maxScore = -Infinity;
    for (let j = first; j <= i; j++) {
      const visible = !mask || mask[maskOffset + j] !== 0;
      let s = -Infinity;
      if (visible) s = softcap === null ? probs[r + j]! * scale : softcap * detTanh((probs[r + j]! * scale) / softcap);
      row[j] = s;
      if (s > maxScore) maxScore = s;
    }
    if (maxScore === -Infinity) {
      probs.fill(0, r, r + seq);
      continue;
    }
    let total = 0;
    for (let j = first; j <= i; j++) {
      const e = row[j] === -Infinity ? 0 : detExp(row[j]! - maxScore);
      row[j] = e;
      total += e;
    }
    if (first > 0) probs.fill(0, r, r + first);
    for (let j = first; j <= i; j++) probs[r + j] = row[j]! / total;
    probs.fill(0, r + i + 1, r + seq);
  }
}

/**
 * GPT-2's form: scaled, causal, padding-masked (no cap, no window). Row i sees keys j ≤ i with mask[maskOffset + j]
 * ≠ 0. (The training forward uses it too: ../train/attention.ts.)
 */
export function causalSoftmaxRows(probs: Float32Array, seq: number, scale: number, mask: ArrayLike<number> | undefined, maskOffset: number, row: Float64Array): void {
  attentionSoftmaxRows(probs, seq, scale, null, null, mask, maskOffset, row);
}
