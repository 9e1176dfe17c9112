/**
 * How good an SAE is, on held-out tokens (not its training rows) — the numbers every SAE library reports beside a
 * result, so a seed-stability figure is read next to the quality of the SAEs it describes:
 *
 *   explained variance  SAELens's formula (sae_lens/evals.py, get_sparsity_and_variance_metrics, as written there):
 *                       1 − E_t‖x − x̂‖² / (E_t‖x‖² − (E_{t,d} x²)²), over the real tokens
 *   FVU                 Σ‖x − x̂‖² / Σ‖x − x̄‖² (variance around the mean: the textbook form, and the training loss's)
 *   L0                  latents firing per token; dead: latents that never fire on these tokens;
 *   dense               fractions of latents firing on more than 1% and more than 10% of the tokens
 *   CE-loss score       (CE_zero-ablation − CE_SAE) / (CE_zero-ablation − CE_clean): the reconstruction spliced into
 *                       the forward pass at its hook, against replacing the hook's activations by zeros
 *   KL score            (KL_zero − KL_SAE) / KL_zero, with KL(clean ‖ spliced) of the next-token distributions
 *
 * As SAELens does it: the SAE's reconstruction replaces the residual at real tokens only (BOS keeps its own), zero
 * ablation replaces every position, and losses are averaged over predictions made at real tokens of real tokens.
 *
 * Splicing works at every hook of every family and is cheap: the forward pass to the hook runs once per hook
 * (baseline), and each SAE's spliced pass starts as late as the hook allows (spliceStart): a resid_pre (or resid_post)
 * reconstruction is the residual a block starts from (gpt2/model.ts startAt); attn_out, resid_mid and mlp_out start at
 * their block from its cached resid_pre and replace the hook's values (forward's splice); hook_embed runs the whole
 * model, ln_final.hook_normalized only the unembedding. A centered (TransformerLens) reconstruction can be spliced as it
 * is: for LayerNorm models every later read goes through a layer norm, which removes the mean; for RMSNorm models the
 * centered convention is the raw one. Log-softmax uses detExp/detLog, so the numbers are the same on every machine.
 */
import { asDecoder, forward, type ModelWeights, type ResidualConvention } from "../gpt2/model.ts";
import { blocksNeededFor } from "../gpt2/hooks.ts";
import { detExp } from "../tensor/det_math.ts";
import { detLog } from "../tensor/rng.ts";
import { encode, fires, reconstruct, type SAE } from "./sae.ts";

/** Held-out token windows: KIND 0 real token, 1 BOS, 2 padding (data/windows.ts). */
export interface HeldOutWindows {
  seqLen: number;
  nWindows: number;
  tokens: Int32Array;
  mask: Uint8Array;
  kind: Uint8Array;
}

const REAL = 0;

export interface HookBaseline {
  hook: string;
  /** Where spliced passes start (spliceStart). */
  layer: number;
  start: SpliceStart;
  /** The residual the start block begins from, when the hook is inside the block (else null). */
  startResidual: Float32Array | null;
  windows: HeldOutWindows;
  residual: ResidualConvention;
  /** The hook's activations at every position [nWindows·seqLen, d], in the SAE's convention. */
  activations: Float32Array;
  /** Positions of real tokens, and the prediction positions (a real token followed by a real token). */
  realRows: Int32Array;
  predictRows: Int32Array;
  /** Clean next-token probabilities at the prediction positions [predictRows, vocab], and Σ p·log p per position. */
  cleanProbs: Float32Array;
  cleanNegEntropy: Float64Array;
  ceClean: number;
  ceZero: number;
  klZero: number;
  /** Windows per forward pass (bounds the logits held at once). */
  batchWindows: number;
}

export interface QualityMetrics {
  tokens: number;
  predictions: number;
  explainedVariance: number;
  fvu: number;
  l0: number;
  deadFraction: number;
  /** Fractions of latents firing on more than 1% and more than 10% of the held-out tokens. */
  denseAbove1Percent: number;
  denseAbove10Percent: number;
  /**
   * The downstream scores: the reconstruction spliced into the model's forward pass. null when there is no model
   * to splice into — activations imported from elsewhere (rowsQuality) — never estimated.
   */
  ceClean: number | null;
  ceWithSae: number | null;
  ceZeroAblation: number | null;
  ceLossScore: number | null;
  klWithSae: number | null;
  klZeroAblation: number | null;
  klScore: number | null;
}

