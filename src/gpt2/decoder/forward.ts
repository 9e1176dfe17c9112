/**
 * The decoder-only forward pass for every family, driven by the config (./config.ts), in the order the model runs:
 *
 *   x = embed[token]·embedScale (+ pos[p])             hook_embed (hook_pos_embed), blocks.0.hook_resid_pre
 *   for each block:
 *     a = attnOut(attention(qkv(norm1(x))))   [Gemma-2: postAttnNorm(a)]            hook_attn_out
 *     sequential: x = x + a                                                          hook_resid_mid
 *                 m = mlpOut(act(mlpIn(norm2(x))))   [Gemma-2: postMlpNorm(m)]       hook_mlp_out
 *                 x = x + m                                                          hook_resid_post
 *     parallel:   m = mlpOut(act(mlpIn(norm2(x))));  x = (m + a) + x  (GPT-NeoX's use_parallel_residual; no resid_mid)
 *   logits = finalNorm(x)·unembedᵀ   [Gemma-2: cap·tanh(logits/cap)]                 ln_final.hook_normalized
 *
 * Attention is causal; with an attention mask (right padding), keys whose mask is 0 are excluded as well, and with a
 * sliding window keys further back than the window. Linear layers with a bias start from it and accumulate the
 * matmul into it, which saves a pass over the output.
 *
 * Residual convention: "raw" gives Hugging Face hidden states. "centered" gives what TransformerLens's default
 * `from_pretrained` records: for LayerNorm families (GPT-2, GPT-NeoX) every residual-stream hook minus its mean over
 * d_model (fold_ln + center_writing_weights) and ln_final.hook_normalized without the norm's affine part (folded into
 * the unembedding); for RMSNorm families (Llama, Gemma-2) TransformerLens does not centre — an RMSNorm does not remove
 * the mean, so centring would change the function — and the residual hooks are the raw ones, with
 * ln_final.hook_normalized again without the norm's weight.
 *
 * Reproducibility: besides the matmul kernel (whose GELU epilogue is IEEE float32 arithmetic too), the pass uses only
 * exactly rounded operations (+ − × ÷ √ and the deterministic functions of ../../tensor/det_math.ts and
 * det_special.ts — never Math.exp/tanh/sin/cos/pow, whose last bits may differ between engines), so with the same
 * kernel the activations are the same bits on every machine and Node version.
 */
import { matmul, matmulGelu, matmulHalf } from "../../tensor/matmul.ts";
import { decodeBf16, decodeF16 } from "../../tensor/half.ts";
import { detTanh } from "../../tensor/det_special.ts";
import { qkvWidth, type DecoderConfig } from "./config.ts";
import type { DecoderBlock, DecoderWeights, Linear, Matrix } from "./weights.ts";
import { normRows } from "./norms.ts";
import { attention } from "./attention.ts";
import { inverseFrequencies, rotaryTable, type RotaryTable } from "./rotary.ts";
import { activateInPlace, gatedActivation } from "./mlp_activation.ts";
import { blocksNeededFor, writesResidualStream } from "../hooks.ts";

/** The unembedding matmul's B is cut into vocabulary chunks of at most this many bytes (unembedProduct). */
export const UNEMBED_CHUNK_BYTES = 256 * 2 ** 20;

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
   * before. For LayerNorm families a centred (TransformerLens) residual gives the same outputs as the raw one — every
   * block reads the residual through a layer norm, which removes its mean, and only adds to it — so it can be spliced
   * as it is; for RMSNorm families the two conventions are the same values anyway.
   * Hooks before `layer` cannot be captured; tokens are still checked (and give the sequence shape).
   */
  startAt?: { layer: number; residual: Float32Array };
  /**
   * Replace the activations at `hook` by `values` [batch * seq, d] — in the convention of `residual` — and run on from
   * there: how an SAE's reconstruction is spliced in at any hook (the residual hooks, attn_out, mlp_out, hook_embed,
   * ln_final.hook_normalized). For LayerNorm families a centred value gives the same downstream result as the raw one
   * it stands for (it differs by a multiple of the all-ones vector, which every later norm removes); a centred
   * ln_final.hook_normalized gets the final norm's affine part applied before the unembedding. With startAt, the
   * hook must lie at or after the start layer.
   */
  splice?: { hook: string; values: Float32Array };
}

export interface ForwardResult {
  batch: number;
  seq: number;
  hooks: Map<string, Float32Array>;
  logits: Float32Array | null;
}

