/**
 * `train-lm` end to end at tiny scale: a run killed with SIGKILL mid-training resumes to the same bytes as an
 * uninterrupted run reproduced from its receipt at another thread count; the output is the Hugging Face layout
 * that `predict` loads; `--receipt --stop-after` checks a prefix against the recorded hashes; bad flags fail in
 * one line.
 */
import { describe, it, expect, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint } from "../src/gpt2/loader.ts";
import type { TrainingReceipt } from "../src/cli/commands/train_lm.ts";

const ROOT = join(import.meta.dirname, "..");
const MAIN = join(ROOT, "src", "cli", "main.ts");
const tmp = mkdtempSync(join(tmpdir(), "train-lm-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const words = ["river", "house", "morning", "letter", "garden", "window", "music", "summer", "station", "doctor"];
const corpusPath = join(tmp, "corpus.txt");
writeFileSync(corpusPath, Array.from({ length: 30 }, (_, i) => `The ${words[i % 10]} was near the ${words[(i * 3) % 10]}, and the ${words[(i * 7) % 10]} was quiet.`).join("\n") + "\n");

const TINY = ["--corpus", corpusPath, "--val-fraction", "0.2", "--layers", "2", "--d-model", "16", "--heads", "2", "--context", "16", "--batch", "4", "--steps", "20", "--warmup", "3", "--eval-every", "5", "--eval-windows", "2", "--chunk-rows", "32", "--samples", "1", "--sample-tokens", "5"];

function cli(args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
}
const receiptOf = (dir: string) => JSON.parse(readFileSync(join(dir, "training.json"), "utf8")) as TrainingReceipt;

describe("train-lm", () => {
  const killed = join(tmp, "killed");
  const replay = join(tmp, "replay");

  it("survives kill -9: the rerun resumes from the last checkpoint and nothing half-written looks complete", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "train-lm", "--out", killed, ...TINY, "--checkpoint-every", "1", "--threads", "2"], { cwd: ROOT, stdio: "ignore" });
    const state = join(killed, "train_state.safetensors");
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    for (let i = 0; i < 24_000 && !existsSync(state); i++) await new Promise((r) => setTimeout(r, 5));
    expect(existsSync(state), "a checkpoint appeared").toBe(true);
    child.kill("SIGKILL");
    await exited;
    expect(existsSync(join(killed, "training.json"))).toBe(false);
    expect(existsSync(join(killed, "model.safetensors"))).toBe(false);
    const resumed = cli(["train-lm", "--out", killed, ...TINY, "--threads", "2"]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from .* at step [1-9]/);
    expect(resumed.stdout).toMatch(/smoothed bigram/);
    expect(existsSync(state)).toBe(false); // removed once the model and receipt are written
  });

  it("reproduces the same bytes from the receipt at 1 thread (the killed run resumed at 2)", () => {
    const r = cli(["train-lm", "--receipt", join(killed, "training.json"), "--out", replay, "--threads", "1"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/reproduced: the first 20 steps match the receipt bit for bit/);
    expect(r.stdout).toMatch(/reproduced: the final weights match the receipt bit for bit/);
    const a = receiptOf(killed), b = receiptOf(replay);
    expect(b.weights.paramsSha256).toBe(a.weights.paramsSha256);
    expect(b.weights.fileSha256).toBe(a.weights.fileSha256);
    expect(b.record).toEqual(a.record);
    expect(a.record.evals.map((e) => e.step)).toEqual([5, 10, 15, 20]);
    expect(a.environment.threads).toBe(2);
    expect(b.environment.threads).toBe(1);
  });

  it("a whole run from a receipt whose final hash differs says it was not reproduced", () => {
    const forged = receiptOf(killed);
    forged.weights.paramsSha256 = "0".repeat(64);
    const path = join(tmp, "forged.json");
    writeFileSync(path, JSON.stringify(forged));
    const r = cli(["train-lm", "--receipt", path, "--out", join(tmp, "forged")]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/not reproduced: the final paramsSha256 is [0-9a-f]{64}, the receipt says 0{64}/);
  });

  it("writes the Hugging Face layout with a receipt, which the loader and `predict` use unchanged", async () => {
    const config = JSON.parse(readFileSync(join(killed, "config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ model_type: "gpt2", architectures: ["GPT2LMHeadModel"], n_layer: 2, n_embd: 16, n_head: 2, n_positions: 16, vocab_size: 50257, activation_function: "gelu_new" });
    const model = await loadCheckpoint(killed);
    expect(model.weights.wte.length).toBe(50257 * 16);
    const r = receiptOf(killed);
    expect(r.weights.fileSha256).toBe(model.sha256);
    expect(r.corpus.validationDocuments).toBe(6);
    expect(r.corpus.trainDocuments).toBe(24);
    expect(r.record.loss).toHaveLength(20);
    const ev = r.evaluation as Record<string, { loss: number }>;
    for (const k of ["model", "unigram", "bigram"]) expect(Number.isFinite(ev[k]!.loss)).toBe(true);
    expect(r.samples).toHaveLength(1);
    const p = cli(["predict", "--weights", killed, "--prompt", "The river", "--top", "3"]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/after "The river":/);
  });

  it("--receipt --stop-after checks the first steps against the receipt's hashes", () => {
    const r = cli(["train-lm", "--receipt", join(killed, "training.json"), "--out", join(tmp, "prefix"), "--stop-after", "10"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/reproduced: the first 10 steps match the receipt bit for bit .* steps 5, 10/);
  });

  it("rejects bad settings in one line naming the fix", () => {
    const r = cli(["train-lm", "--out", join(tmp, "bad"), "--d-model", "30", "--heads", "4"]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--d-model 30 is not divisible by --heads 4/);
    // Every flag once (a repeated flag is refused on its own): the same settings but one more step.
    const moreSteps = TINY.map((value, i) => (TINY[i - 1] === "--steps" ? "21" : value));
    const done = cli(["train-lm", "--out", killed, ...moreSteps]);
    expect(done.status).toBe(2);
    expect(done.stderr).toMatch(/already holds a model trained with different settings/);
    const early = cli(["train-lm", "--receipt", join(killed, "training.json"), "--out", join(tmp, "early"), "--stop-after", "3"]);
    expect(early.status).toBe(2);
    expect(early.stderr).toMatch(/--stop-after 3 ends before the receipt's first parameter hash \(step 5\); use --stop-after 5 or more/);
    expect(existsSync(join(tmp, "early")), "nothing trained before the refusal").toBe(false);
    const twice = cli(["train-lm", "--out", join(tmp, "twice"), ...TINY, "--steps", "21"]);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/--steps is given twice; give it once/);
  });
});
