/**
 * Every WebAssembly kernel against its scalar reference over random shapes, and the kernel-argument guard against
 * corrupted calls (test/properties/kernels.ts). Bounded here; `npm run fuzz` runs the same properties for as long
 * as asked.
 */
import { afterAll, describe, it } from "vitest";
import fc from "fast-check";
import { shutdownThreads, wasmSimdAvailable } from "../src/tensor/wasm/index.ts";
import { sparseWasmAvailable } from "../src/sae/sparse_wasm.ts";
import { checkGuardCase, checkMatmulCase, checkSoftmaxCase, checkSparseCase, guardCase, matmulCase, softmaxCase, sparseCase } from "./properties/kernels.ts";

afterAll(() => shutdownThreads());

describe.skipIf(!wasmSimdAvailable() || !sparseWasmAvailable())("kernel properties", () => {
  it("the GEMM (with and without its GELU epilogue) is within the float32 bound of the float64 product at odd and block-crossing shapes, and threaded = single-thread bit for bit", () => {
    fc.assert(fc.property(matmulCase, (c) => checkMatmulCase(c)), { numRuns: 120 });
  });
  it("the sparse products (WebAssembly) equal the scalar loops and the dense path on random codes: empty rows, zero values, remapped rows", () => {
    fc.assert(fc.property(sparseCase, (c) => checkSparseCase(c)), { numRuns: 150 });
  });
  it("the LM head's softmax kernel equals float64 at every row length and logit spread", () => {
    fc.assert(fc.property(softmaxCase, (c) => checkSoftmaxCase(c)), { numRuns: 150 });
  });
  it("a corrupted sparse-kernel call is one KernelArgumentError naming the kernel, before anything is written", () => {
    fc.assert(fc.property(guardCase, (c) => checkGuardCase(c)), { numRuns: 300 });
  });
});
