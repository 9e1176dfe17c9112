/**
 * GPT-2's next token and one hook. Uses GPT-2 small when its weights are present (weights/gpt2, SAE_SEEDS_WEIGHTS),
 * otherwise brown-gpt2-mini, the small GPT-2 this repository ships (trained by `train-lm` on the Brown Corpus:
 * its guesses are those of a model that has read a million words, not GPT-2's).
 *   npx tsx examples/02_gpt2_next_token.ts
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadModel, resolveWeightsDir, forward, encode, decodeToken } from "sae-seeds/gpt2";

const dir = resolveWeightsDir();
const model = await loadModel({ model: existsSync(join(dir, "model.safetensors")) ? "gpt2" : "mini" });
const weights = model.weights;
console.log(`model: ${model.label}`);

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
