/**
 * The command line for SAEs and activations from other libraries, run as a user runs it:
 *   - `stability --saes` on synthetic checkpoints laid out like Paulo & Belrose's multi-seed Pythia release (one
 *     sparsify repository per seed, a hookpoint folder each), with activations for live latents and quality;
 *   - `match A B` across libraries and widths (the unmatched side reported);
 *   - `import-acts` then `sweep --acts` on a .npy file: trains, scores on held-out rows, reports, reruns nothing;
 *   - `download --sae` and `download --saelens-release` against a hub on 127.0.0.1.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../src/gpt2/safetensors.ts";
import { Rng } from "../src/tensor/rng.ts";
import { runCliAsync } from "./helpers/cli.ts";
import { sparseDictionaryRows } from "./helpers/synthetic.ts";
import { filesOf, startFakeSAEHub, type FakeSAEHub } from "./helpers/fake_sae_hub.ts";

const root = mkdtempSync(join(tmpdir(), "other-cli-"));
const D = 16, N = 32;

/** A .npy file (format 1.0, little-endian float32, C order) as np.save writes it. */
function writeNpy(path: string, data: Float32Array, rows: number, d: number): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${d}), }`;
  header = header.padEnd(Math.ceil((header.length + 11) / 64) * 64 - 11, " ") + "\n";
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/**
 * Seed `s` of a planted dictionary in sparsify's layout: the same 32 unit directions in a seed-specific order, each
 * perturbed a little (decoder and tied encoder), as seeds of a stable SAE would be.
 */
function sparsifySeed(dir: string, s: number, width = N): void {
  const rng = Rng.stream(5, "planted");
  const base = rng.fillNormal(new Float32Array(N * D)) as Float32Array;
  const noise = Rng.stream(s, "seed-noise");
  const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => ((a * 7 + s * 13) % N) - ((b * 7 + s * 13) % N));
  const w = new Float32Array(width * D);
  for (let j = 0; j < width; j++) {
    let norm = 0;
    for (let c = 0; c < D; c++) {
      w[j * D + c] = base[order[j % N]! * D + c]! + 0.03 * noise.normal();
      norm += w[j * D + c]! ** 2;
    }
    for (let c = 0; c < D; c++) w[j * D + c] /= Math.sqrt(norm);
  }
  const folder = join(dir, "layers.6");
  mkdirSync(folder, { recursive: true });
  writeSafetensors(join(folder, "sae.safetensors"), {
    "encoder.weight": { dtype: "F32", shape: [width, D], data: w }, "encoder.bias": { dtype: "F32", shape: [width], data: new Float32Array(width) },
    W_dec: { dtype: "F32", shape: [width, D], data: w }, b_dec: { dtype: "F32", shape: [D], data: new Float32Array(D) },
  }, { format: "pt" });
  writeFileSync(join(folder, "cfg.json"), JSON.stringify({ activation: "topk", expansion_factor: 2, normalize_decoder: true, num_latents: width, k: 4, multi_topk: false, skip_connection: false, transcode: false, d_in: D }));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ model: "EleutherAI/pythia-160m", hookpoints: ["layers.6"], init_seeds: [s] }));
}

describe("stability --saes and match on SAEs sae-seeds did not train", () => {
  const seeds = [0, 1, 2].map((s) => join(root, `sae-pythia-160m-32k-seed${s}`));
  const acts = join(root, "acts.npy");
  beforeAll(() => {
    seeds.forEach((dir, s) => sparsifySeed(dir, s));
    writeNpy(acts, sparseDictionaryRows(600, D, N, 3, 9), 600, D);
  });

  it("writes a sweep's report for three seeds of a multi-seed release, with live latents and quality from --acts", async () => {
    const out = join(root, "report");
    const r = await runCliAsync(["stability", "--saes", ...seeds, "--hookpoint", "layers.6", "--acts", acts, "--tokens", "400", "--bootstrap", "100", "--null", "10", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    const c = report.conditions[0];
    expect(c.seeds).toEqual([0, 1, 2]);
    expect(c.label).toMatch(/^3 SAEs \(sparsify topk; 32 latents; d_in 16\)$/);
    const full = c.modes.find((m: { mode: string }) => m.mode === "full");
    expect(full.pairs.length).toBe(3);
    expect(full.median.value).toBeGreaterThan(0.99); // the same planted directions in every seed
    expect(full.median.nullMean).toBeLessThan(0.6);
    expect(full.median.pValue).toBeLessThan(0.1);
    expect(full.shared.sharedPB.value).toBeGreaterThan(0.95);
    expect(full.shared.sharedSamePartner.value).toBeGreaterThan(0.95);
    expect(c.quality.explainedVariance.value).toBeGreaterThan(-10);
    expect(c.quality.ceLossScore).toBeNull();
    expect(report.model).toBe("EleutherAI/pythia-160m");
    expect(r.stdout).toMatch(/CE-loss score unavailable/);
    expect(readFileSync(join(out, "report.md"), "utf8")).toMatch(/3 SAEs \(sparsify topk/);
  });

  it("refuses SAEs of different d_in, and flags that need --saes or --acts, each in one line", async () => {
    const other = join(root, "dl");
    mkdirSync(other, { recursive: true });
    const bad = await runCliAsync(["stability", "--saes", seeds[0]!, join(import.meta.dirname, "fixtures", "other_libraries", "dl_topk"), "--hookpoint", "layers.6", "--out", join(root, "x")]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/reads d_in 12 but .* reads 16; stability compares SAEs of the same input/);
    expect((await runCliAsync(["stability", "runs/x", "--acts", acts])).stderr).toMatch(/--acts goes with --saes/);
    expect((await runCliAsync(["stability", "--saes", ...seeds, "--tokens", "5", "--out", join(root, "y")])).stderr).toMatch(/--hook, --tokens and --k go with --acts/);
  });

  it("match A B pairs SAEs of different widths and reports the unmatched side", async () => {
    const narrow = join(root, "narrow");
    sparsifySeed(narrow, 1, 20);
    const r = await runCliAsync(["match", join(narrow, "layers.6"), join(seeds[0]!, "layers.6"), "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m.summary.n).toBe(20);
    expect(m.unmatched).toMatchObject({ side: "B" });
    expect(m.unmatched.ids.length).toBe(12);
    expect(m.formats).toEqual(["sparsify", "sparsify"]);
    expect(m.optimality.optimal).toBe(true);
    const text = (await runCliAsync(["match", join(narrow, "layers.6"), join(seeds[0]!, "layers.6")])).stdout;
    expect(text).toMatch(/unmatched: 12 features of B \(the wider side\) have no partner/);
  });
});

describe("import-acts and sweep --acts", () => {
  it("a .npy file trains a sweep, scored on held-out rows (CE-loss unavailable), reported, and reused on a rerun", async () => {
    const npy = join(root, "planted.npy");
    writeNpy(npy, sparseDictionaryRows(1500, D, N, 3, 4), 1500, D);
    const cache = join(root, "cache"), out = join(root, "runs");
    const imp = await runCliAsync(["import-acts", npy, "--model", "EleutherAI/pythia-70m", "--source-hook", "gpt_neox.layers.3", "--tokens", "1500 synthetic rows", "--out", cache, "--json"]);
    expect(imp.status, imp.stderr).toBe(0);
    const summary = JSON.parse(imp.stdout);
    expect(summary).toMatchObject({ rows: 1350, heldOutRows: 150, dIn: 16, description: { model: "EleutherAI/pythia-70m" } });
    const sweep = ["sweep", "--acts", summary.dir, "--cache", cache, "--out", out, "--features", "32", "--k", "3", "--seeds", "1,2", "--epochs", "2", "--batch-size", "100", "--eval-tokens", "100", "--quiet", "--processes", "1"];
    const first = await runCliAsync(sweep);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/quality metrics on 100 held-out rows of the import/);
    const metrics = JSON.parse(readFileSync(join(out, "L0-n32-k3-topk", "seed-1", "metrics.json"), "utf8"));
    expect(metrics.quality).toMatchObject({ tokens: 100, ceLossScore: null, klScore: null });
    expect(metrics.quality.fvu).toBeLessThan(1);
    const env = JSON.parse(readFileSync(join(out, "L0-n32-k3-topk", "seed-1", "environment.json"), "utf8"));
    expect(env).toMatchObject({ modelKind: "imported", importedDescription: { model: "EleutherAI/pythia-70m", hook: "gpt_neox.layers.3" } });
    const cfg = JSON.parse(readFileSync(join(out, "L0-n32-k3-topk", "seed-1", "sae", "cfg.json"), "utf8"));
    expect(cfg.metadata).toMatchObject({ model_name: "EleutherAI/pythia-70m", hook_name: "gpt_neox.layers.3" });
    const again = await runCliAsync(sweep);
    expect(again.stderr).toMatch(/runs: 0 trained, 2 already complete/);
    const report = await runCliAsync(["stability", out, "--bootstrap", "50", "--null", "5"]);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/quality\s+EV \S+ .*CE-loss score unavailable/);
    // A file given to --acts directly is imported on the fly, into the cache root.
    const direct = await runCliAsync(["sweep", "--acts", npy, "--cache", join(root, "cache2"), "--out", join(root, "runs2"), "--features", "32", "--k", "3", "--seeds", "1", "--epochs", "1", "--batch-size", "100", "--eval-tokens", "0", "--quiet", "--processes", "1"]);
    expect(direct.status, direct.stderr).toBe(0);
    expect(direct.stderr).toMatch(/imported into/);
  });

  it("refuses --layers on imported activations (one hook, no layers) in one line", async () => {
    const npy = join(root, "small.npy");
    writeNpy(npy, sparseDictionaryRows(50, D, N, 3, 2), 50, D);
    const r = await runCliAsync(["sweep", "--acts", npy, "--cache", join(root, "cache3"), "--out", join(root, "runs3"), "--layers", "1,2", "--features", "8", "--k", "2", "--seeds", "1", "--quiet"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/imported activations have one hook \(acts\) and no layers; drop --layers 1,2/);
  });
});

describe("download --sae and --saelens-release (loopback hub)", () => {
  let hub: FakeSAEHub;
  const FIX = join(import.meta.dirname, "fixtures");
  beforeAll(async () => {
    const saelens = Object.fromEntries(Object.entries(filesOf(join(FIX, "saelens_files", "v6_jumprelu"))).map(([p, b]) => [`blocks.3.hook_resid_pre/${p}`, b]));
    hub = await startFakeSAEHub({ "EleutherAI/sae-test": { main: filesOf(join(FIX, "other_libraries", "sparsify_repo")) }, "jbloom/test-saes": { main: saelens } });
  });
  afterAll(() => hub.close());

  it("downloads a hookpoint with sizes and sha256, and a SAELens release through a local release table", async () => {
    const dir = join(root, "dl");
    const r = await runCliAsync(["download", "--sae", "EleutherAI/sae-test", "--hookpoint", "layers.3", "--dir", dir, "--hub-url", hub.url]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/layers\.3\/sae\.safetensors: \d+ bytes, sha256 [0-9a-f]{64} \(downloaded, hash verified\)/);
    expect(r.stdout).toMatch(/SAE folder: .*layers\.3/);
    const many = await runCliAsync(["download", "--sae", "EleutherAI/sae-test", "--dir", dir, "--hub-url", hub.url]);
    expect(many.status).toBe(1);
    expect(many.stderr).toMatch(/holds 2 SAEs .*; choose one with --hookpoint, or pass --all/);
    const table = join(root, "pretrained_saes.yaml");
    writeFileSync(table, [
      "# a release table in SAELens's format", "test-res-jb:", "  conversion_func: null", "  model: gpt2", "  repo_id: jbloom/test-saes",
      "  saes:", "  - id: blocks.3.hook_resid_pre", "    path: blocks.3.hook_resid_pre", "    neuronpedia: gpt2-small/3-res-jb", "",
    ].join("\n"));
    const rel = await runCliAsync(["download", "--saelens-release", "test-res-jb", "--sae-id", "blocks.3.hook_resid_pre", "--release-table", table, "--dir", join(root, "rel"), "--hub-url", hub.url]);
    expect(rel.status, rel.stderr).toBe(0);
    expect(rel.stdout).toMatch(/SAE folder: .*blocks\.3\.hook_resid_pre \(jbloom\/test-saes\/blocks\.3\.hook_resid_pre/);
    const m = await runCliAsync(["match", join(root, "rel", "blocks.3.hook_resid_pre"), join(root, "rel", "blocks.3.hook_resid_pre"), "--json"]);
    expect(JSON.parse(m.stdout).summary.median).toBeCloseTo(1, 6);
    const wrong = await runCliAsync(["download", "--saelens-release", "test-res-jb", "--release-table", table]);
    expect(wrong.stderr).toMatch(/--saelens-release needs --sae-id/);
  });
});
