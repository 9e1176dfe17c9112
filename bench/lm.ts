/**
 * GPT-2 training throughput (train-lm's step: forward, fused tied-head softmax cross-entropy, backward, clipping,
 * AdamW), keys as in tools/reference/bench_torch.py's `lm` section, plus where the time of one step goes.
 */
import { paramLayout, flatten } from "../src/gpt2/train/params.ts";
import { GPT2TrainModel } from "../src/gpt2/train/gpt2_train.ts";
import { crossEntropyForwardBackward } from "../src/gpt2/train/xent.ts";
import { AdamWState, adamwUpdate, clipGradients, gradNorm } from "../src/gpt2/train/adamw.ts";
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";
import { bestSeconds } from "./util.ts";

/** [layers, d_model, heads, context, batch]: the shipped model's shape first. */
const CONFIGS: [number, number, number, number, number][] = [[6, 64, 4, 128, 16], [4, 128, 4, 128, 16], [2, 64, 2, 64, 8]];

export async function benchLM(quick = false): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [L, d, H, T, B] of quick ? CONFIGS.slice(0, 1) : CONFIGS) {
    const config = { nLayer: L, nHead: H, nEmbd: d, nPositions: T, vocabSize: 50257, layerNormEpsilon: 1e-5 };
    const layout = paramLayout(config);
    const model = new GPT2TrainModel(layout, flatten(layout, randomGPT2Weights(config, 0)));
    model.chunkRows = 512;
    const opt = new AdamWState(layout.total);
    const rows = B * T;
    const tokens = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % 50257);
    const targets = Int32Array.from({ length: rows }, (_, i) => (i * 104729 + 3) % 50257);
    const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const step = () => {
      model.lossAndGradients({ batch: B, seq: T, tokens, targets });
      clipGradients(model.grads, gradNorm(model.grads), 1);
      adamwUpdate(layout, model.params, model.grads, opt, 1e-3, hyper);
    };
    const key = `lm.train.${L}x${d}.t${T}.b${B}`;
    const seconds = await bestSeconds(key, step, { iterations: 3 });
    out[`${key}.tokens_per_s`] = Number((rows / seconds).toFixed(1));
    // Where the time goes: the tied head (logits, softmax-CE, both backward products) and the optimiser alone.
    const h = new Float32Array(rows * d), dh = new Float32Array(rows * d), dwte = new Float32Array(50257 * d);
    const head = await bestSeconds(`${key} head`, () => crossEntropyForwardBackward({ h, wte: model.weights.wte, targets, rows, d, vocab: 50257, chunkRows: 512, grads: { dh, dwte } }), { iterations: 3 });
    const adamw = await bestSeconds(`${key} adamw`, () => {
      clipGradients(model.grads, gradNorm(model.grads), 1);
      adamwUpdate(layout, model.params, model.grads, opt, 1e-3, hyper);
    }, { iterations: 3 });
    out[`${key}.step_seconds`] = Number(seconds.toFixed(3));
    out[`${key}.head_seconds`] = Number(head.toFixed(3));
    out[`${key}.adamw_seconds`] = Number(adamw.toFixed(3));
  }
  return out;
}
