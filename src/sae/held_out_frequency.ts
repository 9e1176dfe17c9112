/**
 * Each latent's firing frequency on held-out tokens: the fraction of a hook baseline's real-token positions (the
 * documents after the training ones, ./quality.ts) at which the latent fires by its recipe's rule. The findings
 * report ranks latents by it against their stability across seeds (which features are stable: the frequent ones?).
 */
import type { SAE } from "./sae_types.ts";
import { encode, fires } from "./sae.ts";
import type { HookBaseline } from "./quality.ts";

/** Frequencies in [0, 1], one per latent, over the baseline's real-token positions (encoded in blocks: bounded memory). */
export function heldOutFrequencies(sae: SAE, base: HookBaseline, blockRows = 4096): Float64Array {
  const d = sae.params.dIn;
  return frequenciesOf(sae, base.realRows.length, blockRows, (start, rows, x) => {
    for (let t = 0; t < rows; t++) {
      const p = base.realRows[start + t]!;
      x.set(base.activations.subarray(p * d, (p + 1) * d), t * d);
    }
  });
}

/** The same over rows given directly ([T, d_in]: held-out rows of imported activations). */
export function latentFrequencies(sae: SAE, rowsX: Float32Array, T: number, blockRows = 4096): Float64Array {
  const d = sae.params.dIn;
  return frequenciesOf(sae, T, blockRows, (start, rows, x) => x.set(rowsX.subarray(start * d, (start + rows) * d)));
}

function frequenciesOf(sae: SAE, total: number, blockRows: number, fill: (start: number, rows: number, x: Float32Array) => void): Float64Array {
  const d = sae.params.dIn, n = sae.params.dSae;
  const counts = new Float64Array(n);
  for (let start = 0; start < total; start += blockRows) {
    const rows = Math.min(blockRows, total - start);
    const x = new Float32Array(rows * d);
    fill(start, rows, x);
    const code = encode(sae, x, rows);
    for (let e = 0; e < code.values.length; e++) if (fires(sae.recipe, code.values[e]!)) counts[code.indices[e]!]++;
  }
  if (total > 0) for (let j = 0; j < n; j++) counts[j] /= total;
  return counts;
}
