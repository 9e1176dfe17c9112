/**
 * GPT-2 forward pass on raw Float32Arrays, one function per layer, in the order the model runs them.
 *
 *   x = wte[token] + wpe[pos]                                  hook_embed, hook_pos_embed, blocks.0.hook_resid_pre
 *   for each block:  a = attn(ln_1(x));   x = x + a            hook_attn_out, hook_resid_mid
 *                    m = mlp(ln_2(x));    x = x + m            hook_mlp_out, hook_resid_post (= next resid_pre)
 *   logits = ln_f(x) · wteᵀ                                    ln_final.hook_normalized
 *
 * Attention is causal; with an attention mask (right padding), keys whose mask is 0 are excluded as well,
 * so every query attends to keys j ≤ i with mask[j] = 1. Linear layers start from the bias and accumulate
 * the matmul into it, which saves a pass over the output.
 *
 * Residual convention: "raw" gives Hugging Face hidden states. "centered" gives what TransformerLens's default
 * `from_pretrained` (fold_ln + center_writing_weights) records: every residual-stream hook minus its mean
 * over d_model, and ln_final.hook_normalized without ln_f's affine part (folded into the unembedding there).
 *
 * Reproducibility: besides the matmul kernel (whose GELU epilogue is IEEE float32 arithmetic too), the pass uses
 * only exactly rounded operations (+ − × ÷ √ and the deterministic detExp for softmax — never Math.exp/Math.tanh,
 * whose last bits may differ between engines), so with the same kernel the activations are the same bits on every
 * machine and Node version.
 */
import { matmul, matmulGelu } from "../tensor/matmul.ts";
import { detExp } from "../tensor/det_math.ts";
import type { GPT2Config } from "./config.ts";
import type { GPT2Block, GPT2Weights } from "./weights.ts";
import { blocksNeededFor, writesResidualStream } from "./hooks.ts";

export type ResidualConvention = "raw" | "centered";

export interface ForwardOptions {
  /** TransformerLens hook names to capture, each returned as [batch, seq, d_model]. */
  hooks?: readonly string[];
  /** "all": [batch, seq, vocab]; "last": [batch, vocab] at each row's last real position; "none" (default). */
  logits?: "none" | "last" | "all";
  /** 1 for real tokens, 0 for right padding; [batch * seq]. Absent means every position is real. */
  attentionMask?: ArrayLike<number>;
  residual?: ResidualConvention;
  /**
   * Start at block `layer` with this residual stream [batch * seq, d] (= blocks.{layer}.hook_resid_pre) instead of
   * running the embeddings and the blocks before it: how a reconstruction is spliced in without recomputing what comes
   * before. Raw or centered gives the same outputs — every block reads the residual through a layer norm, which
   * removes its mean, and only adds to it — so a centered (TransformerLens) residual can be spliced as it is.
   * Hooks before `layer` cannot be captured; tokens are still checked (and give the sequence shape).
   */
  startAt?: { layer: number; residual: Float32Array };
}

export interface ForwardResult {
  batch: number;
  seq: number;
  hooks: Map<string, Float32Array>;
  logits: Float32Array | null;
}

/**
 * Layer norm over rows of length d. `affine` false gives the normalised value only. `stats`, when given, receives
 * each row's mean and 1/√(var + eps) (the training backward needs them: ./train/layers.ts).
 */
export function layerNormRows(x: Float32Array, rows: number, d: number, weight: Float32Array, bias: Float32Array, eps: number, out: Float32Array, affine = true, stats?: { mean: Float64Array; rstd: Float64Array }): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[o + j]!;
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) {
      const c = x[o + j]! - mean;
      v += c * c;
    }
    const rstd = 1 / Math.sqrt(v / d + eps);
    if (stats) {
      stats.mean[r] = mean;
      stats.rstd[r] = rstd;
    }
    if (affine) for (let j = 0; j < d; j++) out[o + j] = (x[o + j]! - mean) * rstd * weight[j]! + bias[j]!;
    else for (let j = 0; j < d; j++) out[o + j] = (x[o + j]! - mean) * rstd;
  }
}

/** out[rows, outDim] = x[rows, inDim] · W[inDim, outDim] + b (HF Conv1D orientation). */
function linear(x: Float32Array, rows: number, inDim: number, w: Float32Array, b: Float32Array, outDim: number, out: Float32Array, gelu = false): void {
  for (let r = 0; r < rows; r++) out.set(b, r * outDim);
  // The MLP's GELU rides along inside the product (on every thread) rather than as a second pass here.
  (gelu ? matmulGelu : matmul)({ a: x, b: w, c: out, m: rows, n: outDim, k: inDim, accumulate: true });
}

/**
 * Scores [seq, seq] (raw Q·Kᵀ) → the scaled, causal, padding-masked softmax of each row, in place, in float64 with
 * detExp: row i sees keys j ≤ i with mask[maskOffset + j] ≠ 0; hidden keys get probability exactly 0, and a row
 * with no visible key (only with left padding) is all zeros. `row` is float64 scratch of length ≥ seq.
 */
