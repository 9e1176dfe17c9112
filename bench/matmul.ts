/** Matmul GFLOPS per kernel and shape: the square sizes, the GPT-2 small shapes, and the SAE encoder shape. */
import { blockedMatmul, referenceMatmul } from "../src/tensor/matmul.ts";
import type { MatmulKernel } from "../src/tensor/matmul_types.ts";
import { Rng } from "../src/tensor/rng.ts";
import { bestSeconds } from "./util.ts";

export interface MatmulShape {
  m: number;
  k: number;
  n: number;
  transB?: boolean;
}

export const MATMUL_SHAPES: MatmulShape[] = [
  { m: 256, k: 256, n: 256 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
  { m: 2048, k: 2048, n: 2048 },
  { m: 64, k: 768, n: 2304 }, // GPT-2 attention projection, one 64-token sequence
  { m: 2048, k: 768, n: 3072 }, // GPT-2 MLP up-projection, 32 × 64 tokens
  { m: 4096, k: 768, n: 8192, transB: true }, // SAE encoder: batch 4096 · W_encᵀ, W_enc stored [8192, 768]
];

export function shapeKey({ m, k, n }: MatmulShape): string {
  return `${m}x${k}x${n}`;
}

export async function benchMatmulKernel(name: string, kernel: MatmulKernel, shapes: MatmulShape[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const rng = Rng.stream(0, "bench/matmul");
  for (const shape of shapes) {
    const { m, k, n, transB = false } = shape;
    const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array;
    const b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
    const c = new Float32Array(m * n);
    const flops = 2 * m * n * k;
    // Few iterations for the slow cases so the whole suite stays within minutes.
    const iterations = flops > 5e9 ? 1 : 3;
    const seconds = await bestSeconds(`${name} ${shapeKey(shape)}`, () => kernel({ a, b, c, m, n, k, transB }), { iterations });
    out[`matmul.${name}.${shapeKey(shape)}.gflops`] = Number((flops / seconds / 1e9).toFixed(3));
  }
  return out;
}

export async function benchScalarMatmul(): Promise<Record<string, number>> {
  return {
    ...(await benchMatmulKernel("reference", referenceMatmul, MATMUL_SHAPES.filter((s) => s.m * s.n * s.k <= 512 ** 3))),
    ...(await benchMatmulKernel("blocked", blockedMatmul, MATMUL_SHAPES)),
  };
}
