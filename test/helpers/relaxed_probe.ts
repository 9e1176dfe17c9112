/** Run by test/relaxed_simd.test.ts in a child process: one product with the current kernel, as JSON. */
import { matmul, matmulKernelName } from "../../src/tensor/matmul.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { shutdownThreads } from "../../src/tensor/wasm/index.ts";

const [m, n, k] = [37, 300, 513];
const rng = Rng.stream(1, "relaxed-probe");
const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array, b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
const c = new Float32Array(m * n);
matmul({ a, b, c, m, n, k });
let worst = 0;
for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
  let exact = 0, magnitude = 0;
  for (let p = 0; p < k; p++) { exact += a[i * k + p]! * b[p * n + j]!; magnitude += Math.abs(a[i * k + p]! * b[p * n + j]!); }
  worst = Math.max(worst, Math.abs(c[i * n + j]! - exact) / ((k + 2) * 2 ** -24 * magnitude));
}
console.log(JSON.stringify({ kernel: matmulKernelName(), worstOverBound: worst }));
shutdownThreads();