export function causalSoftmaxRows(probs: Float32Array, seq: number, scale: number, mask: ArrayLike<number> | undefined, maskOffset: number, row: Float64Array): void {
  for (let i = 0; i < seq; i++) {
    const r = i * seq;
    let maxScore = -Infinity;
    for (let j = 0; j <= i; j++) {
      const visible = !mask || mask[maskOffset + j] !== 0;
      const s = visible ? probs[r + j]! * scale : -Infinity;
      row[j] = s;
      if (s > maxScore) maxScore = s;
    }
    if (maxScore === -Infinity) {
      probs.fill(0, r, r + seq);
      continue;
    }
    let total = 0;
    for (let j = 0; j <= i; j++) {
      const e = row[j] === -Infinity ? 0 : detExp(row[j]! - maxScore);
      row[j] = e;
      total += e;
    }
    for (let j = 0; j <= i; j++) probs[r + j] = row[j]! / total;
    probs.fill(0, r + i + 1, r + seq);
  }
}

/** Causal multi-head attention over qkv rows [batch*seq, 3d]; writes the merged heads to out [batch*seq, d]. */
function attention(qkv: Float32Array, batch: number, seq: number, config: GPT2Config, mask: ArrayLike<number> | undefined, out: Float32Array): void {
  const d = config.nEmbd;
  const nh = config.nHead;
  const hd = d / nh;
  const scale = 1 / Math.sqrt(hd);
  // Per (sequence, head): gather Q, K, V into contiguous [seq, hd] blocks so both products go through the fast
  // matmul kernel (they are only ~2% of the FLOPs but were a sixth of the time as scalar loops).
  const q = new Float32Array(seq * hd), k = new Float32Array(seq * hd), v = new Float32Array(seq * hd);
  const probs = new Float32Array(seq * seq);
  const o = new Float32Array(seq * hd);
  const row = new Float64Array(seq);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nh; h++) {
      for (let i = 0; i < seq; i++) {
        const src = (b * seq + i) * 3 * d + h * hd;
        q.set(qkv.subarray(src, src + hd), i * hd);
        k.set(qkv.subarray(src + d, src + d + hd), i * hd);
        v.set(qkv.subarray(src + 2 * d, src + 2 * d + hd), i * hd);
      }
      matmul({ a: q, b: k, c: probs, m: seq, n: seq, k: hd, transB: true }); // raw scores Q·Kᵀ
      causalSoftmaxRows(probs, seq, scale, mask, b * seq, row);
      matmul({ a: probs, b: v, c: o, m: seq, n: hd, k: seq }); // P·V
      for (let i = 0; i < seq; i++) out.set(o.subarray(i * hd, (i + 1) * hd), (b * seq + i) * d + h * hd);
    }
  }
}

/** Scratch buffers for one forward pass, sized once. */
interface Scratch {
  ln: Float32Array;
  qkv: Float32Array;
  attn: Float32Array;
  branch: Float32Array;
  hidden: Float32Array;
}

function runBlock(block: GPT2Block, x: Float32Array, rows: number, batch: number, seq: number, config: GPT2Config, mask: ArrayLike<number> | undefined, s: Scratch, capture: (name: string, data: Float32Array) => void, layer: number): void {
  const d = config.nEmbd;
  layerNormRows(x, rows, d, block.ln1Weight, block.ln1Bias, config.layerNormEpsilon, s.ln);
  linear(s.ln, rows, d, block.attnWeight, block.attnBias, 3 * d, s.qkv);
  attention(s.qkv, batch, seq, config, mask, s.attn);
  linear(s.attn, rows, d, block.attnProjWeight, block.attnProjBias, d, s.branch);
  capture(`blocks.${layer}.hook_attn_out`, s.branch);
  for (let i = 0; i < rows * d; i++) x[i] += s.branch[i]!;
  capture(`blocks.${layer}.hook_resid_mid`, x);
  layerNormRows(x, rows, d, block.ln2Weight, block.ln2Bias, config.layerNormEpsilon, s.ln);
  linear(s.ln, rows, d, block.fcWeight, block.fcBias, 4 * d, s.hidden, true); // GELU(x·W_fc + b_fc)
  linear(s.hidden, rows, 4 * d, block.mlpProjWeight, block.mlpProjBias, d, s.branch);
  capture(`blocks.${layer}.hook_mlp_out`, s.branch);
  for (let i = 0; i < rows * d; i++) x[i] += s.branch[i]!;
  capture(`blocks.${layer}.hook_resid_post`, x);
}

function centerRows(data: Float32Array, d: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let o = 0; o < data.length; o += d) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += data[o + j]!;
    mean /= d;
    for (let j = 0; j < d; j++) out[o + j] = data[o + j]! - mean;
  }
  return out;
}

