/**
 * `npm run fuzz -- [--minutes 30] [--seed S] [--only training,matmul,sparse,softmax,guard,pickle,checkpoint,npy]`: the property tests of
 * test/properties/ for as long as asked, round after round with a new fast-check seed each, the properties taking
 * turns. Prints one JSON line per round (cases run, seconds, the worst agreement with the dense reference seen so
 * far), and on a failure the property, the seed and path that replay it, and the shrunk counterexample; exit 1.
 *
 * Replay a failure: `npm run fuzz -- --only <property> --seed <seed> --minutes 0` runs that one round again.
 */
import fc from "fast-check";
import os from "node:os";
import { shutdownThreads } from "../src/tensor/wasm/index.ts";
import { checkTrainingCase, trainingCase } from "../test/properties/sae_training.ts";
import { checkCheckpoint, checkNpy, checkPickleMutation, checkPickleStream, checkpointCase, npyCase, pickleMutationCase, pickleStreamCase } from "../test/properties/untrusted_files.ts";
import { checkGuardCase, checkMatmulCase, checkSoftmaxCase, checkSparseCase, guardCase, matmulCase, softmaxCase, sparseCase } from "../test/properties/kernels.ts";

interface Property {
  /** Cases per round. */
  runs: number;
  property: () => fc.IProperty<[unknown]>;
}

let worstReference = 0;
const PROPERTIES: Record<string, Property> = {
  training: { runs: 60, property: () => fc.property(trainingCase, (c) => { worstReference = Math.max(worstReference, checkTrainingCase(c).worst); }) },
  matmul: { runs: 60, property: () => fc.property(matmulCase, (c) => checkMatmulCase(c)) },
  sparse: { runs: 100, property: () => fc.property(sparseCase, (c) => checkSparseCase(c)) },
  softmax: { runs: 100, property: () => fc.property(softmaxCase, (c) => checkSoftmaxCase(c)) },
  guard: { runs: 200, property: () => fc.property(guardCase, (c) => checkGuardCase(c)) },
  pickle: { runs: 2000, property: () => fc.property(fc.oneof(pickleMutationCase.map((c) => ["m", c] as const), pickleStreamCase.map((c) => ["s", c] as const)), ([kind, c]) => (kind === "m" ? checkPickleMutation(c as [[number, number][], number]) : checkPickleStream(c as number[]))) },
  checkpoint: { runs: 500, property: () => fc.property(checkpointCase, (c) => checkCheckpoint(c)) },
  npy: { runs: 500, property: () => fc.property(npyCase, (c) => checkNpy(c)) },
};

function usage(message: string): never {
  console.error(`fuzz: ${message}\nusage: npm run fuzz -- [--minutes M] [--seed S] [--only ${Object.keys(PROPERTIES).join(",")}]`);
  process.exit(2);
}

function parse(argv: string[]): { minutes: number; seed: number | null; only: string[] } {
  const out = { minutes: 5, seed: null as number | null, only: Object.keys(PROPERTIES) };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!, value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === "--minutes") {
      out.minutes = Number(value);
      if (!(out.minutes >= 0) || !Number.isFinite(out.minutes)) usage(`--minutes must be a number ≥ 0, got "${value}"`);
    } else if (flag === "--seed") {
      out.seed = Number(value);
      if (!Number.isSafeInteger(out.seed)) usage(`--seed must be an integer, got "${value}"`);
    } else if (flag === "--only") {
      out.only = value.split(",");
      for (const name of out.only) if (!(name in PROPERTIES)) usage(`unknown property "${name}"`);
    } else usage(`unknown flag ${flag}`);
    i++;
  }
  return out;
}

const options = parse(process.argv.slice(2));
const started = Date.now();
const deadline = started + options.minutes * 60_000;
const machine = { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.version };
console.log(JSON.stringify({ fuzz: "start", minutes: options.minutes, properties: options.only, machine }));
let round = 0, cases = 0;
const perProperty: Record<string, number> = {};
do {
  const name = options.only[round % options.only.length]!;
  const { runs, property } = PROPERTIES[name]!;
  const seed = options.seed ?? ((started + round * 7919) % 2 ** 31);
  const t0 = Date.now();
  const result = fc.check(property(), { numRuns: runs, seed });
  if (result.failed) {
    console.log(JSON.stringify({ fuzz: "FAILED", property: name, seed: result.seed, path: result.counterexamplePath, counterexample: result.counterexample, error: String((result.errorInstance as Error | undefined)?.message ?? result.errorInstance) }, null, 1));
    console.log(`replay: npm run fuzz -- --only ${name} --seed ${result.seed} --minutes 0`);
    shutdownThreads();
    process.exit(1);
  }
  cases += result.numRuns;
  perProperty[name] = (perProperty[name] ?? 0) + result.numRuns;
  console.log(JSON.stringify({ round, property: name, seed, cases: result.numRuns, seconds: (Date.now() - t0) / 1000, worstReferenceDifference: worstReference }));
  round++;
} while (Date.now() < deadline && options.seed === null);
console.log(JSON.stringify({ fuzz: "passed", rounds: round, cases, perProperty, minutes: (Date.now() - started) / 60_000, worstReferenceDifference: worstReference, machine }));
shutdownThreads();
