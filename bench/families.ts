/**
 * Forward tokens/s for each model family at a Pythia-160m-like and a Llama-1B-like shape (fewer layers than the real
 * models: the per-layer cost is what matters), to the last block's resid_post (what an activation cache records; no
 * logits), with seeded random weights in float32 — and, for the Llama shape, BF16 weights kept in 16 bits.
 *
 * Beside each, the ceiling our own matmul kernel sets: the same products (every linear layer, and the two attention
 * products per head) timed alone at their exact shapes, summed — `…matmul_ceiling_tokens_per_s` — and the forward's
 * fraction of it, `…of_ceiling` = tokens/s ÷ ceiling tokens/s (1 would be a forward that costs nothing but its
 * matmuls). Keys match tools/reference/bench_torch.py's "families" section, which runs the same shapes in PyTorch.
 */
import { matmul, matmulHalf } from "../src/tensor/matmul.ts";
import { encodeBf16 } from "../src/tensor/half.ts";
import { forward } from "../src/gpt2/model.ts";
import { FAMILIES, type FamilySpec } from "../src/gpt2/families/index.ts";
import type { CheckpointTensors } from "../src/gpt2/families/tensors.ts";
import { randomCheckpointTensors } from "../src/gpt2/random_checkpoint.ts";
import { qkvWidth, type DecoderConfig } from "../src/gpt2/decoder/config.ts";
import { bestSeconds } from "./util.ts";

/** d, heads, kv heads, MLP width, vocabulary, layers. */
interface Shape {
  name: string;
  d: number;
  heads: number;
  kv: number;
  mlp: number;
  vocab: number;
  layers: number;
}

export const FAMILY_SHAPES: Shape[] = [
  { name: "pythia160m", d: 768, heads: 12, kv: 12, mlp: 3072, vocab: 50304, layers: 4 },
  { name: "llama1b", d: 2048, heads: 32, kv: 8, mlp: 8192, vocab: 128256, layers: 2 },
];
export const BATCH = 2;
export const SEQ = 256;

/** The config.json a family would have at this shape (GPT-2 and GPT-NeoX: as many kv heads as heads). */
export function configJsonFor(family: FamilySpec, s: Shape): Record<string, unknown> {
  switch (family.family) {
    case "gpt2":
      return { model_type: "gpt2", n_layer: s.layers, n_head: s.heads, n_embd: s.d, n_positions: 1024, vocab_size: s.vocab };
    case "gpt_neox":
      return { model_type: "gpt_neox", hidden_size: s.d, num_hidden_layers: s.layers, num_attention_heads: s.heads, intermediate_size: s.mlp, vocab_size: s.vocab, rotary_pct: 0.25, use_parallel_residual: true, max_position_embeddings: 2048 };
    case "llama":
      return { model_type: "llama", hidden_size: s.d, num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kv, intermediate_size: s.mlp, vocab_size: s.vocab, max_position_embeddings: 2048, tie_word_embeddings: true };
    case "gemma2":
      return { model_type: "gemma2", hidden_size: s.d, num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kv, head_dim: s.d / s.heads, intermediate_size: s.mlp, vocab_size: s.vocab, query_pre_attn_scalar: s.d / s.heads, sliding_window: 128 };
  }
}

function inMemory(family: FamilySpec, config: DecoderConfig, bf16: boolean): CheckpointTensors {
  const tensors = new Map(randomCheckpointTensors(family, config, 0).map((t) => [t.key, t]));
  const get = (k: string) => tensors.get(k)!;
  return {
    names: () => [...tensors.keys()],
    info: (k) => ({ dtype: bf16 && get(k).shape.length === 2 ? "BF16" : "F32", shape: get(k).shape }),
    readFloat32: (k) => get(k).data,
    readCodes: (k) => encodeBf16(get(k).data),
  };
}

interface Product {
  m: number;
  n: number;
  k: number;
  transB: boolean;
  count: number;
  /** The per-head attention products (always float32; many small calls). */
  attention?: boolean;
}

/** Every matmul one forward to the last block makes, grouped by shape. */
function forwardProducts(c: DecoderConfig, rows: number): Product[] {
  const linear = c.family === "gpt2" ? false : true; // GPT-2's Conv1D weights are [in, out]
  const mlpIn = c.gatedMlp ? 2 * c.dMlp : c.dMlp;
  const L = c.nLayer;
  return [
    { m: rows, n: qkvWidth(c), k: c.nEmbd, transB: linear, count: L },
    { m: rows, n: c.nEmbd, k: c.nHead * c.headDim, transB: linear, count: L },
    { m: rows, n: mlpIn, k: c.nEmbd, transB: linear, count: L },
    { m: rows, n: c.nEmbd, k: c.dMlp, transB: linear, count: L },
    { m: SEQ, n: SEQ, k: c.headDim, transB: true, count: L * BATCH * c.nHead, attention: true }, // Q·Kᵀ
    { m: SEQ, n: c.headDim, k: SEQ, transB: false, count: L * BATCH * c.nHead, attention: true }, // P·V
  ];
}

async function productSeconds(p: Product, bf16: boolean): Promise<number> {
  const small = p.attention === true;
  const a = new Float32Array(p.m * p.k).fill(0.01), c = new Float32Array(p.m * p.n);
  const b = new Float32Array(p.k * p.n).fill(0.02);
  const codes = encodeBf16(b);
  const run = bf16 && !small ? () => matmulHalf({ a, b: codes, bFormat: "bf16", c, m: p.m, n: p.n, k: p.k, transB: p.transB }) : () => matmul({ a, b, c, m: p.m, n: p.n, k: p.k, transB: p.transB });
  return bestSeconds(`matmul ${p.m}x${p.k}x${p.n}`, run, { iterations: small ? 20 : 3 });
}

/** `only` narrows the shapes and families (by name) for a targeted run; quick keeps the first shape. */
export async function benchFamilies(quick = false, only: { shapes?: string[]; families?: string[] } = {}): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const rows = BATCH * SEQ;
  const tokens = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % 50000);
  for (const shape of (quick ? FAMILY_SHAPES.slice(0, 1) : FAMILY_SHAPES).filter((s) => !only.shapes || only.shapes.includes(s.name))) {
    for (const family of FAMILIES.filter((f) => !only.families || only.families.includes(f.family))) {
      for (const bf16 of shape.name === "llama1b" && family.family === "llama" ? [false, true] : [false]) {
        const config = family.parseConfig(configJsonFor(family, shape), `${family.family} ${shape.name}`);
        const weights = family.mapTensors(inMemory(family, config, bf16), config, { label: "bench" });
        const hook = `blocks.${config.nLayer - 1}.hook_resid_post`;
        const seconds = await bestSeconds(`${family.family} ${shape.name}${bf16 ? " bf16" : ""}`, () => forward(weights, tokens, BATCH, SEQ, { hooks: [hook] }), { iterations: 2 });
        let ceiling = 0;
        for (const p of forwardProducts(config, rows)) ceiling += p.count * (await productSeconds(p, bf16));
        const key = `family.${family.family}.${shape.name}${bf16 ? ".bf16" : ""}`;
        out[`${key}.tokens_per_s`] = Number((rows / seconds).toFixed(1));
        out[`${key}.matmul_ceiling_tokens_per_s`] = Number((rows / ceiling).toFixed(1));
        out[`${key}.of_ceiling`] = Number((ceiling / seconds).toFixed(3));
      }
    }
  }
  return out;
}
