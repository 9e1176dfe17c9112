/**
 * The tied unembedding with softmax cross-entropy, forward and backward fused (llm.c's "fused classifier"):
 *
 *   logits = h·wteᵀ,  loss = mean over rows with a target of (log Σ_j e^{logit_j} − logit_target)
 *   dlogits = (softmax(logits) − onehot(target)) / N,  dh = dlogits·wte,  dwte += dlogitsᵀ·h
 *
 * Rows are processed in chunks of at most `chunkRows`, so the [rows, vocab] logits never exist at once (512 rows of
 * GPT-2's 50,257 logits are 103 MB). Each chunk's logits are written by the matmul straight into the softmax
 * kernel's memory (./softmax_kernel.ts), turned into the gradient in place, and consumed by the two backward
 * products. Targets < 0 (padding) contribute neither loss nor gradient. The loss is summed in float64 in row
 * order; log uses detLog (exactly rounded operations only).
 */
import { matmul } from "../../tensor/matmul.ts";
import { detLog } from "../../tensor/rng.ts";
import { SoftmaxWorkspace } from "./softmax_kernel.ts";

export interface XentResult {
  /** Mean loss over rows with a target (nats). */
  loss: number;
  /** Sum of the per-row losses (float64) and how many rows had a target. */
  lossSum: number;
  count: number;
}

const workspaces = new Map<string, SoftmaxWorkspace>();

/** One softmax workspace per (chunk rows, vocab), kept for the life of the process (its memory is reused). */
function workspace(chunkRows: number, vocab: number): SoftmaxWorkspace {
  const key = `${chunkRows}x${vocab}`;
  let ws = workspaces.get(key);
  if (!ws) {
    ws = new SoftmaxWorkspace(chunkRows, vocab);
    workspaces.set(key, ws);
  }
  return ws;
}

export interface XentArgs {
  /** Final layer-norm output [rows, d]. */
  h: Float32Array;
  wte: Float32Array;
  targets: ArrayLike<number>;
  rows: number;
  d: number;
  vocab: number;
  chunkRows?: number;
  /** When given: dh [rows, d] is overwritten and dwte is ADDED to. Absent: loss only (evaluation). */
  grads?: { dh: Float32Array; dwte: Float32Array };
  /** Normaliser of the gradient (default: this call's count of rows with a target). */
  gradScaleCount?: number;
}

export function crossEntropyForwardBackward({ h, wte, targets, rows, d, vocab, chunkRows = 256, grads, gradScaleCount }: XentArgs): XentResult {
  let count = 0;
  for (let r = 0; r < rows; r++) if (targets[r]! >= 0) count++;
  const scale = 1 / (gradScaleCount ?? Math.max(count, 1));
  const cr = Math.min(chunkRows, rows);
  const ws = workspace(cr, vocab);
  const logits = ws.logits;
  let lossSum = 0;
  for (let r0 = 0; r0 < rows; r0 += cr) {
    const n = Math.min(cr, rows - r0);
    const hChunk = h.subarray(r0 * d, (r0 + n) * d);
    matmul({ a: hChunk, b: wte, c: logits, m: n, n: vocab, k: d, transB: true });
    const targetLogit = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = targets[r0 + i]!;
      if (t >= vocab) throw new RangeError(`cross-entropy: target ${t} at row ${r0 + i} is outside the vocabulary [0, ${vocab})`);
      targetLogit[i] = t >= 0 ? logits[i * vocab + t]! : 0;
    }
    ws.run(n, scale);
    for (let i = 0; i < n; i++) {
      const t = targets[r0 + i]!;
      const o = i * vocab;
      if (t < 0) {
        logits.fill(0, o, o + vocab);
        continue;
      }
      lossSum += detLog(ws.stats[8 * i + 4]!) + ws.stats[8 * i]! - targetLogit[i]!;
      logits[o + t] -= scale;
    }
    if (grads) {
      matmul({ a: logits, b: wte, c: grads.dh.subarray(r0 * d, (r0 + n) * d), m: n, n: d, k: vocab });
      matmul({ a: logits, b: hChunk, c: grads.dwte, m: vocab, n: d, k: n, transA: true, accumulate: true });
    }
  }
  return { loss: lossSum / Math.max(count, 1), lossSum, count };
}
