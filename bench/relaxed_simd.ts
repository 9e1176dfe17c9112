/**
 * WebAssembly relaxed SIMD in the GEMM micro-kernel (f32x4.relaxed_madd instead of f32x4.mul + f32x4.add), measured
 * against the default kernel on one thread, same module otherwise, same shapes: GFLOPS of each and their ratio.
 * Node 20 needs --experimental-wasm-relaxed-simd (on by default from Node 22):
 *   node --experimental-wasm-relaxed-simd --import tsx bench/relaxed_simd.ts
 * Prints one JSON object; without the flag, says that relaxed SIMD is unavailable.
 */
import { GEMM_BLOCKING, gemmModuleBytes, workspaceBytes } from "../src/tensor/wasm/gemm_kernel.ts";
import { requireWebAssembly } from "../src/tensor/wasm/wasm_api.ts";
import { machineFacts } from "./util.ts";

const wasm = requireWebAssembly();

const SHAPES: [number, number, number][] = [[512, 512, 512], [1024, 1024, 1024], [1024, 2304, 768], [1024, 8192, 2048], [1024, 2048, 8192]];

function timeModule(relaxed: boolean, m: number, n: number, k: number): number {
  const pages = Math.ceil((4 * (m * k + k * n + m * n) + workspaceBytes(GEMM_BLOCKING) + 4096) / 65536) + 1;
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const module = new wasm.Module(gemmModuleBytes(GEMM_BLOCKING, { initialPages: pages, maximumPages: pages, shared: false }, { relaxedMadd: relaxed }));
  const gemm = new wasm.Instance(module, { env: { memory } }).exports.gemm as (...a: number[]) => void;
  const heap = new Float32Array(memory.buffer);
  const a = 64, b = a + 4 * m * k, c = b + 4 * k * n, ws = Math.ceil((c + 4 * m * n) / 64) * 64;
  for (let i = 0; i < (c + 4 * m * n) / 4; i++) heap[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  const run = () => gemm(m, n, k, a, k, 0, b, n, 0, c, n, 0, 0, 0, ws);
  run();
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return (2 * m * n * k) / best / 1e9;
}

const out: Record<string, number | string> = { ...machineFacts() };
let available = true;
try {
  new wasm.Module(gemmModuleBytes(GEMM_BLOCKING, { initialPages: 1, maximumPages: 1, shared: false }, { relaxedMadd: true }));
} catch {
  available = false;
}
out["relaxed_simd.available"] = available ? 1 : 0;
if (available) {
  for (const [m, n, k] of SHAPES) {
    const key = `${m}x${k}x${n}`;
    const plain = timeModule(false, m, n, k), relaxed = timeModule(true, m, n, k);
    out[`relaxed_simd.default.${key}.gflops`] = Number(plain.toFixed(1));
    out[`relaxed_simd.madd.${key}.gflops`] = Number(relaxed.toFixed(1));
    out[`relaxed_simd.speedup.${key}`] = Number((relaxed / plain).toFixed(3));
  }
}
console.log(JSON.stringify(out, null, 2));