/** Run GPT-2 on tokens [batch, seq] as far as the requested hooks and logits need. */
export function forward(weights: GPT2Weights, tokens: ArrayLike<number>, batch: number, seq: number, options: ForwardOptions = {}): ForwardResult {
  const config = weights.config;
  const d = config.nEmbd;
  const rows = batch * seq;
  const hooks = options.hooks ?? [];
  const logitsMode = options.logits ?? "none";
  const residual = options.residual ?? "raw";
  const mask = options.attentionMask;
  if (tokens.length !== rows) throw new Error(`forward: ${tokens.length} tokens for batch ${batch} × seq ${seq}`);
  if (seq > config.nPositions) throw new Error(`forward: sequence length ${seq} exceeds the model's ${config.nPositions} positions`);
  if (mask && mask.length !== rows) throw new Error(`forward: attention mask has ${mask.length} entries for batch ${batch} × seq ${seq}`);
  for (let i = 0; i < rows; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= config.vocabSize) throw new Error(`forward: token id ${t} at position ${i} is outside the vocabulary [0, ${config.vocabSize})`);
  }
  const wanted = new Set(hooks);
  let depth = logitsMode === "none" ? 0 : config.nLayer;
  for (const h of wanted) depth = Math.max(depth, blocksNeededFor(h, config)); // also validates names
  const start = options.startAt?.layer ?? 0;
  if (options.startAt) {
    if (!Number.isInteger(start) || start < 0 || start >= config.nLayer) throw new Error(`forward: startAt.layer ${start} is not a block of this ${config.nLayer}-layer model`);
    if (options.startAt.residual.length !== rows * d) throw new Error(`forward: startAt.residual has ${options.startAt.residual.length} values, expected ${rows} rows × ${d}`);
    for (const h of wanted) {
      const block = /^blocks\.(\d+)\./.exec(h);
      if ((block && Number(block[1]) < start) || h === "hook_embed" || h === "hook_pos_embed") throw new Error(`forward: hook ${h} comes before the start layer ${start}`);
    }
  }
  const captured = new Map<string, Float32Array>();
  const capture = (name: string, data: Float32Array) => {
    if (!wanted.has(name)) return;
    captured.set(name, residual === "centered" && writesResidualStream(name) ? centerRows(data, d) : data.slice(0, rows * d));
  };

  // Embeddings (or the residual given to start from).
  const x = new Float32Array(rows * d);
  if (options.startAt) {
    x.set(options.startAt.residual);
  } else {
    const tokEmb = new Float32Array(rows * d);
    const posEmb = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) {
      const t = tokens[r]!;
      const p = r % seq;
      tokEmb.set(weights.wte.subarray(t * d, (t + 1) * d), r * d);
      posEmb.set(weights.wpe.subarray(p * d, (p + 1) * d), r * d);
    }
    for (let i = 0; i < x.length; i++) x[i] = tokEmb[i]! + posEmb[i]!;
    capture("hook_embed", tokEmb);
    capture("hook_pos_embed", posEmb);
  }

  const scratch: Scratch = {
    ln: new Float32Array(rows * d),
    qkv: new Float32Array(rows * 3 * d),
    attn: new Float32Array(rows * d),
    branch: new Float32Array(rows * d),
    hidden: new Float32Array(rows * 4 * d),
  };
  for (let layer = start; layer < depth; layer++) {
    capture(`blocks.${layer}.hook_resid_pre`, x);
    runBlock(weights.blocks[layer]!, x, rows, batch, seq, config, mask, scratch, capture, layer);
  }
  // The residual after the last block run is the next block's resid_pre (when that block exists).
  if (depth < config.nLayer) capture(`blocks.${depth}.hook_resid_pre`, x);
  let logits: Float32Array | null = null;
  if (wanted.has("ln_final.hook_normalized") || logitsMode !== "none") {
    layerNormRows(x, rows, d, weights.lnfWeight, weights.lnfBias, config.layerNormEpsilon, scratch.ln);
    if (wanted.has("ln_final.hook_normalized")) {
      if (residual === "centered") {
        const norm = new Float32Array(rows * d);
        layerNormRows(x, rows, d, weights.lnfWeight, weights.lnfBias, config.layerNormEpsilon, norm, false);
        captured.set("ln_final.hook_normalized", norm);
      } else {
        captured.set("ln_final.hook_normalized", scratch.ln.slice());
      }
    }
    if (logitsMode === "all") {
      logits = new Float32Array(rows * config.vocabSize);
      matmul({ a: scratch.ln, b: weights.wte, c: logits, m: rows, n: config.vocabSize, k: d, transB: true });
    } else if (logitsMode === "last") {
      const last = new Float32Array(batch * d);
      for (let b = 0; b < batch; b++) {
        let pos = seq - 1;
        if (mask) while (pos > 0 && mask[b * seq + pos] === 0) pos--;
        last.set(scratch.ln.subarray((b * seq + pos) * d, (b * seq + pos + 1) * d), b * d);
      }
      logits = new Float32Array(batch * config.vocabSize);
      matmul({ a: last, b: weights.wte, c: logits, m: batch, n: config.vocabSize, k: d, transB: true });
    }
  }
  return { batch, seq, hooks: captured, logits };
}