/** out[rows, outDim] (= or +=) x[rows, inDim] · W (+ b), W in its stored dtype and orientation. */
export function linear(x: Float32Array, rows: number, layer: Linear, out: Float32Array, gelu = false): void {
  const { bias, inDim, outDim } = layer;
  if (bias) for (let r = 0; r < rows; r++) out.set(bias, r * outDim);
  product(x, rows, inDim, layer.weight, layer.layout === "out_in", outDim, out, bias !== null, gelu);
}

/** C[rows, n] (+)= A[rows, k] · op(W) for a Matrix W in any dtype. */
function product(a: Float32Array, m: number, k: number, w: Matrix, transB: boolean, n: number, c: Float32Array, accumulate: boolean, gelu = false): void {
  if (w.dtype === "F32") {
    // The MLP's GELU rides along inside the product (on every thread) rather than as a second pass.
    (gelu ? matmulGelu : matmul)({ a, b: w.data as Float32Array, c, m, n, k, transB, accumulate });
  } else {
    matmulHalf({ a, b: w.data as Uint16Array, bFormat: w.dtype === "F16" ? "f16" : "bf16", c, m, n, k, transB, accumulate }, gelu);
  }
}

/**
 * logits[rows, V] = x[rows, d] · Uᵀ, U the [V, d] unembedding. A large U (a 128k–256k vocabulary) is multiplied in
 * chunks of vocabulary rows — contiguous in U — so the matmul's staged copy of B stays ≤ UNEMBED_CHUNK_BYTES; every
 * element is computed exactly as in one product (its value depends only on its row of x and its row of U).
 */
function unembedProduct(x: Float32Array, rows: number, d: number, u: Matrix, out: Float32Array): void {
  const V = u.rows;
  const bytesPerRow = d * (u.dtype === "F32" ? 4 : 2);
  const chunk = Math.max(1, Math.floor(UNEMBED_CHUNK_BYTES / bytesPerRow));
  if (chunk >= V) {
    product(x, rows, d, u, true, V, out, false);
    return;
  }
  const part = new Float32Array(rows * chunk);
  for (let v0 = 0; v0 < V; v0 += chunk) {
    const n = Math.min(chunk, V - v0);
    const slice: Matrix = { rows: n, cols: d, dtype: u.dtype, data: u.data.subarray(v0 * d, (v0 + n) * d) };
    product(x, rows, d, slice, true, n, part, false);
    for (let r = 0; r < rows; r++) out.set(part.subarray(r * n, (r + 1) * n), r * V + v0);
  }
}

/** Row `row` of a [rows, cols] matrix as float32 (decoded when 16-bit). */
function matrixRow(m: Matrix, row: number): Float32Array {
  const codes = m.data.subarray(row * m.cols, (row + 1) * m.cols);
  if (m.dtype === "F32") return codes as Float32Array;
  return m.dtype === "F16" ? decodeF16(codes as Uint16Array) : decodeBf16(codes as Uint16Array);
}

/** Scratch buffers for one forward pass, sized once. */
interface Scratch {
  ln: Float32Array;
  qkv: Float32Array;
  attn: Float32Array;
  branch: Float32Array;
  branch2: Float32Array;
  hidden: Float32Array;
  gateUp: Float32Array | null;
}

type Capture = (name: string, data: Float32Array) => void;

function runMlp(block: DecoderBlock, input: Float32Array, rows: number, c: DecoderConfig, s: Scratch, out: Float32Array): void {
  if (c.gatedMlp) {
    linear(input, rows, block.mlpIn, s.gateUp!);
    gatedActivation(s.gateUp!, rows, c.dMlp, c.activation, s.hidden);
  } else if (c.activation === "gelu_tanh") {
    linear(input, rows, block.mlpIn, s.hidden, true); // GELU(x·W_fc + b_fc), fused into the matmul
  } else {
    linear(input, rows, block.mlpIn, s.hidden);
    activateInPlace(s.hidden, rows * c.dMlp, c.activation);
  }
  linear(s.hidden, rows, block.mlpOut, out);
}

