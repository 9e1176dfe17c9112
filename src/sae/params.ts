/**
 * An SAE's parameter tensors and the initialisations the recipes share.
 *
 * Storage: both weight matrices are kept latent-major, [d_sae, d_in]: row j of `wEnc` is latent j's encoder
 * direction (PyTorch nn.Linear's `encoder.weight` layout, SAELens's W_enc transposed) and row j of `wDec` its
 * decoder direction (SAELens's W_dec). Latent-major rows make every sparse operation — the active latents'
 * decoder rows, their encoder-gradient rows — a contiguous run of memory. Files convert at the boundary.
 */
import { Rng } from "../tensor/rng.ts";
import type { SAETrainConfig } from "./recipe.ts";

export interface SAEParams {
  dIn: number;
  dSae: number;
  wEnc: Float32Array; // [dSae, dIn]
  bEnc: Float32Array; // [dSae]
  wDec: Float32Array; // [dSae, dIn]
  bDec: Float32Array; // [dIn]
  /**
   * Per-latent tensors of some architectures, by name, each [dSae]: JumpReLU's `logThreshold` (training) or
   * `threshold` (inference), gated's `rMag` and `bMag`. Absent for the others.
   */
  extra?: Record<string, Float32Array>;
}

/** Zeroed parameters for an SAE of this size, with the named extra per-latent tensors. */
export function allocateParams(dIn: number, dSae: number, extraNames: readonly string[] = []): SAEParams {
  const p: SAEParams = {
    dIn, dSae,
    wEnc: new Float32Array(dSae * dIn),
    bEnc: new Float32Array(dSae),
    wDec: new Float32Array(dSae * dIn),
    bDec: new Float32Array(dIn),
  };
  if (extraNames.length > 0) p.extra = Object.fromEntries(extraNames.map((name) => [name, new Float32Array(dSae)]));
  return p;
}

/** An extra parameter tensor, or a clear error naming it. */
export function extraParam(p: SAEParams, name: string): Float32Array {
  const t = p.extra?.[name];
  if (!t) throw new Error(`SAE parameters lack "${name}" (this architecture needs it)`);
  return t;
}

/** Every parameter tensor by name: the four common ones, then the extras in name order. */
export function namedTensors(p: SAEParams): [string, Float32Array][] {
  const out: [string, Float32Array][] = [["wEnc", p.wEnc], ["bEnc", p.bEnc], ["wDec", p.wDec], ["bDec", p.bDec]];
  for (const name of Object.keys(p.extra ?? {}).sort()) out.push([name, p.extra![name]!]);
  return out;
}

/** A deep copy. */
export function cloneParams(p: SAEParams): SAEParams {
  const q: SAEParams = { dIn: p.dIn, dSae: p.dSae, wEnc: p.wEnc.slice(), bEnc: p.bEnc.slice(), wDec: p.wDec.slice(), bDec: p.bDec.slice() };
  if (p.extra) q.extra = Object.fromEntries(Object.entries(p.extra).map(([k, v]) => [k, v.slice()]));
  return q;
}

/** Scale every row of a [rows, d] matrix to unit L2 norm (rows of zeros are left as they are). */
export function normaliseRows(m: Float32Array, rows: number, d: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += m[o + j]! * m[o + j]!;
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) m[o + j] *= inv;
  }
}

/**
 * Geometric median by Weiszfeld's iteration (deterministic: fixed start at the mean, fixed iteration count
 * with an early stop on a fixed tolerance). Gao et al. initialise b_dec with it.
 */
export function geometricMedian(rows: Float32Array, n: number, d: number, iterations = 100): Float32Array {
  const y = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) y[j] += rows[r * d + j]!;
  for (let j = 0; j < d; j++) y[j] /= Math.max(n, 1);
  const next = new Float64Array(d);
  for (let it = 0; it < iterations; it++) {
    next.fill(0);
    let wsum = 0;
    for (let r = 0; r < n; r++) {
      let dist = 0;
      for (let j = 0; j < d; j++) {
        const diff = rows[r * d + j]! - y[j]!;
        dist += diff * diff;
      }
      const w = 1 / Math.max(Math.sqrt(dist), 1e-8);
      wsum += w;
      for (let j = 0; j < d; j++) next[j] += w * rows[r * d + j]!;
    }
    let shift = 0;
    for (let j = 0; j < d; j++) {
      const v = next[j]! / wsum;
      shift += (v - y[j]!) ** 2;
      y[j] = v;
    }
    if (shift < 1e-12) break;
  }
  return Float32Array.from(y);
}

/** Mean of the rows. */
export function rowMean(rows: Float32Array, n: number, d: number): Float32Array {
  const m = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) m[j] += rows[r * d + j]!;
  return Float32Array.from(m, (v) => v / Math.max(n, 1));
}

/**
 * The tied initialisation most recipes use: decoder rows N(0, I) scaled to norm `decoderInitNorm` (1 for Gao
 * et al.; 0.1 for the Anthropic April-2024 heuristic SAELens uses), W_enc = W_decᵀ, b_enc = 0, b_dec from
 * `decoderBiasInit` on `sample` (already scaled inputs).
 */
export function tiedInit(config: SAETrainConfig, sample: Float32Array, sampleRows: number, extraNames: readonly string[] = []): SAEParams {
  const { dIn, dSae, seed } = config;
  const p = allocateParams(dIn, dSae, extraNames);
  Rng.stream(seed, "sae/init/W_dec").fillNormal(p.wDec);
  normaliseRows(p.wDec, dSae, dIn);
  if (config.decoderInitNorm !== 1) for (let i = 0; i < p.wDec.length; i++) p.wDec[i] *= config.decoderInitNorm;
  p.wEnc.set(p.wDec); // W_enc = W_decᵀ (both stored latent-major)
  if (config.decoderBiasInit === "geometric-median") p.bDec.set(geometricMedian(sample, sampleRows, dIn));
  else if (config.decoderBiasInit === "mean") p.bDec.set(rowMean(sample, sampleRows, dIn));
  return p;
}
