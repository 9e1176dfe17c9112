/**
 * Rotary position embeddings as Hugging Face's GPT-NeoX, Llama and Gemma-2 apply them ("rotate_half", the half-split
 * form): the first `rotaryDims` dimensions of each query and key head are split into halves x₁ = x[0, R/2) and
 * x₂ = x[R/2, R), and at position p with angles θᵢ = p·fᵢ
 *
 *   out[i]       = x₁[i]·cos θᵢ − x₂[i]·sin θᵢ
 *   out[R/2 + i] = x₂[i]·cos θᵢ + x₁[i]·sin θᵢ          (dimensions from R on pass through unchanged)
 *
 * with inverse frequencies fᵢ = base^(−2i/R), optionally rescaled by Llama-3.1's rule (rope_type "llama3"): with
 * wavelength λᵢ = 2π/fᵢ, frequencies with λ > original_context/low_freq_factor are divided by `factor`, those with
 * λ < original_context/high_freq_factor kept, and those between interpolated, (1 − s)·f/factor + s·f with
 * s = (original_context/λ − low) / (high − low).
 *
 * Precision: Hugging Face builds fᵢ and the cos/sin table in float32 (even in a float64 model); we compute both in
 * float64 with the deterministic detPow and detSinCos, and round only the rotated values to float32. That is the more
 * exact choice (float32 angles p·fᵢ lose about p·2⁻²⁴ radians, 2.4e-4 at position 4096) and is measured against HF
 * in the tests (test/decoder_families.test.ts).
 */
import { detPow, detSinCos } from "../../tensor/det_special.ts";
import type { DecoderConfig } from "./config.ts";

export function inverseFrequencies(c: Pick<DecoderConfig, "rotaryDims" | "ropeTheta" | "ropeScaling">): Float64Array {
  const half = c.rotaryDims / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / detPow(c.ropeTheta, (2 * i) / c.rotaryDims);
  const s = c.ropeScaling;
  if (s) {
    const lowWavelength = s.originalContext / s.lowFreqFactor;
    const highWavelength = s.originalContext / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const wavelength = (2 * Math.PI) / f;
      if (wavelength > lowWavelength) inv[i] = f / s.factor;
      else if (wavelength >= highWavelength) {
        const smooth = (s.originalContext / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = ((1 - smooth) * f) / s.factor + smooth * f;
      }
    }
  }
  return inv;
}

/** cos θ and sin θ for positions 0 … seq−1: [seq × R/2] each, row p at p·R/2. */
export interface RotaryTable {
  half: number;
  cos: Float64Array;
  sin: Float64Array;
}

export function rotaryTable(invFreq: Float64Array, seq: number): RotaryTable {
  const half = invFreq.length;
  const cos = new Float64Array(seq * half);
  const sin = new Float64Array(seq * half);
  const sc = new Float64Array(2);
  for (let p = 0; p < seq; p++) {
    for (let i = 0; i < half; i++) {
      detSinCos(p * invFreq[i]!, sc);
      sin[p * half + i] = sc[0]!;
      cos[p * half + i] = sc[1]!;
    }
  }
  return { half, cos, sin };
}

/** Rotate the first 2·half dimensions of each of `seq` head rows (length headDim, contiguous), row p at position p. */
export function applyRotary(x: Float32Array, seq: number, headDim: number, table: RotaryTable): void {
  const { half, cos, sin } = table;
  for (let p = 0; p < seq; p++) {
    const o = p * headDim;
    const t = p * half;
    for (let i = 0; i < half; i++) {
      const a = x[o + i]!, b = x[o + half + i]!;
      const c = cos[t + i]!, s = sin[t + i]!;
      x[o + i] = a * c - b * s;
      x[o + half + i] = b * c + a * s;
    }
  }
}
