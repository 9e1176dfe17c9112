/**
 * Causal multi-head self-attention, forward beside backward (llm.c layout), with the padding mask.
 *
 * Forward, per (sequence b, head h), with Q, K, V the head's [T, hd] slices of the qkv rows [rows, 3d]:
 *   S = Q·Kᵀ,  P_ij = softmax_j(S_ij / √hd) over the visible keys j (j ≤ i and mask[j] = 1; others get P = 0),
 *   O = P·V, written to the head's columns of out [rows, d].
 * Backward, given dO:
 *   dP = dO·Vᵀ,  dV = Pᵀ·dO,  dS_ij = P_ij·(dP_ij − Σ_k P_ik·dP_ik) / √hd,  dQ = dS·K,  dK = dSᵀ·Q.
 * Hidden keys have P = 0, so they get no gradient without any special case. A query with no visible key (only
 * possible with left padding) has P = 0 and O = 0, like the inference forward.
 *
 * The forward is the same arithmetic as ../model.ts's attention (same products, and its float64 softmax with
 * detExp, shared), so trained and inference activations agree bit for bit. All five products go through `matmul`.
 */
import { matmul } from "../../tensor/matmul.ts";
import { causalSoftmaxRows } from "../model.ts";

export interface AttentionShape {
  batch: number;
  seq: number;
  nHead: number;
  d: number;
}

/** Per-call scratch for one (sequence, head) pair. */
class HeadScratch {
  readonly q: Float32Array; readonly k: Float32Array; readonly v: Float32Array; readonly o: Float32Array;
  readonly dq: Float32Array; readonly dk: Float32Array; readonly dv: Float32Array;
  readonly dp: Float32Array;
  readonly row: Float64Array;
  constructor(seq: number, hd: number) {
    this.q = new Float32Array(seq * hd); this.k = new Float32Array(seq * hd); this.v = new Float32Array(seq * hd); this.o = new Float32Array(seq * hd);
    this.dq = new Float32Array(seq * hd); this.dk = new Float32Array(seq * hd); this.dv = new Float32Array(seq * hd);
    this.dp = new Float32Array(seq * seq);
    this.row = new Float64Array(seq);
  }
}

/** Gather a head's Q, K, V [T, hd] from the qkv rows of sequence b. */
function gather(s: HeadScratch, qkv: Float32Array, b: number, h: number, seq: number, d: number, hd: number): void {
  for (let i = 0; i < seq; i++) {
    const src = (b * seq + i) * 3 * d + h * hd;
    s.q.set(qkv.subarray(src, src + hd), i * hd);
    s.k.set(qkv.subarray(src + d, src + d + hd), i * hd);
    s.v.set(qkv.subarray(src + 2 * d, src + 2 * d + hd), i * hd);
  }
}

/** out [rows, d] ← attention(qkv); probs [batch, nHead, T, T] keeps P for the backward. */
export function attentionForward(out: Float32Array, probs: Float32Array, qkv: Float32Array, mask: ArrayLike<number> | undefined, { batch, seq, nHead, d }: AttentionShape): void {
  const hd = d / nHead;
  const scale = 1 / Math.sqrt(hd);
  const s = new HeadScratch(seq, hd);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHead; h++) {
      gather(s, qkv, b, h, seq, d, hd);
      const p = probs.subarray((b * nHead + h) * seq * seq, (b * nHead + h + 1) * seq * seq);
      matmul({ a: s.q, b: s.k, c: p, m: seq, n: seq, k: hd, transB: true });
      causalSoftmaxRows(p, seq, scale, mask, b * seq, s.row);
      matmul({ a: p, b: s.v, c: s.o, m: seq, n: hd, k: seq });
      for (let i = 0; i < seq; i++) out.set(s.o.subarray(i * hd, (i + 1) * hd), (b * seq + i) * d + h * hd);
    }
  }
}

/** dqkv [rows, 3d] ← the gradient of attention's input, from dout [rows, d] (overwritten, every entry). */
export function attentionBackward(dqkv: Float32Array, dout: Float32Array, qkv: Float32Array, probs: Float32Array, { batch, seq, nHead, d }: AttentionShape): void {
  const hd = d / nHead;
  const scale = 1 / Math.sqrt(hd);
  const s = new HeadScratch(seq, hd);
  const dO = s.o;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHead; h++) {
      gather(s, qkv, b, h, seq, d, hd);
      for (let i = 0; i < seq; i++) {
        const src = (b * seq + i) * d + h * hd;
        dO.set(dout.subarray(src, src + hd), i * hd);
      }
      const p = probs.subarray((b * nHead + h) * seq * seq, (b * nHead + h + 1) * seq * seq);
      matmul({ a: dO, b: s.v, c: s.dp, m: seq, n: seq, k: hd, transB: true }); // dP = dO·Vᵀ
      matmul({ a: p, b: dO, c: s.dv, m: seq, n: hd, k: seq, transA: true }); // dV = Pᵀ·dO
      // dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √hd, in place of dP (zero where P is zero).
      const ds = s.dp;
      for (let i = 0; i < seq; i++) {
        const r = i * seq;
        let dot = 0;
        for (let j = 0; j <= i; j++) dot += p[r + j]! * ds[r + j]!;
        for (let j = 0; j <= i; j++) ds[r + j] = p[r + j]! * (ds[r + j]! - dot) * scale;
        ds.fill(0, r + i + 1, r + seq);
      }
      matmul({ a: ds, b: s.k, c: s.dq, m: seq, n: hd, k: seq }); // dQ = dS·K
      matmul({ a: ds, b: s.q, c: s.dk, m: seq, n: hd, k: seq, transA: true }); // dK = dSᵀ·Q
      for (let i = 0; i < seq; i++) {
        const dst = (b * seq + i) * 3 * d + h * hd;
        dqkv.set(s.dq.subarray(i * hd, (i + 1) * hd), dst);
        dqkv.set(s.dk.subarray(i * hd, (i + 1) * hd), dst + d);
        dqkv.set(s.dv.subarray(i * hd, (i + 1) * hd), dst + 2 * d);
      }
    }
  }
}
