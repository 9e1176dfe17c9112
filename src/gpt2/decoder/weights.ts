/**
 * A decoder-only model's parameters as the forward (./forward.ts) reads them.
 *
 * Matrices stay in the dtype and orientation of the file they came from: float32, or 16-bit codes (F16, BF16) that
 * the matmul converts while it packs its panels (../../tensor/matmul.ts), so a 16-bit checkpoint takes half the
 * memory of its float32 copy. A linear layer is y = x·W (W stored [in, out], Hugging Face's GPT-2 Conv1D) or y = x·Wᵀ
 * (W stored [out, in], nn.Linear); the matmul reads either without a transpose.
 *
 * The fused attention input projection has (nHead + 2·nKVHead)·headDim outputs. `qkvLayout` "blocks": all query
 * heads, then all key heads, then all value heads (GPT-2's c_attn; Llama/Gemma's q_proj, k_proj, v_proj stacked);
 * "per_head": head h's q, k, v side by side at h·3·headDim (GPT-NeoX's query_key_value). A gated MLP's input
 * projection is [gate; up] stacked: outputs [0, dMlp) are the gate, [dMlp, 2·dMlp) the up projection.
 */
import type { DecoderConfig } from "./config.ts";

export type MatrixDtype = "F32" | "F16" | "BF16";

/** A row-major matrix in its file's dtype: Float32Array for F32, the raw 16-bit codes for F16/BF16. */
export interface Matrix {
  rows: number;
  cols: number;
  dtype: MatrixDtype;
  data: Float32Array | Uint16Array;
}

export interface Linear {
  weight: Matrix;
  /** "in_out": W is [in, out] and y = x·W; "out_in": W is [out, in] and y = x·Wᵀ. */
  layout: "in_out" | "out_in";
  bias: Float32Array | null;
  inDim: number;
  outDim: number;
}

/** LayerNorm (weight and bias) or RMSNorm (weight only; bias null). */
export interface Norm {
  weight: Float32Array;
  bias: Float32Array | null;
}

export interface DecoderBlock {
  norm1: Norm;
  norm2: Norm;
  /** Gemma-2's post_attention_layernorm and post_feedforward_layernorm (null elsewhere). */
  postAttnNorm: Norm | null;
  postMlpNorm: Norm | null;
  qkv: Linear;
  attnOut: Linear;
  mlpIn: Linear;
  mlpOut: Linear;
}

export interface DecoderWeights {
  kind: "decoder";
  config: DecoderConfig;
  /** The token embeddings, shape [vocab, d]: row t is token t's embedding. */
  embed: Matrix;
  /** [positions, d] learned position embeddings (GPT-2), or null. */
  posEmbed: Float32Array | null;
  blocks: DecoderBlock[];
  finalNorm: Norm;
  /** The unembedding U, shape [vocab, d], logits = x·Uᵀ; the same object as `embed` when the embeddings are tied. */
  unembed: Matrix;
}

/** Whether these are decoder weights (any family) rather than GPT-2's float32 GPT2Weights. */
export function isDecoderWeights(w: unknown): w is DecoderWeights {
  return typeof w === "object" && w !== null && (w as { kind?: unknown }).kind === "decoder";
}

/** Bytes a matrix occupies in memory. */
export function matrixBytes(m: Matrix): number {
  return m.data.byteLength;
}