/**
 * The quality of an SAE on held-out rows without a model (imported activations): explained variance, FVU, L0,
 * dead and dense latents as saeQuality computes them; the CE-loss and KL scores null (unavailable, not faked).
 */
export function rowsQuality(sae: SAE, x: Float32Array, T: number): QualityMetrics {
  const { metrics: m } = reconstructionMetrics(sae, x, T);
  return {
    tokens: m.tokens, predictions: 0, explainedVariance: m.explainedVariance, fvu: m.fvu, l0: m.l0, deadFraction: m.deadFraction,
    denseAbove1Percent: m.denseAbove1Percent, denseAbove10Percent: m.denseAbove10Percent,
    ceClean: null, ceWithSae: null, ceZeroAblation: null, ceLossScore: null, klWithSae: null, klZeroAblation: null, klScore: null,
  };
}

/**
 * How a spliced pass runs for a hook:
 *   "residual"  the values are the residual block `layer` starts from (resid_pre of layer; resid_post of layer − 1;
 *               layer = nLayer after the last block)
 *   "inside"    start at block `layer` from its cached resid_pre (`residualHook`) and replace the hook's values
 *   "embedding" run from the embeddings and replace the hook's values
 */
export type SpliceStart =
  | { kind: "residual"; layer: number }
  | { kind: "inside"; layer: number; residualHook: string }
  | { kind: "embedding" };

/** Where and how a hook's spliced passes start for this model (validates the hook name). */
export function spliceStart(hook: string, weights: ModelWeights): SpliceStart {
  const config = asDecoder(weights).config;
  blocksNeededFor(hook, config); // validates the name for this model
  if (hook === "hook_embed" || hook === "hook_pos_embed") return { kind: "embedding" };
  if (hook === "ln_final.hook_normalized") return { kind: "inside", layer: config.nLayer, residualHook: `blocks.${config.nLayer - 1}.hook_resid_post` };
  const m = /^blocks\.(\d+)\.(\w+)$/.exec(hook)!;
  const layer = Number(m[1]);
  if (m[2] === "hook_resid_pre") return { kind: "residual", layer };
  if (m[2] === "hook_resid_post") return { kind: "residual", layer: layer + 1 };
  return { kind: "inside", layer, residualHook: `blocks.${layer}.hook_resid_pre` };
}

/** The block a hook's spliced pass starts at (kept for callers that want one number). */
export function spliceLayer(hook: string, weights: ModelWeights): number {
  const s = spliceStart(hook, weights);
  return s.kind === "embedding" ? 0 : s.layer;
}

function positions(w: HeldOutWindows): { realRows: Int32Array; predictRows: Int32Array } {
  const real: number[] = [], predict: number[] = [];
  for (let p = 0; p < w.nWindows * w.seqLen; p++) {
    if (w.kind[p] !== REAL) continue;
    real.push(p);
    if (p % w.seqLen < w.seqLen - 1 && w.kind[p + 1] === REAL) predict.push(p);
  }
  return { realRows: Int32Array.from(real), predictRows: Int32Array.from(predict) };
}

/** log-softmax of one row of logits, in float64 with exactly rounded operations. */
function logSoftmaxRow(logits: Float32Array, offset: number, vocab: number, out: Float64Array): void {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) if (logits[offset + v]! > max) max = logits[offset + v]!;
  let total = 0;
  for (let v = 0; v < vocab; v++) total += detExp(logits[offset + v]! - max);
  const logTotal = detLog(total);
  for (let v = 0; v < vocab; v++) out[v] = logits[offset + v]! - max - logTotal;
}

/**
 * Run the windows from the hook's block with `residualAt(rows)` giving the residual of each batch of windows, and
 * visit the log-probabilities of every prediction position: visit(index into predictRows, logProbs, target).
 */
