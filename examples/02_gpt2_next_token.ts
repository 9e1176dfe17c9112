/**
 * GPT-2's next token and one hook. Uses real weights when present (weights/gpt2, SAE_SEEDS_WEIGHTS), otherwise
 * a small seeded random GPT-2 — then the predictions are noise, which the output says.
 *   npx tsx examples/02_gpt2_next_token.ts [--tiny]
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, resolveWeightsDir, randomGPT2Weights, forward, encode, decodeToken } from "sae-seeds/gpt2";

const dir = resolveWeightsDir();
const real = !process.argv.includes("--tiny") && existsSync(join(dir, "model.safetensors"));
const weights = real
  ? (await loadCheckpoint(dir)).weights
  : randomGPT2Weights({ nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 128, vocabSize: 50257, layerNormEpsilon: 1e-5 }, 0);
console.log(real ? `GPT-2 from ${dir}` : "a tiny random GPT-2 (no trained weights): predictions are noise");

const ids = encode("The Eiffel Tower is in the city of");
const layer = Math.min(6, weights.config.nLayer - 1);
const out = forward(weights, ids, 1, ids.length, { logits: "last", hooks: [`blocks.${layer}.hook_resid_pre`], residual: "centered" });
const logits = out.logits!;
const top = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!).slice(0, 5);
console.log("top next tokens:", top.map((id) => JSON.stringify(decodeToken(id))).join(", "));
const resid = out.hooks.get(`blocks.${layer}.hook_resid_pre`)!;
const d = weights.config.nEmbd;
const last = resid.subarray((ids.length - 1) * d, ids.length * d);
console.log(`blocks.${layer}.hook_resid_pre at the last token: ${d} numbers, norm ${Math.hypot(...last).toFixed(3)}, mean ${(last.reduce((s, v) => s + v, 0) / d).toExponential(1)} (centred)`);
