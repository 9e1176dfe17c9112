/**
 * GFLOPS of the WebAssembly SIMD matmul, on one thread (`matmul.wasm1.*`) and on all threads (`matmul.wasm.*`),
 * for the square sizes, the GPT-2 small shapes and the SAE encoder shape (W_enc stored [n, d], hence transB).
 */
import { getThreads, shutdownThreads, wasmMatmul, wasmMatmulSingle } from "../src/tensor/wasm/index.ts";
import { benchMatmulKernel, MATMUL_SHAPES, type MatmulShape } from "./matmul.ts";

/** The same shapes as the scalar kernels, so every kernel's numbers line up key for key. */
export const WASM_MATMUL_SHAPES: MatmulShape[] = MATMUL_SHAPES;

export async function benchWasmMatmul(): Promise<Record<string, number>> {
  try {
    return {
      "matmul.wasm.threads": getThreads(),
      ...(await benchMatmulKernel("wasm1", wasmMatmulSingle, WASM_MATMUL_SHAPES)),
      ...(await benchMatmulKernel("wasm", wasmMatmul, WASM_MATMUL_SHAPES)),
    };
  } finally {
    shutdownThreads();
  }
}
