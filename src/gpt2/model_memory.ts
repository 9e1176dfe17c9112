/**
 * How much memory a model takes to run, computed from its config and its files' headers before anything is
 * allocated, so a model too large for the machine is refused in one line with the figure instead of dying half-way
 * through loading.
 *
 *   weights     every matrix as it is kept (16-bit files stay 16-bit: the file's bytes), vectors as float32
 *   staging     the matmul copies A, B and C of one product into WebAssembly memory, which only grows: the largest
 *               product's copy stays (the unembedding is multiplied in vocabulary chunks of ≤ UNEMBED_CHUNK_BYTES, so
 *               its staged B is bounded whatever the vocabulary)
 *   activations one forward over `rows` positions: the residual, its scratch buffers, the attention and MLP widths,
 *               and logits for every position (what the CE-loss score of the quality metrics asks for)
 */
import type { DecoderConfig } from "./decoder/config.ts";
import { qkvWidth } from "./decoder/config.ts";
import { UNEMBED_CHUNK_BYTES } from "./decoder/forward.ts";

export interface MemoryEstimate {
  weights: number;
  staging: number;
  activations: number;
  total: number;
}

/** `weightBytes`: the tensors' bytes as kept (from the file headers); `matrixElementBytes`: 2 for 16-bit files, 4 for float32. */
export function estimateModelMemory(c: DecoderConfig, weightBytes: number, matrixElementBytes: number, rows: number): MemoryEstimate {
  const d = c.nEmbd, f = c.dMlp, V = c.vocabSize;
  const mlpIn = c.gatedMlp ? 2 * f : f;
  // The largest block product: the MLP's input projection (or q/k/v), with rows×out C and rows×in A.
  const block = Math.max(mlpIn * d, qkvWidth(c) * d, f * d) * matrixElementBytes + rows * Math.max(mlpIn, qkvWidth(c)) * 4 + rows * Math.max(d, f) * 4;
  const vocabChunk = Math.min(V, Math.max(1, Math.floor(UNEMBED_CHUNK_BYTES / (d * matrixElementBytes))));
  const unembed = vocabChunk * d * matrixElementBytes + rows * d * 4 + rows * vocabChunk * 4;
  const staging = Math.max(block, unembed) + 8 * 2 ** 20; // + per-thread packing workspaces
  const perRow = 4 * (6 * d + qkvWidth(c) + c.nHead * c.headDim + 3 * mlpIn);
  const activations = rows * (perRow + 4 * V) + 4 * 2 ** 20;
  return { weights: weightBytes, staging, activations, total: weightBytes + staging + activations };
}

/** Bytes as GiB with one decimal, for messages. */
export function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}
