/**
 * Causal multi-head attention over the fused projection's rows, for every family: grouped key/value heads, rotary
 * positions, a scale, a soft cap and a sliding window, all from the config.
 *
 * For each sequence and key/value head g: gather K and V of g into contiguous [seq, headDim] blocks (rotating K);
 * then for each query head h of g's group (h = g·groupSize … ): gather and rotate Q, scores = Q·Kᵀ, the softmax of
 * ./softmax.ts, O = P·V, scattered to columns h·headDim of the output. Both products go through the fast matmul
 * kernel (as scalar loops they were a sixth of GPT-2's forward time, for ~2% of its FLOPs).
 */
import { matmul } from "../../tensor/matmul.ts";
import type { DecoderConfig } from "./config.ts";
import { qkvWidth } from "./config.ts";
import { applyRotary, type RotaryTable } from "./rotary.ts";
import { attentionSoftmaxRows } from "./softmax.ts";

/** Column offsets of query head h, and of key and value head g, inside one row of the fused projection. */
function offsets(c: DecoderConfig): { q: (h: number) => number; k: (g: number) => number; v: (g: number) => number } {
  const hd = c.headDim;
  if (c.qkvLayout === "per_head") return { q: (h) => 3 * h * hd, k: (g) => 3 * g * hd + hd, v: (g) => 3 * g * hd + 2 * hd };
  return { q: (h) => h * hd, k: (g) => (c.nHead + g) * hd, v: (g) => (c.nHead + c.nKVHead + g) * hd };
}

/**
 * qkv: [batch·seq, qkvWidth]; out: [batch·seq, nHead·headDim]. `rotary` is null for learned positions; `window` the
 * layer's sliding window (or null).
 */
export function attention(qkv: Float32Array, batch: number, seq: number, c: DecoderConfig, rotary: RotaryTable | null, window: number | null, mask: ArrayLike<number> | undefined, out: Float32Array): void {
  const hd = c.headDim;
  const width = qkvWidth(c);
  const outWidth = c.nHead * hd;
  const group = c.nHead / c.nKVHead;
  const at = offsets(c);
  const q = new Float32Array(seq * hd), k = new Float32Array(seq * hd), v = new Float32Array(seq * hd);
  const probs = new Float32Array(seq * seq);
  const o = new Float32Array(seq * hd);
  const row = new Float64Array(seq);
  const gather = (into: Float32Array, b: number, column: number): void => {
    for (let i = 0; i < seq; i++) {
      const src = (b * seq + i) * width + column;
      into.set(qkv.subarray(src, src + hd), i * hd);
    }
  };
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < c.nKVHead; g++) {
      gather(k, b, at.k(g));
      gather(v, b, at.v(g));
      if (rotary) applyRotary(k, seq, hd, rotary);
      for (let h = g * group; h < (g + 1) * group; h++) {
        gather(q, b, at.q(h));
        if (rotary) applyRotary(q, seq, hd, rotary);
        matmul({ a: q, b: k, c: probs, m: seq, n: seq, k: hd, transB: true }); // raw scores Q·Kᵀ
        attentionSoftmaxRows(probs, seq, c.attnScale, c.attnSoftcap, window, mask, b * seq, row);
        matmul({ a: probs, b: v, c: o, m: seq, n: hd, k: seq }); // P·V
        for (let i = 0; i < seq; i++) out.set(o.subarray(i * hd, (i + 1) * hd), (b * seq + i) * outWidth + h * hd);
      }
    }
  }
}