function runBlock(block: DecoderBlock, x: Float32Array, rows: number, batch: number, seq: number, c: DecoderConfig, rotary: RotaryTable | null, mask: ArrayLike<number> | undefined, s: Scratch, capture: Capture, layer: number): void {
  const d = c.nEmbd;
  const eps = c.layerNormEpsilon;
  const n = rows * d;
  normRows(c.norm, c.normPlusOne, block.norm1, x, rows, d, eps, s.ln);
  linear(s.ln, rows, block.qkv, s.qkv);
  attention(s.qkv, batch, seq, c, rotary, c.slidingWindows[layer]!, mask, s.attn);
  linear(s.attn, rows, block.attnOut, s.branch);
  let attnOut = s.branch;
  if (block.postAttnNorm) {
    normRows(c.norm, c.normPlusOne, block.postAttnNorm, s.branch, rows, d, eps, s.branch2);
    attnOut = s.branch2;
  }
  capture(`blocks.${layer}.hook_attn_out`, attnOut);
  if (c.parallelResidual) {
    // Both branches read the block's input; Hugging Face adds them as (mlp + attn) + x. (A parallel block has no
    // sandwich norms — validateDecoderConfig — so the attention output is still in s.branch.)
    normRows(c.norm, c.normPlusOne, block.norm2, x, rows, d, eps, s.ln);
    runMlp(block, s.ln, rows, c, s, s.branch2);
    capture(`blocks.${layer}.hook_mlp_out`, s.branch2);
    for (let i = 0; i < n; i++) x[i] = s.branch2[i]! + attnOut[i]! + x[i]!;
  } else {
    for (let i = 0; i < n; i++) x[i] += attnOut[i]!;
    capture(`blocks.${layer}.hook_resid_mid`, x);
    normRows(c.norm, c.normPlusOne, block.norm2, x, rows, d, eps, s.ln);
    runMlp(block, s.ln, rows, c, s, s.branch);
    let mlpOut = s.branch;
    if (block.postMlpNorm) {
      normRows(c.norm, c.normPlusOne, block.postMlpNorm, s.branch, rows, d, eps, s.branch2);
      mlpOut = s.branch2;
    }
    capture(`blocks.${layer}.hook_mlp_out`, mlpOut);
    for (let i = 0; i < n; i++) x[i] += mlpOut[i]!;
  }
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

/** y = x·w + b (LayerNorm), x·w or x·(1 + w) (RMSNorm): a norm's affine part, for a normalised value given without it. */
function applyNormAffine(c: DecoderConfig, norm: { weight: Float32Array; bias: Float32Array | null }, x: Float32Array, rows: number, d: number): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < d; j++) {
      const w = c.normPlusOne ? 1 + norm.weight[j]! : norm.weight[j]!;
      x[r * d + j] = x[r * d + j]! * w + (norm.bias ? norm.bias[j]! : 0);
    }
  }
}

function softcapInPlace(values: Float32Array, cap: number): void {
  for (let i = 0; i < values.length; i++) values[i] = cap * detTanh(values[i]! / cap);
}

