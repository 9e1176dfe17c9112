/**
 * Loading a model directory of any family: sharded checkpoints (model.safetensors.index.json) load to the same
 * model as one file, a broken index is one error naming the problem, 16-bit files stay 16-bit, a model too large for
 * the memory limit is refused before any tensor is read (with the figure), and bad configs say what to fix.
 */
import { describe, it, expect, afterAll } from "vitest";
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { loadModelDir } from "../src/gpt2/model_dir.ts";
import { randomCheckpointTensors, writeFamilyCheckpoint } from "../src/gpt2/random_checkpoint.ts";
import { gemma2Family, llamaFamily, gptNeoXFamily, parseModelConfig } from "../src/gpt2/families/index.ts";
import { forward } from "../src/gpt2/model.ts";
import { estimateModelMemory } from "../src/gpt2/model_memory.ts";

const tmp = mkdtempSync(join(tmpdir(), "model-dir-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FIXTURES = join(import.meta.dirname, "fixtures", "decoder_families");
const sha = (x: Float32Array): string => createHash("sha256").update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest("hex");

const tinyLlama = parseModelConfig({
  model_type: "llama", hidden_size: 32, intermediate_size: 48, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2,
  vocab_size: 64, max_position_embeddings: 32, rms_norm_eps: 1e-5, rope_theta: 10000,
});

describe("model directories", () => {
  it("a sharded BF16 checkpoint loads to the same model, bit for bit, as one file; its matrices stay 16-bit", async () => {
    const tensors = randomCheckpointTensors(llamaFamily, tinyLlama, 3, 0.2);
    writeFamilyCheckpoint(join(tmp, "one"), llamaFamily, tinyLlama, tensors, { dtype: "BF16" });
    const files = writeFamilyCheckpoint(join(tmp, "sharded"), llamaFamily, tinyLlama, tensors, { dtype: "BF16", maxShardBytes: 12_000 });
    expect(files.filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(2);
    const one = await loadModelDir(join(tmp, "one"));
    const sharded = await loadModelDir(join(tmp, "sharded"));
    expect(sharded.files.length).toBe(files.length - 2);
    expect(sharded.weights.blocks[1]!.mlpIn.weight.dtype).toBe("BF16");
    expect(sharded.weights.blocks[1]!.mlpIn.weight.data).toBeInstanceOf(Uint16Array);
    expect(sharded.sha256).not.toBe(one.sha256);
    const tokens = Int32Array.from({ length: 20 }, (_, i) => (i * 7) % 64);
    const a = forward(one.weights, tokens, 2, 10, { logits: "all", hooks: ["blocks.2.hook_resid_mid"] });
    const b = forward(sharded.weights, tokens, 2, 10, { logits: "all", hooks: ["blocks.2.hook_resid_mid"] });
    expect(sha(b.logits!)).toBe(sha(a.logits!));
    expect(sha(b.hooks.get("blocks.2.hook_resid_mid")!)).toBe(sha(a.hooks.get("blocks.2.hook_resid_mid")!));
    expect(one.tokenizer).toBeNull(); // no tokenizer.json: token ids only
  });

  it("refuses a broken shard index with one line naming the problem", async () => {
    const dir = join(tmp, "sharded");
    const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    const broken = (name: string, edit: (m: Record<string, string>) => void): string => {
      const d = join(tmp, name);
      cpSync(dir, d, { recursive: true });
      const map = { ...index.weight_map };
      edit(map);
      writeFileSync(join(d, "model.safetensors.index.json"), JSON.stringify({ weight_map: map }));
      return d;
    };
    const first = Object.keys(index.weight_map)[0]!;
    await expect(loadModelDir(broken("missing-shard", (m) => { m[first] = "model-00099-of-00099.safetensors"; }))).rejects.toThrow(/lists 1 shard\(s\) that are not in .*model-00099-of-00099.safetensors; download the missing files/);
    const other = Object.values(index.weight_map).find((f) => f !== index.weight_map[first])!;
    await expect(loadModelDir(broken("wrong-shard", (m) => { m[first] = other; }))).rejects.toThrow(new RegExp(`maps "${first.replace(/\./g, "\\.")}" to ${other}, which does not hold it`));
    await expect(loadModelDir(broken("unlisted", (m) => { delete m[first]; }))).rejects.toThrow(/does not list tensor/);
    await expect(loadModelDir(broken("escape", (m) => { m[first] = "../model.safetensors"; }))).rejects.toThrow(/not a \.safetensors file name beside the index/);
  });

  it("refuses a model too large for the memory limit before reading a tensor, with the figures", async () => {
    // An 8B-class Llama (Llama-3.1-8B's shape) as a sparse BF16 file: its header is real, its 16 GB of data never
    // exist on disk, and nothing reads them because the refusal comes first.
    const config = {
      model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
      vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    };
    const dir = join(tmp, "llama8b");
    writeSparseCheckpoint(dir, config, "BF16");
    await expect(loadModelDir(dir, { memoryLimitBytes: 12 * 2 ** 30 })).rejects.toThrow(/this Llama model needs about 1[5-9]\.\d GiB \(1[45]\.\d GiB of weights as kept in 16 bits, .* matmul staging, .* activations for 1024 positions\), more than the 12\.0 GiB available/);
    // What the estimate says for the two dtypes on a 24 GiB machine: BF16 fits, F32 does not.
    const c = parseModelConfig(config);
    const params = 8.03e9;
    expect(estimateModelMemory(c, 2 * params, 2, 1024).total / 2 ** 30).toBeLessThan(20);
    expect(estimateModelMemory(c, 4 * params, 4, 1024).total / 2 ** 30).toBeGreaterThan(24);
  });

  it("reads the fixtures' HF files (buffers skipped) and names bad configs and files in one line", async () => {
    const pythia = await loadModelDir(join(FIXTURES, "pythia_parallel"));
    expect(pythia.family).toBe(gptNeoXFamily);
    expect(pythia.label).toMatch(/^GPT-NeoX \/ Pythia \(2 layers, d=32, F32\)/);
    const bad = (name: string, config: Record<string, unknown>): string => {
      const d = join(tmp, name);
      cpSync(join(FIXTURES, "gemma2_window"), d, { recursive: true });
      writeFileSync(join(d, "config.json"), JSON.stringify(config));
      return d;
    };
    const gemma = JSON.parse(readFileSync(join(FIXTURES, "gemma2_window", "config.json"), "utf8")) as Record<string, unknown>;
    expect((await loadModelDir(bad("ok", gemma))).family).toBe(gemma2Family);
    await expect(loadModelDir(bad("mistral", { ...gemma, model_type: "mistral", architectures: ["MistralForCausalLM"] }))).rejects.toThrow(/model_type "mistral", architecture "MistralForCausalLM" is not a supported family; supported: gpt2 \(GPT2LMHeadModel\), gpt_neox/);
    await expect(loadModelDir(bad("heads", { ...gemma, num_key_value_heads: 3 }))).rejects.toThrow(/4 attention heads cannot share 3 key\/value heads/);
    await expect(loadModelDir(bad("act", { ...gemma, hidden_activation: "relu" }))).rejects.toThrow(/"hidden_activation" is "relu"; supported: gelu_pytorch_tanh/);
    await expect(loadModelDir(bad("layers", { ...gemma, num_hidden_layers: 4 }))).rejects.toThrow(/does not match Gemma-2 \(4 layers.*missing 11: model\.layers\.3\./);
    await expect(loadModelDir(join(tmp, "nowhere"))).rejects.toThrow(/has no config\.json/);
  });
});

/** config.json plus a model.safetensors whose header lists every tensor and whose data section is a hole. */
function writeSparseCheckpoint(dir: string, configJson: Record<string, unknown>, dtype: "BF16" | "F32"): void {
  const config = parseModelConfig(configJson);
  const size = dtype === "BF16" ? 2 : 4;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const { key, shape } of llamaFamily.expectedTensors(config).sort((a, b) => (a.key < b.key ? -1 : 1))) {
    const bytes = shape.reduce((a, b) => a * b, 1) * size;
    header[key] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(header);
  text += " ".repeat((8 - (text.length % 8)) % 8);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(FIXTURES, "llama_gqa"), dir, { recursive: true, filter: (src) => !src.endsWith(".safetensors") });
  writeFileSync(join(dir, "config.json"), JSON.stringify(configJson));
  const fd = openSync(join(dir, "model.safetensors"), "w");
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(text.length, 0);
  writeSync(fd, prefix);
  writeSync(fd, Buffer.from(text));
  closeSync(fd);
  // Extend to the full size without writing: a sparse file.
  truncateSync(join(dir, "model.safetensors"), 8 + text.length + offset);
}
