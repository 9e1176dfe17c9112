/**
 * GPT-2 forward with every activation kept, the loss, and the backward pass through all layers (the shape of
 * llm.c's gpt2_forward / gpt2_backward). Parameters and gradients are flat buffers (./params.ts).
 *
 *   x0 = wte[tok] + wpe[pos]                                        encoderForward
 *   per block l:  ln1 = LN(x);  qkv = ln1·Wattn + b;  atty = attn(qkv)
 *                 res2 = x + atty·Wproj + b
 *                 ln2 = LN(res2);  fch = ln2·Wfc + b;  fchG = gelu(fch)
 *                 res3 = res2 + fchG·Wmproj + b                     (= next block's x)
 *   lnf = LN_f(res3 of the last block);  loss = CE(lnf·wteᵀ, targets)   (tied unembedding, fused with its backward)
 *
 * The backward walks the same list in reverse; `dres` carries the residual stream's gradient, to which each
 * layer norm's input gradient is added (the residual's backward is the identity on both branches).
 */
import type { GPT2Config } from "../config.ts";
import type { GPT2Block, GPT2Weights } from "../weights.ts";
import { viewsOf, type ParamLayout } from "./params.ts";
import { attentionBackward, attentionForward, type AttentionShape } from "./attention.ts";
import { encoderBackward, encoderForward, geluBackward, geluForward, layerNormBackward, layerNormForward, linearBackward, linearForward, residualForward } from "./layers.ts";
import { crossEntropyForwardBackward } from "./xent.ts";

export interface TokenBatch {
  batch: number;
  seq: number;
  /** [batch·seq] input ids. */
  tokens: ArrayLike<number>;
  /** [batch·seq] next-token ids; < 0 where no loss is taken (padding). */
  targets: ArrayLike<number>;
  /** Optional attention mask [batch·seq]: 1 real, 0 padding (right padding; as ../model.ts). */
  mask?: ArrayLike<number>;
}

interface LayerActivations {
  ln1: Float32Array; ln1Mean: Float64Array; ln1Rstd: Float64Array;
  qkv: Float32Array; probs: Float32Array; atty: Float32Array; res2: Float32Array;
  ln2: Float32Array; ln2Mean: Float64Array; ln2Rstd: Float64Array;
  fch: Float32Array; fchGelu: Float32Array; res3: Float32Array;
}

class Activations {
  readonly x0: Float32Array;
  readonly layers: LayerActivations[];
  readonly lnf: Float32Array; readonly lnfMean: Float64Array; readonly lnfRstd: Float64Array;
  readonly branch: Float32Array;
  // Backward scratch.
  readonly dres: Float32Array; readonly dln: Float32Array; readonly datty: Float32Array; readonly dqkv: Float32Array;
  readonly dfch: Float32Array; readonly dfchGelu: Float32Array;

  constructor(config: GPT2Config, readonly batch: number, readonly seq: number) {
    const rows = batch * seq, d = config.nEmbd;
    const f = (n: number) => new Float32Array(n);
    this.x0 = f(rows * d);
    this.layers = Array.from({ length: config.nLayer }, () => ({
      ln1: f(rows * d), ln1Mean: new Float64Array(rows), ln1Rstd: new Float64Array(rows),
      qkv: f(rows * 3 * d), probs: f(batch * config.nHead * seq * seq), atty: f(rows * d), res2: f(rows * d),
      ln2: f(rows * d), ln2Mean: new Float64Array(rows), ln2Rstd: new Float64Array(rows),
      fch: f(rows * 4 * d), fchGelu: f(rows * 4 * d), res3: f(rows * d),
    }));
    this.lnf = f(rows * d); this.lnfMean = new Float64Array(rows); this.lnfRstd = new Float64Array(rows);
    this.branch = f(rows * d);
    this.dres = f(rows * d); this.dln = f(rows * d); this.datty = f(rows * d); this.dqkv = f(rows * 3 * d);
    this.dfch = f(rows * 4 * d); this.dfchGelu = f(rows * 4 * d);
  }
}

export interface StepResult {
  loss: number;
  lossSum: number;
  count: number;
}

/** GPT-2 over a flat parameter buffer, with a gradient buffer of the same layout. */
export class GPT2TrainModel {
  readonly config: GPT2Config;
  readonly weights: GPT2Weights;
  readonly gradViews: GPT2Weights;
  readonly grads: Float32Array;
  private acts: Activations | null = null;
  /** Rows of logits materialised at once by the fused classifier. */
  chunkRows = 256;

  constructor(readonly layout: ParamLayout, readonly params: Float32Array) {
    this.config = layout.config;
    this.weights = viewsOf(layout, params);
    this.grads = new Float32Array(layout.total);
    this.gradViews = viewsOf(layout, this.grads);
  }

  private activations(batch: number, seq: number): Activations {
    if (seq > this.config.nPositions) throw new Error(`sequence length ${seq} exceeds the model's context of ${this.config.nPositions}`);
    if (!this.acts || this.acts.batch !== batch || this.acts.seq !== seq) this.acts = new Activations(this.config, batch, seq);
    return this.acts;
  }

  /** Mean loss of a batch (no gradients). */
  loss(b: TokenBatch): StepResult {
    return this.run(b, false);
  }

