/**
 * Downloading SAE repositories (src/sae/hub_download.ts) from a hub on 127.0.0.1 laid out like the real one: a
 * sparsify repository with two hookpoint folders, a dictionary_learning repository with nested trainer folders,
 * revisions, pagination of the tree API, sizes and sha256 verified, corrupt transfers refused and nothing
 * half-written left behind, files already present not fetched again.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { downloadSAELensRelease, downloadSAERepo } from "../src/sae/hub_download.ts";
import { loadSAE } from "../src/sae/io.ts";
import { filesOf, startFakeSAEHub, type FakeSAEHub } from "./helpers/fake_sae_hub.ts";

const FIX = join(import.meta.dirname, "fixtures", "other_libraries");
let hub: FakeSAEHub;
const sparsify = filesOf(join(FIX, "sparsify_repo"));
const dl = { ...Object.fromEntries(Object.entries(filesOf(join(FIX, "dl_topk"))).map(([p, b]) => [`pythia70m_topk/resid_post_layer_3/trainer_0/${p}`, b])),
  ...Object.fromEntries(Object.entries(filesOf(join(FIX, "dl_batchtopk"))).map(([p, b]) => [`pythia70m_batchtopk/resid_post_layer_3/trainer_0/${p}`, b])) };

const SAELENS = join(import.meta.dirname, "fixtures", "saelens_files");
// A SAELens repository as jbloom's releases lay it out: one folder per SAE. The batchtopk training checkpoint is
// served without its activation_scaler.json: the release table's norm_scaling_factor supplies the factor.
const saelensRepo = {
  ...Object.fromEntries(Object.entries(filesOf(join(SAELENS, "v6_jumprelu"))).map(([p, b]) => [`blocks.3.hook_resid_pre_24/${p}`, b])),
  ...Object.fromEntries(Object.entries(filesOf(join(SAELENS, "v6_batchtopk_training"))).filter(([p]) => p !== "activation_scaler.json").map(([p, b]) => [`blocks.3.batchtopk_24/${p}`, b])),
};
const TABLE = {
  "test-res-jb": {
    conversion_func: null, model: "gpt2", repo_id: "jbloom/test-saes", config_overrides: { dataset_path: "Skylion007/openwebtext" },
    saes: [{ id: "blocks.3.hook_resid_pre", path: "blocks.3.hook_resid_pre_24", l0: 12 }, { id: "blocks.3.batchtopk", path: "blocks.3.batchtopk_24", norm_scaling_factor: 0.37 }],
  },
  "test-dl": { conversion_func: "dictionary_learning_1", model: "pythia-70m-deduped", repo_id: "saebench/dl-test", saes: [{ id: "topk", path: "pythia70m_topk/resid_post_layer_3/trainer_0" }] },
  "gemma-scope-test": { conversion_func: "gemma_2", model: "gemma-2-2b", repo_id: "google/gemma-scope-test", saes: [{ id: "layer_0/width_16k/average_l0_105", path: "layer_0/width_16k/average_l0_105" }] },
};

beforeAll(async () => {
  const older = { ...sparsify };
  delete older["layers.5.mlp/sae.safetensors"];
  delete older["layers.5.mlp/cfg.json"];
  hub = await startFakeSAEHub({ "EleutherAI/sae-test-32k": { main: sparsify, v0: older }, "saebench/dl-test": { main: dl }, "jbloom/test-saes": { main: saelensRepo } });
});
afterAll(() => hub.close());

describe("download --sae", () => {
  it("one hookpoint of a sparsify repository (with the run's config.json), verified, then read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-sae-"));
    const got = await downloadSAERepo({ repo: "EleutherAI/sae-test-32k", hookpoint: "layers.3", dir, hubUrl: hub.url });
    expect(got.files.map((f) => f.file).sort()).toEqual(["config.json", "layers.3/cfg.json", "layers.3/sae.safetensors"]);
    const weights = got.files.find((f) => f.file === "layers.3/sae.safetensors")!;
    expect(weights).toMatchObject({ verifiedHash: true, downloaded: true, bytes: sparsify["layers.3/sae.safetensors"]!.length });
    expect(weights.sha256).toBe(createHash("sha256").update(sparsify["layers.3/sae.safetensors"]!).digest("hex"));
    expect(got.saeDirs).toEqual([join(dir, "layers.3")]);
    expect(loadSAE(got.saeDirs[0]!)).toMatchObject({ format: "sparsify", modelName: "EleutherAI/pythia-160m" });
    // Again: nothing is fetched twice.
    const before = hub.fetched.length;
    const again = await downloadSAERepo({ repo: "EleutherAI/sae-test-32k", hookpoint: "layers.3", dir, hubUrl: hub.url });
    expect(again.files.every((f) => !f.downloaded)).toBe(true);
    expect(hub.fetched.length).toBe(before);
  });

  it("a repository of several SAEs needs --hookpoint or --all; a revision is honoured", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-sae-all-"));
    await expect(downloadSAERepo({ repo: "EleutherAI/sae-test-32k", dir, hubUrl: hub.url })).rejects.toThrow(/holds 2 SAEs \(.* in all\): layers\.3 \(.*\), layers\.5\.mlp \(.*\); choose one with --hookpoint, or pass --all/);
    const all = await downloadSAERepo({ repo: "EleutherAI/sae-test-32k", dir, hubUrl: hub.url, all: true });
    expect(all.saeDirs).toEqual([join(dir, "layers.3"), join(dir, "layers.5.mlp")]);
    const old = await downloadSAERepo({ repo: "EleutherAI/sae-test-32k", dir: mkdtempSync(join(tmpdir(), "dl-rev-")), hubUrl: hub.url, revision: "v0" });
    expect(old.saeDirs.length).toBe(1);
    await expect(downloadSAERepo({ repo: "EleutherAI/sae-test-32k", dir, hubUrl: hub.url, hookpoint: "layers.9" })).rejects.toThrow(/has no SAE folder "layers\.9"; it has layers\.3 .*, layers\.5\.mlp/);
    await expect(downloadSAERepo({ repo: "EleutherAI/nothing-here", dir, hubUrl: hub.url })).rejects.toThrow(/cannot list EleutherAI\/nothing-here on http:\/\/127\.0\.0\.1/);
  });

  it("dictionary_learning trainer folders at any depth: --hookpoint takes a folder and everything under it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-dict-"));
    const got = await downloadSAERepo({ repo: "saebench/dl-test", hookpoint: "pythia70m_topk", dir, hubUrl: hub.url });
    expect(got.saeDirs).toEqual([join(dir, "pythia70m_topk/resid_post_layer_3/trainer_0")]);
    expect(got.files.map((f) => f.file).sort()).toEqual(["pythia70m_topk/resid_post_layer_3/trainer_0/ae.pt", "pythia70m_topk/resid_post_layer_3/trainer_0/config.json"]);
    expect(loadSAE(got.saeDirs[0]!).architecture).toBe("AutoEncoderTopK");
  });

  it("a corrupt transfer is refused (sha256 against the hub's) and leaves no file behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-bad-"));
    hub.setCorrupt("layers.3/sae.safetensors");
    try {
      await expect(downloadSAERepo({ repo: "EleutherAI/sae-test-32k", hookpoint: "layers.3", dir, hubUrl: hub.url })).rejects.toThrow(/sae\.safetensors: sha256 [0-9a-f]{64} does not match the hub's/);
    } finally {
      hub.setCorrupt(null);
    }
    expect(existsSync(join(dir, "layers.3", "sae.safetensors"))).toBe(false);
    expect(readdirSync(join(dir, "layers.3")).filter((n) => n.includes(".tmp-"))).toEqual([]);
    expect(readFileSync(join(dir, "layers.3", "cfg.json"), "utf8")).toContain("topk");
  });
});

describe("download --saelens-release", () => {
  it("resolves the release table's repo and folder, records the entry, and the reader applies its scaling factor", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-rel-"));
    const got = await downloadSAELensRelease({ table: TABLE, tableSource: "pretrained_saes.yaml", release: "test-res-jb", saeId: "blocks.3.batchtopk", dir, hubUrl: hub.url });
    expect(got).toMatchObject({ repoId: "jbloom/test-saes", path: "blocks.3.batchtopk_24", saeDirs: [join(dir, "blocks.3.batchtopk_24")] });
    const record = JSON.parse(readFileSync(join(dir, "blocks.3.batchtopk_24", "saelens_release.json"), "utf8"));
    expect(record).toMatchObject({ release: "test-res-jb", sae_id: "blocks.3.batchtopk", norm_scaling_factor: 0.37, config_overrides: { dataset_path: "Skylion007/openwebtext" } });
    const loaded = loadSAE(got.saeDirs[0]!);
    expect(loaded.sae.inputScale).toBe(0.37);
    expect(loaded.cfg.dataset_path).toBe("Skylion007/openwebtext");
    const plain = await downloadSAELensRelease({ table: TABLE, tableSource: "t", release: "test-res-jb", saeId: "blocks.3.hook_resid_pre", dir, hubUrl: hub.url });
    expect(loadSAE(plain.saeDirs[0]!).sae.recipe).toBe("jumprelu");
  });

  it("a dictionary_learning_1 release reads with the dictionary_learning reader; other conversions are refused in one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dl-rel2-"));
    const got = await downloadSAELensRelease({ table: TABLE, tableSource: "t", release: "test-dl", saeId: "topk", dir, hubUrl: hub.url });
    expect(loadSAE(got.saeDirs[0]!).format).toBe("dictionary_learning");
    await expect(downloadSAELensRelease({ table: TABLE, tableSource: "t", release: "gemma-scope-test", saeId: "layer_0/width_16k/average_l0_105", dir, hubUrl: hub.url })).rejects.toThrow(/converts with its "gemma_2" loader, which sae-seeds does not read/);
    await expect(downloadSAELensRelease({ table: TABLE, tableSource: "t", release: "test-res", saeId: "x", dir, hubUrl: hub.url })).rejects.toThrow(/no release "test-res" \(similar: test-res-jb\)/);
    await expect(downloadSAELensRelease({ table: TABLE, tableSource: "t", release: "test-res-jb", saeId: "blocks.9", dir, hubUrl: hub.url })).rejects.toThrow(/has no SAE "blocks\.9"; its ids: blocks\.3\.hook_resid_pre, blocks\.3\.batchtopk/);
  });
});
