/**
 * The forward pass: `forward` runs any supported model — GPT-2's float32 weights (./weights.ts, the layout the
 * training code uses) or the decoder weights of any family (./decoder/weights.ts, ./families/) — through the one
 * config-driven decoder forward of ./decoder/forward.ts. GPT-2's weights are viewed as decoder weights without a
 * copy, and the forward does for them exactly the operations GPT-2's own forward did, so every GPT-2 number is
 * unchanged (test/gpt2_reference.test.ts, the golden run hashes).
 *
 * The pieces GPT-2's training forward shares (layer norm, the causal softmax) live in ./decoder/ and are re-exported
 * here under their old names.
 */
import type { GPT2Weights } from "./weights.ts";
import { isDecoderWeights, type DecoderWeights } from "./decoder/weights.ts";
import { decoderForward, type ForwardOptions, type ForwardResult } from "./decoder/forward.ts";
import { decoderFromGPT2 } from "./families/gpt2.ts";

export type { ForwardOptions, ForwardResult, ResidualConvention } from "./decoder/forward.ts";
export { layerNormRows, rmsNormRows } from "./decoder/norms.ts";
export { causalSoftmaxRows, attentionSoftmaxRows } from "./decoder/softmax.ts";

/** Any model the forward runs. */
export type ModelWeights = GPT2Weights | DecoderWeights;

/** The decoder view of any model's weights (GPT-2's are wrapped, not copied). */
export function asDecoder(weights: ModelWeights): DecoderWeights {
  return isDecoderWeights(weights) ? weights : decoderFromGPT2(weights);
}

/** Run the model on tokens [batch, seq] as far as the requested hooks and logits need. */
export function forward(weights: ModelWeights, tokens: ArrayLike<number>, batch: number, seq: number, options: ForwardOptions = {}): ForwardResult {
  return decoderForward(asDecoder(weights), tokens, batch, seq, options);
}
