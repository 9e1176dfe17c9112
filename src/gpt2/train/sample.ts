/**
 * Sampled continuations, to show what a trained model writes: temperature and top-k sampling from the
 * inference forward (../model.ts), with a seeded stream, probabilities from detExp — the same text on every
 * machine for the same weights, prompt and seed.
 */
import { forward } from "../model.ts";
import type { GPT2Weights } from "../weights.ts";
import { detExp } from "../../tensor/det_math.ts";
import type { Rng } from "../../tensor/rng.ts";

export interface SampleOptions {
  tokens: number;
  temperature: number;
  topK: number;
}

/** Continue `prompt` (token ids) by `tokens` sampled tokens; the window slides when the context is full. */
export function sampleContinuation(weights: GPT2Weights, prompt: readonly number[], rng: Rng, { tokens, temperature, topK }: SampleOptions): number[] {
  if (prompt.length === 0) throw new Error("sampling needs a prompt of at least one token");
  const ctx = weights.config.nPositions;
  const ids = [...prompt];
  const out: number[] = [];
  for (let s = 0; s < tokens; s++) {
    const window = ids.slice(-ctx);
    const logits = forward(weights, window, 1, window.length, { logits: "last" }).logits!;
    const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, Math.max(1, topK));
    const top = logits[order[0]!]!;
    const weightsOf = order.map((i) => detExp((logits[i]! - top) / temperature));
    const total = weightsOf.reduce((a, b) => a + b, 0);
    let u = rng.uniform() * total;
    let pick = order[order.length - 1]!;
    for (let j = 0; j < order.length; j++) {
      u -= weightsOf[j]!;
      if (u < 0) {
        pick = order[j]!;
        break;
      }
    }
    ids.push(pick);
    out.push(pick);
  }
  return out;
}
