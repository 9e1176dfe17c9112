/**
 * Real GPT-2 small, when SAE_SEEDS_WEIGHTS points at it (config.json + model.safetensors). These machines cannot
 * download GPT-2, so without it the test is skipped — visibly, with the reason in its name.
 */
import { describe, it, expect } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint } from "../src/gpt2/loader.ts";
import { forward } from "../src/gpt2/model.ts";
import { encode, decodeToken } from "../src/gpt2/tokenizer.ts";

const dir = process.env.SAE_SEEDS_WEIGHTS;
const present = dir !== undefined && existsSync(join(dir, "model.safetensors"));

describe.skipIf(!present)(`real GPT-2 weights (skipped: set SAE_SEEDS_WEIGHTS to a GPT-2 small checkpoint to run)`, () => {
  it('predicts " Paris" after "The Eiffel Tower is in the city of"', async () => {
    const model = await loadCheckpoint(dir!);
    const ids = encode("The Eiffel Tower is in the city of");
    const { logits } = forward(model.weights, ids, 1, ids.length, { logits: "last" });
    let best = 0;
    for (let i = 1; i < logits!.length; i++) if (logits![i]! > logits![best]!) best = i;
    expect(decodeToken(best)).toBe(" Paris");
  });
});