  /** Zero the gradients, run forward and backward; `grads` then holds d(mean loss)/d(params). */
  lossAndGradients(b: TokenBatch): StepResult {
    return this.run(b, true);
  }

  private run({ batch, seq, tokens, targets, mask }: TokenBatch, backward: boolean): StepResult {
    const c = this.config, d = c.nEmbd, rows = batch * seq, eps = c.layerNormEpsilon;
    if (tokens.length !== rows || targets.length !== rows) throw new Error(`batch of ${batch}×${seq} needs ${rows} tokens and targets, got ${tokens.length} and ${targets.length}`);
    if (mask && mask.length !== rows) throw new Error(`attention mask has ${mask.length} entries for ${rows} positions`);
    for (let i = 0; i < rows; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new Error(`token id ${t} at position ${i} is outside the vocabulary [0, ${c.vocabSize})`);
    }
    const a = this.activations(batch, seq);
    const w = this.weights;
    const shape: AttentionShape = { batch, seq, nHead: c.nHead, d };

    encoderForward(a.x0, tokens, w.wte, w.wpe, rows, seq, d);
    let x = a.x0;
    for (let l = 0; l < c.nLayer; l++) {
      const L = a.layers[l]!, B = w.blocks[l]!;
      layerNormForward(L.ln1, L.ln1Mean, L.ln1Rstd, x, B.ln1Weight, B.ln1Bias, rows, d, eps);
      linearForward(L.qkv, L.ln1, B.attnWeight, B.attnBias, rows, d, 3 * d);
      attentionForward(L.atty, L.probs, L.qkv, mask, shape);
      linearForward(a.branch, L.atty, B.attnProjWeight, B.attnProjBias, rows, d, d);
      residualForward(L.res2, x, a.branch, rows * d);
      layerNormForward(L.ln2, L.ln2Mean, L.ln2Rstd, L.res2, B.ln2Weight, B.ln2Bias, rows, d, eps);
      linearForward(L.fch, L.ln2, B.fcWeight, B.fcBias, rows, d, 4 * d);
      geluForward(L.fchGelu, L.fch, rows * 4 * d);
      linearForward(a.branch, L.fchGelu, B.mlpProjWeight, B.mlpProjBias, rows, 4 * d, d);
      residualForward(L.res3, L.res2, a.branch, rows * d);
      x = L.res3;
    }
    layerNormForward(a.lnf, a.lnfMean, a.lnfRstd, x, w.lnfWeight, w.lnfBias, rows, d, eps);

    if (!backward) {
      const r = crossEntropyForwardBackward({ h: a.lnf, wte: w.wte, targets, rows, d, vocab: c.vocabSize, chunkRows: this.chunkRows });
      return { loss: r.loss, lossSum: r.lossSum, count: r.count };
    }
    this.grads.fill(0);
    const g = this.gradViews;
    // The classifier's backward runs inside its forward: dln ← d loss / d lnf, dwte += the unembedding's part.
    const r = crossEntropyForwardBackward({ h: a.lnf, wte: w.wte, targets, rows, d, vocab: c.vocabSize, chunkRows: this.chunkRows, grads: { dh: a.dln, dwte: g.wte } });
    a.dres.fill(0);
    layerNormBackward(a.dres, g.lnfWeight, g.lnfBias, a.dln, x, w.lnfWeight, a.lnfMean, a.lnfRstd, rows, d);
    for (let l = c.nLayer - 1; l >= 0; l--) {
      const L = a.layers[l]!, B = w.blocks[l]!, G: GPT2Block = g.blocks[l]!;
      const input = l === 0 ? a.x0 : a.layers[l - 1]!.res3;
      // MLP: res3 = res2 + gelu(LN2(res2)·Wfc + b)·Wproj + b
      linearBackward(a.dfchGelu, G.mlpProjWeight, G.mlpProjBias, a.dres, L.fchGelu, B.mlpProjWeight, rows, 4 * d, d);
      geluBackward(a.dfch, L.fch, a.dfchGelu, rows * 4 * d);
      linearBackward(a.dln, G.fcWeight, G.fcBias, a.dfch, L.ln2, B.fcWeight, rows, d, 4 * d);
      layerNormBackward(a.dres, G.ln2Weight, G.ln2Bias, a.dln, L.res2, B.ln2Weight, L.ln2Mean, L.ln2Rstd, rows, d);
      // Attention: res2 = x + attn(LN1(x)·Wattn + b)·Wproj + b
      linearBackward(a.datty, G.attnProjWeight, G.attnProjBias, a.dres, L.atty, B.attnProjWeight, rows, d, d);
      attentionBackward(a.dqkv, a.datty, L.qkv, L.probs, shape);
      linearBackward(a.dln, G.attnWeight, G.attnBias, a.dqkv, L.ln1, B.attnWeight, rows, d, 3 * d);
      layerNormBackward(a.dres, G.ln1Weight, G.ln1Bias, a.dln, input, B.ln1Weight, L.ln1Mean, L.ln1Rstd, rows, d);
    }
    encoderBackward(g.wte, g.wpe, a.dres, tokens, rows, seq, d);
    return { loss: r.loss, lossSum: r.lossSum, count: r.count };
  }
}
