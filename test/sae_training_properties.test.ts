/**
 * Every recipe trains to the end over random shapes, batch sizes (partial last batches included), row counts,
 * epochs, thread counts and data with many dead latents, stays finite, and agrees with the dense reference path at
 * every step (test/properties/sae_training.ts). Bounded to about a minute here; `npm run fuzz` runs it for as
 * long as asked. Plus: a run's bits do not depend on what the process did before it.
 */
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { setThreads, shutdownThreads } from "../src/tensor/wasm/index.ts";
import { arrayRows } from "../src/data/rows.ts";
import { trainSAE } from "../src/sae/trainer.ts";
import { namedTensors } from "../src/sae/params.ts";
import { RECIPES } from "../src/sae/config.ts";
import { caseConfig, caseData, checkTrainingCase, trainingCase, type TrainingCase } from "./properties/sae_training.ts";

afterAll(() => shutdownThreads());

function weightsHash(c: TrainingCase): string {
  const h = createHash("sha256");
  const sae = trainSAE({ config: caseConfig(c), data: arrayRows(caseData(c), c.dIn) }).sae;
  for (const [, t] of namedTensors(sae.params)) h.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  return h.digest("hex");
}

describe("SAE training over the space of shapes", () => {
  // Async, yielding between cases: a synchronous minute would starve the test worker's event loop (and vitest's RPC).
  it("every recipe finishes, stays finite and matches the dense reference path at every step", async () => {
    await fc.assert(fc.asyncProperty(trainingCase, async (c) => {
      await new Promise((resolve) => setImmediate(resolve));
      checkTrainingCase(c);
    }), { numRuns: 250, interruptAfterTimeLimit: 40_000 });
  });

  // The crash, in miniature: one latent, one row per batch, dead after one token — AuxK's code is filled
  // in one step and left empty in the next.
  it("AuxK's code left empty after a step with dead latents trains (the stale-row-pointer crash)", () => {
    for (const recipe of ["topk", "batchtopk", "matryoshka-batchtopk"] as const) {
      expect(checkTrainingCase({ recipe, dIn: 13, dSae: 1, k: 1, rows: 41, batchSize: 1, epochs: 1, threads: 1, data: "sparse-atoms", deadAfterTokens: 1, kAux: 1, seed: 0 }).steps).toBe(41);
    }
  });

  it.each(RECIPES)("%s: a run's weights do not depend on what the process did before it (fresh matmul memory, then again)", (recipe) => {
    const c: TrainingCase = { recipe, dIn: 10, dSae: 48, k: 3, rows: 300, batchSize: 64, epochs: 2, threads: 2, data: "sparse-atoms", deadAfterTokens: 40, kAux: 8, seed: 3 };
    setThreads(2);
    shutdownThreads(); // the next matmul starts a new engine whose memory grows during the run
    const first = weightsHash(c);
    expect(weightsHash(c)).toBe(first);
  });
});
