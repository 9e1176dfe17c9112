/**
 * Do two seeds learn the same features? Train two SAEs that differ only in seed on data with a known sparse
 * structure, match their decoders with the Hungarian algorithm, and compare with random dictionaries.
 *   npx tsx examples/04_match_two_seeds.ts
 */
import { Rng } from "sae-seeds/tensor";
import { arrayRows } from "sae-seeds/data";
import { defaultTrainConfig, trainSAE } from "sae-seeds/sae";
import { alignDictionaries } from "sae-seeds/match";

// Data made of 2 active "true features" per row out of 24: a world where features exist.
const d = 16, atoms = 24, n = 3000;
const rng = Rng.stream(0, "example/data");
const dict = rng.fillNormal(new Float32Array(atoms * d)) as Float32Array;
const x = new Float32Array(n * d);
for (let r = 0; r < n; r++) for (let t = 0; t < 2; t++) {
  const a = rng.int(atoms), c = 1 + rng.uniform();
  for (let j = 0; j < d; j++) x[r * d + j] += c * dict[a * d + j]!;
}

const train = (seed: number) => trainSAE({ config: defaultTrainConfig("topk", { dIn: d, dSae: atoms, k: 2, seed }, { epochs: 20, batchSize: 128, lr: 3e-3, deadAfterTokens: n }), data: arrayRows(x, d) }).sae;
const [a, b] = [train(1), train(2)];
const m = alignDictionaries({ decoder: a.params.wDec, n: atoms, d }, { decoder: b.params.wDec, n: atoms, d }, "full");
console.log(`seed 1 vs seed 2: median matched cosine ${m.summary.median.toFixed(3)}, ${(100 * m.summary.fractionAbove["0.9"]!).toFixed(0)}% of features ≥ 0.9; matching ${m.audit!.optimal ? "certified optimal" : "NOT optimal"}`);
const random = Rng.stream(9, "example/random").fillNormal(new Float32Array(atoms * d)) as Float32Array;
const null_ = alignDictionaries({ decoder: a.params.wDec, n: atoms, d }, { decoder: random, n: atoms, d }, "full");
console.log(`seed 1 vs a random dictionary: median ${null_.summary.median.toFixed(3)} — the chance level to beat`);
