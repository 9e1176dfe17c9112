/**
 * `matryoshka-batchtopk` — Bussmann et al. 2025, "Learning Multi-Level Features with Matryoshka Sparse
 * Autoencoders" (SAELens's MatryoshkaBatchTopK): a BatchTopK SAE (./batchtopk.ts, same selection, AuxK,
 * unit-norm decoder and inference threshold) whose latents are nested prefixes of widths w_1 < … < w_m = d_sae;
 * every prefix must reconstruct the input on its own:
 *   x̂_l = b_dec + Σ_{j < w_l} z_j·W_dec[j],   loss = Σ_l FVU(x̂_l) + AuxK/32   (x̂_m is the SAE's reconstruction).
 * Backward: with g_l = 2(x̂_l − x)/Σ(x − x̄)², a latent j in level ℓ(j) (the first l with j < w_l) receives
 *   ∂L/∂z_j = G_ℓ(j)·W_dec[j] and ∂W_dec[j] += z_j·G_ℓ(j), where G_ℓ = Σ_{l ≥ ℓ} g_l; ∂b_dec = Σ_l Σ_rows g_l.
 * Widths default to d_sae·(1/64, 1/16, 1/4, 1) (rounded down, at least 1, duplicates dropped).
 * Files: as SAELens saves Matryoshka SAEs for inference, a JumpReLU with the global threshold.
 */
import type { Architecture } from "./types.ts";
import { batchtopk, batchTopKStep } from "./batchtopk.ts";
import { decode, reconstructionLoss, backwardDecoder, totalVariance } from "../step.ts";

export function defaultMatryoshkaWidths(dSae: number): number[] {
  return [...new Set([dSae >> 6, dSae >> 4, dSae >> 2, dSae].filter((w) => w >= 1))];
}

export const matryoshka: Architecture = {
  ...batchtopk,
  recipe: "matryoshka-batchtopk",
  defaults: (dims) => ({ ...batchtopk.defaults(dims), matryoshkaWidths: defaultMatryoshkaWidths(dims.dSae) }),
  validate(c) {
    batchtopk.validate?.(c);
    const w = c.matryoshkaWidths;
    const ok = w.length >= 1 && w.every((v, i) => Number.isSafeInteger(v) && v >= 1 && (i === 0 || v > w[i - 1]!)) && w.at(-1) === c.dSae;
    if (!ok) throw new Error(`SAE config: matryoshkaWidths must increase strictly and end at d_sae = ${c.dSae}, got [${w.join(", ")}]`);
  },
  step: (ctx) => batchTopKStep(ctx, (code) => {
    const { p, cfg, ws, x, rows } = ctx;
    const { dIn } = p;
    const widths = cfg.matryoshkaWidths, m = widths.length;
    const n = rows * dIn;
    const variance = totalVariance(x, rows, dIn);
    // G [rows, m, d]: level l's row r at r·m + l; the outermost level's gradient is ws.gOut.
    const G = ws.buffer("matryoshka.G", rows * m * dIn);
    for (let r = 0; r < rows; r++) G.set(ws.gOut.subarray(r * dIn, (r + 1) * dIn), (r * m + m - 1) * dIn);
    let nested = 0;
    const xhat = ws.buffer("matryoshka.xhat", n), g = ws.buffer("matryoshka.g", n);
    for (let l = 0; l < m - 1; l++) {
      const inner = ws.code(`matryoshka.${l}`);
      inner.reset(rows);
      inner.reserve(code.nnz);
      for (let r = 0; r < rows; r++) {
        for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) if (code.idx[e]! < widths[l]!) inner.push(code.idx[e]!, code.val[e]!);
        inner.endRow(r);
      }
      decode(inner, p.wDec, dIn, p.bDec, xhat, ws);
      nested += reconstructionLoss(ctx, "fvu", xhat, g, variance).fvu;
      for (let r = 0; r < rows; r++) G.set(g.subarray(r * dIn, (r + 1) * dIn), (r * m + l) * dIn);
    }
    // Suffix sums over levels: G_l ← Σ_{l' ≥ l} g_l'.
    for (let r = 0; r < rows; r++) {
      for (let l = m - 2; l >= 0; l--) {
        const o = (r * m + l) * dIn, above = o + dIn;
        for (let c = 0; c < dIn; c++) G[o + c] += G[above + c]!;
      }
    }
    const gRow = new Int32Array(code.nnz);
    for (let r = 0; r < rows; r++) {
      for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) {
        let level = 0;
        while (code.idx[e]! >= widths[level]!) level++;
        gRow[e] = r * m + level;
      }
    }
    backwardDecoder(code, G, p.wDec, dIn, ws.grads.wDec, ws, gRow);
    return nested;
  }),
  saelens: { ...batchtopk.saelens, alsoReads: ["matryoshka_batchtopk"] },
};
