/**
 * The study end to end on a tiny random checkpoint of each new family, in its exact Hugging Face layout, with a
 * tokenizer.json: `sweep --model <dir>` (activation cache at a different hook kind per family, SAE runs, quality
 * metrics with the reconstruction spliced in) and the stability report over its seeds, as on GPT-2.
 */
import { describe, it, expect, afterAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSweep } from "../src/study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../src/study/stability.ts";
import { gridConditions, type SweepSpec } from "../src/study/spec.ts";
import { gemma2Family, gptNeoXFamily, llamaFamily, type FamilySpec } from "../src/gpt2/families/index.ts";
import { randomCheckpointTensors, writeFamilyCheckpoint } from "../src/gpt2/random_checkpoint.ts";
import { runCli } from "./helpers/cli.ts";
import { tinyTokenizerJson, TINY_TOKENIZER_CONFIG, TINY_VOCAB } from "./helpers/tiny_tokenizer.ts";

const root = mkdtempSync(join(tmpdir(), "families-study-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CASES: [FamilySpec, Record<string, unknown>, string, "F32" | "BF16"][] = [
  [gptNeoXFamily, { model_type: "gpt_neox", hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, rotary_pct: 0.5, use_parallel_residual: true, max_position_embeddings: 64 }, "blocks.{layer}.hook_mlp_out", "F32"],
  [llamaFamily, { model_type: "llama", hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, max_position_embeddings: 64, tie_word_embeddings: true }, "blocks.{layer}.hook_resid_mid", "BF16"],
  [gemma2Family, { model_type: "gemma2", hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 48, max_position_embeddings: 64, query_pre_attn_scalar: 16, sliding_window: 8 }, "blocks.{layer}.hook_attn_out", "F32"],
];

function checkpoint(family: FamilySpec, json: Record<string, unknown>, dtype: "F32" | "BF16"): string {
  const dir = join(root, family.family);
  const config = family.parseConfig({ ...json, vocab_size: TINY_VOCAB, bos_token_id: 0, eos_token_id: 1 }, family.family);
  writeFamilyCheckpoint(dir, family, config, randomCheckpointTensors(family, config, 7, 0.3), { dtype });
  // The written config.json plus the ids the tokenizer needs.
  const written = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...written, bos_token_id: 0, eos_token_id: 1 }));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tinyTokenizerJson()));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(TINY_TOKENIZER_CONFIG));
  return dir;
}

describe.each(CASES.map((c) => [c[0].label, ...c] as const))("the study on a tiny random %s", (_label, family, json, hookTemplate, dtype) => {
  it(`sweep (${hookTemplate}, ${dtype} weights) and stability across seeds`, async () => {
    const dir = checkpoint(family, json, dtype);
    const out = join(root, `${family.family}-sweep`);
    const spec: SweepSpec = {
      name: family.family, model: dir, corpus: "brown", windowing: "standard", seqLen: 32, maxTokens: 400, includeSpecial: false,
      residual: "centered", hookTemplate, conditions: gridConditions([0, 1], [16], [4], ["topk"]), seeds: [1, 2], epochs: 2, batchSize: 64, lr: 1e-3, evalTokens: 64,
    };
    const result = await runSweep(spec, { outDir: out, cacheDir: join(root, "cache"), threads: 2, quiet: true, log: () => {} });
    expect(result.trained).toBe(4);
    expect(result.model!.label).toMatch(new RegExp(`^${family.label.replace(/[/()]/g, ".")} \\(2 layers, d=32, ${dtype}\\)`));
    expect(result.windows.tokens.every((t) => t < TINY_VOCAB)).toBe(true);
    expect(result.windows.tokens[0]).toBe(0); // the tokenizer's BOS starts each window
    const metrics = JSON.parse(readFileSync(join(out, "L1-n16-k4-topk", "seed-2", "metrics.json"), "utf8"));
    expect(metrics.quality.tokens).toBe(64);
    expect(Number.isFinite(metrics.quality.ceLossScore) && Number.isFinite(metrics.quality.explainedVariance)).toBe(true);
    expect(metrics.quality.ceZeroAblation).not.toBe(metrics.quality.ceClean);
    const report = buildStabilityReport(findRuns([out]), { threshold: 0.9, bootstrap: 50, nullDraws: 3, rngSeed: 0 }, "test");
    expect(report.conditions.map((c) => c.id).sort()).toEqual(["L0-n16-k4-topk", "L1-n16-k4-topk"]);
    expect(report.conditions[0]!.modes[0]!.pooled).toHaveLength(16); // one pair of seeds × 16 latents
  });
});

describe("the CLI on a model directory", () => {
  it("predict --tokens --all-logits --json works for every family (the fixtures ship no tokenizer)", () => {
    for (const name of ["pythia_parallel", "llama_gqa", "gemma2_window"]) {
      const dir = join(import.meta.dirname, "fixtures", "decoder_families", name);
      const r = runCli(["predict", "--model", dir, "--tokens", "17,4,23", "--all-logits", "--json", "--top", "3"]);
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { input: number[]; tokens: { id: number }[]; logits: number[] };
      expect(out.input).toEqual([17, 4, 23]);
      expect(out.logits).toHaveLength(96);
      expect(out.tokens).toHaveLength(3);
      expect(out.tokens[0]!.id).toBe(out.logits.indexOf(Math.max(...out.logits)));
      const noText = runCli(["predict", "--model", dir, "--prompt", "hello"]);
      expect(noText.status).not.toBe(0);
      expect(noText.stderr).toMatch(/has no tokenizer\.json: give token ids with --tokens 17,4,923/);
    }
    const bad = runCli(["predict", "--model", join(import.meta.dirname, "fixtures", "decoder_families", "llama_gqa"), "--tokens", "1,999"]);
    expect(bad.stderr).toMatch(/--tokens: id 999 is outside the model's vocabulary \[0, 96\)/);
    expect(existsSync(root)).toBe(true);
  });
});
