/**
 * Property: every recipe trains to the end at any shape, batch size, row count, epoch count and thread count,
 * with data that leaves many latents dead, stays finite, and matches the dense reference path at every step
 * (TrainOptions.referenceCheck, src/sae/reference_check.ts). Shared by test/sae_training_properties.test.ts
 * (a bounded run in `npm test`) and tools/fuzz.ts (`npm run fuzz`, as long as asked).
 */
import fc from "fast-check";
import { Rng } from "../../src/tensor/rng.ts";
import { setThreads } from "../../src/tensor/wasm/index.ts";
import { arrayRows } from "../../src/data/rows.ts";
import { defaultTrainConfig, RECIPES, type Recipe, type SAETrainConfig } from "../../src/sae/config.ts";
import { trainSAE } from "../../src/sae/trainer.ts";
import { namedTensors } from "../../src/sae/params.ts";

/** How the rows are made: each shape of data exercises another corner of the trainer. */
export type DataKind =
  | "sparse-atoms" // a few active directions per row: most latents never fire (many dead latents, AuxK busy)
  | "gaussian" // dense noise: every latent fires sometimes
  | "low-rank" // rows in a 2-dimensional subspace: near-duplicate latents, ties
  | "repeated"; // a handful of distinct rows repeated: exact ties in Top-K, dead latents from the first epoch

export interface TrainingCase {
  recipe: Recipe;
  dIn: number;
  dSae: number;
  k: number;
  rows: number;
  batchSize: number;
  epochs: number;
  threads: 1 | 2;
  data: DataKind;
  /** A latent is dead for AuxK after this many tokens (small: dead latents appear, and come back, within a run). */
  deadAfterTokens: number;
  /** topk/BatchTopK recipes: the AuxK width (0 turns AuxK off). */
  kAux: number;
  seed: number;
}

export const trainingCase: fc.Arbitrary<TrainingCase> = fc
  .record({
    recipe: fc.constantFrom(...RECIPES),
    dIn: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 13, max: 70 })),
    dSae: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 160 })),
    kFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    rows: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 400 })),
    batchFraction: fc.double({ min: 0, max: 1.2, noNaN: true }),
    epochs: fc.integer({ min: 1, max: 3 }),
    threads: fc.constantFrom(1 as const, 2 as const),
    data: fc.constantFrom<DataKind>("sparse-atoms", "gaussian", "low-rank", "repeated"),
    deadFraction: fc.double({ min: 0.01, max: 2, noNaN: true }),
    kAuxFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .map(({ kFraction, batchFraction, deadFraction, kAuxFraction, ...c }) => ({
    ...c,
    k: Math.max(1, Math.min(c.dSae, Math.ceil(kFraction * c.dSae))),
    batchSize: Math.max(1, Math.round(batchFraction * c.rows)),
    deadAfterTokens: Math.max(1, Math.round(deadFraction * c.rows)),
    kAux: Math.round(kAuxFraction * c.dSae),
  }));

export function caseData(c: TrainingCase): Float32Array {
  const rng = Rng.stream(c.seed, `properties/data/${c.data}`);
  const x = new Float32Array(c.rows * c.dIn);
  if (c.data === "gaussian") return rng.fillNormal(x) as Float32Array;
  if (c.data === "low-rank") {
    const basis = rng.fillNormal(new Float32Array(2 * c.dIn)) as Float32Array;
    for (let r = 0; r < c.rows; r++) {
      const a = rng.normal(), b = rng.normal();
      for (let j = 0; j < c.dIn; j++) x[r * c.dIn + j] = a * basis[j]! + b * basis[c.dIn + j]!;
    }
    return x;
  }
  if (c.data === "repeated") {
    const distinct = rng.fillNormal(new Float32Array(3 * c.dIn)) as Float32Array;
    for (let r = 0; r < c.rows; r++) x.set(distinct.subarray((r % 3) * c.dIn, (r % 3 + 1) * c.dIn), r * c.dIn);
    return x;
  }
  const atoms = Math.max(1, Math.min(4, c.dIn));
  const dict = rng.fillNormal(new Float32Array(atoms * c.dIn)) as Float32Array;
  for (let r = 0; r < c.rows; r++) {
    const a = rng.int(atoms), coef = 0.5 + 2 * rng.uniform();
    for (let j = 0; j < c.dIn; j++) x[r * c.dIn + j] = coef * dict[a * c.dIn + j]!;
  }
  return x;
}

export function caseConfig(c: TrainingCase): SAETrainConfig {
  const base = defaultTrainConfig(c.recipe, { dIn: c.dIn, dSae: c.dSae, k: c.k, seed: c.seed });
  return defaultTrainConfig(c.recipe, { dIn: c.dIn, dSae: c.dSae, k: c.k, seed: c.seed }, {
    epochs: c.epochs, batchSize: c.batchSize, deadAfterTokens: c.deadAfterTokens,
    ...(base.kAux > 0 ? { kAux: c.kAux } : {}),
  });
}

export interface CaseOutcome {
  /** Worst gradient disagreement with the dense reference, relative to the tensor's scale, over every step. */
  worst: number;
  steps: number;
}

/** Train the case with the reference check on; throws (with the case in the message) if anything is wrong. */
export function checkTrainingCase(c: TrainingCase, tolerance?: number): CaseOutcome {
  setThreads(c.threads);
  const config = caseConfig(c);
  let worst = 0, steps = 0;
  const result = trainSAE({
    config, data: arrayRows(caseData(c), c.dIn),
    referenceCheck: { ...(tolerance !== undefined ? { tolerance } : {}), onStep: (r) => { worst = Math.max(worst, r.worst); steps++; } },
  });
  if (!result.finished) throw new Error("training did not finish");
  const expectedSteps = c.epochs * Math.ceil(c.rows / Math.min(c.batchSize, c.rows));
  if (steps !== expectedSteps) throw new Error(`${steps} steps were checked, expected ${expectedSteps}`);
  for (const [name, t] of namedTensors(result.sae.params)) {
    for (let i = 0; i < t.length; i++) if (!Number.isFinite(t[i]!)) throw new Error(`the trained ${name}[${i}] is ${t[i]}`);
  }
  return { worst, steps };
}
