/**
 * `downloadRepo` against a local stand-in for the hub on 127.0.0.1: a sharded, gated repository (token from HF_TOKEN)
 * comes down whole — config, index, every shard, tokenizer files — each verified by size and sha256, with progress;
 * what is present is not fetched again; refusals and repositories without safetensors are one clear line each.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadRepo, isRepoId, repoDir } from "../src/gpt2/hub.ts";
import { loadModelDir } from "../src/gpt2/model_dir.ts";
import { forward } from "../src/gpt2/model.ts";
import { llamaFamily, parseModelConfig } from "../src/gpt2/families/index.ts";
import { randomCheckpointTensors, writeFamilyCheckpoint } from "../src/gpt2/random_checkpoint.ts";
import { startFakeModelHub, type FakeModelHub } from "./helpers/fake_model_hub.ts";
import { tinyTokenizerJson, TINY_TOKENIZER_CONFIG, TINY_VOCAB } from "./helpers/tiny_tokenizer.ts";

const tmp = mkdtempSync(join(tmpdir(), "hub-repo-"));
let hub: FakeModelHub;
const TOKEN = "hf_test_token";

function filesOf(dir: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
}

beforeAll(async () => {
  const config = parseModelConfig({ model_type: "llama", hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: TINY_VOCAB, max_position_embeddings: 32, bos_token_id: 0, eos_token_id: 1 });
  const src = join(tmp, "src");
  writeFamilyCheckpoint(src, llamaFamily, config, randomCheckpointTensors(llamaFamily, config, 1, 0.1), { dtype: "BF16", maxShardBytes: 10_000 });
  writeFileSync(join(src, "tokenizer.json"), JSON.stringify(tinyTokenizerJson()));
  writeFileSync(join(src, "tokenizer_config.json"), JSON.stringify(TINY_TOKENIZER_CONFIG));
  const single = join(import.meta.dirname, "fixtures", "decoder_families", "gemma2_nocap");
  hub = await startFakeModelHub({
    "meta-llama/Tiny-Llama": { files: filesOf(src), token: TOKEN },
    "google/tiny-gemma": { files: { "config.json": readFileSync(join(single, "config.json")), "model.safetensors": readFileSync(join(single, "model.safetensors")) } },
    "someone/pickle-only": { files: { "config.json": Buffer.from("{}"), "pytorch_model.bin": Buffer.from("PK") } },
  });
});

afterAll(async () => {
  await hub.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("downloading a model repository", () => {
  it("fetches a gated sharded repository whole with HF_TOKEN, verified, and the directory loads and runs", async () => {
    const dir = join(tmp, "llama");
    const progress = new Map<string, number>();
    const got = await downloadRepo("meta-llama/Tiny-Llama", { dir, hubUrl: hub.url, token: TOKEN, onProgress: (f, done) => progress.set(f, done) });
    expect(got.weights).toBe("sharded");
    const names = got.files.map((f) => f.file);
    expect(names[0]).toBe("config.json");
    expect(names).toContain("model.safetensors.index.json");
    expect(names.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n)).length).toBeGreaterThan(2);
    expect(names).toEqual(expect.arrayContaining(["tokenizer.json", "tokenizer_config.json"]));
    for (const f of got.files.filter((g) => g.file.endsWith(".safetensors"))) {
      expect(f.verifiedHash).toBe(true);
      expect(progress.get(f.file)).toBe(f.bytes);
    }
    const model = await loadModelDir(dir);
    expect(model.tokenizer!.encode("The cat")).toEqual([42, 29, 5, 3, 22]); // the, " ", c, a, t (lowercased)
    expect(forward(model.weights, Int32Array.from([0, 42, 5, 3, 22]), 1, 5, { logits: "last" }).logits!.every(Number.isFinite)).toBe(true);
    const served = hub.bodies.length;
    const again = await downloadRepo("meta-llama/Tiny-Llama", { dir, hubUrl: hub.url, token: TOKEN });
    expect(again.files.every((f) => !f.downloaded)).toBe(true);
    expect(hub.bodies.length).toBe(served);
  });

  it("says what is wrong when a gated repository refuses, and when a repository has no safetensors", async () => {
    const dir = join(tmp, "refused");
    const saved = process.env.HF_TOKEN;
    delete process.env.HF_TOKEN;
    try {
      await expect(downloadRepo("meta-llama/Tiny-Llama", { dir, hubUrl: hub.url })).rejects.toThrow(/refused config\.json without a token \(HTTP 401\): it is gated or private; set HF_TOKEN/);
      process.env.HF_TOKEN = "hf_wrong";
      await expect(downloadRepo("meta-llama/Tiny-Llama", { dir, hubUrl: hub.url })).rejects.toThrow(/HTTP 403\): the account of HF_TOKEN has not been granted access; accept the model's licence/);
      process.env.HF_TOKEN = "not-a-token";
      await expect(downloadRepo("meta-llama/Tiny-Llama", { dir, hubUrl: hub.url })).rejects.toThrow(/HF_TOKEN does not look like a hub access token/);
    } finally {
      if (saved === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = saved;
    }
    await expect(downloadRepo("someone/pickle-only", { dir, hubUrl: hub.url })).rejects.toThrow(/has neither model\.safetensors nor model\.safetensors\.index\.json \(only pytorch_model\.bin, a pickle this tool does not load\)/);
    await expect(downloadRepo("nobody/nothing", { dir, hubUrl: hub.url })).rejects.toThrow(/nobody\/nothing has no config\.json .*not a model repository/);
    await expect(downloadRepo("../etc", { dir, hubUrl: hub.url })).rejects.toThrow(/is not a repository id/);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("fetches a single-file repository with no tokenizer files, and names repository directories", async () => {
    const got = await downloadRepo("google/tiny-gemma", { dir: join(tmp, "gemma"), hubUrl: hub.url });
    expect(got.weights).toBe("single");
    expect(got.files.map((f) => f.file)).toEqual(["config.json", "model.safetensors"]);
    expect((await loadModelDir(join(tmp, "gemma"))).family.family).toBe("gemma2");
    expect(repoDir("EleutherAI/pythia-160m")).toBe(join("weights", "EleutherAI", "pythia-160m"));
    expect([isRepoId("EleutherAI/pythia-160m"), isRepoId("gpt2"), isRepoId("a/b/c"), isRepoId("./x")]).toEqual([true, false, false, false]);
  });
});