function eachPrediction(
  weights: ModelWeights, base: Pick<HookBaseline, "windows" | "hook" | "start" | "startResidual" | "residual" | "predictRows" | "batchWindows">,
  valuesAt: (firstRow: number, rows: number) => Float32Array,
  visit: (index: number, logProbs: Float64Array, target: number) => void,
): void {
  const { windows: w, predictRows, start } = base;
  const vocab = weights.config.vocabSize;
  const d = weights.config.nEmbd;
  const row = new Float64Array(vocab);
  let next = 0;
  for (let w0 = 0; w0 < w.nWindows; w0 += base.batchWindows) {
    const nw = Math.min(base.batchWindows, w.nWindows - w0);
    const first = w0 * w.seqLen, rows = nw * w.seqLen;
    const values = valuesAt(first, rows);
    const how = start.kind === "residual"
      ? { startAt: { layer: start.layer, residual: values } }
      : start.kind === "inside"
        ? { startAt: { layer: start.layer, residual: base.startResidual!.subarray(first * d, (first + rows) * d) }, splice: { hook: base.hook, values }, residual: base.residual }
        : { splice: { hook: base.hook, values }, residual: base.residual };
    const out = forward(weights, w.tokens.subarray(first, first + rows), nw, w.seqLen, {
      logits: "all", attentionMask: w.mask.subarray(first, first + rows), ...how,
    });
    while (next < predictRows.length && predictRows[next]! < first + rows) {
      const p = predictRows[next]!;
      logSoftmaxRow(out.logits!, (p - first) * vocab, vocab, row);
      visit(next, row, w.tokens[p + 1]!);
      next++;
    }
  }
}

/** The hook's activations on the held-out windows, the clean and zero-ablated losses: once per hook and model. */
export function hookBaseline(weights: ModelWeights, windows: HeldOutWindows, hook: string, residual: ResidualConvention, batchWindows = 8): HookBaseline {
  const start = spliceStart(hook, weights);
  const layer = start.kind === "embedding" ? 0 : start.layer;
  const d = weights.config.nEmbd, vocab = weights.config.vocabSize;
  const { realRows, predictRows } = positions(windows);
  if (predictRows.length === 0) throw new Error("quality metrics: the held-out windows have no token followed by another to predict");
  const positionsCount = windows.nWindows * windows.seqLen;
  const activations = new Float32Array(positionsCount * d);
  const residualHook = start.kind === "inside" ? start.residualHook : null;
  const startResidual = start.kind === "inside" ? new Float32Array(positionsCount * d) : null;
  for (let w0 = 0; w0 < windows.nWindows; w0 += batchWindows) {
    const nw = Math.min(batchWindows, windows.nWindows - w0);
    const first = w0 * windows.seqLen, rows = nw * windows.seqLen;
    const tokens = windows.tokens.subarray(first, first + rows);
    const out = forward(weights, tokens, nw, windows.seqLen, { hooks: residualHook ? [hook, residualHook] : [hook], residual, attentionMask: windows.mask.subarray(first, first + rows) });
    activations.set(out.hooks.get(hook)!, first * d);
    if (startResidual) startResidual.set(out.hooks.get(residualHook!)!, first * d);
  }
  const base = { windows, hook, start, startResidual, residual, predictRows, batchWindows };
  // Clean: p and Σ p·log p per position, kept so that each SAE's KL is one dot product per position.
  const cleanProbs = new Float32Array(predictRows.length * vocab);
  const cleanNegEntropy = new Float64Array(predictRows.length);
  let ceClean = 0;
  eachPrediction(weights, base, (first, rows) => activations.subarray(first * d, (first + rows) * d), (i, lp, target) => {
    ceClean -= lp[target]!;
    let negEntropy = 0;
    for (let v = 0; v < vocab; v++) {
      const p = detExp(lp[v]!);
      cleanProbs[i * vocab + v] = p;
      negEntropy += p * lp[v]!;
    }
    cleanNegEntropy[i] = negEntropy;
  });
  const partial = { cleanProbs, cleanNegEntropy };
  const zeros = new Float32Array(batchWindows * windows.seqLen * d);
  let ceZero = 0, klZero = 0;
  eachPrediction(weights, base, (_first, rows) => zeros.subarray(0, rows * d), (i, lp, target) => {
    ceZero -= lp[target]!;
    klZero += klAt(partial, i, lp, vocab);
  });
  const n = predictRows.length;
  return { hook, layer, start, startResidual, windows, residual, activations, realRows, predictRows, cleanProbs, cleanNegEntropy, ceClean: ceClean / n, ceZero: ceZero / n, klZero: klZero / n, batchWindows };
}

/** KL(clean ‖ q) at prediction i: Σ p·log p − Σ p·log q. */
function klAt(clean: Pick<HookBaseline, "cleanProbs" | "cleanNegEntropy">, i: number, logQ: Float64Array, vocab: number): number {
  let cross = 0;
  const o = i * vocab;
  for (let v = 0; v < vocab; v++) cross += clean.cleanProbs[o + v]! * logQ[v]!;
  return clean.cleanNegEntropy[i]! - cross;
}

