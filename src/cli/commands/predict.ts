/**
 * `predict` and `generate`: a model's next-token distribution and greedy continuation, for users and teaching — any
 * family, from a prompt (through the model's tokenizer) or from token ids (`--tokens 17,4,923`, for checkpoints that
 * ship no tokenizer, and for holding the logits against another implementation with `--json --all-logits`).
 */
import type { Command } from "../command.ts";
import { MODEL_FLAGS } from "../command.ts";
import { loadModel } from "../../gpt2/loader.ts";
import { forward } from "../../gpt2/model.ts";
import { GPT2_TOKENIZER, type ModelTokenizer } from "../../gpt2/model_tokenizer.ts";
import { asDecoder } from "../../gpt2/model.ts";
import type { LoadedModel } from "../../gpt2/loader.ts";
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

/** The model's tokenizer: its own, GPT-2's for GPT-2 models, or null (token ids only). */
function tokenizerOf(model: LoadedModel): ModelTokenizer | null {
  if (model.tokenizer !== undefined) return model.tokenizer;
  return asDecoder(model.weights).config.family === "gpt2" ? GPT2_TOKENIZER : null;
}

/** --tokens ids (checked against the vocabulary) or --prompt text through the tokenizer; exactly one of them. */
function inputIds(flags: Record<string, unknown>, model: LoadedModel): number[] {
  const vocab = model.weights.config.vocabSize;
  if (flags.tokens !== undefined && flags.prompt !== undefined) throw new UsageError("give --prompt TEXT or --tokens IDS, not both");
  if (flags.tokens !== undefined) {
    const text = String(flags.tokens);
    const ids = text.split(",").map((t) => t.trim());
    if (ids.some((t) => !/^\d+$/.test(t))) throw new UsageError(`--tokens must be comma-separated token ids (e.g. 17,4,923), got "${text}"`);
    const values = ids.map(Number);
    const bad = values.find((v) => v >= vocab);
    if (bad !== undefined) throw new UsageError(`--tokens: id ${bad} is outside the model's vocabulary [0, ${vocab})`);
    return values;
  }
  if (typeof flags.prompt !== "string" || flags.prompt.length === 0) throw new UsageError("--prompt TEXT (or --tokens IDS) is required");
  const tokenizer = tokenizerOf(model);
  if (!tokenizer) throw new UsageError(`${model.label} has no tokenizer.json: give token ids with --tokens 17,4,923`);
  const ids = tokenizer.encode(flags.prompt);
  if (ids.length === 0) throw new UsageError("--prompt encodes to no tokens");
  return ids;
}

const showToken = (model: LoadedModel, id: number): string => tokenizerOf(model)?.decodeToken(id) ?? `<${id}>`;

export const predictCommand: Command = {
  name: "predict",
  summary: "Print a model's next-token distribution after a prompt (or after token ids).",
  flags: {
    ...MODEL_FLAGS,
    prompt: { type: "string", description: "the text to continue" },
    tokens: { type: "string", description: "token ids to continue instead of a prompt, comma-separated (e.g. 17,4,923)" },
    top: { type: "int", min: 1, description: "how many candidates to list", default: 5 },
    json: { type: "boolean", description: "print JSON {tokens:[{id,text,logit,prob}]}" },
    "all-logits": { type: "boolean", description: "with --json, also print the last position's full logits" },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    if (flags.tokens === undefined && (typeof flags.prompt !== "string" || flags.prompt.length === 0)) throw new UsageError("--prompt TEXT (or --tokens IDS) is required");
    const model = await loadModel({ model: flags.model as string, weightsDir: flags.weights as string | undefined });
    const ids = inputIds(flags, model);
    process.stderr.write(`model: ${model.label}\nsha256: ${model.sha256}\n`);
    const { logits } = forward(model.weights, ids, 1, ids.length, { logits: "last" });
    const probs = softmax(logits!);
    const top = Math.max(1, Math.min(flags.top as number, logits!.length));
    const tokens = topIndices(logits!, top).map((id) => ({ id, text: showToken(model, id), logit: logits![id]!, prob: probs[id]! }));
    if (flags.json) {
      const out: Record<string, unknown> = { model: model.label, sha256: model.sha256, ...(flags.tokens !== undefined ? { input: ids } : { prompt: flags.prompt }), tokens };
      if (flags["all-logits"]) out.logits = Array.from(logits!);
      console.log(JSON.stringify(out));
      return;
    }
    console.log(`after ${flags.tokens !== undefined ? `tokens ${ids.join(",")}` : JSON.stringify(flags.prompt)}:`);
    for (const t of tokens) console.log(`  ${(100 * t.prob).toFixed(2).padStart(6)}%  ${JSON.stringify(t.text).padEnd(18)} id ${String(t.id).padStart(5)}  logit ${t.logit.toFixed(3)}`);
  },
};

export const generateCommand: Command = {
  name: "generate",
  summary: "Continue a prompt greedily with the model.",
  flags: {
    ...MODEL_FLAGS,
    prompt: { type: "string", description: "the text to continue" },
    tokens: { type: "int", min: 1, description: "how many tokens to generate", default: 20 },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    if (typeof flags.prompt !== "string" || flags.prompt.length === 0) throw new UsageError("--prompt TEXT is required");
    const n = flags.tokens as number;
    if (n < 0) throw new UsageError("--tokens must be ≥ 0");
    const model = await loadModel({ model: flags.model as string, weightsDir: flags.weights as string | undefined });
    const ids = inputIds({ prompt: flags.prompt }, model);
    const tokenizer = tokenizerOf(model)!;
    process.stderr.write(`model: ${model.label}\n`);
    if (ids.length + n > model.weights.config.nPositions) throw new UsageError(`prompt (${ids.length} tokens) + ${n} exceeds the context of ${model.weights.config.nPositions}`);
    process.stdout.write(tokenizer.decode(ids));
    for (let i = 0; i < n; i++) {
      // Recomputes the whole prefix each step: simple and exact; a KV cache would be the optimisation.
      const { logits } = forward(model.weights, ids, 1, ids.length, { logits: "last" });
      const next = topIndices(logits!, 1)[0]!;
      ids.push(next);
      process.stdout.write(tokenizer.decodeToken(next));
    }
    process.stdout.write("\n");
  },
};
