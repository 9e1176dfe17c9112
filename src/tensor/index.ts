/**
 * Public API of the tensor engine.
 * @module sae-seeds/tensor
 */
export * from "./tensor.ts";
export * from "./shape.ts";
export * from "./ops.ts";
export { backward, zeroGrads } from "./autograd.ts";
export { matmul as matmulRaw, blockedMatmul, referenceMatmul, setMatmulKernel, matmulKernelName, checkMatmulArgs } from "./matmul.ts";
export type { MatmulArgs, MatmulKernel } from "./matmul_types.ts";
export { Rng, detLog } from "./rng.ts";
export { symmetricEigen, type SymmetricEigen } from "./symmetric_eigen.ts";