/** Run the model on tokens [batch, seq] as far as the requested hooks and logits need. */
export function decoderForward(weights: DecoderWeights, tokens: ArrayLike<number>, batch: number, seq: number, options: ForwardOptions = {}): ForwardResult {
  const c = weights.config;
  const d = c.nEmbd;
  const rows = batch * seq;
  const hooks = options.hooks ?? [];
  const logitsMode = options.logits ?? "none";
  const residual = options.residual ?? "raw";
  const mask = options.attentionMask;
  if (tokens.length !== rows) throw new Error(`forward: ${tokens.length} tokens for batch ${batch} × seq ${seq}`);
  if (seq > c.nPositions) throw new Error(`forward: sequence length ${seq} exceeds the model's ${c.nPositions} positions`);
  if (mask && mask.length !== rows) throw new Error(`forward: attention mask has ${mask.length} entries for batch ${batch} × seq ${seq}`);
  for (let i = 0; i < rows; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new Error(`forward: token id ${t} at position ${i} is outside the vocabulary [0, ${c.vocabSize})`);
  }
  const wanted = new Set(hooks);
  let depth = logitsMode === "none" ? 0 : c.nLayer;
  for (const h of wanted) depth = Math.max(depth, blocksNeededFor(h, c)); // also validates names
  const splice = options.splice;
  if (splice) {
    blocksNeededFor(splice.hook, c);
    if (splice.values.length !== rows * d) throw new Error(`forward: splice.values has ${splice.values.length} values, expected ${rows} rows × ${d}`);
  }
  const start = options.startAt?.layer ?? 0;
  if (options.startAt) {
    // layer = nLayer starts after the last block (only the final norm and the logits run).
    if (!Number.isInteger(start) || start < 0 || start > c.nLayer) throw new Error(`forward: startAt.layer ${start} is not a block of this ${c.nLayer}-layer model (or ${c.nLayer}, after the last)`);
    if (options.startAt.residual.length !== rows * d) throw new Error(`forward: startAt.residual has ${options.startAt.residual.length} values, expected ${rows} rows × ${d}`);
    for (const h of splice ? [...wanted, splice.hook] : wanted) {
      const block = /^blocks\.(\d+)\./.exec(h);
      if ((block && Number(block[1]) < start) || h === "hook_embed" || h === "hook_pos_embed") throw new Error(`forward: hook ${h} comes before the start layer ${start}`);
    }
  }
  const centres = residual === "centered" && c.norm === "layernorm";
  const captured = new Map<string, Float32Array>();
  // Every hook point passes through here: the splice replaces the values in place (so the run continues from them),
  // then a requested hook is recorded.
  const capture: Capture = (name, data) => {
    if (splice && name === splice.hook) data.set(splice.values);
    if (!wanted.has(name)) return;
    captured.set(name, centres && writesResidualStream(name) ? centerRows(data.subarray(0, rows * d), d) : data.slice(0, rows * d));
  };

  // Embeddings (or the residual given to start from).
  const x = new Float32Array(rows * d);
  if (options.startAt) {
    x.set(options.startAt.residual);
  } else {
    const tokEmb = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) tokEmb.set(matrixRow(weights.embed, tokens[r]!), r * d);
    if (c.embedScale !== 1) for (let i = 0; i < tokEmb.length; i++) tokEmb[i] = tokEmb[i]! * c.embedScale;
    capture("hook_embed", tokEmb);
    if (weights.posEmbed) {
      const posEmb = new Float32Array(rows * d);
      for (let r = 0; r < rows; r++) {
        const p = r % seq;
        posEmb.set(weights.posEmbed.subarray(p * d, (p + 1) * d), r * d);
      }
      capture("hook_pos_embed", posEmb);
      for (let i = 0; i < x.length; i++) x[i] = tokEmb[i]! + posEmb[i]!;
    } else {
      x.set(tokEmb);
    }
  }

  const mlpWidth = c.dMlp;
  const scratch: Scratch = {
    ln: new Float32Array(rows * d),
    qkv: new Float32Array(rows * qkvWidth(c)),
    attn: new Float32Array(rows * c.nHead * c.headDim),
    branch: new Float32Array(rows * d),
    branch2: new Float32Array(rows * d),
    hidden: new Float32Array(rows * mlpWidth),
    gateUp: c.gatedMlp ? new Float32Array(rows * 2 * mlpWidth) : null,
  };
  const rotary = c.positions === "rotary" && depth > start ? rotaryTable(inverseFrequencies(c), seq) : null;
  for (let layer = start; layer < depth; layer++) {
    capture(`blocks.${layer}.hook_resid_pre`, x);
    runBlock(weights.blocks[layer]!, x, rows, batch, seq, c, rotary, mask, scratch, capture, layer);
  }
  // The residual after the last block run is the next block's resid_pre (when that block exists).
  if (depth < c.nLayer) capture(`blocks.${depth}.hook_resid_pre`, x);
  let logits: Float32Array | null = null;
  if (wanted.has("ln_final.hook_normalized") || logitsMode !== "none") {
    const eps = c.layerNormEpsilon;
    normRows(c.norm, c.normPlusOne, weights.finalNorm, x, rows, d, eps, scratch.ln);
    if (splice?.hook === "ln_final.hook_normalized") {
      scratch.ln.set(splice.values);
      if (residual === "centered") applyNormAffine(c, weights.finalNorm, scratch.ln, rows, d);
    }
    if (wanted.has("ln_final.hook_normalized")) {
      if (residual === "centered") {
        const norm = new Float32Array(rows * d);
        normRows(c.norm, c.normPlusOne, weights.finalNorm, x, rows, d, eps, norm, false);
        captured.set("ln_final.hook_normalized", norm);
      } else {
        captured.set("ln_final.hook_normalized", scratch.ln.slice());
      }
    }
    const V = c.vocabSize;
    if (logitsMode === "all") {
      logits = new Float32Array(rows * V);
      unembedProduct(scratch.ln, rows, d, weights.unembed, logits);
    } else if (logitsMode === "last") {
      const last = new Float32Array(batch * d);
      for (let b = 0; b < batch; b++) {
        let pos = seq - 1;
        if (mask) while (pos > 0 && mask[b * seq + pos] === 0) pos--;
        last.set(scratch.ln.subarray((b * seq + pos) * d, (b * seq + pos + 1) * d), b * d);
      }
      logits = new Float32Array(batch * V);
      unembedProduct(last, batch, d, weights.unembed, logits);
    }
    if (logits && c.finalSoftcap !== null) softcapInPlace(logits, c.finalSoftcap);
  }
  return { batch, seq, hooks: captured, logits };
}
