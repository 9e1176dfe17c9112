/** Every teaching example runs to completion (tiny settings, seconds each) and prints what it promises. */
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = join(import.meta.dirname, "..", "examples");
const expectations: Record<string, RegExp> = {
  "01_tensors_and_autograd.ts": /finite difference .* vs autograd/,
  "02_gpt2_next_token.ts": /top next tokens:/,
  "03_train_one_sae.ts": /feature \d+ fires on/,
  "04_match_two_seeds.ts": /certified optimal[\s\S]*chance level/,
  "05_train_tiny_gpt2.ts": /smoothed bigram[\s\S]*validation loss \d+\.\d+ vs smoothed bigram \d+\.\d+: [\s\S]*bigram line[\s\S]*sample: /,
  "06_study_as_library.ts": /sweep: 2 runs trained \(training up to 2 runs in 2 processes[\s\S]*rerun: 0 trained, 2 reused[\s\S]*2 complete[\s\S]*median matched cosine \d\.\d{3} [\s\S]*null median \d\.\d{3} [\s\S]*report: .*report\.html/,
};

describe("examples", () => {
  it("there are six, one per lesson", () => {
    expect(readdirSync(dir).filter((f) => f.endsWith(".ts")).sort()).toEqual(Object.keys(expectations).sort());
  });
  it.each(Object.entries(expectations))("%s runs", (file, pattern) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(dir, file), "--tiny"], { encoding: "utf8", timeout: 120_000, env: { ...process.env, SAE_SEEDS_WEIGHTS: "/nonexistent" } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(pattern);
  });
});
