/** `predict` and `generate`: GPT-2's next-token distribution and greedy continuation, for users and teaching. */
import type { Command } from "../command.ts";
import { MODEL_FLAGS } from "../command.ts";
import { loadModel } from "../../gpt2/loader.ts";
import { forward } from "../../gpt2/model.ts";
import { encode, decode, decodeToken } from "../../gpt2/tokenizer.ts";
import { UsageError } from "../args.ts";
import { applyThreads } from "../../study/threads.ts";

function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    total += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

function topIndices(values: Float32Array, n: number): number[] {
  return Array.from(values.keys()).sort((a, b) => values[b]! - values[a]! || a - b).slice(0, n);
}

function promptTokens(prompt: unknown): number[] {
  if (typeof prompt !== "string" || prompt.length === 0) throw new UsageError("--prompt TEXT is required");
  const ids = encode(prompt);
  if (ids.length === 0) throw new UsageError("--prompt encodes to no tokens");
  return ids;
}

export const predictCommand: Command = {
  name: "predict",
  summary: "Print GPT-2's next-token distribution after a prompt.",
  flags: {
    ...MODEL_FLAGS,
    prompt: { type: "string", description: "the text to continue" },
    top: { type: "int", min: 1, description: "how many candidates to list", default: 5 },
    json: { type: "boolean", description: "print JSON {tokens:[{id,text,logit,prob}]}" },
    "all-logits": { type: "boolean", description: "with --json, also print the last position's full logits" },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const ids = promptTokens(flags.prompt);
    const model = await loadModel({ model: flags.model as string, weightsDir: flags.weights as string | undefined });
    process.stderr.write(`model: ${model.label}\nsha256: ${model.sha256}\n`);
    const { logits } = forward(model.weights, ids, 1, ids.length, { logits: "last" });
    const probs = softmax(logits!);
    const top = Math.max(1, Math.min(flags.top as number, logits!.length));
    const tokens = topIndices(logits!, top).map((id) => ({ id, text: decodeToken(id), logit: logits![id]!, prob: probs[id]! }));
    if (flags.json) {
      const out: Record<string, unknown> = { model: model.label, sha256: model.sha256, prompt: flags.prompt, tokens };
      if (flags["all-logits"]) out.logits = Array.from(logits!);
      console.log(JSON.stringify(out));
      return;
    }
    console.log(`after ${JSON.stringify(flags.prompt)}:`);
    for (const t of tokens) console.log(`  ${(100 * t.prob).toFixed(2).padStart(6)}%  ${JSON.stringify(t.text).padEnd(18)} id ${String(t.id).padStart(5)}  logit ${t.logit.toFixed(3)}`);
  },
};

export const generateCommand: Command = {
  name: "generate",
  summary: "Continue a prompt greedily with GPT-2.",
  flags: {
    ...MODEL_FLAGS,
    prompt: { type: "string", description: "the text to continue" },
    tokens: { type: "int", min: 1, description: "how many tokens to generate", default: 20 },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    const ids = promptTokens(flags.prompt);
    const n = flags.tokens as number;
    if (n < 0) throw new UsageError("--tokens must be ≥ 0");
    const model = await loadModel({ model: flags.model as string, weightsDir: flags.weights as string | undefined });
    process.stderr.write(`model: ${model.label}\n`);
    if (ids.length + n > model.weights.config.nPositions) throw new UsageError(`prompt (${ids.length} tokens) + ${n} exceeds the context of ${model.weights.config.nPositions}`);
    process.stdout.write(decode(ids));
    for (let i = 0; i < n; i++) {
      // Recomputes the whole prefix each step: simple and exact; a KV cache would be the optimisation.
      const { logits } = forward(model.weights, ids, 1, ids.length, { logits: "last" });
      const next = topIndices(logits!, 1)[0]!;
      ids.push(next);
      process.stdout.write(decodeToken(next));
    }
    process.stdout.write("\n");
  },
};