/** The metrics that need only activations (no model): what imported activations can be scored by. */
export interface ReconstructionMetrics {
  tokens: number;
  explainedVariance: number;
  fvu: number;
  l0: number;
  deadFraction: number;
  denseAbove1Percent: number;
  denseAbove10Percent: number;
}

/** Reconstruction and sparsity metrics of an SAE on rows x [T, d_in] (float64 sums); also returns x̂. */
export function reconstructionMetrics(sae: SAE, x: Float32Array, T: number): { metrics: ReconstructionMetrics; xHat: Float32Array } {
  const d = sae.params.dIn;
  if (x.length !== T * d) throw new Error(`quality metrics: ${x.length} values are not ${T} rows of d_in ${d}`);
  const xHat = reconstruct(sae, x, T);
  let resid = 0, sumSq = 0;
  const mean = new Float64Array(d);
  for (let i = 0; i < T * d; i++) {
    resid += (x[i]! - xHat[i]!) ** 2;
    sumSq += x[i]! ** 2;
    mean[i % d] += x[i]!;
  }
  for (let c = 0; c < d; c++) mean[c] /= T;
  let centred = 0;
  for (let i = 0; i < T * d; i++) centred += (x[i]! - mean[i % d]!) ** 2;
  const meanSumSq = sumSq / T, meanSqPerDim = sumSq / (T * d);
  // Sparsity: firing counts per latent.
  const code = encode(sae, x, T);
  const fired = new Float64Array(sae.params.dSae);
  let active = 0;
  for (let t = 0; t < T; t++) {
    for (let s = 0; s < code.k; s++) {
      const v = code.values[t * code.k + s]!;
      if (!fires(sae.recipe, v)) continue;
      fired[code.indices[t * code.k + s]!]!++;
      active++;
    }
  }
  let dead = 0, dense1 = 0, dense10 = 0;
  for (const f of fired) {
    if (f === 0) dead++;
    if (f > 0.01 * T) dense1++;
    if (f > 0.1 * T) dense10++;
  }
  const nLat = sae.params.dSae;
  return {
    xHat,
    metrics: {
      tokens: T,
      explainedVariance: 1 - (resid / T) / (meanSumSq - meanSqPerDim ** 2),
      fvu: centred > 0 ? resid / centred : 0,
      l0: active / T, deadFraction: dead / nLat, denseAbove1Percent: dense1 / nLat, denseAbove10Percent: dense10 / nLat,
    },
  };
}

/** Every metric of one SAE on a hook's baseline. */
export function saeQuality(sae: SAE, weights: ModelWeights, base: HookBaseline): QualityMetrics {
  const d = weights.config.nEmbd, vocab = weights.config.vocabSize;
  if (sae.params.dIn !== d) throw new Error(`quality metrics: the SAE reads d_in ${sae.params.dIn}, the model's residual has ${d}`);
  const T = base.realRows.length;
  const x = new Float32Array(T * d);
  base.realRows.forEach((p, t) => x.set(base.activations.subarray(p * d, (p + 1) * d), t * d));
  const { metrics, xHat } = reconstructionMetrics(sae, x, T);
  // Downstream: the reconstruction spliced in at real tokens, the rest of the residual as it was.
  const spliced = base.activations.slice();
  base.realRows.forEach((p, t) => spliced.set(xHat.subarray(t * d, (t + 1) * d), p * d));
  let ce = 0, kl = 0;
  eachPrediction(weights, base, (first, rows) => spliced.subarray(first * d, (first + rows) * d), (i, lp, target) => {
    ce -= lp[target]!;
    kl += klAt(base, i, lp, vocab);
  });
  const n = base.predictRows.length;
  const ceWithSae = ce / n, klWithSae = kl / n;
  const m = metrics;
  return {
    // The key order metrics.json has always had.
    tokens: m.tokens, predictions: n, explainedVariance: m.explainedVariance, fvu: m.fvu, l0: m.l0, deadFraction: m.deadFraction,
    denseAbove1Percent: m.denseAbove1Percent, denseAbove10Percent: m.denseAbove10Percent,
    ceClean: base.ceClean, ceWithSae, ceZeroAblation: base.ceZero,
    ceLossScore: (base.ceZero - ceWithSae) / (base.ceZero - base.ceClean),
    klWithSae, klZeroAblation: base.klZero, klScore: (base.klZero - klWithSae) / base.klZero,
  };
}
