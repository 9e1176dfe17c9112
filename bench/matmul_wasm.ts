/**
 * GFLOPS of the WebAssembly SIMD matmul, on one thread (`matmul.wasm1.*`) and on all threads (`matmul.wasm.*`),
 * for the square sizes, the GPT-2 small shapes and the SAE encoder shape (W_enc stored [n, d], hence transB).
 */
import { Rng } from "../src/tensor/rng.ts";
import type { MatmulKernel } from "../src/tensor/matmul_types.ts";
import { getThreads, shutdownThreads, wasmMatmul, wasmMatmulSingle } from "../src/tensor/wasm/index.ts";
import { shapeKey, type MatmulShape } from "./matmul.ts";
import { bestSeconds } from "./util.ts";

export const WASM_MATMUL_SHAPES: MatmulShape[] = [
  { m: 256, k: 256, n: 256 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
  { m: 2048, k: 2048, n: 2048 },
  { m: 64, k: 768, n: 2304 }, // GPT-2 attention projection, one 64-token sequence
  { m: 2048, k: 768, n: 3072 }, // GPT-2 MLP up-projection, 32 × 64 tokens
  { m: 4096, k: 768, n: 8192, transB: true }, // SAE encoder: batch 4096 · W_encᵀ, W_enc stored [8192, 768]
];

async function benchKernel(name: string, kernel: MatmulKernel): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const rng = Rng.stream(0, "bench/matmul_wasm");
  for (const shape of WASM_MATMUL_SHAPES) {
    const { m, k, n, transB = false } = shape;
    const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array;
    const b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
    const c = new Float32Array(m * n);
    const flops = 2 * m * n * k;
    // More repetitions for the quick shapes: the machine is shared and the best run is the least disturbed one.
    const iterations = flops > 2e10 ? 2 : flops > 4e9 ? 3 : flops > 5e8 ? 5 : 20;
    const seconds = await bestSeconds(`${name} ${shapeKey(shape)}`, () => kernel({ a, b, c, m, n, k, transB }), { iterations });
    out[`matmul.${name}.${shapeKey(shape)}.gflops`] = Number((flops / seconds / 1e9).toFixed(3));
  }
  return out;
}

export async function benchWasmMatmul(): Promise<Record<string, number>> {
  try {
    return {
      "matmul.wasm.threads": getThreads(),
      ...(await benchKernel("wasm1", wasmMatmulSingle)),
      ...(await benchKernel("wasm", wasmMatmul)),
    };
  } finally {
    shutdownThreads();
  }
}
