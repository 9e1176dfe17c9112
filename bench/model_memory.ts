/**
 * Memory of a 16-bit model as loaded: a seeded random Llama-1B-like checkpoint (d 2048, GQA 32/8, MLP 8192, vocabulary
 * 128256, tied; 4 of its 16 layers) written as BF16 safetensors, loaded by loadModelDir in a fresh process, then run on
 * 1024 tokens to the last block. Reports the file size, the resident memory the load added, and what one forward
 * added (the WebAssembly staging of the largest product and the activations): memory.llama1b4.*.
 *   npx tsx bench/model_memory.ts            (writes the checkpoint to a temporary directory, measures, removes it)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llamaFamily } from "../src/gpt2/families/index.ts";
import { randomCheckpointTensors, writeFamilyCheckpoint } from "../src/gpt2/random_checkpoint.ts";
import { loadModelDir } from "../src/gpt2/model_dir.ts";
import { forward } from "../src/gpt2/model.ts";
import { shutdownThreads } from "../src/tensor/wasm/index.ts";

const CONFIG = { model_type: "llama", hidden_size: 2048, num_hidden_layers: 4, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, max_position_embeddings: 2048, tie_word_embeddings: true };

const gc = (globalThis as { gc?: () => void }).gc;
const rss = (): number => {
  gc?.();
  return process.memoryUsage().rss;
};

if (process.argv[2] === "--child") {
  const dir = process.argv[3]!;
  const before = rss();
  const model = await loadModelDir(dir);
  const loaded = rss();
  const tokens = Int32Array.from({ length: 1024 }, (_, i) => (i * 7919) % 128000);
  forward(model.weights, tokens, 4, 256, { hooks: [`blocks.${model.weights.config.nLayer - 1}.hook_resid_post`] });
  const ran = rss();
  console.log(JSON.stringify({ before, loaded, ran, estimate: model.memory.total, estimateWeights: model.memory.weights }));
  shutdownThreads();
} else {
  const dir = mkdtempSync(join(tmpdir(), "model-memory-"));
  try {
    const config = llamaFamily.parseConfig(CONFIG, "bench");
    writeFamilyCheckpoint(dir, llamaFamily, config, randomCheckpointTensors(llamaFamily, config, 0), { dtype: "BF16" });
    const fileBytes = statSync(join(dir, "model.safetensors")).size;
    const r = JSON.parse(execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", "bench/model_memory.ts", "--child", dir], { encoding: "utf8" })) as Record<string, number>;
    const mib = (b: number) => Number((b / 2 ** 20).toFixed(0));
    console.log(JSON.stringify({
      "memory.llama1b4.bf16_file_mib": mib(fileBytes),
      "memory.llama1b4.load_rss_mib": mib(r.loaded! - r.before!),
      "memory.llama1b4.load_over_file": Number(((r.loaded! - r.before!) / fileBytes).toFixed(3)),
      "memory.llama1b4.forward_1024_tokens_extra_rss_mib": mib(r.ran! - r.loaded!),
      "memory.llama1b4.estimate_total_mib": mib(r.estimate!),
      "memory.llama1b4.peak_rss_after_forward_mib": mib(r.ran!),
    }, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
