/**
 * Full-size audit (developers, Python present): the seeded random GPT-2 small checkpoint in the exact Hugging
 * Face layout, run through tools/reference/gpt2_reference.py (PyTorch, float64) and through our forward pass;
 * last-position logits and blocks.6.hook_resid_pre must agree within 1e-3 absolute.
 *
 *   npx tsx tools/check_full_size.ts [--dir weights/random-gpt2] [--dtype F32|F16]
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { parseArgs } from "../src/cli/args.ts";
import { GPT2_PRESETS } from "../src/gpt2/config.ts";
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";
import { writeCheckpoint } from "../src/gpt2/checkpoint_writer.ts";
import { loadCheckpoint } from "../src/gpt2/loader.ts";
import { forward } from "../src/gpt2/model.ts";
import { encode } from "../src/gpt2/tokenizer.ts";
import { shutdownThreads } from "../src/tensor/wasm/index.ts";

const { flags } = parseArgs("check_full_size", process.argv.slice(2), {
  dir: { type: "string", description: "checkpoint directory (made if absent)", default: "weights/random-gpt2" },
  dtype: { type: "string", description: "F32 or F16 when making it", default: "F32" },
});
const dir = flags.dir as string;
if (!existsSync(join(dir, "model.safetensors"))) {
  console.log(`writing a seeded random GPT-2 small to ${dir} …`);
  writeCheckpoint(dir, randomGPT2Weights(GPT2_PRESETS.gpt2!, 0), flags.dtype as "F32" | "F16");
}
const prompts = ["The Eiffel Tower is in the city of", "Sparse autoencoders find features", "1 2 3 4 5 6 7 8 9"].map(encode);
const work = mkdtempSync(join(tmpdir(), "full-size-"));
writeFileSync(join(work, "prompts.json"), JSON.stringify({ prompts }));
execFileSync("/usr/bin/python3", ["tools/reference/gpt2_reference.py", "full", "--checkpoint", dir, "--prompts", join(work, "prompts.json"), "--out", join(work, "ref.json")], { stdio: "inherit" });
const ref = JSON.parse(readFileSync(join(work, "ref.json"), "utf8")) as { last_logits: number[][]; resid_pre_6: number[][][] };
const model = await loadCheckpoint(dir);
let worstLogit = 0, worstResid = 0;
prompts.forEach((ids, p) => {
  const out = forward(model.weights, ids, 1, ids.length, { logits: "last", hooks: ["blocks.6.hook_resid_pre"] });
  out.logits!.forEach((v, i) => (worstLogit = Math.max(worstLogit, Math.abs(v - ref.last_logits[p]![i]!))));
  const resid = out.hooks.get("blocks.6.hook_resid_pre")!;
  ref.resid_pre_6[p]!.forEach((row, t) => row.forEach((v, j) => (worstResid = Math.max(worstResid, Math.abs(resid[t * 768 + j]! - v)))));
});
shutdownThreads();
console.log(`${model.label}: max |Δ logits| = ${worstLogit.toExponential(2)}, max |Δ blocks.6.hook_resid_pre| = ${worstResid.toExponential(2)} (tolerance 1e-3)`);
process.exitCode = worstLogit <= 1e-3 && worstResid <= 1e-3 ? 0 : 1;
