/**
 * `npx tsx bench/hungarian_scale.ts [n…]`: the exact assignment at the sizes the study may need (default 8192 and
 * 16384) on random decoder-cosine matrices (d = 768): seconds for the cosine matrix and the solve, the optimality
 * certificate, and peak RSS — to show 8192² finishes and 16384² fits in memory (its Float32 matrix is 1 GiB).
 * Prints one JSON object.
 */
import { cosineMatrix } from "../src/match/cosine.ts";
import { linearSumAssignment } from "../src/match/assignment.ts";
import { Rng } from "../src/tensor/rng.ts";
import { shutdownThreads } from "../src/tensor/wasm/index.ts";
import { peakRssMb } from "./util.ts";

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const out: Record<string, number | boolean> = {};
for (const n of sizes.length ? sizes : [8192, 16384]) {
  const d = 768;
  const a = Rng.stream(n, "bench/hungarian/a").fillNormal(new Float32Array(n * d)) as Float32Array;
  const b = Rng.stream(n, "bench/hungarian/b").fillNormal(new Float32Array(n * d)) as Float32Array;
  let t = performance.now();
  const sim = cosineMatrix(a, n, b, n, d);
  out[`hungarian.n${n}.cosine_seconds`] = Number(((performance.now() - t) / 1000).toFixed(2));
  t = performance.now();
  const result = linearSumAssignment(sim.matrix, n, n, { sense: "max" });
  out[`hungarian.n${n}.seconds`] = Number(((performance.now() - t) / 1000).toFixed(2));
  out[`hungarian.n${n}.certified_optimal`] = result.optimality.optimal;
  out[`hungarian.n${n}.mean_matched_cosine`] = Number((result.total / n).toFixed(4));
  out[`hungarian.n${n}.peak_rss_mb`] = peakRssMb();
  process.stderr.write(`n=${n}: ${JSON.stringify(out)}\n`);
}
console.log(JSON.stringify(out, null, 2));
await shutdownThreads();
